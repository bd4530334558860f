"""The uploads' stream side: each stored upload handed on as one queue message (the relay), and the
recovery's view of the uploads outbox for the stream batches it gave up on.

No event shapes and no boto3 here: the publisher, the metrics recorder and the uploads by arrival
are injected, so the relay and its recovery are tested with in-memory fakes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from functions.device_uploads.models import StoredUpload
from functions.shared.clock import iso_utc
from functions.shared.outbox import StreamRelay
from functions.shared.stream_recovery import OutboxOfTable, hours_between

MESSAGE_TYPE = "telehub.upload.accepted"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class OutboundMessage:
    dedupe_key: str
    body: str
    attributes: dict[str, str | int]


def dedupe_key(device_id: str, upload_id: str) -> str:
    """Unique per upload ('/' is not allowed in an upload_id): consumers skip a key they have seen."""
    return f"{device_id}/{upload_id}"


def upload_message(upload: StoredUpload) -> OutboundMessage:
    key = dedupe_key(upload.device_id, upload.upload_id)
    body = {
        "message_type": MESSAGE_TYPE,
        "schema_version": SCHEMA_VERSION,
        "dedupe_key": key,
        "upload_id": upload.upload_id,
        "device_id": upload.device_id,
        "patient_id": upload.patient_id,
        "received_at": upload.received_at,
        "measurements": upload.measurements,
        "answers": upload.answers,
    }
    return OutboundMessage(
        dedupe_key=key,
        body=json.dumps(body, default=_json_number, separators=(",", ":")),
        attributes={"message_type": MESSAGE_TYPE, "schema_version": SCHEMA_VERSION, "dedupe_key": key},
    )


def _json_number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class UploadRelay(StreamRelay[OutboundMessage]):
    """Every upload item the stream (or the recovery) brings becomes one message on the measurements queue."""

    what = "upload"
    relayed_metric = "UploadsRelayed"
    not_relayed_metric = "UploadsNotRelayed"

    def message_of(self, item: dict[str, Any]) -> OutboundMessage:
        return upload_message(StoredUpload.from_item(item))


# --- recovery: the stream batches the outbox gave up on (functions.shared.stream_recovery) -------------


class UploadsByArrival(Protocol):
    def received_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """Upload items received in ``hour`` (``received_hour`` form) between two ``iso_utc`` instants."""


def upload_outbox(relay: UploadRelay, uploads: UploadsByArrival, uploads_table_name: str) -> OutboxOfTable:
    """The uploads outbox as the shared recovery sees it: every upload item is relayed through the
    outbox's own UploadRelay; once the stream is trimmed, the uploads table's arrival index
    (``by-received-hour``) gives the uploads received during the batch, named by their dedupe key."""

    def received_between(since: datetime, until: datetime) -> list[tuple[str, dict[str, Any]]]:
        return [
            (dedupe_key(item["device_id"], item["upload_id"]), item)
            for hour in hours_between(since, until)
            for item in uploads.received_in_hour(hour, iso_utc(since), iso_utc(until))
        ]

    return OutboxOfTable(
        table_name=uploads_table_name,
        relay=relay.relay,
        written_between=received_between,
        metric_prefix="UploadOutbox",
    )
