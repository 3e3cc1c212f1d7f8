from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from allauth.account.signals import email_confirmed

        from groups.identity import email_confirmed_profile_create

        email_confirmed.connect(email_confirmed_profile_create, dispatch_uid="groups.profile")

        from django.contrib.auth.signals import user_logged_in

        from groups.language import remember_on_login

        # The account's language follows the person to a new browser (groups/language.py).
        user_logged_in.connect(remember_on_login, dispatch_uid="groups.language")

        from groups import exports
        from groups.selectors import languages_of
        from notices import kinds
        from notices.selectors import push_subscriptions_export

        # Messages go out in each person's language (notices cannot read profiles).
        kinds.languages_register(languages_of)
        # "Download my data": the browsers where the person turned notifications on.
        exports.register(
            "push_subscriptions", push_subscriptions_export, models=["notices.PushSubscription"]
        )

        from groups import messages

        # Not essential: an account's preferences apply (an address alone has none).
        kinds.register(
            "groups.invited",
            object_type="groups.invitation",
            render=messages.invited,
            essential=False,
        )
