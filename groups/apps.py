from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self) -> None:
        from groups.selectors import languages_of
        from notices import kinds

        # Messages go out in each person's language (notices cannot read profiles).
        kinds.languages_register(languages_of)
