"""django-allauth's Facebook provider, pointed at our settings (docs/facebook.md).

allauth reads the Graph URL and version into module constants and class attributes when
it is imported, and looks the app up in the database or in settings frozen at start-up.
Here a provider subclass (registered in place of the stock one through
``SOCIALACCOUNT_PROVIDERS["facebook"]["provider_class"]``) uses an OAuth2 adapter whose
dialog and token URLs are computed from ``FACEBOOK_DIALOG_URL``, ``FACEBOOK_GRAPH_URL``
and ``FACEBOOK_GRAPH_VERSION`` on every request, and whose profile read goes through
``groups.facebook`` (token inspection first, then ``/me``).
"""
