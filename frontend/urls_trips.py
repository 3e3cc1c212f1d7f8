from django.urls import path

from frontend import views_trips as views

urlpatterns = [
    path("trips/", views.my_trips, name="my_trips"),
    path("trips/new/", views.trip_new, name="trip_new"),
    path(
        "trips/invitations/<int:invitation_id>/accept/",
        views.invitation_accept_personal,
        name="invitation_accept_personal",
    ),
    path("trips/<int:trip_id>/", views.trip_detail, name="trip"),
    path("trips/<int:trip_id>/join/", views.trip_join_public, name="trip_join_public"),
    path("trips/<int:trip_id>/leave/", views.trip_leave, name="trip_leave"),
    path("trips/<int:trip_id>/plan/", views.plan_action, name="trip_plan_action"),
    path("trips/<int:trip_id>/settings/", views.group_settings, name="trip_settings"),
    path("trips/<int:trip_id>/share-details/", views.share_details, name="trip_share_details"),
    path("trips/<int:trip_id>/invitations/", views.invitation_create, name="trip_invite"),
    path(
        "trips/<int:trip_id>/invitations/friend/",
        views.invitation_invite_friend,
        name="trip_invite_friend",
    ),
    path(
        "trips/<int:trip_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="trip_invitation_revoke",
    ),
    path("trips/<int:trip_id>/members/approve/", views.member_approve, name="trip_member_approve"),
    path("trips/<int:trip_id>/members/decline/", views.member_reject, name="trip_member_reject"),
    path("trips/<int:trip_id>/members/remove/", views.member_remove, name="trip_member_remove"),
    path(
        "trips/<int:trip_id>/members/<int:user_id>/remove/",
        views.member_remove_confirm,
        name="trip_member_remove_confirm",
    ),
    path(
        "trips/<int:trip_id>/members/<int:user_id>/organiser/",
        views.member_make_organiser_confirm,
        name="trip_member_make_organiser_confirm",
    ),
    path(
        "trips/<int:trip_id>/members/organiser/",
        views.member_make_organiser,
        name="trip_member_make_organiser",
    ),
    path("join/<str:token>/", views.join, name="join"),
    path("events/<slug:slug>/", views.event_detail, name="event"),
]
