from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    """The outbox: every message to a person (e-mail, Web Push) is written in the
    transaction of the change that causes it and sent by the worker after commit.
    The apps above register their kinds (``notices.kinds``); this app imports only
    ``core``."""

    name = "notices"
    verbose_name = _("Messages")

    def ready(self) -> None:
        from core import jobs
        from notices import sending

        jobs.register("messages_send", sending.messages_send, every_seconds=2)
