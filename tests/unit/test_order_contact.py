"""Orders by reference and the logistics centre's read of whom an order is for (order_contact.py), with
in-memory fakes: the orders name the citizen by patient id only; the centre an order was sent to reads the
contact details while the order is current, logged before they are read; anything else is the one 403 of
something that does not exist, logged as denied when the citizen is known."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.referral_intake.logic import EpisodeService
from functions.referral_intake.models import ORDER_MESSAGE_TYPE, ORDER_SCHEMA_VERSION
from functions.referral_intake.order_contact import ORDER_CONTACT_DAYS, READ_ORDER_CONTACT, OrderContacts
from functions.shared.access_log import Outcome
from functions.shared.errors import NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.episodes import referral
from tests.support.fakes import FakeAccessLog, FakeCitizenStore, FakeEpisodeStore, FakePseudonyms
from tests.support.organisations import CENTRE, OTHER, TREATING

ORDERED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CPR, NAME, PHONE = "2512489996", "Karen Jensen", "+45 20 30 40 50"
UNKNOWN_EPISODE, UNKNOWN_ORDER = "epi_" + "0" * 24, "ord_" + "0" * 24


class Clock:
    def __init__(self) -> None:
        self.now = ORDERED

    def __call__(self) -> datetime:
        return self.now


class UnavailableAccessLog(FakeAccessLog):
    def record(self, *args: object, **kwargs: object) -> None:
        raise ServiceUnavailable("the access log cannot be written now")


class CountedProfiles(FakeCitizenStore):
    """The citizen store, counting the profile reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def profile(self, patient_id: str) -> dict[str, str] | None:
        self.reads += 1
        return super().profile(patient_id)


def doctor() -> Principal:
    return Principal(role=Role.CLINICIAN, subject="doc-1", organisation=TREATING)


def centre(organisation: str = CENTRE) -> Principal:
    return Principal(role=Role.LOGISTICS, subject="centre-system", organisation=organisation)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def citizens():
    return CountedProfiles()


@pytest.fixture
def store(citizens):
    return FakeEpisodeStore(citizens)


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def episodes(store, citizens, access_log, clock):
    return EpisodeService(store, citizens, FakePseudonyms(), access_log, clock)


@pytest.fixture
def contacts(store, citizens, access_log, clock):
    return OrderContacts(store, citizens, access_log, clock)


def reads(access_log: FakeAccessLog, outcome: Outcome = Outcome.ALLOWED) -> list[tuple[str, ...]]:
    """The order-contact reads the access log holds with that outcome: (patient, organisation, action,
    episode)."""
    entries = access_log.entries if outcome is Outcome.ALLOWED else access_log.denials
    return [entry for entry in entries if entry[2] == READ_ORDER_CONTACT]


def test_orders_name_the_citizen_by_patient_id_only(episodes, store):
    # Given a referred citizen whose episode has ended: a delivery and a collection order
    reply, _ = episodes.accept_referral(referral(), doctor())
    episodes.end(reply.episode_id, doctor())
    # Then each order's body is version 2 of the message and holds no CPR number, name or phone
    assert [order.kind for order in store.orders] == ["deliver", "collect"]
    for order in store.orders:
        assert (order.body["message_type"], order.body["schema_version"]) == (ORDER_MESSAGE_TYPE, 2)
        assert order.body["patient_id"] == reply.patient_id and "citizen" not in order.body
        text = json.dumps(order.body)
        assert CPR not in text and NAME not in text and PHONE not in text
    assert ORDER_SCHEMA_VERSION == 2


def test_the_centre_an_order_was_sent_to_reads_the_citizens_contact_and_the_read_is_logged(
        episodes, contacts, access_log):
    # Given a referral, whose delivery order went to the centre
    reply, _ = episodes.accept_referral(referral(), doctor())
    # When the centre reads the order's contact details
    contact = contacts.contact(reply.episode_id, reply.order_id, centre())
    # Then it gets the citizen's CPR number, name and phone with the order
    assert contact.model_dump() == {"order_id": reply.order_id, "kind": "deliver", "cpr": CPR, "name": NAME,
                                    "phone": PHONE}
    # And the read is one allowed entry of the citizen under the episode, by the centre
    assert reads(access_log) == [(reply.patient_id, CENTRE, READ_ORDER_CONTACT, reply.episode_id)]
    assert reads(access_log, Outcome.DENIED) == []


