from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Infrastructure shared by every app: domain errors, the job worker, health."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.db.backends.signals import connection_created

        from core import checks  # noqa: F401 - registers core.E001 (SITE_URL, deploy)
        from core.locking import lock_timeout_install

        # A lock timeout on PostgreSQL becomes core.errors.Busy (core/locking.py).
        connection_created.connect(lock_timeout_install, dispatch_uid="core.lock_timeout")
