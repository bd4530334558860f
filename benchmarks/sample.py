"""What the benchmarks send: a tablet's upload, and the API Gateway event it arrives as."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from embedded.gateway import Request, Route, proxy_event
from infrastructure.resource_spec import SPEC

STAGE = "bench"
# A morning's readings in the units devices send (the scale reports pounds).
READINGS = (
    {"type": "spo2", "value": 94.0, "unit": "%"},
    {"type": "pulse", "value": 78.0, "unit": "/min"},
    {"type": "blood_pressure", "systolic": 136.0, "diastolic": 88.0, "pulse": 76.0, "unit": "mmHg"},
    {"type": "weight", "value": 168.4, "unit": "lb"},
    {"type": "temperature", "value": 36.9, "unit": "Cel"},
)

# A COPD citizen's session in catalogue units: every type the area judges, weight and CAT score by
# their relative limits, and a blood pressure (three values judged together).
COPD_SESSION: tuple[dict[str, Any], ...] = (
    {"type": "spo2", "value": 95.0, "unit": "%"},
    {"type": "pulse", "value": 74.0, "unit": "/min"},
    {"type": "blood_pressure", "systolic": 132.0, "diastolic": 84.0, "pulse": 72.0, "unit": "mmHg"},
    {"type": "temperature", "value": 36.8, "unit": "Cel"},
    {"type": "respiration_rate", "value": 17.0, "unit": "/min"},
    {"type": "weight", "value": 76.4, "unit": "kg"},
    {"type": "cat_score", "value": 14.0, "unit": "score"},
)
RED_SPO2 = {"type": "spo2", "value": 85.0, "unit": "%"}  # below COPD's red_low of 88


def copd_measurements(count: int, last_measured_at: datetime, red: bool = False,
                      spacing: timedelta = timedelta(minutes=1)) -> list[dict[str, Any]]:
    """``count`` measurements of COPD sessions, ``spacing`` apart up to ``last_measured_at``; with ``red``
    the first is a RED SpO2, so that an alarm is raised."""
    readings = [COPD_SESSION[index % len(COPD_SESSION)] for index in range(count)]
    if red:
        readings[0] = RED_SPO2
    return [{**reading, "measured_at": (last_measured_at - spacing * (count - 1 - index)).isoformat(
                timespec="milliseconds"), "method": "automatic"}
            for index, reading in enumerate(readings)]


def upload_of(count: int, upload_id: str) -> dict[str, Any]:
    """An upload of ``count`` measurements, the morning's readings over and over, a minute apart."""
    now = datetime.now(UTC)
    return {
        "upload_id": upload_id,
        "measurements": [
            {**READINGS[index % len(READINGS)],
             "measured_at": (now - timedelta(minutes=count - index)).isoformat(timespec="seconds"),
             "method": "automatic"}
            for index in range(count)
        ],
    }


def api_event(method: str, path: str, body: dict[str, Any] | str, authorizer: dict[str, Any]
              ) -> dict[str, Any]:
    """The proxy event the embedded gateway (like API Gateway) builds for a JSON request to a spec route."""
    route = Route.of(next(spec for spec in SPEC.routes if spec.method == method and spec.path == path))
    text = body if isinstance(body, str) else json.dumps(body)
    request = Request(method, path, "", [("Content-Type", "application/json")], text.encode(), "192.0.2.10")
    return proxy_event(route, {}, request, stage=STAGE, request_id="bench", authorizer=authorizer,
                       now=datetime.now(UTC))
