from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from allauth.account.signals import email_confirmed

        from groups.identity import email_confirmed_profile_create

        email_confirmed.connect(email_confirmed_profile_create, dispatch_uid="groups.profile")
