"""A generated request made right beyond the schema, so that the API property test reaches the success paths.

JSON Schema cannot state what depends on the clock or on what is stored, nor every rule between fields:
a CPR number's date, a measurement's or answer's time window, a measurement's plausible range, the order
of threshold limits, unique idempotency keys, the one open episode per citizen and area, each question
answered once (and the ids of stored things, which the test's fixture gives). A case made right keeps
everything else generated (types, units, methods, names, notes, schedules, questions and answers) and
changes only such values, each to one that is still valid against the document (the test has
schemathesis check it). The citizens are test citizens (DESIGN §5), one per part they play.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.device_uploads.models import catalogue_value
from functions.shared.catalogue import BLOOD_PRESSURE, catalogue, to_catalogue_unit
from functions.shared.disease_areas import disease_area
from tests.support.organisations import CENTRE, HOSPITAL, TREATING

# Registers devices and uploads. Referred once for each area in DEVICE_AREAS, so that its answers are to
# questionnaires of its open episodes; nothing ends those, so no ending revokes its devices.
DEVICE_CITIZEN = "2512489995"
DEVICE_AREAS = ("copd", "heart_failure")
# The episodes the episode operations act on, two areas each (one open episode per citizen and area).
EPISODE_CITIZEN = "2512489997"
OFFERED_CITIZEN = "2512489998"
# The made-right referrals: the first per area opens an episode, the others are refused as a conflict,
# so the run opens two episodes, not one per request.
REFERRED_CITIZEN = "2512489999"
# The area of the episode whose thresholds the made-right changes set.
THRESHOLD_AREA = "heart_failure"
# When a measurement made right was taken: a few minutes before it is sent.
MEASURED_BEFORE_SENDING = timedelta(minutes=3)
# How long a pause made right lasts: from now (or its default, now) for a week.
PAUSED_FOR = timedelta(days=7)


def make_query_right(operation: str, query: dict[str, Any] | None) -> None:
    """Change, in place, the query parameters of ``operation`` that JSON Schema cannot constrain: a list's
    cursor is one the list gave (none is left out, for the first page), and a time range does not end
    before it starts."""
    if query is None or operation not in _LISTS:
        return
    query.pop(_LISTS[operation], None)
    since, until = _instant(query.get("from")), _instant(query.get("to"))
    if since is not None and until is not None and since > until:
        query["from"], query["to"] = query["to"], query["from"]


def _instant(text: Any) -> datetime | None:
    """The instant a query parameter names, if Python reads it with its offset (RFC 3339 allows forms it
    does not)."""
    try:
        instant = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return instant if instant is not None and instant.tzinfo is not None else None


def make_right(operation: str, body: Any) -> None:
    """Change, in place, the values of ``operation``'s generated body that JSON Schema cannot constrain."""
    steer = _BODIES.get(operation)
    if steer is not None:
        steer(body)


def _registration(body: dict[str, Any]) -> None:
    body["cpr"] = DEVICE_CITIZEN
    body["serial"] = _unique("serial")
    for name in ("vendor", "model"):  # blank once trimmed
        if not body[name].strip():
            body[name] = "Fuzz"


def _upload(body: dict[str, Any]) -> None:
    body["upload_id"] = _unique("upload")
    measured_at = (datetime.now(UTC) - MEASURED_BEFORE_SENDING).isoformat()
    for measurement in body.get("measurements", []):
        measurement["measured_at"] = measured_at
        if measurement["type"] == BLOOD_PRESSURE:
            _plausible_pressure(measurement)
        else:
            measurement["value"] = _plausible(measurement["type"], measurement["value"], measurement["unit"])
    if "answers" in body:
        body["answers"] = _answered_once(body["answers"])
    if not (body.get("measurements") or body.get("answers")):  # an upload holds at least one of either
        question = next(iter(disease_area(DEVICE_AREAS[0]).questionnaire))
        body["answers"] = [{"question_id": question, "answer": "no"}]
    for answer in body.get("answers", []):
        answer["answered_at"] = measured_at


