"""The friend-group API through its public door (DRF's APIClient with a session): the
JSON error shape, invitations whose token is shown once, links refused with the right code
and nothing written, rate limits, and the organiser's decisions."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from groups import services
from groups.models import FriendGroup, Invitation, Membership
from groups.selectors import hash_token
from tests import factories

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def organiser():
    return factories.user("Olivia Organiser")


@pytest.fixture
def trip(organiser):
    return factories.trip(organiser=organiser, title="Lyon weekend")


@pytest.fixture
def group(trip):
    return trip.group


@pytest.fixture
def friend(trip):
    return factories.member(trip, "Fred Friend")


def _invite(client, group, **body):
    return client.post(f"/api/groups/{group.pk}/invitations/", body, format="json")


def _link(group, organiser, **kwargs) -> tuple[Invitation, str]:
    return services.invitation_create(group_id=group.pk, by=organiser, **kwargs)


def _snapshot():
    """Everything a join may write: memberships and invitation uses."""
    return (
        sorted(Membership.objects.values_list("group_id", "user_id", "status", "role")),
        sorted(Invitation.objects.values_list("pk", "uses", "revoked_at")),
    )


# --- The error shape -----------------------------------------------------------------------


def test_anonymous_caller_gets_403_not_authenticated_in_the_error_shape(group):
    response = client_for().patch(f"/api/groups/{group.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "not_authenticated"
    assert body["error"]["message"]


def test_invalid_input_names_the_field(group, organiser):
    response = client_for(organiser).patch(
        f"/api/groups/{group.pk}/", {"privacy": "secret"}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"privacy"}
    assert FriendGroup.objects.get(pk=group.pk).privacy == "private"


def test_a_domain_error_keeps_its_code_status_and_fields(group, organiser):
    response = client_for(organiser).patch(
        f"/api/groups/{group.pk}/", {"max_members": 50}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "max_members" in response.json()["error"]["fields"]


def test_a_method_the_endpoint_lacks_is_405_even_for_anonymous(group):
    response = client_for().delete(f"/api/groups/{group.pk}/")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "PATCH" in response["Allow"]


# --- Group settings ------------------------------------------------------------------------


def test_organiser_changes_the_group_settings(group, organiser):
    response = client_for(organiser).patch(
        f"/api/groups/{group.pk}/",
        {"name": " Lyon  again ", "privacy": "public", "requires_approval": True, "max_members": 4},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "id": group.pk,
        "name": "Lyon again",
        "privacy": "public",
        "requires_approval": True,
        "max_members": 4,
    }


def test_a_member_cannot_change_the_group_settings(group, friend):
    response = client_for(friend).patch(f"/api/groups/{group.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_organiser"
    assert FriendGroup.objects.get(pk=group.pk).name == "Lyon weekend"


# --- Invitations: the token is shown once --------------------------------------------------


def test_the_token_and_link_are_shown_only_when_the_invitation_is_created(group, organiser):
    client = client_for(organiser)

    created = _invite(client, group, channel="whatsapp", ttl_days=3)

    assert created.status_code == 201, created.json()
    body = created.json()
    token = body["token"]
    assert body["url"] == f"http://testserver/join/{token}/"
    assert body["channel"] == "whatsapp"
    assert body["status"] == "active"
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires_at - (timezone.now() + dt.timedelta(days=3))) < dt.timedelta(minutes=1)
    stored = Invitation.objects.get(pk=body["id"])
    assert stored.token_hash == hash_token(token)
    assert token not in str(Invitation.objects.values().get(pk=body["id"]))

    listed = client.get(f"/api/groups/{group.pk}/invitations/").json()
    assert [i["id"] for i in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert "url" not in listed[0]
    assert token not in str(listed)
    assert stored.token_hash not in str(listed)
    revoked = client.post(f"/api/invitations/{body['id']}/revoke/").json()
    assert "token" not in revoked


def test_the_invitation_list_shows_each_status_and_uses(group, organiser, friend):
    active, _ = _link(group, organiser)
    expired, _ = _link(group, organiser)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    revoked, _ = _link(group, organiser)
    services.invitation_revoke(invitation_id=revoked.pk, by=organiser)
    used_up, token = _link(group, organiser, max_uses=1)
    services.invitation_accept(token=token, user=factories.user())

    listed = client_for(organiser).get(f"/api/groups/{group.pk}/invitations/").json()

    by_id = {i["id"]: i for i in listed}
    assert by_id[active.pk]["status"] == "active"
    assert by_id[expired.pk]["status"] == "expired"
    assert by_id[revoked.pk]["status"] == "revoked"
    assert by_id[used_up.pk]["status"] == "used_up"
    assert by_id[used_up.pk]["uses"] == 1


def test_a_member_may_not_list_invitations_nor_invite_unless_the_setting_allows(
    group, friend, settings
):
    client = client_for(friend)
    assert client.get(f"/api/groups/{group.pk}/invitations/").status_code == 403
    assert _invite(client, group).status_code == 403
    assert not Invitation.objects.filter(created_by=friend).exists()

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "MEMBERS_CAN_INVITE": True}
    created = _invite(client, group)
    assert created.status_code == 201
    # Their own invitation they may withdraw; the list stays the organiser's.
    assert client.post(f"/api/invitations/{created.json()['id']}/revoke/").status_code == 200
    assert client.get(f"/api/groups/{group.pk}/invitations/").status_code == 403


def test_invitation_input_is_checked(group, organiser):
    client = client_for(organiser)
    for body, field in [
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"ttl_days": 0}, "ttl_days"),
        ({"ttl_days": 61}, "ttl_days"),  # longer than INVITATION_MAX_TTL_DAYS
        ({"max_uses": 0}, "max_uses"),
        ({"invitee_email": "not-an-address"}, "invitee_email"),
        ({"invitee_id": 0}, "invitee_id"),
    ]:
        response = _invite(client, group, **body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], body
    assert not Invitation.objects.exists()


def _suggest(monkeypatch, *users):
    """Facebook suggests these users as the organiser's friends who use the app."""
    from groups import friends

    def suggestions(*, user, group_id):
        return friends.FriendSuggestions(
            available=True,
            friends=[friends.FriendSuggestion(u.pk, u.profile.display_name, "") for u in users],
        )

    monkeypatch.setattr(friends, "facebook_friend_suggestions", suggestions)


