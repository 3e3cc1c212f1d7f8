import pytest

from booking.errors import TripNotFound
from booking.models import Trip
from groups.services import membership_leave
from referrals.errors import NotATraveller, ShareLinkNotFound, TripNotShareable, UnknownChannel
from referrals.models import ShareLink
from referrals.selectors import share_link_get
from referrals.services import share_link_get_or_create
from tests import factories

pytestmark = pytest.mark.django_db


def test_each_channel_gets_its_own_unguessable_code():
    trip = factories.trip()
    organiser = trip.created_by
    codes = {
        channel: share_link_get_or_create(trip_id=trip.pk, sharer=organiser, channel=channel).code
        for channel in ("facebook", "x", "whatsapp", "messenger", "webshare", "copy")
    }
    assert len(set(codes.values())) == 6
    for code in codes.values():
        # 9 random bytes: 12 URL-safe characters, nothing derived from ids.
        assert len(code) == 12
        assert all(c.isalnum() or c in "-_" for c in code)
        assert str(trip.pk) != code


def test_codes_do_not_repeat_over_many_links():
    trip = factories.trip()
    people = [trip.created_by] + [factories.member(trip) for _ in range(4)]
    codes = [
        share_link_get_or_create(trip_id=trip.pk, sharer=person, channel=channel).code
        for person in people
        for channel in ("facebook", "x", "whatsapp", "copy")
    ]
    assert len(codes) == len(set(codes)) == 20


def test_the_same_share_again_gives_the_same_link():
    trip = factories.trip()
    first = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    again = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    assert first.pk == again.pk
    assert ShareLink.objects.count() == 1


def test_a_traveller_who_joined_can_share():
    trip = factories.trip()
    friend = factories.member(trip)
    link = share_link_get_or_create(trip_id=trip.pk, sharer=friend, channel="whatsapp")
    assert (link.trip_id, link.sharer_id, link.channel) == (trip.pk, friend.pk, "whatsapp")


def test_a_stranger_cannot_make_a_link_for_a_private_trip():
    trip = factories.trip(privacy="private")
    with pytest.raises(TripNotFound):
        share_link_get_or_create(trip_id=trip.pk, sharer=factories.user(), channel="facebook")
    assert not ShareLink.objects.exists()


def test_a_stranger_cannot_make_a_link_for_a_public_trip_either():
    trip = factories.trip(privacy="public")
    with pytest.raises(NotATraveller):
        share_link_get_or_create(trip_id=trip.pk, sharer=factories.user(), channel="facebook")
    assert not ShareLink.objects.exists()


def test_someone_who_left_cannot_share():
    trip = factories.trip()
    friend = factories.member(trip)
    membership_leave(group_id=trip.group_id, user=friend)
    with pytest.raises(NotATraveller):
        share_link_get_or_create(trip_id=trip.pk, sharer=friend, channel="copy")
    assert not ShareLink.objects.exists()


def test_anonymous_and_unknown_trip_are_refused():
    from django.contrib.auth.models import AnonymousUser

    trip = factories.trip()
    with pytest.raises(TripNotFound):
        share_link_get_or_create(trip_id=trip.pk, sharer=AnonymousUser(), channel="copy")
    with pytest.raises(TripNotFound):
        share_link_get_or_create(trip_id=trip.pk + 999, sharer=trip.created_by, channel="copy")


def test_unknown_channel_is_refused():
    trip = factories.trip()
    with pytest.raises(UnknownChannel):
        share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="myspace")
    assert not ShareLink.objects.exists()


def test_a_cancelled_trip_cannot_be_shared():
    trip = factories.trip()
    Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.CANCELLED)
    with pytest.raises(TripNotShareable):
        share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="copy")


@pytest.mark.parametrize(
    "code", ["", "short", "x" * 13, "abc def ghi!", "../../etc/pa", "ÀÀÀÀÀÀÀÀÀÀÀÀ"]
)
def test_malformed_codes_are_not_found(code, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ShareLinkNotFound):
        share_link_get(code=code)
