"""The outbox (notices/): a message is queued in the transaction of its cause, once per
kind × object × recipient × channel, sent by the worker after commit, retried with
backoff, and a permanent failure is recorded without stopping the others."""

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone

from groups.account_services import account_delete
from groups.models import Profile
from notices import kinds, sending
from notices.kinds import Email
from notices.models import Message
from notices.services import message_queue
from tests import factories

rendered: list[tuple[int, str]] = []
broken: set[int] = set()


def _render(message):
    from django.utils.translation import get_language

    if message.object_id in broken:
        raise RuntimeError("the renderer broke")
    if message.object_id == 404:
        return None
    rendered.append((message.object_id, get_language()))
    return Email(subject=f"Hello {message.object_id}", text="Plain", html="<p>Html</p>")


@pytest.fixture(autouse=True)
def test_kind():
    kinds.register("tests.hello", object_type="tests.thing", render=_render)
    rendered.clear()
    broken.clear()
    yield
    kinds._kinds.pop("tests.hello", None)


def _states():
    return sorted(Message.objects.values_list("recipient__email", "state"))


@pytest.mark.django_db
def test_a_message_queued_in_a_rolled_back_transaction_is_never_sent():
    ana = factories.user()
    with pytest.raises(RuntimeError), transaction.atomic():
        message_queue(kind="tests.hello", object_id=1, recipient_ids=[ana.pk])
        raise RuntimeError("the cause failed after queuing")
    assert sending.messages_send() == 0
    assert Message.objects.count() == 0 and mail.outbox == []


@pytest.mark.django_db
def test_a_cause_repeated_queues_and_sends_each_message_once():
    ana, ben = factories.user(), factories.user()
    Profile.objects.filter(user=ben).update(preferred_language="en")
    for _ in range(2):
        message_queue(kind="tests.hello", object_id=7, recipient_ids=[ana.pk, ben.pk], trip_id=3)
    assert Message.objects.count() == 2
    assert sending.messages_send() == 2
    assert sending.messages_send() == 0
    message_queue(kind="tests.hello", object_id=7, recipient_ids=[ana.pk])  # already sent
    assert sending.messages_send() == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted([ana.email, ben.email])
    # Each in their language (no choice: the site's, French).
    assert sorted(rendered) == [(7, "en"), (7, "fr")]
    assert set(Message.objects.values_list("state", "attempts", "trip_id")) == {("sent", 1, 3)}
    assert all(m.sent_at for m in Message.objects.all())
    first = mail.outbox[0]
    assert first.alternatives[0].mimetype == "text/html"
    assert first.extra_headers["Message-ID"].startswith("<message-")


@pytest.mark.django_db
def test_a_failure_is_retried_with_backoff_then_marked_failed_without_blocking_others(settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "MESSAGE_MAX_ATTEMPTS": 2}
    ana, ben = factories.user(), factories.user()
    broken.add(1)
    message_queue(kind="tests.hello", object_id=1, recipient_ids=[ana.pk])
    message_queue(kind="tests.hello", object_id=2, recipient_ids=[ben.pk])
    now = timezone.now()
    assert sending.messages_send(now=now) == 1  # ben's went
    failing = Message.objects.get(object_id=1)
    assert (failing.state, failing.attempts) == ("queued", 1)
    assert "the renderer broke" in failing.last_error
    assert failing.next_attempt_at == now + sending.backoff(1)
    assert sending.messages_send(now=now + dt.timedelta(seconds=10)) == 0  # not yet due
    assert Message.objects.get(object_id=1).attempts == 1
    assert sending.messages_send(now=now + dt.timedelta(minutes=1)) == 0
    failing.refresh_from_db()
    assert (failing.state, failing.attempts) == ("failed", 2)
    assert sending.messages_send(now=now + dt.timedelta(days=1)) == 0  # never again
    assert [m.to for m in mail.outbox] == [[ben.email]]


@pytest.mark.django_db
def test_a_recipient_without_address_fails_for_good_and_a_vanished_object_is_dropped():
    ana, ben, cleo = factories.user(), factories.user(), factories.user()
    type(ana).objects.filter(pk=ana.pk).update(email="")
    message_queue(kind="tests.hello", object_id=5, recipient_ids=[ana.pk, ben.pk])
    message_queue(kind="tests.hello", object_id=404, recipient_ids=[cleo.pk])
    assert sending.messages_send() == 1
    states = dict(Message.objects.values_list("recipient_id", "state"))
    assert states == {ana.pk: "failed", ben.pk: "sent", cleo.pk: "dropped"}
    assert Message.objects.get(recipient=ana).attempts == 1


@pytest.mark.django_db
def test_deleting_an_account_removes_its_queued_messages():
    ana, ben = factories.user(), factories.user()
    message_queue(kind="tests.hello", object_id=1, recipient_ids=[ana.pk])
    sending.messages_send()
    message_queue(kind="tests.hello", object_id=2, recipient_ids=[ana.pk, ben.pk])
    account_delete(user=ana)
    assert sorted(Message.objects.values_list("recipient_id", "object_id", "state")) == sorted(
        [(ana.pk, 1, "sent"), (ben.pk, 2, "queued")]
    )


def test_an_unknown_kind_is_refused():
    with pytest.raises(LookupError):
        message_queue(kind="tests.nothing", object_id=1, recipient_ids=[1])


def test_the_worker_runs_the_sender():
    from core import jobs

    assert "messages_send" in {job.name for job in jobs.registered()}


on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(not on_postgres, reason="needs PostgreSQL: real row locks (skip_locked)")
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once(smtp_server):
    people = [factories.user() for _ in range(30)]
    for object_id in range(4):
        message_queue(kind="tests.hello", object_id=object_id, recipient_ids=[p.pk for p in people])
    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            total = 0
            while handled := sending.messages_send(limit=10):
                total += handled
            outcomes.append(("ok", total))
        except Exception as error:  # pragma: no cover - reported below
            outcomes.append(("error", error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
    assert sum(value for _kind, value in outcomes) == 120
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == len(set(ids)) == 120  # none twice, none lost
    assert set(Message.objects.values_list("state", "attempts")) == {("sent", 1)}


@pytest.mark.django_db
def test_the_admin_lists_each_message_and_a_trip_s_messages(admin_client):
    ana, ben = factories.user(), factories.user()
    message_queue(kind="tests.hello", object_id=1, recipient_ids=[ana.pk], trip_id=11)
    message_queue(kind="tests.hello", object_id=2, recipient_ids=[ben.pk], trip_id=12)
    everything = admin_client.get("/admin/notices/message/")
    assert everything.status_code == 200
    assert ana.email in everything.content.decode() and ben.email in everything.content.decode()
    one_trip = admin_client.get("/admin/notices/message/?trip_id=11").content.decode()
    assert ana.email in one_trip and ben.email not in one_trip
