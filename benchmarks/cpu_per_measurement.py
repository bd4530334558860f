"""(c) CPU time per measurement to validate and normalise an upload, and to judge it (no AWS, no moto).

A 200-measurement upload (the most one upload may hold) goes through three stages, each timed with
``time.process_time`` over many repetitions:

1. validation: the JSON body into ``UploadRequest`` (types, units, plausible ranges, blood pressure);
2. the upload logic: ``UploadService.accept`` with an in-memory repository (time window, canonical
   hash, normalisation to catalogue units, the stored item);
3. the whole API route: the upload function's resolver with the same in-memory repository, i.e.
   Powertools' routing and request validation, the role check, the logic and the reply.

Stage 3 includes 1 and 2; it is what the API function spends on CPU before and after its one
DynamoDB write.

Then the evaluation: a 20-measurement COPD upload (weight and CAT score judged by their relative limits,
blood pressures, one RED SpO2) judged by the evaluator's logic against an episode with 90 days and with a
year of history at the schedule's rate (benchmarks/episode_history.py: in-memory ports, no AWS), and by
the whole consumer (the batch processor parsing the SQS record, then the logic) with a year. Each figure
is the median of repeated runs of ``time.process_time``.

Last, the sharing of that upload's "upload evaluated" event (as the evaluator wrote it): the FHIR Bundle
built and serialised (functions/cross_sector_sharing/fhir.py), and the whole sharing publisher (the batch
processor parsing the SQS record, the agreed types, the decision, the Bundle, the SNS message) with
in-memory ports, per measurement shared.
"""

from __future__ import annotations

import gc
import hashlib
import json
import statistics
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any
from unittest import mock

from benchmarks.episode_history import (
    MONITORING,
    NOW,
    TREATING,
    EpisodeStore,
    NoMetrics,
    OneEpisode,
    accepted_upload,
    episode_with_history,
    queue_message,
)
from benchmarks.report import Figure, heading, show
from benchmarks.sample import api_event, copd_measurements, upload_of
from embedded.lambda_runtime import LambdaContext
from embedded.pollers import sqs_record
from functions.alarm_evaluation import handler as evaluation_handler
from functions.alarm_evaluation.logic import AlarmEvaluator
from functions.alarm_evaluation.models import Commit, UploadAccepted
from functions.cross_sector_sharing import handler as sharing_handler
from functions.cross_sector_sharing.fhir import bundle_json, bundles_of
from functions.cross_sector_sharing.logic import BundlePublisher, SharingState
from functions.cross_sector_sharing.models import UploadEvaluated
from functions.cross_sector_sharing.publisher import MAX_BUNDLE_BYTES
from functions.device_uploads import handler
from functions.device_uploads.logic import UploadService
from functions.device_uploads.models import MAX_MEASUREMENTS, StoredUpload, UploadingDevice, UploadRequest
from functions.shared.catalogue import catalogue
from functions.shared.citizen_records import ConsentSource, ConsentStatus, SharingConsent
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.observability import logger
from functions.shared.principal import Principal, Role
from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES

BUDGET_MICROSECONDS = 50.0  # per measurement through the whole route: 10 ms of CPU for a full upload
# Per measurement judged: 10 ms of CPU for a 20-measurement upload, about 30 ms on Lambda, no more than
# the evaluation's own round trips to DynamoDB take.
EVALUATION_BUDGET_MICROSECONDS = 500.0
EVALUATED_MEASUREMENTS = 20
HISTORY_DAYS = (90, 365)
REPEATS = 5
REPEAT_SECONDS = 0.2  # of CPU, at least, per repeat
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:telehub-bench-measurements"
EVALUATED_QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:telehub-bench-evaluated-uploads"
CPR = "2512489996"  # a test citizen (DESIGN §5)


class DiscardingRepository:
    """Stores nothing and never finds anything: every upload is new, memory stays flat."""

    def put_new(self, upload: StoredUpload) -> StoredUpload | None:
        return None

    def get(self, device_id: str, upload_id: str) -> StoredUpload | None:
        return None


class NoOpenEpisodes:
    """Never asked: the benchmark's uploads hold measurements only."""

    def open_disease_areas(self, patient_id: str) -> frozenset[str]:
        return frozenset()


def cpu_seconds_per_call(work: Callable[[], Any]) -> float:
    """CPU seconds of one call of ``work``: the median of REPEATS runs, each repeating it until at least
    REPEAT_SECONDS of CPU were spent."""
    work()  # warm-up: lazy imports, pydantic's first-use setup
    per_call = []
    for _ in range(REPEATS):
        calls, started = 0, time.process_time()
        while (spent := time.process_time() - started) < REPEAT_SECONDS:
            work()
            calls += 1
        per_call.append(spent / calls)
    return statistics.median(per_call)


