"""Calls of the referral and episode API as API Gateway makes them (after the authorizer allowed the
request), invoked with the referral-intake function's own environment."""

from __future__ import annotations

import json
from typing import Any

from tests.support.events import load_event
from tests.support.organisations import TREATING
from tests.support.runtime import invoke

SAMPLE = json.loads(load_event("referral_intake/post_referral.json")["body"])


def clinician(organisation: str = TREATING, role: str = "clinician") -> dict[str, Any]:
    """The authorizer's context for a clinician of an organisation."""
    return {"principalId": "doc-1", "role": role, "subject": "doc-1", "organisation": organisation}


def call(method: str, path: str, body: Any = None, who: dict | None = None,
         query: dict[str, str] | None = None) -> tuple[int, Any]:
    """Any route of the function, with the query string's parameters; the status and the parsed reply."""
    sample = "post_referral" if body is not None else "get_episode"
    event = load_event(f"referral_intake/{sample}.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    parts = path.split("/")
    event["pathParameters"] = {"episode_id": parts[3]} if len(parts) > 3 else None
    event["body"] = json.dumps(body) if body is not None else None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = (
        {name: [value] for name, value in query.items()} if query else None)
    event["requestContext"]["authorizer"] = who or clinician()
    reply = invoke("referral-intake", event)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def refer(body: dict | None = None, who: dict | None = None) -> tuple[int, Any]:
    """POST /v1/referrals with the sample referral (or another body)."""
    return call("POST", "/v1/referrals", SAMPLE if body is None else body, who)
