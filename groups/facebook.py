"""The Graph API behind one door: the only module that imports ``facebook`` (facebook-sdk).

Login itself (dialog, code exchange) belongs to the login library; this module serves the
Graph reads around it: the app token, inspecting a user token (``debug_token``), the
profile (``/me``) and the friends who also use the app (``/me/friends``).

Three things facebook-sdk 3.1.0 does not do for us, handled here:

- its version list stops at 3.1 and its constructor refuses anything else (and any
  two-digit major version), so each client gets ``FACEBOOK_GRAPH_VERSION`` set on the
  instance after construction: every path the SDK builds starts with ``self.version``;
- it joins a module constant, ``facebook.FACEBOOK_GRAPH_URL``, with the path at call
  time; the constant is shared by the whole process, so instead of changing it we give
  each client a ``requests`` session (the SDK's own ``session=`` argument) that swaps that
  prefix for ``FACEBOOK_GRAPH_URL``, which lets the tests and the sandbox talk to the fake;
- it has no default timeout (it waits forever): ``FACEBOOK_TIMEOUT_SECONDS`` is always
  passed.

Whatever goes wrong, callers see only ``groups.errors``: ``FacebookUnavailable`` (timeouts,
refused connections, Facebook down or rate-limiting: try again later),
``FacebookTokenRefused`` (the user must log in again) or ``FacebookError`` (anything else).
See docs/facebook.md.
"""

import hashlib
import hmac
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self
from urllib.parse import parse_qs, urlparse

import facebook
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from groups.errors import FacebookError, FacebookTokenRefused, FacebookUnavailable

logger = logging.getLogger(__name__)

GRAPH_VERSION_FORMAT = re.compile(r"v\d{1,3}\.\d{1,2}")
PROFILE_FIELDS = "id,name,email,picture.type(large){url}"
FRIEND_FIELDS = "id,name,picture{url}"
FRIENDS_LIMIT = 500
FRIENDS_PAGE_SIZE = 100
# Graph pages may hold fewer items than asked for (it filters after paging), so the number
# of pages, not only the number of friends, is bounded: a loop of cursors cannot hang us.
FRIENDS_MAX_PAGES = 10
# Graph error codes that mean "not now" rather than "no": service temporarily unavailable,
# then the application, user and page rate limits. (Code 1, "unknown", is also what a wrong
# client secret gets, so it counts as transient only when Facebook flags it is_transient.)
GRAPH_TRANSIENT_CODES = frozenset({2, 4, 17, 32, 341, 613})
# 190: invalid, expired or revoked access token; 102: the API session is gone.
GRAPH_TOKEN_CODES = frozenset({102, 190})


@dataclass(frozen=True)
class FacebookTokenInfo:
    """What Facebook says about a user access token (``/debug_token``)."""

    is_valid: bool
    app_id: str
    user_id: str
    expires_at: datetime | None  # None: the token does not expire
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class FacebookProfile:
    id: str  # app-scoped: the same person has another id in another app
    name: str
    email: str | None  # None when not granted, or when the account has no e-mail address
    picture_url: str | None


@dataclass(frozen=True)
class FacebookFriend:
    id: str
    name: str
    picture_url: str | None


class _GraphDown(requests.RequestException):
    """A 5xx answer that is not Graph JSON (a proxy's or load balancer's error page).

    Not a ``requests.HTTPError``: facebook-sdk catches those and then fails on them.
    """


class _GraphSession(requests.Session):
    """The session facebook-sdk sends every request through, pointed at our Graph URL."""

    def __init__(self, *, graph_url: str):
        super().__init__()
        self.graph_url = graph_url.rstrip("/") + "/"

    def request(self, method, url, *args, **kwargs):
        sdk_prefix = facebook.FACEBOOK_GRAPH_URL
        if not url.startswith(sdk_prefix):
            # Never send a token anywhere but the Graph URL we were given.
            raise RuntimeError(f"facebook-sdk asked for a URL outside the Graph API: {url}")
        response = super().request(method, self.graph_url + url[len(sdk_prefix) :], *args, **kwargs)
        if response.status_code >= 500 and "json" not in response.headers.get("content-type", ""):
            raise _GraphDown(f"the Graph API answered {response.status_code}", response=response)
        return response


def _appsecret_proof(app_secret: str, access_token: str) -> str:
    # Graph calls made with a user token carry this proof that they come from our server;
    # an app set to "Require App Secret" refuses calls without it.
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _unreadable(what: str) -> FacebookError:
    logger.warning("Facebook answered something we cannot read: %s", what)
    return FacebookError(_("Facebook answered something we could not understand."))


