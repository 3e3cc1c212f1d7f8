from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from allauth.account.signals import email_confirmed

        from groups.identity import email_confirmed_profile_create

        email_confirmed.connect(email_confirmed_profile_create, dispatch_uid="groups.profile")

        from groups.selectors import languages_of
        from notices import kinds

        # Messages go out in each person's language (notices cannot read profiles).
        kinds.languages_register(languages_of)
