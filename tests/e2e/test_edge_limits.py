"""The edge's limits end to end, through a gateway with a stage's limits (small) in front of the running
embedded system: a tablet hammering the API is refused with 429 at the edge while another tablet and a
clinician are served; an organisation's clinicians hammering it are refused by their organisation's usage
plan while another organisation's clinicians and a tablet are served; a body without a declared length is
refused before any function runs."""

from __future__ import annotations

import http.client
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from embedded.api_client import call
from embedded.local import STAGE, LocalSystem
from embedded.organisations import HOSPITAL_SOR, MUNICIPALITY_SOR, OTHER_REGION_SOR
from embedded.simulator import COPD_KIT_TYPES, HomeTablet
from functions.authorizer.usage import CITIZENS, DEVICES, OTHER_ORGANISATIONS, organisation_bucket, usage_key
from infrastructure.edge import (
    CREDENTIAL_RATE_EXCEEDED,
    GATEWAY_RESPONSES,
    LENGTH_REQUIRED,
    EdgeLimits,
    RateLimit,
    Throttle,
)
from tests.support.fakes import MovableClock

pytestmark = pytest.mark.e2e

CPR = "0101010043"  # a test citizen of this module only
TREATING = "123456789012345"
LOGISTICS = "265161000016009"
PER_MINUTE = 3


@pytest.fixture(scope="module")
def tablets(local_system: LocalSystem) -> list[str]:
    """The credentials of three tablets of a citizen with an open COPD episode."""
    return register_tablets(local_system, 3)


def register_tablets(system: LocalSystem, count: int) -> list[str]:
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


def test_a_hammering_tablet_gets_429_while_another_tablet_and_a_clinician_are_served(local_system, tablets):
    # Given two tablets of one citizen, and a gateway whose web ACL allows 3 requests a minute per credential
    hammering_credential, other_credential, _ = tablets
    clock = MovableClock(0.0)
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


def test_an_organisation_hammering_gets_429_while_another_organisation_and_a_tablet_are_served(local_system,
                                                                                                  tablets):
    # Given a gateway whose usage plans give each bucket 2 requests at once, refilled at 1 a second: the
    # municipality's and the hospital's own (the organisations the embedded mode lists, as dev does), the
    # other organisations', the citizens' and the devices'
    bucket = Throttle(rate=1, burst=2)
    buckets = (DEVICES, CITIZENS, OTHER_ORGANISATIONS, organisation_bucket(MUNICIPALITY_SOR),
               organisation_bucket(HOSPITAL_SOR))
    limits = EdgeLimits(per_usage_key={usage_key(STAGE, name): bucket for name in buckets})
    clock = MovableClock(0.0)
    assert local_system.issuer is not None
    mint = local_system.issuer.mint
    nurse, colleague = (mint("clinician", organisation=MUNICIPALITY_SOR, subject=s) for s in ("n1", "n2"))
    hospital, other_region = (mint("clinician", organisation=o) for o in (HOSPITAL_SOR, OTHER_REGION_SOR))
    with local_system.entrance(limits, clock) as url:
        # When two nurses of the municipality, each with a token of their own, call more than its bucket holds
        served = [call("GET", f"{url}/v1/worklist", token).status for token in (nurse, colleague)]
        refused = call("GET", f"{url}/v1/worklist", nurse)
        # Then the organisation's bucket answers for both: the third call is API Gateway's 429 problem
        assert served == [200, 200]
        assert (refused.status, refused.body) == (429, GATEWAY_RESPONSES["THROTTLED"].problem())
        assert call("GET", f"{url}/v1/worklist", colleague).status == 429
        # And the hospital's clinician, an unlisted region's clinician and a tablet are served all the same
        assert call("GET", f"{url}/v1/worklist", hospital).status == 200
        assert call("GET", f"{url}/v1/worklist", other_region).status == 200
        assert upload(HomeTablet(url, tablets[2]))[0] == 202
        # And once a second has passed, the municipality may call once more
        clock.now += 1
        assert call("GET", f"{url}/v1/worklist", colleague).status == 200
        assert call("GET", f"{url}/v1/worklist", nurse).status == 429


def test_a_chunked_upload_is_refused_with_411_and_never_reaches_the_function(local_system, tablets):
    # Given a tablet's upload
    tablet = HomeTablet(local_system.gateway_url, tablets[2])
    body = tablet.new_upload(tablet.morning_readings(datetime.now(UTC)))
    # When it is sent chunked, without Content-Length
    status, media_type, problem = send_chunked(local_system.gateway_url, "/v1/measurements", body, tablets[2])
    # Then the edge refuses it with its 411 problem (as the web ACL sends it)
    assert (status, media_type, problem) == (411, "application/json", LENGTH_REQUIRED.problem())
    # And the function never ran: another body under the same upload id, sent with its length, is taken as
    # new (were the chunked one stored, this would be a 409 conflict)
    other_body = {**body, "measurements": body["measurements"][:1]}
    assert tablet.send(other_body).status == 202


def send_chunked(url: str, path: str, body: Any, token: str) -> tuple[int, str | None, Any]:
    """POST ``body`` with Transfer-Encoding: chunked: its status, media type and JSON body."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        connection.request("POST", path, body=iter([json.dumps(body).encode()]), headers=headers,
                           encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())
    finally:
        connection.close()
