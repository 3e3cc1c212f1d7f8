"""The ASGI application of the live benchmarks' servers: the app's own HTTP and websocket
routes (built with ``bench.settings``, as ``bench.asgi_bench``) plus the bare broadcasting
consumer ``/bench/ws/floor/<group>/`` (``bench/floor_consumer.py``), the floor measured
beside the trip socket in the same process.

``python -m daphne -b 127.0.0.1 -p PORT bench.asgi_live:application`` from the
repository root; ``bench/live_common.py`` does this."""

import os

# Set, not setdefault: this module exists to select these settings.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from bench.floor_consumer import FloorConsumer  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from core.websocket_auth import websocket_auth_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            websocket_auth_stack(
                URLRouter(
                    [
                        path("bench/ws/floor/<int:group>/", FloorConsumer.as_asgi()),
                        *websocket_urlpatterns,
                    ]
                )
            )
        ),
    }
)

from core.process import tune_collector  # noqa: E402

tune_collector()  # SERVER_GC_* settings
