"""No existence oracles in the clinicians' routes, through the real handlers under moto.

A caller without a relation to an episode (an organisation with no part in it, one only offered its
monitoring, one that handed it over) gets the same reply, byte for byte, whether the episode, alarm or
measurement it names exists or not; and a referral's 409 names nothing of another organisation's episode.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from functions.shared.evaluation_records import OpenAlarm, measurement_alarm_id
from tests.support.docs import json_block_after
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.referrals_api import SAMPLE, clinician, refer
from tests.support.referrals_api import call as referral_call
from tests.support.runtime import invoke
from tests.support.worklist_items import RECEIVED, alarm_item, head_item, put_items, reading_item

ABSENT = {"episode_id": "epi_" + "0" * 24, "alarm_id": "alm_" + "0" * 24,
          "measurement_id": "msr_" + "0" * 24}
MEASUREMENT = "msr_" + "a" * 24
REFUSAL = json_block_after("docs/api.md", "### No relation: one 403 that tells nothing")


@dataclass(frozen=True)
class Route:
    function: str
    method: str
    resource: str  # as API Gateway names it, with its path parameters
    body: dict[str, Any] | None = None

    def parameters(self) -> list[str]:
        return [name for name in ABSENT if f"{{{name}}}" in self.resource]

    def answer(self, ids: dict[str, str], organisation: str) -> dict[str, Any]:
        """The function's whole reply (status, headers, body) to a clinician of ``organisation``."""
        event = load_event("referral_intake/post_referral.json")
        event["httpMethod"] = event["requestContext"]["httpMethod"] = self.method
        event["resource"] = event["requestContext"]["resourcePath"] = self.resource
        event["pathParameters"] = {name: ids[name] for name in self.parameters()}
        event["path"] = self.resource.format(**ids)
        event["body"] = json.dumps(self.body) if self.body is not None else None
        event["requestContext"]["authorizer"] = clinician(organisation)
        return invoke(self.function, event)


EPISODE = "/v1/episodes/{episode_id}"
ROUTES = {
    "read episode": Route("referral-intake", "GET", EPISODE),
    "read citizen": Route("referral-intake", "GET", f"{EPISODE}/citizen"),
    "change thresholds": Route("referral-intake", "PUT", f"{EPISODE}/thresholds",
                               {"thresholds": {"absolute": {"spo2": {"red_low": 85}}}}),
    "offer handover": Route("referral-intake", "POST", f"{EPISODE}/handover", {"to_organisation": OTHER}),
    "withdraw handover": Route("referral-intake", "DELETE", f"{EPISODE}/handover"),
    "accept handover": Route("referral-intake", "POST", f"{EPISODE}/handover/accept", {}),
    "decline handover": Route("referral-intake", "POST", f"{EPISODE}/handover/decline", {}),
    "end episode": Route("referral-intake", "POST", f"{EPISODE}/end", {}),
    "read measurements": Route("worklist", "GET", f"{EPISODE}/measurements"),
    "read alarms": Route("worklist", "GET", f"{EPISODE}/alarms"),
    "acknowledge alarm": Route("worklist", "POST", "/v1/alarms/{alarm_id}/acknowledge", {"note": "Seen."}),
    "pause monitoring": Route("monitoring-pauses", "POST", f"{EPISODE}/pauses",
                              {"ends_at": "2099-01-01T00:00:00Z", "reason": "admitted"}),
    "read pauses": Route("monitoring-pauses", "GET", f"{EPISODE}/pauses"),
    "read access log": Route("citizen-view", "GET", f"{EPISODE}/access-log"),
    "invalidate measurement": Route("measurement-invalidation", "POST",
                                    f"{EPISODE}/measurements/{{measurement_id}}/invalidate",
                                    {"reason": "probe slipped"}),
}
# An organisation offered the monitoring reads the episode it is offered and whom it is for, and answers the
# offer; nothing else.
RECEIVER_ROUTES = frozenset({"read episode", "read citizen", "accept handover", "decline handover"})


def monitored_episode(resources) -> dict[str, str]:
    """A referred episode with a RED measurement whose alarm waits on the monitoring organisation's
    worklist: the ids of the episode, its measurement and its alarm."""
    status, episode = refer()
    assert status == 201, episode
    episode_id, patient_id = episode["episode_id"], episode["patient_id"]
    alarm_id = measurement_alarm_id(episode_id, MEASUREMENT)
    put_items(resources.tables["evaluations"], [
        head_item(episode_id, patient_id, open_alarms={alarm_id: OpenAlarm("RED", RECEIVED, False)}),
        alarm_item(episode_id, patient_id, alarm_id, RECEIVED, measurement_id=MEASUREMENT),
        reading_item(episode_id, patient_id, MEASUREMENT, value=84, colour="RED", raised_alarm=alarm_id),
    ])
    return {"episode_id": episode_id, "alarm_id": alarm_id, "measurement_id": MEASUREMENT}


