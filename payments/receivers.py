"""What ``payments`` does when a lower app's event happens."""

from django.contrib.auth import get_user_model


def on_user_anonymising(sender, *, user_id: int, **kwargs) -> None:
    """An account is being deleted (inside its transaction: a failure here deletes
    nothing): its future tickets are cancelled and refunded to whoever paid."""
    from payments.services import tickets_cancel_of_leaving_account

    user = get_user_model().objects.get(pk=user_id)
    tickets_cancel_of_leaving_account(user=user)