def _from_graph_error(error: facebook.GraphAPIError, *, user_token: bool) -> FacebookError:
    result = error.result if isinstance(error.result, dict) else {}
    detail = result.get("error") if isinstance(result.get("error"), dict) else {}
    code = error.code if isinstance(error.code, int) else None
    subcode = detail.get("error_subcode")
    details = {
        "graph_code": code,
        "graph_subcode": subcode if isinstance(subcode, int) else None,
        "graph_type": str(error.type or ""),
        "graph_message": str(error.message),
        "fbtrace_id": str(detail.get("fbtrace_id") or ""),
    }
    logger.warning(
        "Graph API error: code=%s subcode=%s type=%s fbtrace_id=%s message=%s",
        code,
        details["graph_subcode"],
        details["graph_type"],
        details["fbtrace_id"],
        details["graph_message"],
    )
    if detail.get("is_transient") is True or code in GRAPH_TRANSIENT_CODES:
        return FacebookUnavailable(**details)
    if code in GRAPH_TOKEN_CODES and user_token:
        return FacebookTokenRefused(**details)
    if code in GRAPH_TOKEN_CODES:
        # The token refused was our app token: our app id or secret is wrong.
        logger.error("Facebook refused our app's credentials (FACEBOOK_APP_ID/SECRET)")
    return FacebookError(**details)


def _picture_url(item: dict) -> str | None:
    picture = item.get("picture")
    data = picture.get("data") if isinstance(picture, dict) else None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url else None


