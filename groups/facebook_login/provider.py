from allauth.socialaccount.providers.facebook.provider import FacebookProvider

from groups.facebook_login.views import FacebookLoginAdapter


class FacebookLoginProvider(FacebookProvider):
    """The stock provider, with our adapter and only the redirect flow.

    Its package (``groups.facebook_login``) gives allauth our ``urls.py``: the login and
    callback views are ours, and there is no JS SDK token endpoint.
    """

    oauth2_adapter_class = FacebookLoginAdapter
    # The JS SDK and token logins are switched off: the popup never comes back inside
    # Facebook's in-app browser, and a posted token skips our state check.
    supports_token_authentication = False

    def get_method(self) -> str:
        return "oauth2"

    def extract_common_fields(self, data):
        fields = super().extract_common_fields(data)
        first, _space, last = (data.get("name") or "").partition(" ")
        return fields | {"first_name": first[:150], "last_name": last[:150]}


provider_classes = [FacebookLoginProvider]
