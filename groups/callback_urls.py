"""Facebook's platform callbacks, mounted at /facebook/ (groups/callbacks.py)."""

from django.urls import path

from groups import callbacks

urlpatterns = [
    path("data-deletion/", callbacks.data_deletion, name="facebook_data_deletion"),
    path("deletion/<slug:code>/", callbacks.deletion_status, name="facebook_deletion_status"),
    path("deauthorize/", callbacks.deauthorise, name="facebook_deauthorise"),
]