def test_only_a_suggested_friend_gets_a_personal_invitation_and_ids_reveal_nothing(
    group, organiser, monkeypatch
):
    friend, somebody = factories.user("Fatou Friend"), factories.user("Some Body")
    _suggest(monkeypatch, friend)
    client = client_for(organiser)
    answers = [_invite(client, group, invitee_id=uid) for uid in (somebody.pk, 10**9)]
    # An existing account and a made-up id get the same answer.
    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [
        (404, "friend_not_suggested"),
        (404, "friend_not_suggested"),
    ]
    assert answers[0].json() == answers[1].json()
    assert not Invitation.objects.exists()
    assert _invite(client, group, invitee_id=friend.pk).status_code == 201


def test_personal_invitation_is_listed_for_its_invitee_and_accepted_by_id(
    group, organiser, monkeypatch
):
    invitee = factories.user("Ines Invitee")
    _suggest(monkeypatch, invitee)
    created = _invite(
        client_for(organiser), group, channel="facebook_friend", invitee_id=invitee.pk
    )
    assert created.status_code == 201
    assert created.json()["max_uses"] == 1

    client = client_for(invitee)
    mine = client.get("/api/invitations/mine/").json()
    assert [(i["id"], i["group"]["name"], i["invited_by"]) for i in mine] == [
        (created.json()["id"], "Lyon weekend", "Olivia Organiser")
    ]
    accepted = client.post(f"/api/invitations/{created.json()['id']}/accept/")
    assert accepted.status_code == 201
    assert accepted.json()["status"] == "active"
    assert client.get("/api/invitations/mine/").json() == []


