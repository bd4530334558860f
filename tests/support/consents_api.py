"""Calls of POST /v1/consents as API Gateway makes them (after the authorizer allowed the request), invoked
with the sharing-api function's own environment."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support.events import load_event
from tests.support.organisations import MONITORING
from tests.support.referrals_api import clinician
from tests.support.runtime import invoke

SAMPLE = load_event("cross_sector_sharing/post_consent.json")


def post_consent(body: Any, organisation: str = MONITORING) -> dict[str, Any]:
    """The function's reply to the sample request with another body (a dict is sent as JSON)."""
    event = copy.deepcopy(SAMPLE)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["requestContext"]["authorizer"] = clinician(organisation)
    reply: dict[str, Any] = invoke("sharing-api", event)
    return reply


def record_consent(cpr: str, status: str, organisation: str = MONITORING) -> tuple[int, Any]:
    """POST /v1/consents: the status and the parsed reply."""
    reply = post_consent({"cpr": cpr, "status": status}, organisation)
    return reply["statusCode"], json.loads(reply["body"])
