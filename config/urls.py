from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.views import healthz

# The API's documentation page: Swagger UI's start-up script is served as a file (the
# split view), but its template has an inline style sheet without a nonce.
api_docs = csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Login, e-mail codes, logout and the Facebook provider (groups.facebook_login); our
    # signup first (a guest signing up again gets a working code) and no password pages.
    path("accounts/", include("frontend.urls_auth")),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/", include("booking.urls")),
    path("api/", include("groups.api_urls")),
    path("api/", include("payments.api_urls")),  # cancelling a ticket
    path("api/", include("notices.api_urls")),  # turning push notifications on and off
    path("api/", include("care.api_urls")),  # conversations with the care team
    # Facebook platform callbacks: data deletion (and its status page), deauthorise.
    path("facebook/", include("groups.callback_urls")),
    path("payments/", include("payments.urls")),  # Stripe's webhook
    path("messages/", include("notices.urls")),  # one-click unsubscribe
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("care.urls")),  # "Get help", conversations, the care team's inbox
    path("", include("referrals.urls")),  # /r/<code>/: share links, their image, consent
    path("", include("frontend.urls")),
]

# Clients of /api/ always get JSON, even for a URL that does not exist or a crash.
handler404 = "frontend.views.not_found"
handler500 = "frontend.views.server_error"