def test_someone_else_cannot_accept_a_personal_invitation(group, organiser):
    invitee = factories.user()
    invitation, _token = _link(group, organiser, invitee=invitee)
    before = _snapshot()

    response = client_for(factories.user()).post(f"/api/invitations/{invitation.pk}/accept/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "invitation_not_found"
    assert _snapshot() == before


def _person_with_address(email: str, *, verified: bool = True):
    from allauth.account.models import EmailAddress

    person = factories.user(email=email)
    EmailAddress.objects.create(user=person, email=email, verified=verified, primary=True)
    return person


def test_an_email_invitation_is_used_by_the_owner_of_its_verified_address(group, organiser):
    _invitation, token = _link(
        group, organiser, channel="email", invitee_email="chloe@example.test"
    )
    chloe = _person_with_address("Chloe@Example.test")

    response = client_for(chloe).post(f"/api/join/{token}/")

    assert (response.status_code, response.json()["status"]) == (201, "active")


@pytest.mark.parametrize(
    "address, verified",
    [("mallory@example.test", True), ("chloe@example.test", False)],
    ids=["another address", "the address, not confirmed"],
)
def test_an_email_invitation_is_refused_to_anyone_else_holding_its_token(
    group, organiser, address, verified
):
    _invitation, token = _link(
        group, organiser, channel="email", invitee_email="chloe@example.test"
    )
    holder = _person_with_address(address, verified=verified)
    before = _snapshot()

    response = client_for(holder).post(f"/api/join/{token}/")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "invitation_for_someone_else"
    assert "autre adresse e-mail" in error["message"]  # French by default
    assert _snapshot() == before


# --- Links: preview, join, refusals ----------------------------------------------------------


def test_preview_shows_the_trip_without_members_to_anyone(group, organiser, friend):
    _invitation, token = _link(group, organiser)

    response = client_for().get(f"/api/join/{token}/")

    assert response.status_code == 200
    body = response.json()
    assert body["organiser_name"] == "Olivia Organiser"
    assert body["member_count"] == 2
    assert body["spots_left"] == group.max_members - 2
    assert body["requires_approval"] is False
    assert [t["title"] for t in body["trips"]] == ["Lyon weekend"]
    assert body["trips"][0]["origin"]["code"] == "FRPLY"
    assert "Fred Friend" not in str(body)
    assert "members" not in body


def test_joining_by_link_makes_an_active_member_then_is_harmless(group, organiser):
    invitation, token = _link(group, organiser)
    joiner = factories.user()
    client = client_for(joiner)

    first = client.post(f"/api/join/{token}/")
    again = client.post(f"/api/join/{token}/")

    assert first.status_code == 201
    assert first.json() == {
        "group_id": group.pk,
        "user_id": joiner.pk,
        "role": "member",
        "status": "active",
        "shares_details": False,
    }
    assert again.status_code == 200
    assert Invitation.objects.get(pk=invitation.pk).uses == 1


def test_joining_a_group_that_approves_joiners_is_pending(group, organiser):
    services.group_update(group_id=group.pk, by=organiser, requires_approval=True)
    _invitation, token = _link(group, organiser)

    response = client_for(factories.user()).post(f"/api/join/{token}/")

    assert response.status_code == 201
    assert response.json()["status"] == "pending"


def _expire(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def _revoke(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())


def _use_up(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(max_uses=1, uses=1)


@pytest.mark.parametrize(
    ("spoil", "status", "code"),
    [
        (_expire, 410, "invitation_expired"),
        (_revoke, 410, "invitation_revoked"),
        (_use_up, 410, "invitation_used_up"),
        ("forged", 404, "invitation_not_found"),
        ("truncated", 404, "invitation_not_found"),
    ],
)
def test_a_spoiled_link_is_refused_with_its_code_and_nothing_written(
    group, organiser, spoil, status, code
):
    invitation, token = _link(group, organiser)
    if spoil == "forged":
        token = "A" * len(token)
    elif spoil == "truncated":
        token = token[:-3]
    else:
        spoil(invitation)
    joiner = factories.user()
    before = _snapshot()

    preview = client_for().get(f"/api/join/{token}/")
    joined = client_for(joiner).post(f"/api/join/{token}/")

    for response in (preview, joined):
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert set(response.json()["error"]) >= {"code", "message"}
    assert _snapshot() == before


def test_a_full_group_refuses_the_link_with_409(group, organiser):
    services.group_update(group_id=group.pk, by=organiser, max_members=2)
    factories.member(group.trips.get())
    _invitation, token = _link(group, organiser)
    before = _snapshot()

    response = client_for(factories.user()).post(f"/api/join/{token}/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "group_full"
    assert _snapshot() == before


def test_anonymous_cannot_join_by_link(group, organiser):
    _invitation, token = _link(group, organiser)
    before = _snapshot()

    response = client_for().post(f"/api/join/{token}/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"
    assert _snapshot() == before


# --- Rate limits ---------------------------------------------------------------------------


def test_joining_is_rate_limited(group, organiser, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_JOIN": "2/m"}
    _invitation, token = _link(group, organiser)
    joiner = factories.user()
    client = client_for(joiner)

    assert client.post("/api/join/not-a-real-token/").status_code == 404
    assert client.post(f"/api/join/{token}/").status_code == 201
    services.membership_leave(group_id=group.pk, user=joiner)
    before = _snapshot()
    limited = client.post(f"/api/join/{token}/")

    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert _snapshot() == before
    # Another person has their own count.
    assert client_for(factories.user()).post(f"/api/join/{token}/").status_code == 201


def test_creating_invitations_is_rate_limited(group, organiser, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_INVITE": "2/m"}
    client = client_for(organiser)

    assert _invite(client, group).status_code == 201
    assert _invite(client, group).status_code == 201
    limited = _invite(client, group)

    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert Invitation.objects.count() == 2


def test_public_joining_is_rate_limited(organiser, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_JOIN": "1/m"}
    group = factories.trip(organiser=organiser, privacy="public").group
    client = client_for(factories.user())

    assert client.post(f"/api/groups/{group.pk}/join/").status_code == 201
    assert client.post(f"/api/groups/{group.pk}/join/").status_code == 429


# --- Public groups, leaving, the organiser's decisions -----------------------------------


def test_a_stranger_joins_a_public_group_but_not_a_private_one(organiser, group):
    public = factories.trip(organiser=organiser, privacy="public").group
    stranger = factories.user()
    client = client_for(stranger)

    assert client.post(f"/api/groups/{public.pk}/join/").status_code == 201
    refused = client.post(f"/api/groups/{group.pk}/join/")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "group_not_found"
    assert not Membership.objects.filter(group=group, user=stranger).exists()


def test_a_link_group_answers_a_stranger_as_a_group_that_does_not_exist(organiser, friend):
    link_group = factories.trip(organiser=organiser, privacy="link").group
    missing_id = FriendGroup.objects.order_by("-pk").first().pk + 100
    stranger = client_for(factories.user("Sam Stranger"))
    calls = [
        ("patch", "{id}/", {"name": "Mine now"}),
        ("get", "{id}/invitations/", None),
        ("post", "{id}/invitations/", {"channel": "link"}),
        ("post", "{id}/join/", None),
        ("post", "{id}/leave/", None),
        ("post", "{id}/hand-over/", {"user_id": friend.pk}),
        ("patch", "{id}/me/", {"shares_details": True}),
        ("post", f"{{id}}/members/{organiser.pk}/approve/", None),
        ("post", f"{{id}}/members/{organiser.pk}/reject/", None),
        ("post", f"{{id}}/members/{organiser.pk}/remove/", None),
    ]
    before = _snapshot()

    for method, tail, body in calls:
        answers = [
            getattr(stranger, method)(
                "/api/groups/" + tail.format(id=group_id), body, format="json"
            )
            for group_id in (link_group.pk, missing_id)
        ]
        assert [(a.status_code, a.json()) for a in answers] == [
            (404, answers[1].json()),
            (404, answers[1].json()),
        ], (method, tail)
    assert _snapshot() == before


def test_organiser_approves_and_rejects_people_waiting(group, organiser):
    services.group_update(group_id=group.pk, by=organiser, requires_approval=True)
    waiting = [factories.member(group.trips.get()) for _ in range(2)]
    client = client_for(organiser)

    approved = client.post(f"/api/groups/{group.pk}/members/{waiting[0].pk}/approve/")
    rejected = client.post(f"/api/groups/{group.pk}/members/{waiting[1].pk}/reject/")

    assert (approved.status_code, approved.json()["status"]) == (200, "active")
    assert (rejected.status_code, rejected.json()["status"]) == (200, "removed")
    unknown = client.post(f"/api/groups/{group.pk}/members/{10**9}/approve/")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "member_not_found")


@pytest.mark.parametrize("action", ["approve", "reject", "remove", "hand-over"])
@pytest.mark.parametrize("user_id", [2**63, 2**70, 10**30])
def test_a_user_id_too_large_for_the_database_is_not_found_and_nothing_written(
    group, organiser, friend, action, user_id
):
    services.group_update(group_id=group.pk, by=organiser, requires_approval=True)
    factories.member(group.trips.get(), "Wanda Waiting")
    client = client_for(organiser)
    before = _snapshot()

    if action == "hand-over":
        url, body = f"/api/groups/{group.pk}/hand-over/", {"user_id": user_id}
    else:
        url, body = f"/api/groups/{group.pk}/members/{user_id}/{action}/", None
    response = client.post(url, body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "member_not_found")
    assert _snapshot() == before


def test_organiser_removes_a_member_who_cannot_come_back_by_link(group, organiser, friend):
    response = client_for(organiser).post(f"/api/groups/{group.pk}/members/{friend.pk}/remove/")
    assert (response.status_code, response.json()["status"]) == (200, "removed")

    _invitation, token = _link(group, organiser)
    again = client_for(friend).post(f"/api/join/{token}/")
    assert (again.status_code, again.json()["error"]["code"]) == (403, "removed_from_group")


def test_leaving_and_the_organiser_hands_over_first(group, organiser, friend):
    client = client_for(organiser)

    refused = client.post(f"/api/groups/{group.pk}/leave/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "organiser_must_hand_over",
    )
    handed = client.post(
        f"/api/groups/{group.pk}/hand-over/", {"user_id": friend.pk}, format="json"
    )
    assert (handed.status_code, handed.json()["role"]) == (200, "organiser")
    left = client.post(f"/api/groups/{group.pk}/leave/")
    assert (left.status_code, left.json()["status"]) == (200, "left")
    assert Membership.objects.get(group=group, user=friend).is_organiser


def test_hand_over_needs_a_user_id(group, organiser):
    response = client_for(organiser).post(f"/api/groups/{group.pk}/hand-over/", {}, format="json")
    assert response.status_code == 400
    assert "user_id" in response.json()["error"]["fields"]


def test_a_member_chooses_to_share_their_details(group, friend):
    client = client_for(friend)

    response = client.patch(f"/api/groups/{group.pk}/me/", {"shares_details": True}, format="json")

    assert response.status_code == 200
    assert response.json()["shares_details"] is True
    assert Membership.objects.get(group=group, user=friend).shares_details
    missing = client.patch(f"/api/groups/{group.pk}/me/", {}, format="json")
    assert missing.status_code == 400


def test_a_logged_in_session_needs_the_csrf_token_to_write(group, organiser):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(organiser)

    response = client.patch(f"/api/groups/{group.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert FriendGroup.objects.get(pk=group.pk).name == "Lyon weekend"
