"""The trip pages through Django's test client: my trips, planning a trip, the trip page
for each kind of visitor, the invite panel, joining by link, the members' actions, an
event's public trips. Each refusal is a message on the page with its status code, and
writes nothing."""

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from booking.models import Trip
from groups import friends as friends_module
from groups import services
from groups.friends import FriendSuggestion, FriendSuggestions
from groups.models import FriendGroup, Invitation, Membership
from groups.selectors import hash_token
from tests import factories

pytestmark = pytest.mark.django_db

ENGLISH = {"Accept-Language": "en"}
JOIN_LINK = re.compile(r"http://testserver/join/([A-Za-z0-9_-]+)/")


def client_for(user=None, **kwargs) -> Client:
    client = Client(headers=ENGLISH, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def _snapshot():
    """Everything a refused request must leave untouched."""
    return (
        list(
            Membership.objects.order_by("pk").values_list("pk", "status", "role", "shares_details")
        ),
        list(Invitation.objects.order_by("pk").values_list("pk", "uses", "revoked_at")),
        list(FriendGroup.objects.order_by("pk").values_list("pk", "privacy", "max_members")),
        Trip.objects.count(),
    )


@pytest.fixture
def organiser():
    return factories.user("Olivia Organiser")


@pytest.fixture
def trip(organiser):
    return factories.trip(organiser=organiser, title="Weekend in Lyon")


@pytest.fixture
def member(trip):
    return factories.member(trip, "Max Member")


@pytest.fixture
def stranger():
    return factories.user("Sam Stranger")


def _link(trip, organiser, **kwargs) -> str:
    _invitation, token = services.invitation_create(group_id=trip.group_id, by=organiser, **kwargs)
    return token


# --- Who sees the trip page ------------------------------------------------------------------


def test_a_private_trip_does_not_exist_for_anonymous_people_and_strangers(trip, stranger):
    url = f"/trips/{trip.pk}/"
    for client in (client_for(), client_for(stranger)):
        response = client.get(url)
        assert response.status_code == 404
        assert "Weekend in Lyon" not in html(response)


def test_a_member_sees_the_travellers_but_not_the_organisers_tools(trip, member):
    response = client_for(member).get(f"/trips/{trip.pk}/")

    assert response.status_code == 200
    page = html(response)
    assert "Weekend in Lyon" in page
    assert "Olivia Organiser" in page and "Max Member" in page
    assert "Organiser" in page and ">you<" in page
    assert "Leave this trip" in page
    assert "Show them to the group" in page
    assert 'id="invite"' not in page
    assert "Make organiser" not in page
    assert "Trip settings" not in page
    assert "data-trip-plan" in page  # the place kept for the live seat map


def test_the_organiser_sees_the_invite_panel_member_actions_and_settings(trip, organiser, member):
    response = client_for(organiser).get(f"/trips/{trip.pk}/")

    assert response.status_code == 200
    page = html(response)
    assert 'id="invite"' in page
    assert "Create an invitation link" in page
    assert "Make organiser" in page and "Remove" in page
    assert "Trip settings" in page
    assert page.count('name="privacy"') == 3


def test_a_stranger_sees_a_public_trip_and_may_join_it(organiser, stranger):
    trip = factories.trip(organiser=organiser, privacy="public", title="Open to all")

    anonymous = client_for().get(f"/trips/{trip.pk}/")
    assert anonymous.status_code == 200
    assert f"/accounts/login/?next=/trips/{trip.pk}/" in html(anonymous)
    assert "Olivia Organiser" not in html(anonymous)  # names are for the travellers

    client = client_for(stranger)
    page = client.get(f"/trips/{trip.pk}/")
    assert page.status_code == 200
    assert "Join this trip" in html(page)

    response = client.post(f"/trips/{trip.pk}/join/")

    assert response.status_code == 302
    assert response["Location"] == f"/trips/{trip.pk}/"
    assert Membership.objects.get(group=trip.group, user=stranger).status == "active"


def test_a_link_trip_cannot_be_joined_without_the_link(organiser, stranger):
    trip = factories.trip(organiser=organiser, privacy="link")
    before = _snapshot()

    assert client_for(stranger).get(f"/trips/{trip.pk}/").status_code == 404
    assert client_for(stranger).post(f"/trips/{trip.pk}/join/").status_code == 404
    assert _snapshot() == before


def test_pages_speak_french_by_default_and_english_on_request(trip, organiser):
    french = Client(headers={"Accept-Language": "fr"})
    french.force_login(organiser)
    assert '<html lang="fr">' in html(french.get(f"/trips/{trip.pk}/"))
    assert '<html lang="fr">' in html(french.get("/trips/"))

    chosen = Client()
    chosen.cookies["django_language"] = "en"
    chosen.force_login(organiser)
    assert '<html lang="en">' in html(chosen.get(f"/trips/{trip.pk}/"))


# --- My trips ----------------------------------------------------------------------------------


def test_my_trips_needs_a_login(trip):
    response = client_for().get("/trips/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/trips/"


def test_my_trips_lists_each_trip_with_the_role(trip, organiser, member):
    page = html(client_for(organiser).get("/trips/"))
    assert "Weekend in Lyon" in page and f'href="/trips/{trip.pk}/"' in page
    assert "Organiser" in page
    assert "2 travellers" in page
    assert 'href="/trips/new/"' in page

    assert "Traveller" in html(client_for(member).get("/trips/"))


def test_the_header_links_to_my_trips_when_logged_in(organiser):
    assert 'href="/trips/"' in html(client_for(organiser).get("/"))
    assert 'href="/trips/"' not in html(client_for().get("/"))


def test_a_personal_invitation_is_joined_from_my_trips(trip, organiser, stranger):
    invitation, _token = services.invitation_create(
        group_id=trip.group_id, by=organiser, channel="facebook_friend", invitee=stranger
    )
    client = client_for(stranger)
    page = html(client.get("/trips/"))
    assert "Weekend in Lyon" in page
    assert "Olivia Organiser invites you" in page

    response = client.post(f"/trips/invitations/{invitation.pk}/accept/")

    assert response.status_code == 302
    assert response["Location"] == f"/trips/{trip.pk}/"
    assert Membership.objects.get(group=trip.group, user=stranger).status == "active"


def test_someone_elses_personal_invitation_cannot_be_accepted(trip, organiser, stranger):
    invitation, _token = services.invitation_create(
        group_id=trip.group_id, by=organiser, channel="facebook_friend", invitee=stranger
    )
    before = _snapshot()

    response = client_for(factories.user()).post(f"/trips/invitations/{invitation.pk}/accept/")

    assert response.status_code == 404
    assert "This invitation link is not valid" in html(response)
    assert _snapshot() == before


# --- Planning a trip ---------------------------------------------------------------------------


@pytest.fixture
def stations():
    return [
        factories.station("FRPLY", "Paris Gare de Lyon", "Paris"),
        factories.station("FRLPD", "Lyon Part-Dieu", "Lyon"),
    ]


def _trip_form(**overrides):
    leave = timezone.localdate() + dt.timedelta(days=10)
    data = {
        "origin": "FRPLY",
        "destination": "FRLPD",
        "event": "",
        "outbound_from": leave.isoformat(),
        "outbound_to": "",
        "trip_type": "return",
        "return_from": (leave + dt.timedelta(days=2)).isoformat(),
        "return_to": (leave + dt.timedelta(days=3)).isoformat(),
        "title": "",
        "max_members": "6",
        "privacy": "link",
        "requires_approval": "on",
    }
    data.update(overrides)
    return data


def test_planning_a_trip_needs_a_login(stations):
    response = client_for().get("/trips/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/trips/new/")


def test_the_form_offers_stations_events_and_the_three_privacy_choices(stations, organiser):
    event = factories.event(station_obj=stations[1])
    page = html(client_for(organiser).get(f"/trips/new/?event={event.slug}"))

    assert "Lyon Part-Dieu" in page
    assert f'<option value="{event.slug}" selected>' in page
    assert page.count('name="privacy"') == 3
    assert "Anyone can find the trip on the event&#x27;s page" in page
    assert 'name="max_members" value="9"' in page


def test_planning_a_trip_makes_it_and_opens_its_page(stations, organiser):
    client = client_for(organiser)

    response = client.post("/trips/new/", _trip_form())

    trip = Trip.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/trips/{trip.pk}/"
    assert (trip.origin.code, trip.destination.code) == ("FRPLY", "FRLPD")
    assert trip.title == "Paris → Lyon"
    assert trip.return_to - trip.return_from == dt.timedelta(days=1)
    assert (trip.group.privacy, trip.group.requires_approval, trip.group.max_members) == (
        "link",
        True,
        6,
    )
    membership = Membership.objects.get(group=trip.group)
    assert (membership.user, membership.role) == (organiser, "organiser")
    assert "Your trip is ready" in html(client.get(response["Location"]))


def test_a_one_way_trip_to_an_event_ignores_return_dates(stations, organiser):
    event = factories.event(station_obj=stations[1])
    form = _trip_form(destination="", event=event.slug, trip_type="one_way", privacy="public")

    client_for(organiser).post("/trips/new/", form)

    trip = Trip.objects.get()
    assert (trip.event, trip.destination, trip.return_from) == (event, stations[1], None)
    assert trip.title == event.name


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"destination": "FRPLY"}, "destination", "must be different stations"),
        ({"destination": ""}, "destination", "Choose a destination or an event."),
        ({"outbound_from": "2001-01-01"}, "outbound_from", "Choose a day from today on."),
        ({"return_from": ""}, "return_from", "Choose the day you come back."),
        ({"outbound_from": "not a date"}, "outbound_from", "Enter a valid date."),
        ({"max_members": "40"}, "max_members", "Choose a number between 2 and 20."),
        ({"origin": "FRXXX"}, "origin", "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_made(
    stations, organiser, overrides, field, message
):
    before = _snapshot()

    response = client_for(organiser).post("/trips/new/", _trip_form(**overrides))

    assert response.status_code == 400
    page = html(response)
    errors = re.search(rf'<ul class="field__errors" id="id_{field}_error">(.*?)</ul>', page, re.S)
    assert errors, page
    assert message.lower() in errors.group(1).lower()
    assert _snapshot() == before