def _expiry(expires_at) -> datetime | None:
    # Facebook says 0 for a token that does not expire.
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        return None
    try:
        return datetime.fromtimestamp(expires_at, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _after_cursor(paging: dict) -> str | None:
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return after
    # Some edges give only the next URL. We read the cursor out of it rather than follow
    # it: it is an absolute URL carrying the token, and we only talk to our Graph URL.
    found = parse_qs(urlparse(str(paging.get("next"))).query).get("after")
    return found[0] if found else None


class FacebookGraph:
    """One app's view of the Graph API. ``FacebookGraph.from_settings()`` is ours."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        graph_url: str,
        version: str,
        timeout_seconds: float,
    ):
        if not app_id or not app_secret:
            raise ImproperlyConfigured(
                "FACEBOOK_APP_ID and FACEBOOK_APP_SECRET must be set to call the Graph API "
                "(in sandbox mode, the fake server's; see docs/facebook.md)."
            )
        version = version if version.startswith("v") else f"v{version}"
        if not GRAPH_VERSION_FORMAT.fullmatch(version):
            raise ImproperlyConfigured(
                f"FACEBOOK_GRAPH_VERSION must look like v23.0, not {version!r}."
            )
        if not timeout_seconds or timeout_seconds <= 0:
            raise ImproperlyConfigured("FACEBOOK_TIMEOUT_SECONDS must be more than zero.")
        self.app_id = str(app_id)
        self.app_secret = app_secret
        self.graph_url = graph_url
        self.version = version
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls) -> Self:
        return cls(
            app_id=settings.FACEBOOK_APP_ID,
            app_secret=settings.FACEBOOK_APP_SECRET,
            graph_url=settings.FACEBOOK_GRAPH_URL,
            version=settings.FACEBOOK_GRAPH_VERSION,
            timeout_seconds=settings.FACEBOOK_TIMEOUT_SECONDS,
        )

    @contextmanager
    def _client(self, user_token: str | None = None) -> Iterator[facebook.GraphAPI]:
        """A facebook-sdk client whose failures all come out as ``groups.errors``.

        With ``user_token`` it calls as that user, and a refused token means the user must
        log in again; without, it calls as the app, and a refused token is our own fault.
        """
        with _GraphSession(graph_url=self.graph_url) as session:
            client = facebook.GraphAPI(
                access_token=user_token, timeout=self.timeout_seconds, session=session
            )
            # Set after construction: the constructor refuses versions outside its own list.
            client.version = self.version
            try:
                yield client
            except facebook.GraphAPIError as error:
                raise _from_graph_error(error, user_token=user_token is not None) from error
            except requests.exceptions.JSONDecodeError as error:
                raise _unreadable("a JSON content type with a body that is not JSON") from error
            except requests.Timeout as error:
                logger.warning("Graph API timed out after %ss", self.timeout_seconds)
                raise FacebookUnavailable(
                    _("Facebook took too long to answer. Please try again in a moment.")
                ) from error
            except requests.RequestException as error:
                logger.warning("Graph API unreachable: %s", type(error).__name__)
                raise FacebookUnavailable() from error
            except (KeyError, TypeError, ValueError) as error:
                # facebook-sdk indexes answers without checking them (a missing
                # content-type header, a token answer without access_token, …).
                raise _unreadable(f"{type(error).__name__} inside facebook-sdk") from error

    def _user_args(self, user_token: str) -> dict:
        if not user_token:
            raise FacebookTokenRefused()
        return {"appsecret_proof": _appsecret_proof(self.app_secret, user_token)}

    def app_access_token(self) -> str:
        """An app access token from the client credentials grant."""
        with self._client() as client:
            token = client.get_app_access_token(self.app_id, self.app_secret)
        if not isinstance(token, str) or not token:
            raise _unreadable("an app token answer without a token")
        return token

    def debug_token(self, user_token: str) -> FacebookTokenInfo:
        """What Facebook says about ``user_token``; see ``token_check`` to act on it."""
        if not user_token:
            raise FacebookTokenRefused()
        with self._client() as client:
            # The app token is "app_id|app_secret", a form Facebook accepts server-side;
            # it saves a round trip per check.
            answer = client.debug_access_token(user_token, self.app_id, self.app_secret)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise _unreadable("a debug_token answer without data")
        scopes = data.get("scopes")
        return FacebookTokenInfo(
            is_valid=data.get("is_valid") is True,
            app_id=str(data.get("app_id") or ""),
            user_id=str(data.get("user_id") or ""),
            expires_at=_expiry(data.get("expires_at")),
            scopes=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        )

    def token_check(self, user_token: str) -> FacebookTokenInfo:
        """The token's info if Facebook says it is valid and was issued to our app.

        A valid token issued to another app must be refused: anyone can get one for their
        own app and present it to us as a login.
        """
        info = self.debug_token(user_token)
        if not info.is_valid or not info.user_id:
            raise FacebookTokenRefused()
        if info.app_id != self.app_id:
            logger.warning("Refused a Facebook token issued to another app (%s)", info.app_id)
            raise FacebookTokenRefused()
        return info

    def me(self, user_token: str) -> FacebookProfile:
        """The profile of the token's user."""
        args = self._user_args(user_token)
        with self._client(user_token) as client:
            answer = client.get_object("me", fields=PROFILE_FIELDS, **args)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise _unreadable("a profile without an id")
        email = answer.get("email")
        return FacebookProfile(
            id=str(answer["id"]),
            name=str(answer.get("name") or ""),
            email=email if isinstance(email, str) and email else None,
            picture_url=_picture_url(answer),
        )

    def friends_using_app(
        self,
        user_token: str,
        *,
        limit: int = FRIENDS_LIMIT,
        page_size: int = FRIENDS_PAGE_SIZE,
        max_pages: int = FRIENDS_MAX_PAGES,
    ) -> list[FacebookFriend]:
        """The token user's friends who also use this app (the only ones Facebook lists).

        At most ``limit`` friends over at most ``max_pages`` pages: invitation suggestions,
        never a requirement.
        """
        args = self._user_args(user_token)
        args.update(fields=FRIEND_FIELDS, limit=max(1, min(page_size, limit)))
        friends: list[FacebookFriend] = []
        cursors_seen: set[str] = set()
        with self._client(user_token) as client:
            for _page in range(max_pages):
                page = client.get_connections("me", "friends", **args)
                items = page.get("data") if isinstance(page, dict) else None
                if not isinstance(items, list):
                    raise _unreadable("a friends page without data")
                for item in items:
                    if not isinstance(item, dict) or not item.get("id"):
                        continue
                    friends.append(
                        FacebookFriend(
                            id=str(item["id"]),
                            name=str(item.get("name") or ""),
                            picture_url=_picture_url(item),
                        )
                    )
                    if len(friends) >= limit:
                        return friends
                paging = page.get("paging")
                if not isinstance(paging, dict) or not paging.get("next"):
                    return friends
                after = _after_cursor(paging)
                if not after or after in cursors_seen:
                    return friends
                cursors_seen.add(after)
                args["after"] = after
        logger.info("Stopped reading friends after %s pages", max_pages)
        return friends


# The interface the rest of the project uses: our app, configured by the settings.


def app_access_token() -> str:
    return FacebookGraph.from_settings().app_access_token()


def debug_token(user_token: str) -> FacebookTokenInfo:
    return FacebookGraph.from_settings().debug_token(user_token)


def token_check(user_token: str) -> FacebookTokenInfo:
    return FacebookGraph.from_settings().token_check(user_token)


def me(user_token: str) -> FacebookProfile:
    return FacebookGraph.from_settings().me(user_token)


def friends_using_app(
    user_token: str,
    *,
    limit: int = FRIENDS_LIMIT,
    page_size: int = FRIENDS_PAGE_SIZE,
    max_pages: int = FRIENDS_MAX_PAGES,
) -> list[FacebookFriend]:
    return FacebookGraph.from_settings().friends_using_app(
        user_token, limit=limit, page_size=page_size, max_pages=max_pages
    )
