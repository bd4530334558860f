"""Who may act on a citizen's shared data, named by CPR number in a request body (the consent and the FHIR
search): a clinician of the treating or the current monitoring organisation of an open episode of the
citizen. An organisation offered the monitoring has no relation until it accepts; one whose episodes have
all ended has none left.

One refusal, whatever the reason (no such citizen, no open episode, another organisation's): it tells
nothing about whether the citizen exists or is monitored. No boto3: the citizens, the pseudonyms and the
episode directory are injected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from functions.shared.citizens import CitizenPseudonyms
from functions.shared.episode_records import EpisodeRelations
from functions.shared.errors import Forbidden


class CitizenDirectory(Protocol):
    def find_patient(self, pseudonym: str) -> str | None: ...


class OpenEpisodes(Protocol):
    def open_relations(self, patient_id: str) -> list[EpisodeRelations]:
        """The relations of the citizen's open episodes."""


@dataclass(frozen=True)
class RelatedCitizen:
    patient_id: str
    episodes: tuple[EpisodeRelations, ...]  # the open episodes the caller's organisation treats or monitors

    @property
    def episode_ids(self) -> list[str]:
        return sorted(relation.episode_id for relation in self.episodes)


class CitizenRelations:
    def __init__(self, citizens: CitizenDirectory, pseudonyms: CitizenPseudonyms,
                 episodes: OpenEpisodes) -> None:
        self._citizens = citizens
        self._pseudonyms = pseudonyms
        self._episodes = episodes

    def related(self, cpr: str, organisation: str | None, refusal: str,
                on_denial: Callable[[str], None]) -> RelatedCitizen:
        """The citizen and the open episodes ``organisation`` treats or monitors; Forbidden(``refusal``) if
        there is no such citizen or no such episode. Refusing a citizen that exists calls ``on_denial`` with
        its patient id first (to access-log the refusal); the reply is the same."""
        patient_id = self._citizens.find_patient(self._pseudonyms.pseudonym(cpr))
        if patient_id is None:
            raise Forbidden(refusal)
        episodes = tuple(relation for relation in self._episodes.open_relations(patient_id)
                         if relation.treated_or_monitored_by(organisation))
        if not episodes:
            on_denial(patient_id)
            raise Forbidden(refusal)
        return RelatedCitizen(patient_id, episodes)
