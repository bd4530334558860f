"""Calls of the citizen-view API as API Gateway makes them (after the authorizer allowed the request), invoked
with the citizen-view function's own environment."""

from __future__ import annotations

import json
from typing import Any

from tests.support.events import load_event
from tests.support.organisations import MONITORING
from tests.support.runtime import invoke


def citizen(patient_id: str | None, subject: str = "mitid-citizen-1") -> dict[str, Any]:
    """The authorizer's context for a citizen: their patient id (None: a citizen Telehub does not know)."""
    context = {"principalId": subject, "role": "citizen", "subject": subject}
    return context | ({"patient_id": patient_id} if patient_id is not None else {})


def clinician(organisation: str = MONITORING, subject: str = "nurse-17") -> dict[str, Any]:
    return {"principalId": subject, "role": "clinician", "subject": subject, "organisation": organisation}


def call(path: str, who: dict[str, Any], query: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """A GET of the function's routes: the status, the parsed reply and the body as sent."""
    event = load_event("citizen_view/get_my_access_log.json")
    event["path"] = path
    parts = path.split("/")
    event["pathParameters"] = {"episode_id": parts[3]} if parts[2] == "episodes" else None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [v] for name, v in query.items()} if query else None
    event["requestContext"]["authorizer"] = who
    reply = invoke("citizen-view", event)
    return reply["statusCode"], json.loads(reply["body"]), reply["body"]
