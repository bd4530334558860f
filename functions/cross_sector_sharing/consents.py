"""The citizen's consent to cross-sector sharing, withdrawn or given again by a clinician of an organisation
related to the citizen (POST /v1/consents). Recorded only: the publisher reads the consent that holds when
it publishes (docs/sharing.md).

No event shapes and no boto3: the consent store, the citizen's relations (relations.py), the access log
and the clock are injected. Every consent is kept; the one recorded last holds, even when two
requests race (the store's write is conditional on it).
"""

from __future__ import annotations

from typing import Protocol

from functions.cross_sector_sharing.relations import CitizenRelations
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, nothing_found
from functions.shared.citizen_records import ConsentSource, ConsentStatus, SharingConsent
from functions.shared.clock import Clock, iso_utc
from functions.shared.errors import Conflict
from functions.shared.identifiers import new_id
from functions.shared.principal import Principal, organisation_of

RECORD_CONSENT = "record_consent"
# The route of a consent: its rule in functions.shared.access_rules decides who may record one.
CONSENT_ROUTE = "POST /v1/consents"


class ConsentStore(Protocol):
    def current(self, patient_id: str) -> SharingConsent | None:
        """The consent that holds now; None if none was ever recorded."""

    def record(self, patient_id: str, consent: SharingConsent) -> bool:
        """Keep ``consent`` and make it the one that holds; False (nothing written) if a consent recorded
        later holds already, or this one was recorded before."""


class ConsentService:
    def __init__(self, store: ConsentStore, relations: CitizenRelations, access_log: AccessLog,
                 clock: Clock) -> None:
        self._store = store
        self._relations = relations
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def record(self, cpr: str, status: ConsentStatus, principal: Principal) -> tuple[SharingConsent, bool]:
        """Record the citizen's consent as ``status`` from now, for a clinician of the treating or the
        monitoring organisation of an open episode of the citizen. Returns the consent that holds and
        whether this request recorded it (False: it was the one holding already, and nothing changed).

        The request is access-logged under each open episode the caller is related to before the consent
        is read or written, so no reply leaves, and no consent changes, unlogged."""
        organisation = organisation_of(principal)
        # One refusal for an unknown citizen and a citizen the caller has no relation to: it tells nothing.
        citizen = self._relations.related(cpr, organisation, CONSENT_ROUTE)
        if citizen is None:
            raise nothing_found(CONSENT_ROUTE)
        patient_id = citizen.patient_id
        self._guard.check(CONSENT_ROUTE, citizen.held, principal, Access(patient_id, RECORD_CONSENT, ""))
        now = self._clock()
        self._access_log.record_many([Access(patient_id, RECORD_CONSENT, episode_id)
                                      for episode_id in citizen.episode_ids], principal, now)
        current = self._store.current(patient_id)
        if current is not None and current.status == status:
            return current, False
        consent = SharingConsent(consent_id=new_id("con"), status=status, recorded_at=iso_utc(now),
                                 organisation=organisation, source=ConsentSource.REQUEST)
        if self._store.record(patient_id, consent):
            return consent, True
        # A consent recorded after this one holds already (a concurrent request, or a clock running ahead).
        winner = self._store.current(patient_id)
        if winner is not None and winner.status == status:
            return winner, False
        raise Conflict("another consent was recorded meanwhile and holds; send the request again to record "
                       "this one after it")
