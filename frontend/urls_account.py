"""The account page: name and language, download one's data, delete one's account
(frontend/views_account.py)."""

from django.urls import path

from frontend import views_account

urlpatterns = [
    path("account/", views_account.account, name="my_account"),
    path("account/messages/", views_account.account_messages, name="my_account_messages"),
    path("account/data.json", views_account.account_data, name="my_account_data"),
    path("account/delete/", views_account.account_delete, name="my_account_delete"),
    path("account/deleted/", views_account.account_deleted, name="my_account_deleted"),
]
