"""A device's credential rotated through the running embedded system: gateway, authorizer and devices handler
over real HTTP. The old credential uploads during the grace and is refused after it; the authorizer's clock is
moved past the grace rather than waited for, and the tablet registered in the devices function's past rather
than waiting out the interval before its first rotation."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from embedded.api_client import call
from embedded.local import LocalSystem
from embedded.simulator import HomeTablet
from functions.authorizer import handler as authorizer
from functions.devices.logic import MINIMUM_ROTATION_INTERVAL
from tests.support.devices_api import devices_clock_at

pytestmark = pytest.mark.e2e

CITIZEN = "2512489989"  # a test citizen of this module only
CENTRE = "265161000016017"  # the citizen's logistics centre
TREATING = "265161000016025"  # its treating and monitoring organisation


@pytest.fixture
def authorizer_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[datetime], None]]:
    """Sets the clock the authorizer judges a credential's grace by; its next invocation starts with it, and
    the one after the test with the real clock again."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(authorizer, "utc_now", lambda: moment)
        authorizer._authenticator.cache_clear()

    yield set_to
    monkeypatch.undo()
    authorizer._authenticator.cache_clear()


def registered_earlier(system: LocalSystem) -> dict[str, str]:
    """A tablet registered as long ago as it must have been to rotate its credential now."""
    with devices_clock_at(datetime.now(UTC) - MINIMUM_ROTATION_INTERVAL):
        return registered_tablet(system)


def registered_tablet(system: LocalSystem) -> dict[str, str]:
    """A tablet the logistics centre registers for the citizen, whose COPD episode the referral opens."""
    assert system.issuer is not None
    referral = {"referral_id": "e2e-credentials", "disease_area": "copd",
                "citizen": {"cpr": CITIZEN, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "treating_organisation": TREATING, "monitoring_organisation": TREATING,
                "logistics_centre": CENTRE}
    referred = call("POST", f"{system.gateway_url}/v1/referrals", system.issuer.mint("clinician", TREATING),
                    referral)
    assert referred.status == 201, referred.body  # a retry of the same referral gets the same 201
    registration = {"cpr": CITIZEN, "vendor": "Telehub Test", "model": "Tablet",
                    "serial": uuid.uuid4().hex[:12], "measurement_types": ["spo2", "pulse"]}
    registered = call("POST", f"{system.gateway_url}/v1/devices", system.issuer.mint("logistics", CENTRE),
                      registration)
    assert registered.status == 201, registered.body
    device: dict[str, str] = registered.body
    return device


def upload(system: LocalSystem, credential: str) -> int:
    tablet = HomeTablet(system.gateway_url, credential)
    reading = {"type": "pulse", "value": 72.0, "unit": "/min", "measured_at": datetime.now(UTC).isoformat(),
               "method": "automatic"}
    return tablet.send(tablet.new_upload([reading])).status


def test_a_rotated_credential_works_through_its_grace_and_not_after(local_system, authorizer_clock):
    # Given a tablet registered long enough ago to rotate
    device = registered_earlier(local_system)
    old = device["credential"]
    # When it rotates its credential
    rotated = call("POST", f"{local_system.gateway_url}/v1/devices/me/credential", old)
    # Then it gets a new one, and until when the old one still works
    assert rotated.status == 200, rotated.body
    assert rotated.body["device_id"] == device["device_id"]
    new = rotated.body["credential"]
    grace_end = datetime.fromisoformat(rotated.body["previous_credential_valid_until"])
    # And during the grace both credentials upload
    assert upload(local_system, old) == 202
    assert upload(local_system, new) == 202
    # When the grace has ended (the authorizer's clock at its end)
    authorizer_clock(grace_end)
    # Then the old credential is refused with the gateway's 401, and the new one uploads
    assert upload(local_system, old) == 401
    assert upload(local_system, new) == 202
    # And the old one cannot rotate any more either
    assert call("POST", f"{local_system.gateway_url}/v1/devices/me/credential", old).status == 401


def test_a_tablet_rotating_again_at_once_is_told_when_it_may_and_a_lost_reply_is_sent_again(
        local_system):
    # Given a tablet that rotated its credential
    device = registered_earlier(local_system)
    rotate = f"{local_system.gateway_url}/v1/devices/me/credential"
    rotated = call("POST", rotate, device["credential"])
    assert rotated.status == 200, rotated.body
    # When it rotates again at once, with the new credential
    status, headers, body = _post_with_headers(rotate, rotated.body["credential"])
    # Then the reply is 429 problem+json saying in how many seconds it may
    assert status == 429, body
    assert headers["Content-Type"] == "application/problem+json" and body["code"] == "too_many_requests"
    assert 0 < int(headers["Retry-After"]) <= MINIMUM_ROTATION_INTERVAL.total_seconds()
    # When it sends the rotation with its old credential instead (the reply was lost, as far as it knows)
    again = call("POST", rotate, device["credential"])
    # Then it gets the credential it already got, the same token, and it uploads
    assert again.status == 200 and again.body == rotated.body
    assert upload(local_system, again.body["credential"]) == 202


def _post_with_headers(url: str, credential: str) -> tuple[int, dict[str, str], dict]:
    """A POST without a body, with the reply's headers (the API client keeps only status and body)."""
    request = urllib.request.Request(url, data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {credential}"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())
