"""Accepting an upload once: the types the device was registered for, the time rules, the late flag,
answers that fit the citizen's questionnaires, the idempotent write.

No event shapes and no boto3 here: the repository, the citizen's open disease areas, the clock and
the metrics recorder are injected, so the rules are tested with in-memory fakes. Handing stored
uploads on is outbox.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions.device_uploads.models import (
    LATE_AFTER,
    MAX_AGE,
    MAX_AHEAD,
    Answer,
    BloodPressureMeasurement,
    SingleValueMeasurement,
    StoredUpload,
    UploadingDevice,
    UploadReceipt,
    UploadRequest,
)
from functions.shared.catalogue import BLOOD_PRESSURE, catalogue, to_catalogue_unit
from functions.shared.clock import Clock, iso_utc, utc_now
from functions.shared.disease_areas import disease_area
from functions.shared.errors import Conflict, FieldProblem, InvalidInput, ServiceUnavailable
from functions.shared.observability import COUNT, MetricsRecorder, logger


class UploadRepository(Protocol):
    def put_new(self, upload: StoredUpload) -> StoredUpload | None:
        """Store ``upload`` unless one with its key exists; return that existing one (then
        nothing was written), or None when ``upload`` was stored."""

    def get(self, device_id: str, upload_id: str) -> StoredUpload | None: ...


class OpenDiseaseAreas(Protocol):
    def open_disease_areas(self, patient_id: str) -> frozenset[str]:
        """The disease areas of the citizen's open (planned or active) episodes of care."""


class UploadService:
    def __init__(self, repository: UploadRepository, open_areas: OpenDiseaseAreas, metrics: MetricsRecorder,
                 clock: Clock = utc_now):
        self._repository = repository
        self._open_areas = open_areas
        self._metrics = metrics
        self._clock = clock

    def accept(self, device: UploadingDevice, request: UploadRequest) -> UploadReceipt:
        """Store the upload with one conditional write, or recognise a retry of a stored one.

        Same key and same body: the stored upload's receipt, nothing written. Same key with a
        different body: 409. The citizen is the device's, never named by the body, and each measurement
        is of a type the device was registered for. The citizen's open disease areas are read only for an
        upload with answers, which must fit their questionnaires.
        """
        device_id, patient_id = device.device_id, device.patient_id
        received_at = self._clock()
        body_hash = canonical_hash(request)
        problems = type_problems(request, device) + time_problems(request, received_at)
        if request.answers:
            problems += answer_problems(request.answers, self._open_areas.open_disease_areas(patient_id))
        if problems:
            # A retry of an upload accepted earlier gets its reply even if its measurements have
            # aged past MAX_AGE since, or an episode whose questionnaire it answered has ended;
            # anything else with such a problem is refused.
            existing = self._stored_or_none(device_id, request.upload_id)
            if existing is not None and existing.body_hash == body_hash:
                return self._duplicate(existing)
            raise InvalidInput("the upload breaks a rule of the device's types, its time window or the "
                               "citizen's questionnaires; see errors", problems)
        upload = StoredUpload(
            device_id=device_id,
            upload_id=request.upload_id,
            patient_id=patient_id,
            received_at=iso_utc(received_at),
            body_hash=body_hash,
            accepted=len(request.measurements),
            measurements=[normalise(measurement, received_at) for measurement in request.measurements],
            answers=[normalise_answer(answer, received_at) for answer in request.answers],
        )
        existing = self._repository.put_new(upload)
        if existing is None:
            late = sum(1 for measurement in upload.measurements if measurement["late"])
            self._metrics.add_metric("UploadsAccepted", COUNT, 1)
            self._metrics.add_metric("MeasurementsAccepted", COUNT, upload.accepted)
            self._metrics.add_metric("LateMeasurementsAccepted", COUNT, late)
            self._metrics.add_metric("AnswersAccepted", COUNT, len(upload.answers))
            logger.info(
                "upload accepted",
                extra={"upload_id": upload.upload_id, "device_id": device_id, "accepted": upload.accepted,
                       "late": late, "answers": len(upload.answers)},
            )
            return upload.receipt()
        if existing.body_hash == body_hash:
            return self._duplicate(existing)
        self._metrics.add_metric("UploadConflicts", COUNT, 1)
        logger.info("upload conflict", extra={"upload_id": request.upload_id, "device_id": device_id})
        raise Conflict(f"upload {request.upload_id} was already received with a different body; "
                       "use a new upload_id for new measurements")

    def _stored_or_none(self, device_id: str, upload_id: str) -> StoredUpload | None:
        try:
            return self._repository.get(device_id, upload_id)
        except ServiceUnavailable:
            # Refusing the input is right either way (if it was stored, nothing is lost), and bad
            # input must never get a 5xx.
            return None

    def _duplicate(self, existing: StoredUpload) -> UploadReceipt:
        self._metrics.add_metric("UploadDuplicates", COUNT, 1)
        logger.info("upload retried",
                    extra={"upload_id": existing.upload_id, "device_id": existing.device_id})
        return existing.receipt()


