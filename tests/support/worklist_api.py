"""Calls of the worklist API as API Gateway makes them (after the authorizer allowed the request), invoked
with the worklist function's own environment."""

from __future__ import annotations

import json
from typing import Any

from tests.support.events import load_event
from tests.support.organisations import MONITORING
from tests.support.runtime import invoke


def nurse(organisation: str = MONITORING, subject: str = "nurse-17") -> dict[str, Any]:
    """The authorizer's context for a clinician of an organisation."""
    return {"principalId": subject, "role": "clinician", "subject": subject, "organisation": organisation}


def call(method: str, path: str, query: dict[str, str] | None = None, body: Any = None,
         who: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Any route of the function; the status and the parsed reply."""
    sample = "acknowledge_alarm" if method == "POST" else "get_worklist"
    event = load_event(f"worklist/{sample}.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    parts = path.split("/")
    if parts[2] == "episodes":
        event["pathParameters"] = {"episode_id": parts[3]}
    elif parts[2] == "alarms":
        event["pathParameters"] = {"alarm_id": parts[3]}
    else:
        event["pathParameters"] = None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [v] for name, v in query.items()} if query else None
    event["body"] = json.dumps(body) if body is not None else None
    event["requestContext"]["authorizer"] = who or nurse()
    reply = invoke("worklist", event)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def worklist(who: dict[str, Any] | None = None, **query: str) -> tuple[int, Any]:
    return call("GET", "/v1/worklist", query or None, who=who)


def acknowledge(alarm_id: str, note: str = "Called the citizen.", who: dict[str, Any] | None = None
                ) -> tuple[int, Any]:
    return call("POST", f"/v1/alarms/{alarm_id}/acknowledge", body={"note": note}, who=who)