def _answered_once(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first answer to each question; a later one to the same question is left out, so a list that
    had answers keeps at least one. Every question and answer the schema allows is one of DEVICE_AREAS'
    questionnaires (both areas together ask every question, and list yes and no for each)."""
    first: dict[str, dict[str, Any]] = {}
    for answer in answers:
        first.setdefault(answer["question_id"], answer)
    return list(first.values())


def _referral(body: dict[str, Any]) -> None:
    body["referral_id"] = _unique("referral")
    body["citizen"]["cpr"] = REFERRED_CITIZEN
    if not body["citizen"]["name"].strip():
        body["citizen"]["name"] = "Fuzz"
    body["treating_organisation"] = TREATING  # the clinician's own organisation refers
    body["logistics_centre"] = CENTRE  # a citizen has one logistics centre while an episode is open
    if body.get("thresholds") is not None:
        body["thresholds"] = _thresholds(body["thresholds"], body["disease_area"])


def _threshold_change(body: dict[str, Any]) -> None:
    body["thresholds"] = _thresholds(body["thresholds"], THRESHOLD_AREA)
    if body.get("valid_from") is not None:  # now: neither in the past nor before the latest version
        body["valid_from"] = datetime.now(UTC).isoformat()


def _acknowledgement(body: dict[str, Any]) -> None:
    if not body["note"].strip():  # blank once trimmed
        body["note"] = "Fuzz"


def _handover_offer(body: dict[str, Any]) -> None:
    body["to_organisation"] = HOSPITAL  # never the organisation monitoring now; a repeat is a retry


def _pause(body: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    if body.get("starts_at") is not None:
        body["starts_at"] = now.isoformat()
    body["ends_at"] = (now + PAUSED_FOR).isoformat()
    if not body["reason"].strip():
        body["reason"] = "Fuzz"


def _consent(body: dict[str, Any]) -> None:
    body["cpr"] = EPISODE_CITIZEN  # its open episodes are the clinician's organisation's (treating)


def _observation_search(form: dict[str, Any]) -> None:
    """The citizen whose episodes the clinician's organisation treats, over all time (a generated date may
    name no real day)."""
    form["patient.identifier"] = [f"urn:oid:1.2.208.176.1.2|{EPISODE_CITIZEN}"]
    form.pop("date", None)


_BODIES: dict[str, Callable[[Any], None]] = {
    "POST /v1/devices": _registration,
    "POST /v1/measurements": _upload,
    "POST /v1/referrals": _referral,
    "PUT /v1/episodes/{episode_id}/thresholds": _threshold_change,
    "POST /v1/episodes/{episode_id}/handover": _handover_offer,
    "POST /v1/alarms/{alarm_id}/acknowledge": _acknowledgement,
    "POST /v1/episodes/{episode_id}/pauses": _pause,
    "POST /v1/consents": _consent,
    "POST /fhir/Observation/_search": _observation_search,
}


# The paged lists, by their cursor parameter: a cursor is given by the list itself, beyond what the schema
# can say. An episode's read pages its threshold history.
_LISTS = {**dict.fromkeys(["GET /v1/worklist", "GET /v1/episodes/{episode_id}/measurements",
                           "GET /v1/episodes/{episode_id}/alarms", "GET /v1/episodes/{episode_id}/answers",
                           "GET /v1/episodes/{episode_id}/access-log",
                           "GET /v1/me/access-log", "GET /v1/me/measurements"], "cursor"),
          "GET /v1/episodes/{episode_id}": "history_cursor"}


def _unique(kind: str) -> str:
    return f"fuzz-{kind}-{uuid.uuid4().hex}"


def _plausible(measurement_type: str, value: float, unit: str) -> float:
    """``value`` if it is within the type's plausible range once converted, else the middle of the range
    in ``unit``."""
    try:
        catalogue_value(measurement_type, value, unit)
    except ValueError:
        return _middle(measurement_type, unit)
    return value


def _plausible_pressure(measurement: dict[str, Any]) -> None:
    unit = measurement["unit"]
    systolic = _plausible("systolic", measurement["systolic"], unit)
    diastolic = _plausible("diastolic", measurement["diastolic"], unit)
    if diastolic >= systolic:  # the two middles are in order
        systolic, diastolic = _middle("systolic", unit), _middle("diastolic", unit)
    measurement["systolic"], measurement["diastolic"] = systolic, diastolic


def _middle(measurement_type: str, unit: str) -> float:
    """The middle of the type's plausible range, in ``unit`` (every conversion is linear)."""
    entry = catalogue()[measurement_type]
    offset = float(to_catalogue_unit(measurement_type, 0, unit))
    scale = float(to_catalogue_unit(measurement_type, 1, unit)) - offset
    middle = (entry.plausible_min + entry.plausible_max) / 2
    return round((middle - offset) / scale, 2)


def _thresholds(overrides: dict[str, Any], area: str) -> dict[str, Any]:
    """The generated overrides for the types the area measures (the others dropped), each with limits
    that keep the rules: absolute limits in order within the plausible range, a relative change with its
    window as its baseline needs and a larger red than yellow change, both in the generated direction.
    The limits of a type are merged into the current ones field by field, so every field is given."""
    measured = set(disease_area(area).measurement_types)
    made_right: dict[str, Any] = {}
    if "absolute" in overrides:
        made_right["absolute"] = {kind: _ordered_limits(kind) for kind in overrides["absolute"]
                                  if kind in measured}
    if "relative" in overrides:
        made_right["relative"] = {kind: _relative_limit(limit)
                                  for kind, limit in overrides["relative"].items() if kind in measured}
    return made_right


def _ordered_limits(measurement_type: str) -> dict[str, float]:
    entry = catalogue()[measurement_type]
    span = entry.plausible_max - entry.plausible_min
    shares = {"red_low": 0.1, "yellow_low": 0.2, "yellow_high": 0.8, "red_high": 0.9}
    return {name: round(entry.plausible_min + share * span, 3) for name, share in shares.items()}


def _relative_limit(limit: dict[str, Any]) -> dict[str, Any]:
    changes = (limit.get("yellow_change"), limit.get("red_change"))
    direction = next((math.copysign(1, change) for change in changes if change), -1.0)
    # Every field given: one left out keeps the current version's, whose baseline may want the other window.
    baseline = limit.get("baseline", "window")
    window_days = (limit.get("window_days") or 7) if baseline == "window" else None
    return {"baseline": baseline, "window_days": window_days, "yellow_change": 5 * direction,
            "red_change": 10 * direction}