def offered_to_hospital(ids: dict[str, str]) -> None:
    path = f"/v1/episodes/{ids['episode_id']}/handover"
    assert referral_call("POST", path, {"to_organisation": HOSPITAL}, clinician(MONITORING))[0] == 200


def handed_over_to_hospital(ids: dict[str, str]) -> None:
    offered_to_hospital(ids)
    path = f"/v1/episodes/{ids['episode_id']}/handover/accept"
    assert referral_call("POST", path, {}, clinician(HOSPITAL))[0] == 200


# Who asks, and what made it (or left it) without a relation.
STRANGERS = {
    "no part in it": (OTHER, lambda ids: None),
    "only offered it": (HOSPITAL, offered_to_hospital),
    "handed it over": (MONITORING, handed_over_to_hospital),
}
CASES = [(route, stranger) for route in ROUTES for stranger in STRANGERS
         if not (stranger == "only offered it" and route in RECEIVER_ROUTES)]


def absent_variants(route: Route, ids: dict[str, str]) -> list[dict[str, str]]:
    """The ids with each path parameter in turn, and then all of them, naming nothing that exists."""
    names = route.parameters()
    variants = [ids | {name: ABSENT[name]} for name in names]
    if len(names) > 1:
        variants.append(ids | {name: ABSENT[name] for name in names})
    return variants


def stored(resources) -> list[list[dict[str, Any]]]:
    return [table_items(resources, table) for table in ("episodes", "evaluations")]


@pytest.mark.parametrize(("route_name", "stranger"), CASES)
def test_a_caller_without_a_relation_gets_the_same_reply_whether_it_exists_or_not(resources, route_name,
                                                                                   stranger):
    # Given an episode with a measurement and its alarm, and a caller without a relation to it
    ids = monitored_episode(resources)
    organisation, arrange = STRANGERS[stranger]
    arrange(ids)
    route = ROUTES[route_name]
    before = stored(resources)
    # When the caller names what exists, and what does not
    existing = route.answer(ids, organisation)
    absent = [route.answer(variant, organisation) for variant in absent_variants(route, ids)]
    # Then every reply is the same, byte for byte: the one refusal that tells nothing, as documented
    assert all(reply == existing for reply in absent), (existing, absent)
    assert existing["statusCode"] == 403 and json.loads(existing["body"]) == REFUSAL
    # And nothing was changed
    assert stored(resources) == before


def test_callers_with_a_relation_keep_their_specific_answers(resources):
    # Given an episode with an alarm waiting on the monitoring organisation's worklist
    ids = monitored_episode(resources)
    acknowledge, read = ROUTES["acknowledge alarm"], ROUTES["read episode"]
    # When the treating organisation acknowledges the alarm, Then it is told why it may not
    refused = acknowledge.answer(ids, TREATING)
    assert refused["statusCode"] == 403 and json.loads(refused["body"]) != REFUSAL
    # And the monitoring organisation reads the episode, and is told of a measurement the episode lacks
    assert read.answer(ids, MONITORING)["statusCode"] == 200
    missing = ROUTES["invalidate measurement"].answer(ids | {"measurement_id": ABSENT["measurement_id"]},
                                                      MONITORING)
    assert missing["statusCode"] == 404
    # And once the episode has ended, the treating organisation's threshold change is a 409
    assert ROUTES["end episode"].answer(ids, TREATING)["statusCode"] == 204
    assert ROUTES["change thresholds"].answer(ids, TREATING)["statusCode"] == 409


def referral_by(organisation: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    return body | {"referral_id": f"ref-{organisation}", "treating_organisation": organisation} | changes


@pytest.mark.parametrize("changes", [{}, {"disease_area": "heart_failure", "thresholds": None,
                                          "logistics_centre": OTHER}], ids=["same area", "other centre"])
def test_a_referral_409_names_nothing_of_another_organisations_episode(resources, changes):
    # Given the citizen's open COPD episode, treated by TREATING and monitored by MONITORING
    _, first = refer()
    # When another organisation refers the same citizen (to COPD, or elsewhere with another centre)
    status, reply = refer(referral_by(HOSPITAL, **changes), who=clinician(HOSPITAL))
    # Then it is a 409 that names neither that episode, nor its area, nor its organisations
    body = json.dumps(reply)
    assert status == 409
    for other in (first["episode_id"], first["patient_id"], "copd", TREATING, MONITORING, CENTRE):
        assert other not in body


def test_a_referral_409_names_the_open_episode_to_its_own_organisation(resources):
    # Given the citizen's open COPD episode, monitored by MONITORING
    _, first = refer()
    # When MONITORING, now treating the citizen too, refers the citizen to COPD
    status, reply = refer(referral_by(MONITORING), who=clinician(MONITORING))
    # Then the 409 names the episode it may read anyway
    assert status == 409 and first["episode_id"] in reply["detail"]
