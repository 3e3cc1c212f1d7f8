from django.urls import path

from care import views

urlpatterns = [
    path("help/trips/<int:trip_id>/", views.help_start, name="care_help"),
    path("help/cases/<int:case_id>/", views.case_page, name="care_case"),
    path("care/inbox/", views.inbox_page, name="care_inbox"),
    path("care/inbox/<int:case_id>/", views.inbox_case, name="care_inbox_case"),
    path("care/inbox/<int:case_id>/assign/", views.inbox_assign, name="care_inbox_assign"),
    path("care/inbox/<int:case_id>/resolve/", views.inbox_resolve, name="care_inbox_resolve"),
]
