"""The friend-group API, mounted at /api/ (see docs/identity.md, "API"). The trip
endpoints, and joining by a link (whose preview shows the trips), are in booking/urls.py."""

from django.urls import path

from groups import api

urlpatterns = [
    path("groups/<int:group_id>/", api.GroupApi.as_view(), name="api-group"),
    path(
        "groups/<int:group_id>/invitations/",
        api.GroupInvitationsApi.as_view(),
        name="api-group-invitations",
    ),
    path("groups/<int:group_id>/join/", api.GroupJoinApi.as_view(), name="api-group-join"),
    path("groups/<int:group_id>/leave/", api.GroupLeaveApi.as_view(), name="api-group-leave"),
    path("groups/<int:group_id>/hand-over/", api.HandOverApi.as_view(), name="api-group-hand-over"),
    path("groups/<int:group_id>/me/", api.MyMembershipApi.as_view(), name="api-group-me"),
    path(
        "groups/<int:group_id>/members/<int:user_id>/approve/",
        api.MemberApproveApi.as_view(),
        name="api-member-approve",
    ),
    path(
        "groups/<int:group_id>/members/<int:user_id>/reject/",
        api.MemberRejectApi.as_view(),
        name="api-member-reject",
    ),
    path(
        "groups/<int:group_id>/members/<int:user_id>/remove/",
        api.MemberRemoveApi.as_view(),
        name="api-member-remove",
    ),
    path("invitations/mine/", api.MyInvitationsApi.as_view(), name="api-invitations-mine"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        api.InvitationRevokeApi.as_view(),
        name="api-invitation-revoke",
    ),
    path(
        "invitations/<int:invitation_id>/accept/",
        api.InvitationAcceptApi.as_view(),
        name="api-invitation-accept",
    ),
]
