"""The clinicians read whom an episode is for: the citizen's CPR number, name and phone.

The worklist, the episode and its alarms name the citizen by patient id only, a pseudonym a nurse cannot
work from. The organisations the episode names read the citizen's profile here: the treating and the
monitoring organisation, and the one a pending handover is offered to, which decides whether to take the
citizen on (as the receiver of a referral reads whom it is for; it reads no measurement until it accepts).
Every read, or refusal of a citizen Telehub knows, is written to the access log before the reply.

It lives with the episodes (referral intake), which own the relations and are the one API function that
opens profiles: no other function needs the citizen-profile key for it.

No event shapes and no boto3: the episodes, the citizens' profiles, the access log and the clock are
injected, so the rule is tested with in-memory fakes.
"""

from __future__ import annotations

from typing import Protocol

from functions.referral_intake.models import CitizenContact, Episode
from functions.referral_intake.order_contact import ContactDetails
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, episode_relations, nothing_found
from functions.shared.clock import Clock
from functions.shared.principal import Principal, organisation_of

CITIZEN_ROUTE = "GET /v1/episodes/{episode_id}/citizen"
READ_CITIZEN = "read_citizen"


class EpisodeStore(Protocol):
    def episode(self, episode_id: str) -> Episode | None: ...


class CitizenContacts:
    def __init__(self, store: EpisodeStore, citizens: ContactDetails, access_log: AccessLog,
                 clock: Clock) -> None:
        self._store = store
        self._citizens = citizens
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def contact(self, episode_id: str, principal: Principal) -> CitizenContact:
        """The episode's citizen as the profile holds them now, for an organisation its rule allows; anyone
        else (and an episode that does not exist) gets the one 403 of something that does not exist, logged
        as denied when the episode, and so the citizen, is known. The read is logged before the profile is
        opened; an entry that cannot be written is a 503."""
        episode = self._store.episode(episode_id)
        if episode is None:
            raise nothing_found(CITIZEN_ROUTE)
        about = Access(episode.patient_id, READ_CITIZEN, episode_id)
        held = episode_relations(
            organisation_of(principal), treating=episode.treating_organisation,
            monitoring=episode.monitoring_organisation,
            offered=episode.handover.to_organisation if episode.handover else None)
        self._guard.check(CITIZEN_ROUTE, held, principal, about)
        self._access_log.record(about.patient_id, principal, about.action, about.episode_id, self._clock())
        profile = self._citizens.profile(episode.patient_id) or {}
        return CitizenContact.model_validate({name: profile.get(name) for name in ("cpr", "name", "phone")})
