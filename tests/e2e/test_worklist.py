"""The monitoring worklist end to end, over real HTTP: measurements uploaded by a device are judged by the
evaluator behind the measurements queue, reach the nurse's worklist, and are acknowledged; another
organisation sees none of it; a handover moves the row."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from embedded.api_client import ApiReply, call
from embedded.local import LocalSystem

pytestmark = pytest.mark.e2e

# Test citizens of this module only, and organisations no other module monitors with.
YELLOW_CITIZEN, RED_CITIZEN = "2512489991", "2512489992"
GP, NURSES, HOSPITAL, CENTRE = "123456", "328081000016008", "436371000016005", "265161000016009"
ELSEWHERE = "567890123456789"  # an organisation with no part in the episodes
WAIT_SECONDS = 30  # how long the evaluator behind the queue may take (a bound, not a measurement)


def as_org(system: LocalSystem, method: str, path: str, organisation: str, body: Any = None,
           role: str = "clinician") -> ApiReply:
    assert system.issuer is not None
    token = system.issuer.mint(role, organisation=organisation)
    return call(method, f"{system.gateway_url}{path}", token, body)


def monitored_episode_uploading(system: LocalSystem, cpr: str, spo2: float) -> str:
    """A COPD episode referred to the nurses, whose citizen's new oximeter uploads one SpO2 value now."""
    referral = {"referral_id": f"e2e-worklist-{uuid.uuid4().hex[:12]}",
                "citizen": {"cpr": cpr, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "disease_area": "copd", "treating_organisation": GP, "monitoring_organisation": NURSES,
                "logistics_centre": CENTRE}
    referred = as_org(system, "POST", "/v1/referrals", GP, referral)
    assert referred.status == 201, referred.body
    device = as_org(system, "POST", "/v1/devices", CENTRE, {
        "cpr": cpr, "vendor": "Nonin", "model": "3230", "serial": f"e2e-{uuid.uuid4().hex[:12]}",
        "measurement_types": ["spo2"]}, role="logistics")
    assert device.status == 201, device.body
    upload = {"upload_id": f"e2e-{uuid.uuid4().hex[:12]}", "measurements": [
        {"type": "spo2", "value": spo2, "unit": "%", "measured_at": datetime.now(UTC).isoformat(),
         "method": "automatic"}]}
    sent = call("POST", f"{system.gateway_url}/v1/measurements", device.body["credential"], upload)
    assert sent.status == 202, sent.body
    episode_id: str = referred.body["episode_id"]
    return episode_id


def worklist_once(system: LocalSystem, organisation: str, holds: Callable[[list[dict[str, Any]]], bool]
                  ) -> list[dict[str, Any]]:
    """The organisation's worklist rows once ``holds`` is true of them (the evaluator works behind a
    queue), or as they are when the wait runs out."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        reply = as_org(system, "GET", "/v1/worklist?limit=100", organisation)
        assert reply.status == 200, reply.body
        rows: list[dict[str, Any]] = reply.body["rows"]
        if holds(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def episodes_of(rows: list[dict[str, Any]]) -> list[str]:
    return [row["episode_id"] for row in rows]


def test_a_red_measurement_leads_the_worklist_until_acknowledged_and_a_handover_moves_its_row(
        local_system: LocalSystem):
    # Given a citizen whose SpO2 of 90 % is YELLOW, uploaded first, and another's of 80 %, RED, after it
    yellow = monitored_episode_uploading(local_system, YELLOW_CITIZEN, 90)
    worklist_once(local_system, NURSES, lambda rows: yellow in episodes_of(rows))
    red = monitored_episode_uploading(local_system, RED_CITIZEN, 80)
    # When the monitoring nurse reads the worklist
    rows = worklist_once(local_system, NURSES, lambda rows: red in episodes_of(rows))
    # Then the RED row comes first, though the YELLOW one waited longer
    assert episodes_of(rows) == [red, yellow]
    assert [(row["alarm"]["colour"], row["counts"]["RED"], row["counts"]["YELLOW"]) for row in rows] == [
        ("RED", 1, 0), ("YELLOW", 0, 1)]
    # And the treating GP sees the measurement with its colour, version and alarm
    measurements = as_org(local_system, "GET", f"/v1/episodes/{red}/measurements", GP)
    assert measurements.status == 200, measurements.body
    [reading] = measurements.body["measurements"]
    assert (reading["value"], reading["colour"], reading["threshold_version"], reading["alarm_id"]) == (
        80, "RED", 1, rows[0]["alarm"]["alarm_id"])
    # And a nurse of another organisation sees neither row, and cannot acknowledge the alarm
    assert not {red, yellow} & set(episodes_of(worklist_once(local_system, ELSEWHERE, lambda rows: True)))
    alarm_id = rows[0]["alarm"]["alarm_id"]
    note = {"note": "Not ours."}
    theirs = as_org(local_system, "POST", f"/v1/alarms/{alarm_id}/acknowledge", ELSEWHERE, note)
    unknown = as_org(local_system, "POST", f"/v1/alarms/alm_{'0' * 24}/acknowledge", ELSEWHERE, note)
    assert (theirs.status, theirs.body) == (unknown.status, unknown.body) and theirs.status == 403

    # When the nurse acknowledges the RED alarm with a note
    acknowledged = as_org(local_system, "POST", f"/v1/alarms/{alarm_id}/acknowledge", NURSES,
                          {"note": "Called the citizen: the probe was on a cold finger; 94 % on a retest."})
    # Then it is acknowledged by her organisation, and its row leaves the worklist
    assert acknowledged.status == 200, acknowledged.body
    assert (acknowledged.body["status"], acknowledged.body["acknowledged"]["organisation"]) == (
        "acknowledged", NURSES)
    remaining = worklist_once(local_system, NURSES, lambda rows: red not in episodes_of(rows))
    assert episodes_of(remaining) == [yellow]

    # When the nurses hand the YELLOW citizen's monitoring over to the hospital, which accepts
    offered = as_org(local_system, "POST", f"/v1/episodes/{yellow}/handover", NURSES,
                     {"to_organisation": HOSPITAL})
    assert offered.status == 200, offered.body
    assert as_org(local_system, "POST", f"/v1/episodes/{yellow}/handover/accept", HOSPITAL, {}).status == 200
    # Then the row, with its unacknowledged alarm, is on the hospital's worklist and no longer on the nurses'
    [moved] = worklist_once(local_system, HOSPITAL, lambda rows: yellow in episodes_of(rows))
    assert (moved["episode_id"], moved["alarm"]["colour"]) == (yellow, "YELLOW")
    assert yellow not in episodes_of(worklist_once(local_system, NURSES, lambda rows: True))
