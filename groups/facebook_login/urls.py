from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from groups.facebook_login.provider import FacebookLoginProvider

# /accounts/facebook/login/ (facebook_login) and …/login/callback/ (facebook_callback).
urlpatterns = default_urlpatterns(FacebookLoginProvider)