def _context(function: str) -> LambdaContext:
    return LambdaContext(function_name=f"telehub-bench-{function}", memory_limit_in_mb=512,
                         invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:bench",
                         timeout_seconds=10)


def run() -> list[Figure]:
    logger.setLevel("WARNING")  # the functions log a line per upload; the benchmark wants none
    # What earlier benchmarks left in this process (moto's state) is no function's heap: the garbage
    # collector's full passes would scan it, so it is kept out of them while the timings run.
    gc.collect()
    gc.freeze()
    try:
        heading(f"(c) CPU time per measurement, an upload of {MAX_MEASUREMENTS} measurements, no AWS")
        figures = ingest_figures()
        ingest_route = figures[-1].value
        heading(f"(c) CPU time per measurement judged, an upload of {EVALUATED_MEASUREMENTS} COPD "
                "measurements, no AWS")
        figures += evaluation_figures(ingest_route)
        heading(f"(c) CPU time per measurement shared, the evaluated event of the {EVALUATED_MEASUREMENTS}-"
                "measurement upload, no AWS")
        return figures + sharing_figures(ingest_route)
    finally:
        gc.unfreeze()


def ingest_figures() -> list[Figure]:
    """Validation, the upload logic and the whole API route; the last figure is the route's."""
    body = json.dumps(upload_of(MAX_MEASUREMENTS, "bench-cpu-upload-0001"))
    request = UploadRequest.model_validate_json(body)
    service = UploadService(DiscardingRepository(), NoOpenEpisodes(), NoMetrics())
    device_id, patient_id = "dev_" + "0" * 24, "pat_" + "0" * 24
    uploader = UploadingDevice(device_id, patient_id, frozenset(catalogue()))  # registered for every type
    device = Principal(role=Role.DEVICE, subject=device_id, device_id=device_id, patient_id=patient_id,
                       measurement_types=tuple(sorted(uploader.measurement_types)))
    context = _context("device-uploads")
    event = api_event("POST", "/v1/measurements", body, {**device.context(), "principalId": device_id})

    def whole_route() -> None:
        reply = handler.api_handler(event, context)
        assert reply["statusCode"] == 202, reply

    stages = [
        ("validation (JSON -> UploadRequest)", lambda: UploadRequest.model_validate_json(body), None),
        ("upload logic (window, hash, normalise)", lambda: service.accept(uploader, request),
         None),
        ("whole API route (resolver, validation, logic, reply)", whole_route, BUDGET_MICROSECONDS),
    ]
    figures = []
    with mock.patch.object(handler, "_upload_service", lambda: service), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics")  # the fake service records none
        for name, work, budget in stages:
            microseconds = cpu_seconds_per_call(work) / MAX_MEASUREMENTS * 1e6
            figures.append(show(Figure(f"CPU per measurement, {name}", microseconds, " us", budget)))
    return figures


def evaluation_figures(ingest_route_microseconds: float) -> list[Figure]:
    """The evaluator's logic against 90 days and a year of history, the whole consumer against a year,
    and the ratio of the year's logic to the ingest route's CPU per measurement."""
    body = queue_message("bench-evaluated-0001", copd_measurements(EVALUATED_MEASUREMENTS, NOW, red=True),
                         NOW + timedelta(minutes=2))
    upload = UploadAccepted.model_validate_json(body).upload()
    figures = []
    evaluator: AlarmEvaluator | None = None
    for days in HISTORY_DAYS:
        history = episode_with_history(days)
        evaluator = history.evaluator
        stored = len(history.readings)
        print(f"  an episode of {days} days at the COPD schedule's rate: {stored} readings stored")
        seconds = cpu_seconds_per_call(partial(evaluator.evaluate, upload))
        microseconds = seconds / EVALUATED_MEASUREMENTS * 1e6
        figures.append(show(Figure(f"CPU per measurement judged, logic, {days} days of history", microseconds,
                                   " us", EVALUATION_BUDGET_MICROSECONDS)))
    assert evaluator is not None
    year = figures[-1].value
    sent = str(int(NOW.timestamp() * 1000))
    message = {"MessageId": "bench-message-0001", "ReceiptHandle": "bench", "Body": body,
               "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
               "Attributes": {"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": sent,
                              "SenderId": "bench", "SentTimestamp": sent}}
    event = {"Records": [sqs_record(message, QUEUE_ARN, "eu-west-1")]}
    context = _context("alarm-evaluation")

    def whole_consumer() -> None:
        reply = evaluation_handler.measurements_handler(event, context)
        assert reply == {"batchItemFailures": []}, reply

    with mock.patch.object(evaluation_handler, "_evaluator", lambda: evaluator), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics")  # the fake ports record none
        microseconds = cpu_seconds_per_call(whole_consumer) / EVALUATED_MEASUREMENTS * 1e6
    figures.append(show(Figure(f"CPU per measurement judged, whole consumer, {HISTORY_DAYS[-1]} days",
                               microseconds, " us")))
    figures.append(show(Figure(f"  logic with {HISTORY_DAYS[-1]} days / ingest route, per measurement",
                               year / ingest_route_microseconds, "x")))
    return figures


