"""The edge's limits end to end: a tablet hammering the API is refused with 429 at the edge while another
tablet and a clinician are served, through a gateway with a stage's limits (small) in front of the running
embedded system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from embedded.api_client import call
from embedded.local import LocalSystem
from embedded.simulator import COPD_KIT_TYPES, HomeTablet
from infrastructure.edge import CREDENTIAL_RATE_EXCEEDED, EdgeLimits, RateLimit

pytestmark = pytest.mark.e2e

CPR = "0101010043"  # a test citizen of this module only
TREATING = "123456789012345"
LOGISTICS = "265161000016009"
PER_MINUTE = 3


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def register_tablets(system: LocalSystem, count: int) -> list[str]:
    """The credentials of ``count`` tablets of a citizen with an open COPD episode."""
    assert system.issuer is not None
    doctor = system.issuer.mint("clinician", organisation=TREATING)
    referral = {"referral_id": f"e2e-edge-{CPR}", "disease_area": "copd",
                "citizen": {"cpr": CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "treating_organisation": TREATING, "monitoring_organisation": TREATING,
                "logistics_centre": LOGISTICS}
    assert call("POST", f"{system.gateway_url}/v1/referrals", doctor, referral).status == 201
    centre = system.issuer.mint("logistics", organisation=LOGISTICS)
    credentials = []
    for _ in range(count):
        registration = {"cpr": CPR, "vendor": "Telehub Test", "model": "Tablet",
                        "serial": uuid.uuid4().hex[:12], "measurement_types": list(COPD_KIT_TYPES)}
        registered = call("POST", f"{system.gateway_url}/v1/devices", centre, registration)
        assert registered.status == 201, registered.body
        credentials.append(registered.body["credential"])
    return credentials


def upload(tablet: HomeTablet) -> tuple[int, Any]:
    reply = tablet.send(tablet.new_upload(tablet.morning_readings(datetime.now(UTC))))
    return reply.status, reply.body


def test_a_hammering_tablet_gets_429_while_another_tablet_and_a_clinician_are_served(local_system):
    # Given two tablets of one citizen, and a gateway whose web ACL allows 3 requests a minute per credential
    hammering_credential, other_credential = register_tablets(local_system, 2)
    clock = Clock()
    limits = EdgeLimits(per_credential=RateLimit(requests=PER_MINUTE, window_seconds=60))
    assert local_system.issuer is not None
    clinician = local_system.issuer.mint("clinician", organisation=TREATING)
    with local_system.entrance(limits, clock) as url:
        hammering, other = HomeTablet(url, hammering_credential), HomeTablet(url, other_credential)
        # When one tablet sends more uploads than its limit, without pause
        statuses = [upload(hammering)[0] for _ in range(PER_MINUTE)]
        refused_status, refused = upload(hammering)
        # Then its uploads within the limit were accepted and the next is the edge's 429 problem
        assert statuses == [202] * PER_MINUTE
        assert (refused_status, refused) == (429, CREDENTIAL_RATE_EXCEEDED.problem())
        # And the other tablet's upload and the clinician's worklist are served all the same
        assert upload(other)[0] == 202
        assert call("GET", f"{url}/v1/worklist", clinician).status == 200
        # And once a third of the minute has passed, the hammering tablet may send one upload more
        clock.now += 20
        assert upload(hammering)[0] == 202
        assert upload(hammering)[0] == 429
