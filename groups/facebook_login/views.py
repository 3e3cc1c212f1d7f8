"""The OAuth2 adapter of our Facebook login, and its two views (login and callback)."""

from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.facebook.views import FacebookOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings

from groups import facebook
from groups.errors import FacebookError


class FacebookLoginFailed(ProviderException):
    """Facebook did not confirm the login; ``error`` says why (a ``groups.errors`` one).

    A ``ProviderException``, so allauth's callback view shows its error page rather than
    letting it become a 500.
    """

    def __init__(self, error: FacebookError):
        super().__init__(str(error.message))
        self.error = error


def dialog_url() -> str:
    base = settings.FACEBOOK_DIALOG_URL.rstrip("/")
    return f"{base}/{settings.FACEBOOK_GRAPH_VERSION}/dialog/oauth"


def graph_url() -> str:
    return f"{settings.FACEBOOK_GRAPH_URL.rstrip('/')}/{settings.FACEBOOK_GRAPH_VERSION}"


class FacebookLoginAdapter(FacebookOAuth2Adapter):
    # The parent's URLs are class attributes computed from settings when allauth was
    # imported; these follow the settings on every request (the sandbox, the tests).
    @property
    def authorize_url(self) -> str:
        return dialog_url()

    @property
    def access_token_url(self) -> str:
        return f"{graph_url()}/oauth/access_token"

    def complete_login(self, request, app, token, **kwargs):
        """Inspect the token, then read the profile, both on the server.

        The code exchange alone does not prove the token was issued to our app: a token
        of another app must never log anyone in here (``token_check``).
        """
        try:
            facebook.token_check(token.token)
            profile = facebook.me(token.token)
        except FacebookError as error:
            raise FacebookLoginFailed(error) from error
        data = {"id": profile.id, "name": profile.name}
        if profile.email:
            data["email"] = profile.email
        if profile.picture_url:
            data["picture"] = {"data": {"url": profile.picture_url}}
        return self.get_provider().sociallogin_from_response(request, data)


oauth2_login = OAuth2LoginView.adapter_view(FacebookLoginAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(FacebookLoginAdapter)
