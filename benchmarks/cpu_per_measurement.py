"""(c) CPU time per measurement to validate and normalise an upload (no AWS, no moto).

A 200-measurement upload (the most one upload may hold) goes through three stages, each timed with
``time.process_time`` over many repetitions:

1. validation: the JSON body into ``UploadRequest`` (types, units, plausible ranges, blood pressure);
2. the upload logic: ``UploadService.accept`` with an in-memory repository (time window, canonical
   hash, normalisation to catalogue units, the stored item);
3. the whole API route: the upload function's resolver with the same in-memory repository, i.e.
   Powertools' routing and request validation, the role check, the logic and the reply.

Stage 3 includes 1 and 2; it is what the API function spends on CPU before and after its one
DynamoDB write.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from typing import Any
from unittest import mock

from benchmarks.report import Figure, heading, show
from benchmarks.sample import api_event, upload_of
from embedded.lambda_runtime import LambdaContext
from functions.device_uploads import handler
from functions.device_uploads.logic import UploadService
from functions.device_uploads.models import MAX_MEASUREMENTS, StoredUpload, UploadRequest
from functions.shared.observability import logger
from functions.shared.principal import Principal, Role

BUDGET_MICROSECONDS = 50.0  # per measurement through the whole route: 10 ms of CPU for a full upload
MINIMUM_SECONDS = 1.0


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


class NoMetrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        pass


def cpu_seconds_per_call(work: Callable[[], Any]) -> float:
    """CPU seconds of one call of ``work``, repeated until at least MINIMUM_SECONDS of CPU were spent."""
    work()  # warm-up: lazy imports, pydantic's first-use setup
    calls, started = 0, time.process_time()
    while (spent := time.process_time() - started) < MINIMUM_SECONDS:
        work()
        calls += 1
    return spent / calls


def run() -> list[Figure]:
    heading(f"(c) CPU time per measurement, an upload of {MAX_MEASUREMENTS} measurements, no AWS")
    body = json.dumps(upload_of(MAX_MEASUREMENTS, "bench-cpu-upload-0001"))
    request = UploadRequest.model_validate_json(body)
    service = UploadService(DiscardingRepository(), NoOpenEpisodes(), NoMetrics())
    device_id, patient_id = "dev_" + "0" * 24, "pat_" + "0" * 24
    device = Principal(role=Role.DEVICE, subject=device_id, device_id=device_id, patient_id=patient_id)
    context = LambdaContext(function_name="telehub-bench-device-uploads", memory_limit_in_mb=512,
                            invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:bench",
                            timeout_seconds=10)
    event = api_event("POST", "/v1/measurements", body, {**device.context(), "principalId": device_id})
    logger.setLevel("WARNING")  # the route logs one line per upload; the benchmark wants none

    def whole_route() -> None:
        reply = handler.api_handler(event, context)
        assert reply["statusCode"] == 202, reply

    stages = [
        ("validation (JSON -> UploadRequest)", lambda: UploadRequest.model_validate_json(body), None),
        ("upload logic (window, hash, normalise)", lambda: service.accept(device_id, patient_id, request),
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


if __name__ == "__main__":
    run()
