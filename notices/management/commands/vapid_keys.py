"""``manage.py vapid_keys``: print a new VAPID key pair for Web Push, as environment
lines to put in the production settings (docs/messages.md, "Web Push")."""

from django.core.management.base import BaseCommand

from core.install_secret import vapid_keys_new


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair (Web Push) as VAPID_PUBLIC_KEY= and VAPID_PRIVATE_KEY= lines."
    )

    def handle(self, *args, **options):
        public, private = vapid_keys_new()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stderr.write(
            "Keep the private key secret. Changing the pair later turns off every "
            "browser's notifications (they were subscribed with the old public key)."
        )
