"""Friend groups, memberships and invitations through their services: every rule, and
that a refused request writes nothing."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import DomainError
from groups import errors, selectors, services
from groups.models import FriendGroup, Invitation, Membership
from groups.signals import group_changed
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def organiser():
    return factories.user("Olivia Organiser")


@pytest.fixture
def group(organiser):
    return services.group_create(organiser=organiser, name="  Lyon   weekend ")


def test_group_create_makes_the_creator_its_organiser(group, organiser):
    assert group.name == "Lyon weekend"
    assert group.privacy == FriendGroup.Privacy.PRIVATE
    assert group.max_members == 9
    membership = Membership.objects.get(group=group)
    assert (membership.user, membership.role, membership.status) == (
        organiser,
        "organiser",
        "active",
    )


@pytest.mark.parametrize("max_members", [0, 1, 21])
def test_group_size_is_bounded(organiser, max_members):
    with pytest.raises(DomainError) as exc:
        services.group_create(organiser=organiser, name="x", max_members=max_members)
    assert "max_members" in exc.value.fields
    assert not FriendGroup.objects.exists()


def test_blank_name_and_unknown_privacy_are_refused(organiser):
    with pytest.raises(DomainError) as exc:
        services.group_create(organiser=organiser, name="   ")
    assert "name" in exc.value.fields
    with pytest.raises(DomainError) as exc:
        services.group_create(organiser=organiser, name="x", privacy="secret")
    assert "privacy" in exc.value.fields
    assert not FriendGroup.objects.exists()


def test_invitation_stores_only_a_hash_of_its_token(group, organiser):
    invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    assert len(token) >= 32
    assert token not in invitation.token_hash
    assert invitation.token_hash == selectors.hash_token(token)
    assert invitation.expires_at > timezone.now() + dt.timedelta(days=13)


def test_joining_by_link_makes_an_active_member_and_counts_the_use(group, organiser):
    invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    friend = factories.user("Fatou Friend")
    membership = services.invitation_accept(token=token, user=friend)
    assert membership.status == "active" and membership.role == "member"
    invitation.refresh_from_db()
    assert invitation.uses == 1
    # Joining again changes nothing and uses nothing.
    assert services.invitation_accept(token=token, user=friend).pk == membership.pk
    invitation.refresh_from_db()
    assert invitation.uses == 1


def _refused(token, user, error):
    before = (Membership.objects.count(), list(Invitation.objects.values_list("uses", flat=True)))
    with pytest.raises(error):
        services.invitation_accept(token=token, user=user)
    after = (Membership.objects.count(), list(Invitation.objects.values_list("uses", flat=True)))
    assert before == after


def test_forged_expired_revoked_and_used_up_invitations_are_refused(group, organiser):
    friend = factories.user()
    _refused("made-up-token", friend, errors.InvitationNotFound)
    _refused("", friend, errors.InvitationNotFound)
    _refused("x" * 5000, friend, errors.InvitationNotFound)

    expired, token = services.invitation_create(group_id=group.pk, by=organiser, ttl_days=1)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    _refused(token, friend, errors.InvitationExpired)

    revoked, token = services.invitation_create(group_id=group.pk, by=organiser)
    services.invitation_revoke(invitation_id=revoked.pk, by=organiser)
    services.invitation_revoke(invitation_id=revoked.pk, by=organiser)  # idempotent
    _refused(token, friend, errors.InvitationRevoked)

    _once, token = services.invitation_create(group_id=group.pk, by=organiser, max_uses=1)
    services.invitation_accept(token=token, user=factories.user())
    _refused(token, friend, errors.InvitationUsedUp)


def test_a_personal_invitation_is_for_its_invitee_only(group, organiser):
    invitee, stranger = factories.user(), factories.user()
    invitation, token = services.invitation_create(
        group_id=group.pk, by=organiser, channel="facebook_friend", invitee=invitee
    )
    assert invitation.max_uses == 1
    _refused(token, stranger, errors.InvitationForSomeoneElse)
    assert selectors.invitations_for_user(user=invitee) == [invitation]
    services.invitation_accept_personal(invitation_id=invitation.pk, user=invitee)
    assert selectors.invitations_for_user(user=invitee) == []
    with pytest.raises(errors.InvitationNotFound):
        services.invitation_accept_personal(invitation_id=invitation.pk, user=stranger)


def test_only_the_organiser_invites_and_revokes(group, organiser):
    _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    friend = factories.user()
    services.invitation_accept(token=token, user=friend)
    with pytest.raises(errors.NotOrganiser):
        services.invitation_create(group_id=group.pk, by=friend)
    invitation = Invitation.objects.get()
    with pytest.raises(errors.NotOrganiser):
        services.invitation_revoke(invitation_id=invitation.pk, by=friend)
    stranger = factories.user()
    with pytest.raises(errors.GroupNotFound):  # a private group does not exist for them
        services.invitation_create(group_id=group.pk, by=stranger)


def test_a_full_group_refuses_joiners(organiser):
    group = services.group_create(organiser=organiser, name="Two", max_members=2)
    _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    services.invitation_accept(token=token, user=factories.user())
    _refused(token, factories.user(), errors.GroupFull)


def test_approval_makes_joiners_wait(organiser):
    group = services.group_create(organiser=organiser, name="Careful", requires_approval=True)
    _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    waiting, rejected = factories.user(), factories.user()
    assert services.invitation_accept(token=token, user=waiting).status == "pending"
    services.invitation_accept(token=token, user=rejected)
    access = selectors.group_access(user=waiting, group_id=group.pk)
    assert access.is_pending and not access.is_member
    with pytest.raises(errors.NotMember):
        services.membership_share_details(group_id=group.pk, user=waiting, shares=True)
    services.membership_approve(group_id=group.pk, by=organiser, user_id=waiting.pk)
    assert selectors.group_access(user=waiting, group_id=group.pk).is_member
    services.membership_reject(group_id=group.pk, by=organiser, user_id=rejected.pk)
    _refused(token, rejected, errors.RemovedFromGroup)


def test_remove_leave_and_hand_over(group, organiser):
    _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    anna, ben = factories.user("Anna"), factories.user("Ben")
    services.invitation_accept(token=token, user=anna)
    services.invitation_accept(token=token, user=ben)

    with pytest.raises(errors.NotOrganiser):
        services.membership_remove(group_id=group.pk, by=anna, user_id=ben.pk)
    services.membership_remove(group_id=group.pk, by=organiser, user_id=ben.pk)
    _refused(token, ben, errors.RemovedFromGroup)

    with pytest.raises(errors.OrganiserMustHandOver):
        services.membership_leave(group_id=group.pk, user=organiser)
    services.organiser_hand_over(group_id=group.pk, by=organiser, to_user_id=anna.pk)
    assert selectors.group_access(user=anna, group_id=group.pk).is_organiser
    assert not selectors.group_access(user=organiser, group_id=group.pk).is_organiser

    services.membership_leave(group_id=group.pk, user=organiser)
    with pytest.raises(errors.GroupNotFound):
        selectors.group_access(user=organiser, group_id=group.pk)
    # Someone who left may come back through a link.
    _invitation, token = services.invitation_create(group_id=group.pk, by=anna)
    assert services.invitation_accept(token=token, user=organiser).status == "active"


def test_the_last_organiser_may_leave_an_empty_group(group, organiser):
    services.membership_leave(group_id=group.pk, user=organiser)
    assert not Membership.objects.filter(status="active").exists()


def test_the_database_allows_one_active_organiser(group, organiser):
    friend = factories.user()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(group=group, user=friend, role="organiser", status="active")


def test_public_groups_are_joined_without_an_invitation(organiser):
    public = services.group_create(organiser=organiser, name="Open", privacy="public")
    link = services.group_create(organiser=organiser, name="Link", privacy="link")
    private = services.group_create(organiser=organiser, name="Closed")
    walker = factories.user()
    assert services.group_join_public(group_id=public.pk, user=walker).status == "active"
    # A link group, like a private one, is not there for a stranger without its link.
    with pytest.raises(errors.GroupNotFound):
        services.group_join_public(group_id=link.pk, user=walker)
    with pytest.raises(errors.GroupNotFound):
        services.group_join_public(group_id=private.pk, user=walker)


def test_changes_are_announced_after_commit(group, organiser, django_capture_on_commit_callbacks):
    seen = []

    def listener(sender, **kwargs):
        seen.append((kwargs["kind"], kwargs["user_id"]))

    group_changed.connect(listener)
    try:
        _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
        friend = factories.user()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.invitation_accept(token=token, user=friend)
        assert seen == []  # not before the commit
        for callback in callbacks:
            callback()
        assert seen == [("member_joined", friend.pk)]
    finally:
        group_changed.disconnect(listener)


def test_members_see_each_others_details_only_when_shared(group, organiser):
    _invitation, token = services.invitation_create(group_id=group.pk, by=organiser)
    friend = factories.user("Fatou")
    services.invitation_accept(token=token, user=friend)
    services.membership_share_details(group_id=group.pk, user=friend, shares=True)
    with CaptureQueriesContext(connection) as queries:
        members = selectors.group_members(group=group, viewer=organiser)
    assert len(queries) == 1
    by_name = {m.name: m for m in members}
    assert by_name["Fatou"].details_visible
    assert by_name["Olivia Organiser"].details_visible  # their own
    assert not selectors.group_members(group=group, viewer=friend)[0].details_visible
