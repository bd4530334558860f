"""A device's credential rotated through the running embedded system: gateway, authorizer and devices handler
over real HTTP. The old credential uploads during the grace and is refused after it; the authorizer's clock is
moved past the grace rather than waited for."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from embedded.api_client import call
from embedded.local import LocalSystem
from embedded.simulator import HomeTablet
from functions.authorizer import handler as authorizer

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
    # Given a registered tablet
    device = registered_tablet(local_system)
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
