"""End to end in the embedded mode: `telehub missed-measurements`, run from another process as a user runs
it, raises a BLUE alarm for an active episode that missed a measurement, once, and none inside a pause."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from embedded.api_client import call
from embedded.local import LocalSystem
from tests.support.organisations import CENTRE, MONITORING, TREATING

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CPR = "2512489990"  # a test citizen of this module only
MISSED_AFTER_HOURS = 2  # the referral's own schedule, so that a miss is due soon after now


def missed_measurements(system: LocalSystem, at: datetime) -> str:
    """`telehub missed-measurements --at ...` in a process of its own; its output."""
    finished = subprocess.run(
        [sys.executable, "-m", "embedded.cli", "missed-measurements", "--at", at.isoformat(),
         "--state-dir", str(system.state_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def alarms_of(system: LocalSystem, episode_id: str) -> list[dict]:
    assert system.names is not None
    deserialise = TypeDeserializer().deserialize
    found = boto3.Session().client("dynamodb").query(
        TableName=system.names.tables["evaluations"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :alarm)",
        ExpressionAttributeValues={":pk": {"S": f"EPISODE#{episode_id}"}, ":alarm": {"S": "ALARM#"}},
    )["Items"]
    return [{name: deserialise(value) for name, value in item.items()} for item in found]


def active_episode(system: LocalSystem, disease_area: str) -> str:
    """A referral of the module's citizen with a two-hour schedule, made active by its device."""
    assert system.issuer is not None
    url = system.gateway_url
    doctor = system.issuer.mint("clinician", organisation=TREATING)
    referral = {
        "referral_id": f"e2e-missed-{uuid.uuid4().hex[:12]}",
        "citizen": {"cpr": CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
        "disease_area": disease_area, "treating_organisation": TREATING,
        "monitoring_organisation": MONITORING, "logistics_centre": CENTRE,
        "schedule": {"missed_after_hours": MISSED_AFTER_HOURS},
    }
    referred = call("POST", f"{url}/v1/referrals", doctor, referral)
    assert referred.status == 201, referred.body
    logistics = system.issuer.mint("logistics", organisation=CENTRE)
    device = {"cpr": CPR, "vendor": "V", "model": "M", "serial": uuid.uuid4().hex[:12],
              "measurement_types": ["weight"]}
    assert call("POST", f"{url}/v1/devices", logistics, device).status == 201
    episode_id: str = referred.body["episode_id"]
    return episode_id


def test_the_command_raises_one_blue_alarm_per_miss_and_none_inside_a_pause(local_system: LocalSystem):
    # Given two active episodes of a citizen with a two-hour schedule, the schedule seeing them now, and
    # the second paused by its monitoring organisation for a day
    missing = active_episode(local_system, "copd")
    paused = active_episode(local_system, "heart_failure")
    now = datetime.now(UTC).replace(microsecond=0)
    missed_measurements(local_system, now)
    assert local_system.issuer is not None
    nurse = local_system.issuer.mint("clinician", organisation=MONITORING)
    pause = {"ends_at": (now + timedelta(days=1)).isoformat(), "reason": "Admitted to hospital"}
    assert call("POST", f"{local_system.gateway_url}/v1/episodes/{paused}/pauses", nurse, pause).status == 201
    # When the command runs as of three hours later, twice
    later = now + timedelta(hours=MISSED_AFTER_HOURS + 1)
    first = missed_measurements(local_system, later)
    missed_measurements(local_system, later)
    # Then the episode that measured nothing got one BLUE alarm, due two hours after the schedule saw it,
    # and the paused one none
    # (other modules' episodes share the embedded system, so the run's own count may include theirs)
    assert '"misses": 0' not in first
    (alarm,) = alarms_of(local_system, missing)
    assert (alarm["colour"], alarm["kind"], alarm["status"]) == ("BLUE", "missed_measurement", "open")
    assert datetime.fromisoformat(alarm["due_at"]) == now + timedelta(hours=MISSED_AFTER_HOURS)
    assert alarms_of(local_system, paused) == []
