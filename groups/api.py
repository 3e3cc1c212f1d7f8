"""The friend-group API: settings, invitations, joining, and the organiser's decisions.

Thin views: an input serializer validates, a service (``groups.services``) acts or a
selector (``groups.selectors``) reads, an output serializer renders. Domain errors are
rendered once by ``core.api_errors``. The trip endpoints (``booking.api``) build on the
base classes and error documentation below.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.serializers import ErrorSerializer
from groups import selectors, services
from groups.errors import NotOrganiser
from groups.ratelimits import rate_limit
from groups.serializers import (
    GroupSerializer,
    GroupUpdateSerializer,
    HandOverSerializer,
    InvitationCreatedSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipSerializer,
    PersonalInvitationSerializer,
    ShareDetailsSerializer,
)

# The page a friend opens to join; the token is the secret part of the link.
JOIN_PATH = "/join/{token}/"

_ERROR_DESCRIPTIONS = {
    400: "Invalid input",
    403: "Not logged in (not_authenticated), or not allowed (not_organiser, not_member, …)",
    404: "Not found, or not visible to you (a private or link trip is not found for a stranger)",
    409: "Conflicts with the current state (group_full, organiser_must_hand_over, …)",
    410: "The invitation was real but cannot be used any more (expired, revoked, used up)",
    429: "Too many tries in a short time (rate_limited)",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation, all in the one error shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


class Api(APIView):
    """Base of our API views: a method the view does not have gets 405 before anything is
    asked of the caller (DRF checks permissions first, which would answer 403)."""

    def check_permissions(self, request):
        if not hasattr(self, request.method.lower()):
            raise exceptions.MethodNotAllowed(request.method)
        super().check_permissions(request)


class LoggedInApi(Api):
    """For logged-in people only. With session authentication an anonymous caller gets
    403 ``not_authenticated`` (DRF answers 401 only to schemes that send a challenge)."""

    permission_classes = [IsAuthenticated]


def membership_response(membership, *, started) -> Response:
    """201 when the call made or re-opened the membership, 200 when it was already there
    (joining again is harmless: the service returns the membership unchanged)."""
    created = membership.updated_at >= started
    return Response(
        MembershipSerializer(membership).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


# --- The group ----------------------------------------------------------------------------


class GroupApi(LoggedInApi):
    @extend_schema(
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **errors(400, 403, 404)},
        summary="Change the group's name, privacy, approval rule or size (organiser)",
    )
    def patch(self, request, group_id: int):
        data = GroupUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_update(group_id=group_id, by=request.user, **data.validated_data)
        return Response(GroupSerializer(group).data)


# --- Invitations -------------------------------------------------------------------------


class GroupInvitationsApi(LoggedInApi):
    @extend_schema(
        responses={200: InvitationSerializer(many=True), **errors(403, 404)},
        summary="The group's invitations with their status, without tokens (organiser)",
    )
    def get(self, request, group_id: int):
        access = selectors.group_access(user=request.user, group_id=group_id)
        if not access.is_organiser:
            raise NotOrganiser()
        invitations = selectors.group_invitations(group=access.group)
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={201: InvitationCreatedSerializer, **errors(400, 403, 404, 429)},
        summary="Create an invitation; its token and link are shown in this answer only",
    )
    def post(self, request, group_id: int):
        rate_limit(request, "invite")
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values.get("invitee_id") is not None:
            invitation, token = services.invitation_create_for_friend(
                group_id=group_id, by=request.user, friend_user_id=values["invitee_id"]
            )
        else:
            invitation, token = services.invitation_create(
                group_id=group_id,
                by=request.user,
                channel=values["channel"],
                ttl_days=values.get("ttl_days"),
                max_uses=values.get("max_uses"),
                invitee_email=values.get("invitee_email", ""),
            )
        invitation.token = token
        invitation.url = request.build_absolute_uri(JOIN_PATH.format(token=token))
        return Response(
            InvitationCreatedSerializer(invitation).data, status=status.HTTP_201_CREATED
        )


class InvitationRevokeApi(LoggedInApi):
    @extend_schema(
        request=None,
        responses={200: InvitationSerializer, **errors(403, 404)},
        summary="Withdraw an invitation (its creator or the organiser); idempotent",
    )
    def post(self, request, invitation_id: int):
        invitation = services.invitation_revoke(invitation_id=invitation_id, by=request.user)
        return Response(InvitationSerializer(invitation).data)


class MyInvitationsApi(LoggedInApi):
    @extend_schema(
        responses={200: PersonalInvitationSerializer(many=True), **errors(403)},
        summary="Personal invitations sent to me that I can still accept",
    )
    def get(self, request):
        invitations = selectors.invitations_for_user(user=request.user)
        return Response(PersonalInvitationSerializer(invitations, many=True).data)


class InvitationAcceptApi(LoggedInApi):
    @extend_schema(
        request=None,
        responses={
            200: MembershipSerializer,
            201: MembershipSerializer,
            **errors(403, 404, 409, 410, 429),
        },
        summary="Accept a personal invitation sent to me (active, or pending approval)",
    )
    def post(self, request, invitation_id: int):
        rate_limit(request, "join")
        started = timezone.now()
        membership = services.invitation_accept_personal(
            invitation_id=invitation_id, user=request.user
        )
        return membership_response(membership, started=started)


# --- Joining and leaving -----------------------------------------------------------------


class GroupJoinApi(LoggedInApi):
    @extend_schema(
        request=None,
        responses={
            200: MembershipSerializer,
            201: MembershipSerializer,
            **errors(403, 404, 409, 429),
        },
        summary="Join a public group without an invitation (active, or pending approval)",
    )
    def post(self, request, group_id: int):
        rate_limit(request, "join")
        started = timezone.now()
        membership = services.group_join_public(group_id=group_id, user=request.user)
        return membership_response(membership, started=started)


class GroupLeaveApi(LoggedInApi):
    @extend_schema(
        request=None,
        responses={200: MembershipSerializer, **errors(403, 404, 409)},
        summary="Leave the group, or withdraw a request to join",
    )
    def post(self, request, group_id: int):
        membership = services.membership_leave(group_id=group_id, user=request.user)
        return Response(MembershipSerializer(membership).data)


class MyMembershipApi(LoggedInApi):
    @extend_schema(
        request=ShareDetailsSerializer,
        responses={200: MembershipSerializer, **errors(400, 403, 404)},
        summary="Choose whether the others see my discount card, age and price",
    )
    def patch(self, request, group_id: int):
        data = ShareDetailsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_share_details(
            group_id=group_id, user=request.user, shares=data.validated_data["shares_details"]
        )
        return Response(MembershipSerializer(membership).data)


# --- The organiser's decisions -------------------------------------------------------------


class _MemberDecisionApi(LoggedInApi):
    # One of the membership_* services, taking group_id, by and user_id.
    service = None

    def post(self, request, group_id: int, user_id: int):
        membership = self.service(group_id=group_id, by=request.user, user_id=user_id)
        return Response(MembershipSerializer(membership).data)


_DECISION_ERRORS = errors(403, 404, 409)


class MemberApproveApi(_MemberDecisionApi):
    service = staticmethod(services.membership_approve)

    @extend_schema(
        request=None,
        responses={200: MembershipSerializer, **_DECISION_ERRORS},
        summary="Let someone waiting for approval join (organiser)",
    )
    def post(self, request, group_id: int, user_id: int):
        return super().post(request, group_id, user_id)


class MemberRejectApi(_MemberDecisionApi):
    service = staticmethod(services.membership_reject)

    @extend_schema(
        request=None,
        responses={200: MembershipSerializer, **_DECISION_ERRORS},
        summary="Turn down someone waiting for approval (organiser)",
    )
    def post(self, request, group_id: int, user_id: int):
        return super().post(request, group_id, user_id)


class MemberRemoveApi(_MemberDecisionApi):
    service = staticmethod(services.membership_remove)

    @extend_schema(
        request=None,
        responses={200: MembershipSerializer, **_DECISION_ERRORS},
        summary="Take a traveller off the trip; they cannot rejoin by a link (organiser)",
    )
    def post(self, request, group_id: int, user_id: int):
        return super().post(request, group_id, user_id)


class HandOverApi(LoggedInApi):
    @extend_schema(
        request=HandOverSerializer,
        responses={200: MembershipSerializer, **errors(400, 403, 404)},
        summary="Make another traveller the organiser (organiser); answers their membership",
    )
    def post(self, request, group_id: int):
        data = HandOverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.organiser_hand_over(
            group_id=group_id, by=request.user, to_user_id=data.validated_data["user_id"]
        )
        return Response(MembershipSerializer(membership).data)
