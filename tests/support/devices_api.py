"""Calls of the devices API and the authorizer as API Gateway makes them (after the authorizer
allowed the request), each function invoked with its own environment."""

from __future__ import annotations

import json
from typing import Any

from tests.support.events import load_event
from tests.support.organisations import CENTRE
from tests.support.runtime import invoke

CPR = "2512489996"
SAMPLE_BODY = json.loads(load_event("devices/register_device.json")["body"])


def principal_context(role: str = "logistics", organisation: str | None = CENTRE) -> dict[str, Any]:
    """The authorizer's context for a person of an organisation, as it reaches the function."""
    context = {"principalId": "user-17", "role": role, "subject": "user-17"}
    if organisation:
        context["organisation"] = organisation
    return context


def register(body: Any = None, raw_body: str | None = None, authorizer_context: dict | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
    """POST /v1/devices with the sample body (or another); the status and the parsed reply."""
    event = load_event("devices/register_device.json")
    event["body"] = raw_body if raw_body is not None else json.dumps(SAMPLE_BODY if body is None else body)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    return _call(event, authorizer_context)


def revoke(device_id: str, authorizer_context: dict | None = None) -> tuple[int, Any]:
    event = load_event("devices/revoke_device.json")
    event["path"] = f"/v1/devices/{device_id}"
    event["pathParameters"] = {"device_id": device_id}
    return _call(event, authorizer_context)


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