class EventCapturingStore(EpisodeStore):
    """The evaluation store that also keeps each "upload evaluated" event its commits write."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def commit(self, commit: Commit) -> bool:
        if commit.event is not None:
            self.events.append(commit.event.text())
        return super().commit(commit)


class StillSharing:
    """The sharing state of the benchmark's episode: its organisations, the citizen's consent and CPR."""

    def __init__(self, event: UploadEvaluated) -> None:
        relations = EpisodeRelations(event.episode_id, event.patient_id, "copd", EpisodeStatus.ACTIVE, NOW,
                                     TREATING, MONITORING, None)
        consent = SharingConsent("cns_bench", ConsentStatus.GRANTED, "2026-11-01T08:00:00.000Z", TREATING,
                                 ConsentSource.REFERRAL)
        self._state = SharingState({event.episode_id: relations}, {event.patient_id: consent},
                                   {event.patient_id: CPR})

    def state(self, episode_ids: Any, patient_ids: Any) -> SharingState:
        return self._state


class DiscardingTopic:
    def publish(self, messages: Any) -> set[int]:
        return set()


def evaluated_event() -> str:
    """The event the evaluator writes for the 20-measurement COPD upload, under an episode with 90 days."""
    history = episode_with_history(HISTORY_DAYS[0])
    store = EventCapturingStore()
    evaluator = AlarmEvaluator(OneEpisode(history.episode), store, NoMetrics(), lambda: NOW)
    measurements = copd_measurements(EVALUATED_MEASUREMENTS, NOW, red=True)
    evaluator.evaluate(accepted_upload("bench-shared-0001", measurements, NOW + timedelta(minutes=2)))
    (body,) = store.events
    return body


def sharing_figures(ingest_route_microseconds: float) -> list[Figure]:
    body = evaluated_event()
    event = UploadEvaluated.model_validate_json(body)
    shared = len(event.measurements)

    def bundle() -> None:
        body = event.as_body()
        for part in bundles_of(body, cpr=CPR, device_id=event.device_id, max_bytes=MAX_BUNDLE_BYTES):
            bundle_json(part)

    publisher = BundlePublisher(StillSharing(event), DiscardingTopic(),
                                frozenset(COPD_SHARED_MEASUREMENT_TYPES), MAX_BUNDLE_BYTES, NoMetrics())
    sent = str(int(NOW.timestamp() * 1000))
    message = {"MessageId": "bench-evaluated-0001", "ReceiptHandle": "bench", "Body": body,
               "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
               "Attributes": {"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": sent,
                              "SenderId": "bench", "SentTimestamp": sent}}
    records = {"Records": [sqs_record(message, EVALUATED_QUEUE_ARN, "eu-west-1")]}
    context = _context("sharing-publisher")

    def whole_publisher() -> None:
        reply = sharing_handler.publisher_handler(records, context)
        assert reply == {"batchItemFailures": []}, reply

    print(f"  the event holds {shared} measurements, judged under the episode's thresholds")
    figures = [show(Figure("CPU per measurement shared, Bundle built and serialised",
                           cpu_seconds_per_call(bundle) / shared * 1e6, " us"))]
    with mock.patch.object(sharing_handler, "_publisher", lambda: publisher), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics")  # the fake ports record none
        microseconds = cpu_seconds_per_call(whole_publisher) / shared * 1e6
    figures.append(show(Figure("CPU per measurement shared, whole sharing publisher", microseconds, " us")))
    figures.append(show(Figure("  whole sharing publisher / ingest route, per measurement",
                               microseconds / ingest_route_microseconds, "x")))
    return figures


if __name__ == "__main__":
    run()
