"""What an organisation is to a citizen named by CPR number in a request body (the consent and the FHIR
search): its relations to the citizen's open episodes, which the route's rule (functions.shared.access_rules:
treating or monitoring) decides by. An organisation offered the monitoring has no relation until it accepts;
one whose episodes have all ended has none left.

The features refuse with the rule's one 403, whatever the reason (no such citizen, no open episode, another
organisation's): it tells nothing about whether the citizen exists or is monitored. No boto3: the citizens,
the pseudonyms and the episode directory are injected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.shared.access_rules import Relation, refusal
from functions.shared.citizens import CitizenPseudonyms
from functions.shared.episode_records import EpisodeRelations


class CitizenDirectory(Protocol):
    def find_patient(self, pseudonym: str) -> str | None: ...


class OpenEpisodes(Protocol):
    def open_relations(self, patient_id: str) -> list[EpisodeRelations]:
        """The relations of the citizen's open episodes."""


@dataclass(frozen=True)
class RelatedCitizen:
    patient_id: str
    held: frozenset[Relation]  # what the organisation is to any of the citizen's open episodes
    episodes: tuple[EpisodeRelations, ...]  # the open episodes whose relation opens the route

    @property
    def episode_ids(self) -> list[str]:
        return sorted(relation.episode_id for relation in self.episodes)


class CitizenRelations:
    def __init__(self, citizens: CitizenDirectory, pseudonyms: CitizenPseudonyms,
                 episodes: OpenEpisodes) -> None:
        self._citizens = citizens
        self._pseudonyms = pseudonyms
        self._episodes = episodes

    def related(self, cpr: str, organisation: str, route: str) -> RelatedCitizen | None:
        """The citizen, what ``organisation`` is to its open episodes and those of them it may call
        ``route`` about; None if Telehub does not know the citizen."""
        patient_id = self._citizens.find_patient(self._pseudonyms.pseudonym(cpr))
        if patient_id is None:
            return None
        open_episodes = self._episodes.open_relations(patient_id)
        held = frozenset(relation for episode in open_episodes for relation in episode.held_by(organisation))
        episodes = tuple(episode for episode in open_episodes
                         if refusal(route, episode.held_by(organisation)) is None)
        return RelatedCitizen(patient_id, held, episodes)
