import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


from tests.mail import smtp_server, smtp_server_process  # noqa: E402, F401 - fixtures
from tests.push import push_server, push_server_process  # noqa: E402, F401 - fixtures
