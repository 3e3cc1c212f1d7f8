"""Our parser of Facebook signed requests: it returns a payload only when Facebook (who
knows the app secret) signed it recently, and otherwise raises SignedRequestInvalid —
never any other exception, whatever the input."""

import base64
import hashlib
import hmac
import json
import time

import hypothesis
import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from groups.errors import SignedRequestInvalid
from groups.signed_request import (
    SIGNED_REQUEST_MAX_BYTES,
    signed_request_make,
    signed_request_parse,
)

SECRET = "our-app-secret"
NOW = 1_760_000_000


def _payload(**changes) -> dict:
    return {"algorithm": "HMAC-SHA256", "issued_at": NOW - 10, "user_id": "10001"} | changes


def _parse(signed_request, **kwargs):
    return signed_request_parse(
        signed_request, secret=SECRET, max_age_seconds=3600, now=NOW, **kwargs
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_raw(payload_text: bytes, secret: str = SECRET) -> str:
    """Sign arbitrary bytes as a payload, to reach the checks after the signature."""
    encoded = _b64(payload_text)
    signature = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return f"{_b64(signature)}.{encoded}"


def _reason(signed_request, **kwargs) -> str:
    with pytest.raises(SignedRequestInvalid) as raised:
        _parse(signed_request, **kwargs)
    assert raised.value.status == 400
    assert raised.value.code == "signed_request_invalid"
    return raised.value.reason


def test_valid_signed_request_gives_its_payload():
    assert _parse(signed_request_make(_payload(), SECRET)) == _payload()


def test_valid_signed_request_with_padding_is_accepted():
    signature, payload = signed_request_make(_payload(extra="ab"), SECRET).split(".")
    padded = signature + "=" * (-len(signature) % 4)

    assert _parse(f"{padded}.{payload}")["user_id"] == "10001"


def test_valid_signed_request_as_bytes_is_accepted():
    assert _parse(signed_request_make(_payload(), SECRET).encode())["user_id"] == "10001"


def test_secret_and_max_age_default_to_the_settings(settings):
    settings.FACEBOOK_APP_SECRET = SECRET
    settings.FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS = 60
    fresh = signed_request_make(_payload(issued_at=int(time.time()) - 30), SECRET)
    old = signed_request_make(_payload(issued_at=int(time.time()) - 120), SECRET)

    assert signed_request_parse(fresh)["user_id"] == "10001"
    with pytest.raises(SignedRequestInvalid):
        signed_request_parse(old)


def test_empty_secret_is_a_configuration_error_not_an_open_door(settings):
    settings.FACEBOOK_APP_SECRET = ""

    with pytest.raises(ImproperlyConfigured):
        signed_request_parse(signed_request_make(_payload(), ""))


def test_forged_signature_is_refused():
    _signature, payload = signed_request_make(_payload(), SECRET).split(".")
    forged = _b64(b"\x00" * 32)

    assert _reason(f"{forged}.{payload}") == "signature"


def test_payload_changed_after_signing_is_refused():
    signature, _payload_part = signed_request_make(_payload(), SECRET).split(".")
    changed = _b64(json.dumps(_payload(user_id="66666")).encode())

    assert _reason(f"{signature}.{changed}") == "signature"


def test_signed_with_another_secret_is_refused():
    assert _reason(signed_request_make(_payload(), "someone-elses-secret")) == "signature"


def test_old_issued_at_is_refused():
    assert _reason(signed_request_make(_payload(issued_at=NOW - 3601), SECRET)) == "expired"


def test_issued_at_far_in_the_future_is_refused():
    assert _reason(signed_request_make(_payload(issued_at=NOW + 3600), SECRET)) == "future"


def test_issued_at_a_little_ahead_is_tolerated_as_clock_drift():
    assert _parse(signed_request_make(_payload(issued_at=NOW + 60), SECRET))


@pytest.mark.parametrize(
    "signed_request",
    [
        pytest.param("", id="empty"),
        pytest.param("no-dot-at-all", id="no dot"),
        pytest.param(signed_request_make(_payload(), SECRET) + ".third", id="three parts"),
        pytest.param(".", id="two empty parts"),
        pytest.param("abc$%.eyJ9", id="bad base64 signature"),
        pytest.param("abcde.eyJhIjoxfQ", id="base64 of impossible length"),
        pytest.param("é.é", id="not ascii"),
        pytest.param(b"\xff\xfe.\x00", id="bytes not ascii"),
        pytest.param(None, id="none"),
        pytest.param(12345, id="not text"),
    ],
)
def test_malformed_signed_request_is_refused(signed_request):
    assert _reason(signed_request) == "malformed"


def test_bad_base64_payload_even_when_signed_is_refused():
    bad = "e!y$J"
    signature = hmac.new(SECRET.encode(), bad.encode(), hashlib.sha256).digest()

    assert _reason(f"{_b64(signature)}.{bad}") == "malformed"


@pytest.mark.parametrize(
    "payload_text",
    [
        pytest.param(b"not json", id="non-JSON"),
        pytest.param(b'{"algorithm": "HMAC-SHA256"', id="truncated JSON"),
        pytest.param(b"\xff\xfe{}", id="not UTF-8"),
        pytest.param(b"[1, 2, 3]", id="JSON list"),
        pytest.param(b'"HMAC-SHA256"', id="JSON string"),
        pytest.param(b"null", id="JSON null"),
        pytest.param(b"NaN", id="NaN"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="deeply nested"),
        pytest.param(b'{"issued_at": ' + b"9" * 5000 + b"}", id="huge number"),
    ],
)
def test_signed_payload_that_is_not_a_json_object_is_refused(payload_text):
    assert _reason(_signed_raw(payload_text)) == "malformed"


def test_missing_algorithm_is_refused():
    payload = _payload()
    del payload["algorithm"]

    assert _reason(signed_request_make(payload, SECRET)) == "algorithm"


@pytest.mark.parametrize("algorithm", ["HMAC-SHA1", "none", "", 256, None])
def test_wrong_algorithm_is_refused(algorithm):
    assert _reason(signed_request_make(_payload(algorithm=algorithm), SECRET)) == "algorithm"


@pytest.mark.parametrize("issued_at", ["1760000000", 1.76e9, True, None, [NOW]])
def test_missing_or_non_integer_issued_at_is_refused(issued_at):
    payload = _payload(issued_at=issued_at)
    if issued_at is None:
        del payload["issued_at"]

    assert _reason(signed_request_make(payload, SECRET)) == "malformed"


def test_huge_issued_at_is_refused_without_overflow():
    assert _reason(signed_request_make(_payload(issued_at=10**300), SECRET)) == "future"


def test_oversized_signed_request_is_refused_before_anything_else():
    huge = signed_request_make(_payload(padding="x" * SIGNED_REQUEST_MAX_BYTES), SECRET)

    assert _reason(huge) == "too_large"
    assert _reason(huge.encode()) == "too_large"


@hypothesis.settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_input_gives_a_payload_or_signed_request_invalid(signed_request):
    with pytest.raises(SignedRequestInvalid):
        _parse(signed_request)


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_any_correctly_signed_json_gives_a_payload_or_signed_request_invalid(payload):
    signed_request = signed_request_make({"payload": payload}, SECRET)
    with pytest.raises(SignedRequestInvalid) as raised:
        _parse(signed_request)  # no algorithm, so never valid
    assert raised.value.reason in {"algorithm", "too_large"}
