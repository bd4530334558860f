"""Entry points: the upload API (``api_handler``), the upload outbox (``outbox_handler``) and the
recovery of the stream batches the outbox gave up on (``outbox_recovery_handler``)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths

from functions.device_uploads.logic import UploadService
from functions.device_uploads.models import (
    LATE_AFTER,
    MAX_AGE,
    MAX_AHEAD,
    MAX_ANSWERS,
    MAX_MEASUREMENTS,
    UploadingDevice,
    UploadReceipt,
    UploadRequest,
)
from functions.device_uploads.outbox import UploadRelay, upload_outbox
from functions.device_uploads.publisher import SqsUploadPublisher
from functions.device_uploads.repository import DynamoDbOpenDiseaseAreas, DynamoDbUploadRepository
from functions.device_uploads.settings import OutboxRecoverySettings, OutboxSettings, UploadApiSettings
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.errors import Forbidden
from functions.shared.observability import logger, metrics
from functions.shared.outbox import relay_stream_inserts
from functions.shared.stream_recovery import StreamBatchRecovery, recover_each
from functions.shared.stream_shards import DynamoDbStreamShards

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

# 200 measurements, pretty-printed, are about 50 KiB (50 answers add 7 KiB); far bigger is not a home
# collection point.
MAX_UPLOAD_BYTES = 128 * 1024

app = build_resolver()


@app.post(
    "/v1/measurements",
    summary="Upload measurements and questionnaire answers (device)",
    description=f"A home collection point uploads up to {MAX_MEASUREMENTS} measurements and up to "
    f"{MAX_ANSWERS} questionnaire answers for its citizen, at least one of either. The device credential "
    "decides the citizen, and the device uploads only the measurement types it was registered for (a 422 "
    "names `measurements[i].type` otherwise; `blood_pressure` is registered as a whole). "
    "Answers must fit the questionnaire of one of the citizen's open episodes of care "
    "(a 422 names the answer otherwise). Retrying with the same upload_id and body returns the same 202, "
    "however long the tablet was offline (uploads are kept, not expired); the same upload_id with a "
    f"different body is a 409. Measurements and answers may be up to {MAX_AGE.days} days old (over "
    f"{LATE_AFTER // timedelta(hours=1)} hours: flagged late) and at most "
    f"{MAX_AHEAD // timedelta(minutes=1)} minutes in the future.",
    responses={
        202: {"description": "Accepted and stored (or a retry of a stored upload: the same reply)",
              "content": {"application/json": {"model": UploadReceipt}}},
        409: {"description": "This upload_id was already received with a different body"},
    },
    tags=["device uploads"],
)
def post_measurements(
    upload: Annotated[UploadRequest, Body()],
    device: Caller,
) -> Response[UploadReceipt]:
    if not (device.device_id and device.patient_id and device.measurement_types):
        raise Forbidden("the device credential names no device, citizen or measurement types")
    uploader = UploadingDevice(device.device_id, device.patient_id, frozenset(device.measurement_types))
    receipt = _upload_service().accept(uploader, upload)
    return Response(202, content_type="application/json", body=receipt)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context, max_body_bytes=MAX_UPLOAD_BYTES)


@logger.inject_lambda_context
@metrics.log_metrics
def outbox_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay each INSERT of the uploads stream as one message; report what was not relayed."""
    return relay_stream_inserts(event, context, _upload_relay().relay)


@logger.inject_lambda_context
@metrics.log_metrics
def outbox_recovery_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay again the uploads of each stream batch named by an on-failure record (SQS message);
    report the messages whose batch was not (yet) fully relayed, for SQS to redeliver."""
    return recover_each(event, context, _outbox_recovery())


@cache
def _upload_service() -> UploadService:
    settings = UploadApiSettings.from_environment()
    return UploadService(DynamoDbUploadRepository(settings.uploads_table_name),
                         DynamoDbOpenDiseaseAreas(settings.episodes_table_name), metrics, clock=utc_now)


@cache
def _upload_relay() -> UploadRelay:
    settings = OutboxSettings.from_environment()
    return UploadRelay(SqsUploadPublisher(settings.measurements_queue_url), metrics)


@cache
def _outbox_recovery() -> StreamBatchRecovery:
    settings = OutboxRecoverySettings.from_environment()
    uploads = DynamoDbUploadRepository(settings.uploads_table_name)
    return StreamBatchRecovery(
        DynamoDbStreamShards(), upload_outbox(_upload_relay(), uploads, settings.uploads_table_name), metrics,
    )
