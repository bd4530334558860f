"""A simulated home collection point: the tablet a COPD citizen measures with at home.

Each morning the citizen takes the pulse oximeter, the blood-pressure cuff, the scale (which
reports in pounds, as many consumer scales do) and the thermometer, then types in the COPD
Assessment Test and answers the COPD questionnaire; the tablet sends the readings and the answers
as one upload under its own idempotency key. Values vary plausibly from day to day, seeded so that
a run can be repeated.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from embedded.api_client import ApiReply, call
from functions.shared.disease_areas import disease_area

# What the tablet's paired instruments measure (blood_pressure: systolic, diastolic and pulse).
COPD_KIT_TYPES = ("spo2", "pulse", "blood_pressure", "weight", "temperature", "cat_score")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class HomeTablet:
    api_url: str
    credential: str
    seed: int = 2512
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def morning_readings(self, finished_at: datetime) -> list[dict[str, Any]]:
        """One morning's measurements, taken a few minutes apart and finished at ``finished_at``."""
        rng = self._random
        taken = [finished_at - timedelta(minutes=minutes) for minutes in (9, 7, 4, 2, 0)]
        systolic = round(rng.uniform(124, 146))
        return [
            {
                "type": "spo2",
                "value": float(round(rng.uniform(91, 96))),
                "unit": "%",
                "measured_at": iso(taken[0]),
                "method": "automatic",
            },
            {
                "type": "pulse",
                "value": float(round(rng.uniform(68, 92))),
                "unit": "/min",
                "measured_at": iso(taken[0]),
                "method": "automatic",
            },
            {
                "type": "blood_pressure",
                "systolic": float(systolic),
                "diastolic": float(systolic - rng.randint(40, 55)),
                "pulse": float(round(rng.uniform(66, 90))),
                "unit": "mmHg",
                "measured_at": iso(taken[1]),
                "method": "automatic",
            },
            {
                "type": "weight",
                "value": round(rng.uniform(160.0, 176.0), 1),
                "unit": "lb",
                "measured_at": iso(taken[2]),
                "method": "automatic",
            },
            {
                "type": "temperature",
                "value": round(rng.uniform(36.4, 37.6), 1),
                "unit": "Cel",
                "measured_at": iso(taken[3]),
                "method": "automatic",
            },
            {
                "type": "cat_score",
                "value": rng.randint(12, 24),
                "unit": "score",
                "measured_at": iso(taken[4]),
                "method": "typed",
            },
        ]

    @staticmethod
    def morning_answers(answered_at: datetime, worse: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The COPD questionnaire as the tablet asks it: yes to the questions in ``worse``, no to the rest."""
        return [
            {"question_id": question_id, "answer": "yes" if question_id in worse else "no",
             "answered_at": iso(answered_at)}
            for question_id in disease_area("copd").questionnaire
        ]

    @staticmethod
    def new_upload(measurements: list[dict[str, Any]], upload_id: str | None = None,
                   answers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return {"upload_id": upload_id or str(uuid.uuid4()), "measurements": measurements,
                "answers": list(answers)}

    def send(self, upload: dict[str, Any]) -> ApiReply:
        return call("POST", f"{self.api_url}/v1/measurements", token=self.credential, body=upload)
