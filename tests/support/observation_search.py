"""The FHIR Observation search's test helpers: an in-memory reading store over the evaluations table's reading
items (tests.support.worklist_items.reading_item), the searching clinicians' principals, searchset checks
with fhir.resources, and the search's calls through the sharing API's real handler (integration tier)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fhir.resources.R4B.bundle import Bundle

from functions.cross_sector_sharing.search_models import ReadingsPage, Window
from functions.cross_sector_sharing.search_store import reading_from_item
from functions.shared.auth import Role
from functions.shared.clock import iso_utc
from functions.shared.evaluation_records import READING_PREFIX
from functions.shared.principal import Principal
from tests.support.events import load_event
from tests.support.organisations import TREATING
from tests.support.runtime import invoke

CPR = "2512489996"
CPR_IDENTIFIER = f"urn:oid:1.2.208.176.1.2|{CPR}"
UNKNOWN_CPR_IDENTIFIER = "urn:oid:1.2.208.176.1.2|0101901234"

def doctor(organisation: str | None = TREATING, subject: str = "doctor-3") -> Principal:
    return Principal(role=Role.CLINICIAN, subject=subject, organisation=organisation)

class FakeReadingStore:
    """The readings of episodes (reading items as the evaluator writes them) and their threshold versions;
    counts the queries of each episode and the reads of its versions."""

    def __init__(self, items: Iterable[dict[str, Any]] = (),
                 versions: Mapping[str, dict[int, dict[str, Any]]] | None = None) -> None:
        self.items = list(items)
        self.versions = dict(versions or {})
        self.queries: dict[str, int] = {}
        self.version_reads: dict[str, int] = {}

    def readings(self, episode_id: str, window: Window, types: frozenset[str] | None, limit: int,
                 after: str | None) -> ReadingsPage:
        self.queries[episode_id] = self.queries.get(episode_id, 0) + 1
        low = iso_utc(window.since) if window.since else ""
        high = iso_utc(window.until) if window.until else "~"
        start = _measured_key(after) if after is not None else "~"
        matching = sorted((item for item in self.items
                           if item["reading_episode"]["S"] == episode_id
                           and low <= item["measured_at"]["S"] < high
                           and item["measured_key"]["S"] < start
                           and (types is None or item["type"]["S"] in types)),
                          key=lambda item: item["measured_key"]["S"], reverse=True)
        return ReadingsPage([reading_from_item(item) for item in matching[:limit]], len(matching) > limit)

    def threshold_versions(self, episode_id: str) -> dict[int, dict[str, Any]]:
        self.version_reads[episode_id] = self.version_reads.get(episode_id, 0) + 1
        return self.versions.get(episode_id, {})

def _measured_key(sort_key: str) -> str:
    _, measured_at, measurement_id = sort_key.removeprefix(READING_PREFIX).split("#")
    return f"{measured_at}#{measurement_id}"

def valid_searchset(bundle: Mapping[str, Any]) -> Bundle:
    """The Bundle, validated as FHIR R4 (R4B's classes, as the shared Bundles are): a searchset whose every
    entry has a unique fullUrl and a search mode."""
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "searchset"
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(urls) == len(set(urls)), "an entry twice"
    assert all(entry["search"]["mode"] in ("match", "include") for entry in bundle["entry"])
    return parsed

def matches(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"] if entry["search"]["mode"] == "match"]

def measurement_ids(bundle: Mapping[str, Any]) -> list[str]:
    """The measurement ids of the matches, in the Bundle's order."""
    return [observation["identifier"][0]["value"] for observation in matches(bundle)]

def next_cursor(bundle: Mapping[str, Any]) -> str | None:
    """The cursor of the Bundle's next link (None on the last page): its URL's only query parameter."""
    url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    if url is None:
        return None
    query = parse_qs(urlsplit(url).query)
    assert list(query) == ["_cursor"], url
    return query["_cursor"][0]

def search_event(form: Mapping[str, str | list[str]] | str, who: dict[str, Any], cursor: str | None = None,
                 content_type: str = "application/x-www-form-urlencoded") -> dict[str, Any]:
    """The search as API Gateway passes it on after the authorizer allowed it: the form as the body (a
    string is sent as it is), the cursor alone in the query string."""
    event = load_event("cross_sector_sharing/search_observations.json")
    event["body"] = form if isinstance(form, str) else urlencode(form, doseq=True)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    event["queryStringParameters"] = {"_cursor": cursor} if cursor else None
    event["multiValueQueryStringParameters"] = {"_cursor": [cursor]} if cursor else None
    event["requestContext"]["authorizer"] = who
    return event

def search(form: Mapping[str, str | list[str]] | str, who: dict[str, Any], cursor: str | None = None,
           content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str, str]:
    """POST /fhir/Observation/_search through the sharing API's handler: status, media type, body."""
    reply = invoke("sharing-api", search_event(form, who, cursor, content_type))
    media_type = (reply.get("multiValueHeaders") or {}).get("Content-Type", [None])[0]
    return reply["statusCode"], media_type, reply["body"]

def search_json(form: Mapping[str, str | list[str]] | str, who: dict[str, Any],
                cursor: str | None = None) -> tuple[int, Any]:
    status, _, body = search(form, who, cursor)
    return status, json.loads(body)
