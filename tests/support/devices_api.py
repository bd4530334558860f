"""Calls of the devices API and the authorizer as API Gateway makes them (after the authorizer
allowed the request), each function invoked with its own environment, and the referral that gives a
logistics centre its reason to register a citizen's devices."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from functions.devices import handler as devices_handler
from functions.devices.logic import MINIMUM_ROTATION_INTERVAL
from functions.shared.clock import utc_now
from tests.support.events import load_event
from tests.support.organisations import CENTRE
from tests.support.referrals_api import SAMPLE as SAMPLE_REFERRAL
from tests.support.referrals_api import refer
from tests.support.runtime import invoke

CPR = "2512489996"
SAMPLE_BODY = json.loads(load_event("devices/register_device.json")["body"])


def principal_context(role: str = "logistics", organisation: str | None = CENTRE) -> dict[str, Any]:
    """The authorizer's context for a person of an organisation, as it reaches the function."""
    context = {"principalId": "user-17", "role": role, "subject": "user-17"}
    if organisation:
        context["organisation"] = organisation
    return context


def refer_citizen(cpr: str = CPR, logistics_centre: str = CENTRE, disease_area: str = "copd"
                  ) -> dict[str, Any]:
    """The sample referral for the citizen, naming the logistics centre (which may then register the
    citizen's devices); the accepted episode (episode_id, patient_id, ...)."""
    referral = SAMPLE_REFERRAL | {
        "referral_id": f"ref-{uuid.uuid4().hex[:12]}", "disease_area": disease_area,
        "citizen": SAMPLE_REFERRAL["citizen"] | {"cpr": cpr}, "logistics_centre": logistics_centre,
    }
    if disease_area != SAMPLE_REFERRAL["disease_area"]:
        del referral["thresholds"]  # the sample's thresholds are COPD's; the area's defaults apply
    status, episode = refer(referral)
    assert status == 201, episode
    return dict(episode)


def register(body: Any = None, raw_body: str | None = None, authorizer_context: dict | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
    """POST /v1/devices with the sample body (or another); the status and the parsed reply."""
    reply = register_reply(body, raw_body, authorizer_context, content_type)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def register_reply(body: Any = None, raw_body: str | None = None, authorizer_context: dict | None = None,
                   content_type: str = "application/json") -> dict[str, Any]:
    """POST /v1/devices as register does; the function's whole reply, its body as sent."""
    event = load_event("devices/register_device.json")
    event["body"] = raw_body if raw_body is not None else json.dumps(SAMPLE_BODY if body is None else body)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    event["requestContext"]["authorizer"] = principal_context() if authorizer_context is None else (
        authorizer_context
    )
    return invoke("devices", event)


def revoke(device_id: str, authorizer_context: dict | None = None) -> tuple[int, Any]:
    event = load_event("devices/revoke_device.json")
    event["path"] = f"/v1/devices/{device_id}"
    event["pathParameters"] = {"device_id": device_id}
    return _call(event, authorizer_context)


def rotate_credential(authorizer_context: dict[str, Any]) -> tuple[int, Any]:
    """POST /v1/devices/me/credential as the device the authorizer's context names."""
    return _call(load_event("devices/rotate_credential.json"), authorizer_context)


def rotate_with(credential: str) -> tuple[int, Any]:
    """POST /v1/devices/me/credential as API Gateway makes it for this credential: the real authorizer's
    context (its 401 raised as API Gateway's), then the devices function."""
    policy = authorize(credential)
    return rotate_credential({"principalId": policy["principalId"], **policy["context"]})


def _call(event: dict[str, Any], authorizer_context: dict | None) -> tuple[int, Any]:
    event["requestContext"]["authorizer"] = principal_context() if authorizer_context is None else (
        authorizer_context
    )
    reply = invoke("devices", event)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def authorize(token: str | None) -> dict[str, Any]:
    """The authorizer's policy for a bearer token (None: no token); raises as API Gateway's 401."""
    event = load_event("authorizer/token.json")
    if token is None:
        del event["authorizationToken"]
    else:
        event["authorizationToken"] = f"Bearer {token}"
    return invoke("authorizer", event)


@contextmanager
def devices_clock_at(moment: datetime) -> Iterator[None]:
    """The devices function's clock at ``moment`` while the block runs (its service built anew with it), the
    real clock after. Only ever into the past, or where the function signs nothing: the authorizer takes no
    credential issued in its future."""
    devices_handler._service.cache_clear()
    devices_handler.utc_now = lambda: moment
    try:
        yield
    finally:
        devices_handler.utc_now = utc_now
        devices_handler._service.cache_clear()


def registered_long_enough_ago(body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A device registered (201) as long ago as it must have been to rotate its credential now."""
    with devices_clock_at(datetime.now(UTC) - MINIMUM_ROTATION_INTERVAL):
        status, device = register(body)
    assert status == 201, device
    return device
