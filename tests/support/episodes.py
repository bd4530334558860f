"""Episodes as the referral logic builds them, for tests that write them through a store directly."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.referral_intake.models import Episode, NewEpisode, Order, Referral, StoredReferral
from functions.shared.episode_records import EpisodeStatus
from functions.shared.thresholds import Thresholds, ThresholdVersion
from tests.support.organisations import CENTRE, MONITORING, TREATING

CREATED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def new_episode(episode_id: str, patient_id: str, disease_area: str = "copd", centre: str = CENTRE,
                referral_id: str | None = None) -> NewEpisode:
    """A planned episode at threshold version 1 with its delivery order, as an accepted referral writes it."""
    episode = Episode(
        episode_id=episode_id, patient_id=patient_id, disease_area=disease_area, status=EpisodeStatus.PLANNED,
        treating_organisation=TREATING, monitoring_organisation=MONITORING, logistics_centre=centre,
        referral_id=referral_id or f"ref-{episode_id}", schedule={"spo2": 3}, created_at=CREATED,
        threshold_version=1,
    )
    return NewEpisode(
        episode=episode,
        thresholds=ThresholdVersion(1, CREATED, Thresholds(), TREATING, CREATED),
        order=order(episode_id, "deliver", centre),
        referral=StoredReferral(episode.referral_id, "0" * 64, {"episode_id": episode_id}),
        citizen_name="Karen Jensen",
        citizen_phone="+45 20 30 40 50",
    )


def order(episode_id: str, kind: str, centre: str = CENTRE) -> Order:
    """A delivery or collection order of the episode, made when it was created."""
    order_id = f"ord_{kind}_{episode_id}"
    body = {"order_id": order_id, "ordered_at": CREATED.isoformat()}
    return Order(order_id, kind, episode_id, centre, body)


def referral(**changes: object) -> Referral:
    """A COPD referral of the test citizen by TREATING, monitored by MONITORING, as a request gives it."""
    body = {"referral_id": "ref-1", "citizen": {"cpr": "2512489996", "name": "Karen Jensen",
                                                "phone": "+45 20 30 40 50"},
            "disease_area": "copd", "treating_organisation": TREATING, "monitoring_organisation": MONITORING,
            "logistics_centre": CENTRE}
    return Referral.model_validate(body | changes)
