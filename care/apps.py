from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    """Care conversations between travellers and the operator's care team (docs/care.md).
    Above ``payments`` and ``booking``: it shows their rows beside a case and writes only
    its own."""

    name = "care"
    verbose_name = _("Care")

    def ready(self) -> None:
        from care import messages, services
        from core import jobs
        from notices import kinds

        # An answer from the care team to someone who is not on the conversation's page.
        kinds.register(
            services.ANSWER_KIND, object_type="care.case_message", render=messages.staff_answered
        )
        jobs.register("care_watchers_forget", services.watchers_forget, every_seconds=600)

        from care import selectors
        from groups import exports
        from groups.signals import user_anonymising

        # "Download my data" has the person's conversations; deleting the account
        # deletes what they wrote (in the account's own transaction).
        exports.register(
            "care_conversations",
            selectors.person_export,
            models=["care.Case", "care.CaseMessage"],
            kept=_("A conversation you shared with your group keeps the group's messages."),
        )
        exports.not_exported(
            "care.CaseWatcher",
            "which conversation page is open right now: a technical row, gone within minutes",
        )
        user_anonymising.connect(_on_user_anonymising, dispatch_uid="care.user_anonymising")


def _on_user_anonymising(sender, *, user_id: int, **kwargs) -> None:
    from care.services import person_forget

    person_forget(user_id=user_id)