def test_planning_trips_is_rate_limited(stations, organiser, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_TRIP_CREATE": "1/m"}
    client = client_for(organiser)
    assert client.post("/trips/new/", _trip_form()).status_code == 302
    before = _snapshot()

    limited = client.post("/trips/new/", _trip_form())

    assert limited.status_code == 429
    assert "a lot of tries" in html(limited)
    assert _snapshot() == before


# --- The invite panel ------------------------------------------------------------------------


def test_a_new_link_is_shown_once_and_only_its_hash_is_kept(trip, organiser, settings):
    settings.FACEBOOK_APP_ID = "123456"
    settings.FACEBOOK_SANDBOX = False
    settings.FACEBOOK_DIALOG_URL = "https://www.facebook.com"
    client = client_for(organiser)

    response = client.post(f"/trips/{trip.pk}/invitations/")

    assert response.status_code == 200
    page = html(response)
    token = JOIN_LINK.search(page).group(1)
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hash_token(token)
    assert token not in str(dict(client.session))
    link = f"http%3A%2F%2Ftestserver%2Fjoin%2F{token}%2F"
    assert re.search(r'href="https://wa\.me/\?text=[^"]*' + re.escape(link) + '"', page)
    mailto = re.search(r'href="(mailto:\?subject=[^"]*)"', page).group(1)
    assert f"http%3A//testserver/join/{token}/" in mailto
    assert f"fb-messenger://share?link={link}" in page
    assert (
        "https://www.facebook.com/dialog/send?app_id=123456&amp;link="
        f"{link}&amp;redirect_uri=http%3A%2F%2Ftestserver%2Ftrips%2F{trip.pk}%2F"
    ) in page
    assert "data-invite-copy" in page and "data-invite-share" in page

    again = html(client.get(f"/trips/{trip.pk}/"))
    assert token not in again
    assert "Active" in again and "Withdraw" in again
    assert client.get(f"/trips/{trip.pk}/invitations/")["Location"].endswith("#invite")


def test_no_messenger_web_link_in_the_sandbox(trip, organiser, settings):
    settings.FACEBOOK_APP_ID = "123456"
    settings.FACEBOOK_SANDBOX = True
    page = html(client_for(organiser).post(f"/trips/{trip.pk}/invitations/"))
    assert "/dialog/send" not in page
    assert "fb-messenger://share" in page


def test_members_invite_only_when_the_setting_allows_it(trip, member, settings):
    before = _snapshot()
    refused = client_for(member).post(f"/trips/{trip.pk}/invitations/")
    assert refused.status_code == 403
    assert "Only the trip&#x27;s organiser can invite people." in html(refused)
    assert _snapshot() == before

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "MEMBERS_CAN_INVITE": True}
    allowed = client_for(member).post(f"/trips/{trip.pk}/invitations/")
    assert allowed.status_code == 200
    assert JOIN_LINK.search(html(allowed))


