"""Two doors of allauth's, adjusted so a guest is never stuck (issue 22, point 10;
docs/identity.md, "Signing up again").

- **Signing up again with the same address.** A guest who left the code page (or never
  got the mail) and signs up again with the same address used to meet allauth's
  enumeration guard: "we sent a code", an "account already exists" mail with a
  password-reset link (in an app without passwords), and a code page no code passes.
  Here, an address whose account was never confirmed gets what a first signup gets: a
  verification code for that account, on the same page, so the answer still looks the
  same whether the address is known or not. An address already confirmed keeps allauth's
  guard (the same page; the mail says to log in with a code, ``account_already_exists``).
- **No passwords.** allauth's password pages (change, set, reset) answer 404.
"""

from allauth.account.internal.flows.login import perform_login
from allauth.account.models import EmailAddress, Login
from allauth.account.views import SignupView
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialAccount
from django.http import Http404


class GuestSignupView(SignupView):
    def form_valid(self, form):
        if form.account_already_exists:
            address = self._unconfirmed_address(form.cleaned_data.get("email") or "")
            if address is not None:
                user = address.user
                # The name typed now waits for the code, as at a first signup
                # (groups.forms.SignupForm.signup: only this browser's code names them).
                form.custom_signup(self.request, user)
                try:
                    return perform_login(
                        self.request,
                        # Where a first signup would go next (the invitation being
                        # joined): lost, the guest landed on the home page instead.
                        Login(
                            user=user,
                            email=address.email,
                            signup=True,
                            redirect_url=self.get_success_url(),
                        ),
                    )
                except ImmediateHttpResponse as exc:
                    return exc.response
        return super().form_valid(form)

    @staticmethod
    def _unconfirmed_address(email: str) -> EmailAddress | None:
        """The address's row when its account is a signup left half-way: active, never
        logged in, no address confirmed, no Facebook link (an address Facebook gave is
        not proof of anything: SOCIALACCOUNT_EMAIL_AUTHENTICATION is off). Else None."""
        address = (
            EmailAddress.objects.filter(
                email__iexact=email, user__is_active=True, user__last_login__isnull=True
            )
            .select_related("user")
            .first()
        )
        if address is None or address.verified:
            return None
        if EmailAddress.objects.filter(user=address.user, verified=True).exists():
            return None
        if SocialAccount.objects.filter(user=address.user).exists():
            return None
        return address


signup = GuestSignupView.as_view()


def no_passwords(request, *args, **kwargs):
    """Sidebyside has no passwords: a code by e-mail, or Facebook."""
    raise Http404("No passwords here.")