def test_a_profile_without_contact_details_gives_those_known(episodes, contacts, citizens):
    # Given a referred citizen whose profile holds only the CPR number
    reply, _ = episodes.accept_referral(referral(), doctor())
    citizens.profiles[reply.patient_id] = {"cpr": CPR}
    # When the centre reads the order's contact details, Then name and phone are null
    contact = contacts.contact(reply.episode_id, reply.order_id, centre())
    assert (contact.cpr, contact.name, contact.phone) == (CPR, None, None)


@pytest.mark.parametrize("refused", ["another centre", "no such order", "an order of another episode"])
def test_a_refusal_of_a_known_citizen_is_the_403_of_nothing_and_is_logged_as_denied(
        episodes, contacts, access_log, citizens, refused):
    # Given a referred citizen, and another citizen's episode with its own order
    reply, _ = episodes.accept_referral(referral(), doctor())
    other, _ = episodes.accept_referral(referral(referral_id="ref-2", citizen={
        "cpr": "0101011235", "name": "Other", "phone": "+4511111111"}), doctor())
    caller, order_id = {"another centre": (centre(OTHER), reply.order_id),
                        "no such order": (centre(), UNKNOWN_ORDER),
                        "an order of another episode": (centre(), other.order_id)}[refused]
    # When the caller asks for the contact of that order under the first episode
    with pytest.raises(NoRelation) as refusal:
        contacts.contact(reply.episode_id, order_id, caller)
    # Then it is the one 403 that tells nothing, no profile was read, and the refusal is logged as denied
    assert refusal.type is NoRelation and citizens.reads == 0
    assert reads(access_log, Outcome.DENIED) == [(reply.patient_id, caller.organisation, READ_ORDER_CONTACT,
                                                  reply.episode_id)]
    assert reads(access_log) == []


def test_an_unknown_episode_is_the_same_403_and_leaves_no_entry(contacts, access_log):
    with pytest.raises(NoRelation):
        contacts.contact(UNKNOWN_EPISODE, UNKNOWN_ORDER, centre())
    assert access_log.entries == access_log.denials == []


def test_a_delivery_order_is_current_while_its_episode_is_open(episodes, contacts, access_log):
    # Given a referral's delivery order, read while the episode is open
    reply, _ = episodes.accept_referral(referral(), doctor())
    contacts.contact(reply.episode_id, reply.order_id, centre())
    # When the episode has ended
    episodes.end(reply.episode_id, doctor())
    # Then the delivery order's contact is refused, as if there were none, and logged as denied
    with pytest.raises(NoRelation):
        contacts.contact(reply.episode_id, reply.order_id, centre())
    assert len(reads(access_log)) == 1 and len(reads(access_log, Outcome.DENIED)) == 1


def test_a_collection_order_is_current_for_its_days_after_it_was_ordered(episodes, contacts, store, clock,
                                                                          access_log):
    # Given an ended episode, whose collection order went to the centre
    reply, _ = episodes.accept_referral(referral(), doctor())
    episodes.end(reply.episode_id, doctor())
    collect = store.orders[-1]
    # When the centre reads it just before the days are over, Then it gets the contact details
    clock.now = ORDERED + timedelta(days=ORDER_CONTACT_DAYS) - timedelta(seconds=1)
    assert contacts.contact(reply.episode_id, collect.order_id, centre()).kind == "collect"
    # When it reads it once they are over, Then it is refused and the refusal logged
    clock.now = ORDERED + timedelta(days=ORDER_CONTACT_DAYS)
    with pytest.raises(NoRelation):
        contacts.contact(reply.episode_id, collect.order_id, centre())
    assert [len(reads(access_log)), len(reads(access_log, Outcome.DENIED))] == [1, 1]


def test_nothing_is_read_when_the_access_cannot_be_logged(episodes, store, citizens, clock):
    # Given a referral, and an access log that cannot be written
    reply, _ = episodes.accept_referral(referral(), doctor())
    contacts = OrderContacts(store, citizens, UnavailableAccessLog(), clock)
    # When the centre reads the order's contact details, Then it is a 503 and the profile was not read
    with pytest.raises(ServiceUnavailable):
        contacts.contact(reply.episode_id, reply.order_id, centre())
    assert citizens.reads == 0