def canonical_hash(request: UploadRequest) -> str:
    """sha256 of the validated request as canonical JSON: key order, whitespace, 96 vs 96.0 and
    the UTC offset of measured_at do not make a retry look like a different body."""
    validated = request.model_dump(mode="json")
    if not validated["answers"]:
        # Hashed as before uploads had answers, so that a retry of an upload stored then still matches.
        del validated["answers"]
    canonical = json.dumps(validated, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def type_problems(request: UploadRequest, device: UploadingDevice) -> list[FieldProblem]:
    """Each measurement of a type the device was not registered for, by its field."""
    return [FieldProblem(f"measurements[{index}].type", "is not a type this device was registered to measure")
            for index, measurement in enumerate(request.measurements)
            if not device.measures(measurement.type)]


def time_problems(request: UploadRequest, received_at: datetime) -> list[FieldProblem]:
    """Each measured_at and answered_at outside the accepted window, by its field."""
    moments = [(f"measurements[{index}].measured_at", measurement.measured_at)
               for index, measurement in enumerate(request.measurements)]
    moments += [(f"answers[{index}].answered_at", answer.answered_at)
                for index, answer in enumerate(request.answers)]
    problems = []
    for field_path, moment in moments:
        age = received_at - moment
        if age > MAX_AGE:
            problems.append(FieldProblem(field_path, f"is more than {MAX_AGE.days} days old"))
        elif -age > MAX_AHEAD:
            minutes = MAX_AHEAD // timedelta(minutes=1)
            problems.append(FieldProblem(field_path, f"is more than {minutes} minutes in the future"))
    return problems


def answer_problems(answers: Sequence[Answer], open_areas: Collection[str]) -> list[FieldProblem]:
    """Each answer that no questionnaire of the citizen's open disease areas lists, by its field. The
    messages name no disease area: which areas a citizen is monitored for is health data."""
    if not open_areas:
        return [FieldProblem("answers", "cannot be accepted: the citizen has no open episode of care, so "
                                        "there is no questionnaire to answer")]
    questionnaires = [disease_area(area).questionnaire for area in open_areas]
    problems = []
    for index, answer in enumerate(answers):
        listed = [questionnaire[answer.question_id] for questionnaire in questionnaires
                  if answer.question_id in questionnaire]
        if not listed:
            problems.append(FieldProblem(f"answers[{index}].question_id",
                                         "is not a question of the citizen's questionnaires"))
        elif not any(answer.answer in severities for severities in listed):
            problems.append(FieldProblem(f"answers[{index}].answer", "is not an answer the citizen's "
                                         "questionnaires list for this question"))
    return problems


def normalise(measurement: SingleValueMeasurement | BloodPressureMeasurement, received_at: datetime
              ) -> dict[str, Any]:
    """The stored and relayed form: values as Decimal in the catalogue unit, UTC time, late flag."""
    values = [
        {"type": kind, "value": to_catalogue_unit(kind, value, unit), "unit": catalogue()[kind].unit}
        for kind, value, unit in measurement.components()
    ]
    if measurement.type == BLOOD_PRESSURE:
        shape: dict[str, Any] = {"components": values}
    else:
        shape = {"value": values[0]["value"], "unit": values[0]["unit"]}
    return {
        "type": measurement.type,
        **shape,
        "measured_at": iso_utc(measurement.measured_at),
        "method": measurement.method,
        "late": received_at - measurement.measured_at > LATE_AFTER,
    }


def normalise_answer(answer: Answer, received_at: datetime) -> dict[str, Any]:
    """The stored and relayed form of an answer: UTC time, late flag (as for a measurement)."""
    return {
        "question_id": answer.question_id,
        "answer": answer.answer,
        "answered_at": iso_utc(answer.answered_at),
        "late": received_at - answer.answered_at > LATE_AFTER,
    }
