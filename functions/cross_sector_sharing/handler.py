"""Entry point of the sharing publisher (``publisher_handler``): each "upload evaluated" event on the
evaluated-uploads queue published once to the sharing topic as a FHIR Bundle, to the organisations that may
receive it now. The sharing API's routes are in api.py."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from functions.cross_sector_sharing.logic import BundlePublisher
from functions.cross_sector_sharing.models import EvaluatedUploadRecord
from functions.cross_sector_sharing.publisher import MAX_BUNDLE_BYTES, SnsBundleTopic
from functions.cross_sector_sharing.repository import DynamoSharingDirectory
from functions.cross_sector_sharing.settings import PublisherSettings
from functions.shared.observability import logger, metrics
from functions.shared.profile_sealing import KmsProfileSealer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures


@logger.inject_lambda_context
@metrics.log_metrics
def publisher_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Publish the batch's events together (one read of the sharing state, as few PublishBatch requests as
    fit); report the messages not published: unreadable ones (the batch processor's parse), and those whose
    episode or citizen was not found or whose Bundle SNS did not take, for SQS to redeliver and in the end
    move to the DLQ."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    parsed: list[EvaluatedUploadRecord] = []

    def collect(record: EvaluatedUploadRecord) -> None:
        parsed.append(record)

    unreadable = process_partial_response(event=event, record_handler=collect, processor=_processor(),
                                          context=context)["batchItemFailures"]
    not_published = _publisher().publish([(record.messageId, record.body) for record in parsed])
    failed: list[PartialItemFailures] = [{"itemIdentifier": record.messageId} for record in parsed
                                         if record.messageId in not_published]
    return {"batchItemFailures": [*unreadable, *failed]}


@cache
def _processor() -> Any:
    """Each record parsed as an EvaluatedUploadRecord; every unreadable message reported, even all of them."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, model=EvaluatedUploadRecord,
                          raise_on_entire_batch_failure=False)


@cache
def _publisher() -> BundlePublisher:
    settings = PublisherSettings.from_environment()
    return BundlePublisher(DynamoSharingDirectory(settings.citizens_table_name, settings.episodes_table_name,
                                                  KmsProfileSealer(settings.citizen_profile_key_id)),
                           SnsBundleTopic(settings.sharing_topic_arn), settings.shared_measurement_types,
                           MAX_BUNDLE_BYTES, metrics)
