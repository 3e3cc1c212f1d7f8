"""``/healthz`` for a load balancer: 200 when the database answers and a message makes a
round trip through the channel layer, 503 (with the failing check named) otherwise."""

import datetime as dt
import socket

import pytest
from channels.layers import channel_layers
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def _unused_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_channel_layers():
    """Channels caches its layers; start and end each test with none built."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


def test_healthz_is_200_when_the_database_and_the_channel_layer_answer(
    client, fresh_channel_layers
):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"
    assert body["status"] == "ok"
    assert body["worker_last_seen_seconds"] is None
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_how_long_ago_a_worker_was_seen(client, fresh_channel_layers):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name="host:1",
        started_at=now - dt.timedelta(minutes=5),
        last_seen_at=now - dt.timedelta(seconds=30),
    )

    body = client.get("/healthz").json()

    assert 30 <= body["worker_last_seen_seconds"] < 60


def test_healthz_is_503_when_the_channel_layer_is_unreachable(client, fresh_channel_layers):
    broken = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{_unused_loopback_port()}/0"]},
        }
    }
    with override_settings(CHANNEL_LAYERS=broken):
        channel_layers.backends = {}
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["channel_layer"].startswith("error")
    assert body["status"] == "error"


def test_healthz_is_503_when_the_database_fails(client, fresh_channel_layers):
    def refuse(execute, sql, params, many, context):
        raise OperationalError("database is down")

    with connection.execute_wrapper(refuse):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "error: OperationalError"
    assert body["status"] == "error"


def test_healthz_answers_plain_http_even_when_https_is_enforced(client, fresh_channel_layers):
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/stations/").status_code == 301


def test_healthz_answers_get_and_head_only(client, fresh_channel_layers):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
