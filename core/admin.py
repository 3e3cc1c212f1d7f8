"""Admin pieces shared by the apps."""


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline whose rows change only through the services (money,
    tickets, rewards): staff see them, nobody adds, edits or deletes them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
