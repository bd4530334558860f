"""The logistics centre reads whom an order is for: the citizen's CPR number, name and phone.

Orders carry references only (logic.order_for): no ORDER item, stream record or queue message holds the
citizen's contact details. The centre an order was sent to reads them here while the order is current, and
every read, or refusal of a citizen Telehub knows, is written to the access log before the reply.

No event shapes and no boto3: the episodes and their orders, the citizens' profiles, the access log and the
clock are injected, so the rule is tested with in-memory fakes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from functions.referral_intake.models import DELIVER, Episode, Order, OrderContact
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, nothing_found
from functions.shared.clock import Clock
from functions.shared.principal import Principal, organisation_of

CONTACT_ROUTE = "GET /v1/episodes/{episode_id}/orders/{order_id}/contact"
READ_ORDER_CONTACT = "read_order_contact"
# How long after it was ordered a collection's contact details may be read: time to agree a visit and
# fetch the devices, but not for ever (the citizen's episode has ended).
ORDER_CONTACT_DAYS = 30


class OrderStore(Protocol):
    def episode(self, episode_id: str) -> Episode | None: ...

    def order(self, episode_id: str, order_id: str) -> Order | None:
        """The episode's order of that id, None if the episode has none."""


class ContactDetails(Protocol):
    def profile(self, patient_id: str) -> dict[str, str] | None:
        """The citizen's cpr, name and phone (those known)."""


def order_relations(organisation: str | None, episode: Episode, order: Order | None,
                    now: datetime) -> frozenset[Relation]:
    """ORDERED if ``organisation`` is the logistics centre the order was sent to and the order is current: a
    delivery while its episode is open, a collection for ORDER_CONTACT_DAYS after it was ordered."""
    if order is None or not organisation or organisation != order.logistics_centre:
        return frozenset()
    if order.kind == DELIVER:
        current = episode.is_open
    else:
        current = now < order.ordered_at + timedelta(days=ORDER_CONTACT_DAYS)
    return frozenset({Relation.ORDERED}) if current else frozenset()


class OrderContacts:
    def __init__(self, store: OrderStore, citizens: ContactDetails, access_log: AccessLog,
                 clock: Clock) -> None:
        self._store = store
        self._citizens = citizens
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def contact(self, episode_id: str, order_id: str, principal: Principal) -> OrderContact:
        """The citizen's contact details for the centre the order was sent to, while the order is current;
        anything else (no such episode or order, another centre, an order no longer current) is the one
        403 of something that does not exist, logged as denied when the episode, and so the citizen, is
        known. The read is logged before the profile is read; an entry that cannot be written is a 503."""
        episode = self._store.episode(episode_id)
        if episode is None:
            raise nothing_found(CONTACT_ROUTE)
        about = Access(episode.patient_id, READ_ORDER_CONTACT, episode_id)
        order = self._store.order(episode_id, order_id)
        held = order_relations(organisation_of(principal), episode, order, self._clock())
        self._guard.check(CONTACT_ROUTE, held, principal, about)
        if order is None:  # refused above already: nobody holds ORDERED to an order that does not exist
            raise nothing_found(CONTACT_ROUTE)
        self._access_log.record(about.patient_id, principal, about.action, about.episode_id, self._clock())
        profile = self._citizens.profile(episode.patient_id) or {}
        return OrderContact.model_validate({"order_id": order.order_id, "kind": order.kind,
                                            **{name: profile.get(name) for name in ("cpr", "name", "phone")}})
