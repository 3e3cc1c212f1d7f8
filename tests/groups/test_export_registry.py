"""My data, all of it (issue 22, point 8): every model holding a key to a person (the user
or their profile) is exported by a registered section of "Download my data", or declared
as not theirs with a reason; the export of a traveller who paid holds their fare, card,
seat, share, payment and ticket; deleting the account follows the same registry."""

import json

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.urls import reverse

from booking import plan
from booking.models import TravellerFare, TripPresence
from groups import account_services, exports
from groups.models import Profile
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = pytest.mark.django_db

PERSON_MODELS = {settings.AUTH_USER_MODEL.lower(), "groups.profile"}


def models_pointing_at_a_person() -> set[str]:
    found = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            target = field.related_model
            if target is not None and target._meta.label_lower in PERSON_MODELS:
                found.add(model._meta.label)
    return found


def test_every_model_that_points_at_a_person_is_in_the_export_registry():
    covered = exports.covered_models()
    missing = sorted(models_pointing_at_a_person() - set(covered))
    assert not missing, f"not in any export section (groups.exports.register): {missing}"


def test_the_registry_test_would_catch_a_model_left_out(monkeypatch):
    monkeypatch.setattr(exports, "_sections", {})
    missing = models_pointing_at_a_person() - set(exports.covered_models())
    assert "booking.TravellerFare" in missing and "payments.Payment" in missing


def test_the_export_of_a_traveller_who_paid_holds_fare_card_seat_share_payment_ticket(
    stripe_sandbox,  # noqa: F811
):
    number = factories.youth_card_number()
    fares = {
        1: {
            "fare_class_code": "standard-2",
            "passenger_type_code": "youth",
            "age": 22,
            "card_code": "youth-card",
            "card_number": number,
        }
    }
    trip, (olivia, ana), _departure, _checkout = factories.booked_by_organiser(
        stripe_sandbox, travellers=2, fares=fares
    )
    client = Client()
    client.force_login(ana)
    data = json.loads(client.get(reverse("my_account_data")).content)
    travel = data["travel"]
    (fare,) = travel["fares"]
    assert (fare["passenger_type"], fare["age"], fare["discount_card"]) == (
        "youth",
        22,
        "youth-card",
    )
    assert fare["discount_card_number"] == number
    assert travel["seats"] and travel["seats"][0]["state"] == "sold"
    (ticket,) = travel["tickets"]
    assert ticket["discount_card"] == "youth-card" and ticket["price_cents"] > 0
    (share,) = data["payments"]["shares"]
    assert share["amount_cents"] == ticket["price_cents"] and not share["paid_by_you"]
    assert data["payments"]["payments"] == []  # Olivia paid for her
    assert data["trips"][0]["title"] == trip.title
    assert "messages" in data and "message_preferences" in data
    # Olivia's export holds her payment, covering one friend (counted, never named).
    client.force_login(olivia)
    olivias = json.loads(client.get(reverse("my_account_data")).content)
    (payment,) = olivias["payments"]["payments"]
    assert payment["shares_of_others"] == 1
    assert ana.profile.display_name not in json.dumps(olivias["payments"])


def test_deleting_the_account_follows_the_registry():
    trip, (_olivia, ana, _ben), _departures = factories.planned_trip(travellers=3)
    plan.fare_choose(
        trip_id=trip.pk,
        user=ana,
        leg="outbound",
        fare_class_code="standard-2",
        passenger_type_code="youth",
        age=22,
        card_code="youth-card",
        card_number=factories.youth_card_number(),
    )
    TripPresence.objects.create(
        trip=trip, user=ana, channel_name="test-channel", last_seen_at=trip.created_at
    )
    account_services.account_delete(user=ana)
    assert not TravellerFare.objects.filter(user=ana).exists()  # age, card and its number
    assert not TripPresence.objects.filter(user=ana).exists()
    assert Profile.objects.get(user=ana).display_name == "Former traveller"


def test_the_delete_page_says_what_is_kept(client):
    user = factories.user("Kim")
    client.force_login(user)
    page = client.get(reverse("my_account_delete"), headers={"accept-language": "en"})
    html = page.content.decode()
    assert "data-delete-kept" in html
    assert "accounting" in html
