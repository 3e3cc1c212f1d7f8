from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Infrastructure shared by every app: domain errors, the job worker, health."""

    name = "core"
    verbose_name = "Core"