def test_creating_links_is_rate_limited(trip, organiser, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_INVITE": "1/m"}
    client = client_for(organiser)
    assert client.post(f"/trips/{trip.pk}/invitations/").status_code == 200
    before = _snapshot()

    limited = client.post(f"/trips/{trip.pk}/invitations/")

    assert limited.status_code == 429
    assert "a lot of tries" in html(limited)
    assert _snapshot() == before


def test_withdrawing_a_link_makes_it_refused(trip, organiser, stranger):
    token = _link(trip, organiser)
    invitation = Invitation.objects.get()

    response = client_for(organiser).post(f"/trips/{trip.pk}/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert "Withdrawn" in html(client_for(organiser).get(f"/trips/{trip.pk}/"))
    refused = client_for(stranger).get(f"/join/{token}/")
    assert refused.status_code == 410
    assert "withdrawn this invitation" in html(refused)


def test_only_the_organiser_withdraws_a_link(trip, organiser, member):
    invitation = Invitation.objects.get(token_hash=hash_token(_link(trip, organiser)))
    before = _snapshot()

    response = client_for(member).post(f"/trips/{trip.pk}/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 403
    assert _snapshot() == before


@pytest.fixture
def friend_suggestions(monkeypatch):
    """Facebook friends who use the app, as groups.friends would answer."""
    offered = []

    def suggestions(*, user, group_id):
        return FriendSuggestions(
            available=True,
            friends=[FriendSuggestion(u.pk, u.profile.display_name, "") for u in offered],
        )

    monkeypatch.setattr(friends_module, "facebook_friend_suggestions", suggestions)
    return offered


def test_a_facebook_friend_is_invited_and_finds_the_trip_on_their_page(
    trip, organiser, stranger, friend_suggestions
):
    friend = factories.user("Fanny Friend")
    friend_suggestions.append(friend)
    client = client_for(organiser)
    assert "Fanny Friend" in html(client.get(f"/trips/{trip.pk}/"))

    response = client.post(f"/trips/{trip.pk}/invitations/friend/", {"user_id": friend.pk})

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.invitee, invitation.channel, invitation.max_uses) == (
        friend,
        "facebook_friend",
        1,
    )
    assert "Weekend in Lyon" in html(client_for(friend).get("/trips/"))

    # Someone who is not among the suggestions cannot be sent an invitation.
    before = _snapshot()
    refused = client.post(f"/trips/{trip.pk}/invitations/friend/", {"user_id": stranger.pk})
    assert refused.status_code == 404
    assert _snapshot() == before


def test_without_facebook_the_page_says_so(trip, organiser):
    page = html(client_for(organiser).get(f"/trips/{trip.pk}/"))
    assert "Log in with Facebook to see your friends who use Sidebyside." in page


# --- Joining by link ----------------------------------------------------------------------------


def test_the_join_page_shows_the_trip_and_joins_a_logged_in_person(trip, organiser, stranger):
    token = _link(trip, organiser)
    client = client_for(stranger)

    page = client.get(f"/join/{token}/")

    assert page.status_code == 200
    text = html(page)
    assert "Weekend in Lyon" in text
    assert "Organised by <strong>Olivia Organiser</strong>" in text
    assert "1 traveller so far" in text
    assert "Join the trip" in text

    response = client.post(f"/join/{token}/")

    assert response.status_code == 302
    assert response["Location"] == f"/trips/{trip.pk}/"
    assert Membership.objects.get(group=trip.group, user=stranger).status == "active"
    assert Invitation.objects.get().uses == 1
    assert "Welcome aboard" in html(client.get(response["Location"]))
    # Back on the link later: straight to the trip.
    assert client.get(f"/join/{token}/")["Location"] == f"/trips/{trip.pk}/"


def test_an_anonymous_visitor_is_offered_facebook_a_guest_signup_and_a_login_code(
    trip, organiser, settings
):
    settings.FACEBOOK_APP_ID = "123456"
    settings.FACEBOOK_APP_SECRET = "secret"
    token = _link(trip, organiser)
    client = client_for()
    path = f"/join/{token}/"

    text = html(client.get(path))

    assert 'action="/accounts/facebook/login/"' in text
    assert f'name="next" value="{path}"' in text
    assert f'href="/accounts/signup/?next={path}"' in text
    assert f'href="/accounts/login/code/?next={path}"' in text
    before = _snapshot()
    response = client.post(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert _snapshot() == before


def test_a_guest_signs_up_confirms_the_code_and_lands_back_on_the_link(trip, organiser):
    token = _link(trip, organiser)
    path = f"/join/{token}/"
    client = client_for()

    signup = client.post(
        "/accounts/signup/", {"name": "Gina Guest", "email": "gina@example.test", "next": path}
    )
    assert signup.status_code == 302
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", mail.outbox[0].body, re.M).group(1)
    confirmed = client.post(signup["Location"], {"code": code})

    assert confirmed.status_code == 302
    assert confirmed["Location"] == path
    joined = client.post(path)
    guest = get_user_model().objects.get(email="gina@example.test")
    assert joined["Location"] == f"/trips/{trip.pk}/"
    assert Membership.objects.get(group=trip.group, user=guest).status == "active"


def test_a_returning_guest_gets_a_login_code_and_lands_back_on_the_link(trip, organiser):
    guest = factories.user("Gina Guest", email="gina@example.test")
    EmailAddress.objects.create(user=guest, email=guest.email, verified=True, primary=True)
    token = _link(trip, organiser)
    path = f"/join/{token}/"
    client = client_for()

    asked = client.post("/accounts/login/code/", {"email": guest.email, "next": path})
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", mail.outbox[0].body, re.M).group(1)
    confirmed = client.post(asked["Location"], {"code": code})

    assert confirmed.status_code == 302
    assert confirmed["Location"] == path


@pytest.mark.parametrize(
    ("spoil", "status", "message"),
    [
        ("forged", 404, "This invitation link is not valid."),
        ("expired", 410, "This invitation has expired."),
        ("revoked", 410, "The organiser has withdrawn this invitation."),
        ("used_up", 410, "This invitation has already been used."),
    ],
)
def test_a_refused_link_says_why_shows_no_trip_and_writes_nothing(
    trip, organiser, stranger, spoil, status, message
):
    token = _link(trip, organiser, max_uses=1)
    invitation = Invitation.objects.get()
    if spoil == "forged":
        token = token[:-4] + "AAAA"
    elif spoil == "expired":
        invitation.expires_at = timezone.now() - dt.timedelta(minutes=1)
        invitation.save()
    elif spoil == "revoked":
        services.invitation_revoke(invitation_id=invitation.pk, by=organiser)
    else:
        services.invitation_accept(token=token, user=factories.user())
    before = _snapshot()

    for client in (client_for(), client_for(stranger)):
        for response in (client.get(f"/join/{token}/"), client.post(f"/join/{token}/")):
            assert response.status_code == status
            text = html(response).replace("&#x27;", "'")
            assert message in text
            assert "Weekend in Lyon" not in text
            assert "Olivia" not in text
    assert _snapshot() == before


def test_joining_is_rate_limited(trip, organiser, stranger, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_JOIN": "1/m"}
    token = _link(trip, organiser)
    client = client_for(stranger)
    client.post(f"/join/{token}/")
    services.membership_leave(group_id=trip.group_id, user=stranger)
    before = _snapshot()

    limited = client.post(f"/join/{token}/")

    assert limited.status_code == 429
    assert "a lot of tries" in html(limited)
    assert _snapshot() == before


def test_with_approval_the_joiner_waits_and_the_organiser_approves_or_declines(organiser, stranger):
    trip = factories.trip(organiser=organiser, requires_approval=True)
    token = _link(trip, organiser)
    waiting = client_for(stranger)

    joined = waiting.post(f"/join/{token}/")

    assert Membership.objects.get(user=stranger).status == "pending"
    page = html(waiting.get(joined["Location"]))
    assert "waiting for the organiser" in page.lower()
    assert "Max" not in page and 'id="members"' not in page
    other = factories.user("Odile Other")
    client_for(other).post(f"/join/{token}/")
    boss = client_for(organiser)
    assert "Waiting for your approval" in html(boss.get(f"/trips/{trip.pk}/"))

    boss.post(f"/trips/{trip.pk}/members/approve/", {"user_id": stranger.pk})
    boss.post(f"/trips/{trip.pk}/members/decline/", {"user_id": other.pk})

    assert Membership.objects.get(user=stranger).status == "active"
    assert Membership.objects.get(user=other).status == "removed"


def test_an_email_invitation_says_whom_it_is_for_and_refuses_anyone_else(organiser, stranger):
    trip = factories.trip(organiser=organiser)
    token = _link(trip, organiser, channel="email", invitee_email="chloe@example.test")
    before = _snapshot()

    page = client_for(stranger).get(f"/join/{token}/")
    refused = client_for(stranger).post(f"/join/{token}/")

    assert page.status_code == 200
    assert "This invitation was sent to one e-mail address" in html(page)
    assert refused.status_code == 403
    assert "sent to another e-mail address" in html(refused)
    assert "ask the organiser" in html(refused)
    assert _snapshot() == before


@pytest.mark.parametrize("action", ["approve", "decline", "remove", "organiser"])
def test_a_user_id_too_large_for_the_database_is_refused_and_nothing_written(
    organiser, member, action
):
    trip = factories.trip(organiser=organiser, requires_approval=True)
    factories.member(trip, "Wanda Waiting")
    before = _snapshot()

    response = client_for(organiser).post(
        f"/trips/{trip.pk}/members/{action}/", {"user_id": str(2**70)}
    )

    assert response.status_code == 404
    assert "That person is not one of the trip" in html(response)
    assert _snapshot() == before


# --- Members' actions -------------------------------------------------------------------------


def test_a_member_leaves_after_a_confirmation_page(trip, member):
    client = client_for(member)
    confirm = client.get(f"/trips/{trip.pk}/leave/")
    assert confirm.status_code == 200
    assert "Leave “Weekend in Lyon”?" in html(confirm)

    response = client.post(f"/trips/{trip.pk}/leave/")

    assert response["Location"] == "/trips/"
    assert Membership.objects.get(user=member).status == "left"
    assert client.get(f"/trips/{trip.pk}/").status_code == 404


def test_the_leave_page_says_how_to_come_back_and_a_public_trip_is_joined_again(organiser):
    concert = factories.event(days_ahead=5)
    public = factories.trip(
        organiser=organiser, privacy="public", event_slug=concert.slug, destination_code=None
    )
    private = factories.trip(organiser=organiser)
    friend = factories.user("Fanny Friend")
    client = client_for(friend)
    client.post(f"/trips/{public.pk}/join/")
    factories.member(private, "Paul Private")
    paul = Membership.objects.get(group=private.group, role="member").user

    confirm = html(client.get(f"/trips/{public.pk}/leave/"))
    assert 'data-leave-return="public"' in confirm
    assert "you can join it again from the page of" in confirm
    assert f'href="/events/{concert.slug}/"' in confirm
    private_confirm = html(client_for(paul).get(f"/trips/{private.pk}/leave/"))
    assert 'data-leave-return="invitation"' in private_confirm
    assert "ask for a new invitation" in private_confirm

    client.post(f"/trips/{public.pk}/leave/")
    assert Membership.objects.get(group=public.group, user=friend).status == "left"
    # What the page promised: the event's page lists the trip, and joining again works.
    assert f"/trips/{public.pk}/" in html(client.get(f"/events/{concert.slug}/"))
    client.post(f"/trips/{public.pk}/join/")
    assert Membership.objects.get(group=public.group, user=friend).status == "active"


def test_the_organiser_hands_over_before_leaving(trip, organiser, member):
    before = _snapshot()
    refused = client_for(organiser).post(f"/trips/{trip.pk}/leave/")
    assert refused.status_code == 409
    assert "hand the role over" in html(refused)
    assert _snapshot() == before

    client_for(organiser).post(f"/trips/{trip.pk}/members/organiser/", {"user_id": member.pk})

    roles = dict(Membership.objects.values_list("user_id", "role"))
    assert roles == {organiser.pk: "member", member.pk: "organiser"}


def test_the_organiser_removes_a_member_and_a_member_cannot(trip, organiser, member):
    other = factories.member(trip, "Other One")
    before = _snapshot()
    refused = client_for(member).post(f"/trips/{trip.pk}/members/remove/", {"user_id": other.pk})
    assert refused.status_code == 403
    assert _snapshot() == before

    response = client_for(organiser).post(
        f"/trips/{trip.pk}/members/remove/", {"user_id": member.pk}
    )

    assert response.status_code == 302
    assert Membership.objects.get(user=member).status == "removed"
    assert client_for(member).get(f"/trips/{trip.pk}/").status_code == 404


def test_a_stranger_cannot_act_on_a_private_trip(trip, member, stranger):
    before = _snapshot()
    client = client_for(stranger)
    for url, data in (
        (f"/trips/{trip.pk}/members/remove/", {"user_id": member.pk}),
        (f"/trips/{trip.pk}/invitations/", {}),
        (f"/trips/{trip.pk}/settings/", {"privacy": "public", "max_members": "5"}),
        (f"/trips/{trip.pk}/leave/", {}),
    ):
        assert client.post(url, data).status_code == 404, url
    assert _snapshot() == before


def test_the_organiser_updates_the_settings(trip, organiser):
    client = client_for(organiser)

    response = client.post(
        f"/trips/{trip.pk}/settings/",
        {"privacy": "public", "requires_approval": "on", "max_members": "5"},
    )

    assert response.status_code == 302
    group = FriendGroup.objects.get()
    assert (group.privacy, group.requires_approval, group.max_members) == ("public", True, 5)
    before = _snapshot()
    refused = client.post(f"/trips/{trip.pk}/settings/", {"privacy": "private", "max_members": "1"})
    assert refused.status_code == 400
    assert "Choose a number between 2 and 20." in html(refused)
    assert _snapshot() == before


def test_a_member_chooses_to_show_their_details(trip, member):
    client = client_for(member)
    client.post(f"/trips/{trip.pk}/share-details/", {"shares": "1"})
    assert Membership.objects.get(user=member).shares_details is True
    assert "Keep them to myself" in html(client.get(f"/trips/{trip.pk}/"))

    client.post(f"/trips/{trip.pk}/share-details/", {"shares": "0"})
    assert Membership.objects.get(user=member).shares_details is False


def test_forms_need_the_csrf_token(trip, organiser):
    client = client_for(organiser, enforce_csrf_checks=True)

    response = client.post(f"/trips/{trip.pk}/invitations/")

    assert response.status_code == 403
    assert not Invitation.objects.exists()
    page = html(client.get(f"/trips/{trip.pk}/"))
    assert page.count('name="csrfmiddlewaretoken"') >= page.count('method="post"')


# --- Events ----------------------------------------------------------------------------------


def test_an_event_page_lists_its_public_trips_with_places_left(organiser):
    event = factories.event()
    destination_code = event.station.code
    public = factories.trip(
        organiser=organiser,
        privacy="public",
        destination_code=None,
        event_slug=event.slug,
        title="Gig night",
        max_members=4,
    )
    factories.trip(organiser=organiser, event_slug=event.slug, title="Secret plan")

    response = client_for().get(f"/events/{event.slug}/")

    assert response.status_code == 200
    page = html(response)
    assert event.name in page
    assert "Gig night" in page and f'href="/trips/{public.pk}/"' in page
    assert "3 places left" in page
    assert "Secret plan" not in page
    assert f'href="/trips/new/?event={event.slug}"' in page
    assert destination_code
    assert client_for().get("/events/no-such-event/").status_code == 404


def test_home_links_each_event_to_its_page(organiser):
    event = factories.event()
    page = html(client_for().get("/"))
    assert f'href="/events/{event.slug}/"' in page
    assert 'href="/trips/new/"' in page


def test_an_event_page_shows_the_catalog_text_in_the_visitors_language():
    event = factories.event()
    event.venue = "Palais des papes and theatres all over town"
    event.description = "The last date of their tour, in Lyon."
    event.save()
    page = Client(HTTP_ACCEPT_LANGUAGE="fr").get(f"/events/{event.slug}/").content.decode()
    assert "Palais des papes et théâtres dans toute la ville" in page
    assert "The last date of their tour" not in page
