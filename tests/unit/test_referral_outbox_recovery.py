"""The episode outbox's parts for the shared stream recovery (outbox.order_outbox), and the ORDER item's
attributes for the episodes table's index by ordered hour, with fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.referral_intake.models import Order
from functions.referral_intake.outbox import OrderRelay, order_outbox
from functions.referral_intake.repository import order_item
from functions.shared.hour_shards import shard_of
from functions.shared.stream_recovery import StreamBatchFailure, StreamBatchRecovery, StreamRecord
from tests.support.fakes import FakeOrdersByHour, FakePublisher, RecordedMetrics
from tests.support.streams import FIRST, FakeShards, sample_record

TABLE = "telehub-dev-episodes"


def stored(order_id: str, ordered_at: datetime) -> dict[str, Any]:
    """The ORDER item as a stream's NEW_IMAGE gives it (deserialised)."""
    body = {"order_id": order_id, "ordered_at": ordered_at.isoformat()}
    item = order_item(Order(order_id, "deliver", "epi_1", "345678901234567", body))
    return {name: value["S"] for name, value in item.items()}


def test_an_order_item_carries_its_ordered_hour_and_instant_for_the_index():
    # When an order made at 09:12:07.5 UTC becomes its item
    item = stored("ord_1", datetime(2024, 5, 1, 9, 12, 7, 500000, tzinfo=UTC))
    # Then the index attributes are its UTC hour (with the order's shard) and instant in the text form the
    # recovery queries by
    assert (item["ordered_hour"], item["ordered_at"]) == (f"2024-05-01T09#{shard_of('ord_1')}",
                                                          "2024-05-01T09:12:07.500Z")
    assert json.loads(item["message"])["order_id"] == "ord_1"


def test_only_the_order_items_of_a_range_are_relayed():
    # Given a range holding the referral's episode item and its order item
    record = sample_record("referral_intake")
    failure = StreamBatchFailure.model_validate(record)
    order = stored("ord_1", datetime(2024, 5, 1, 9, 12, 7, tzinfo=UTC))
    episode = {"pk": "EPISODE#epi_1", "sk": "META"}
    shards = FakeShards([StreamRecord(str(FIRST), "INSERT", episode),
                         StreamRecord(str(FIRST + 1), "INSERT", order)])
    batch = failure.batch.model_copy(update={"start_sequence_number": str(FIRST),
                                             "end_sequence_number": str(FIRST + 1)})
    queue, metrics = FakePublisher(), RecordedMetrics()
    # When recovered
    outbox = order_outbox(OrderRelay(queue, metrics), FakeOrdersByHour([]), TABLE)
    StreamBatchRecovery(shards, outbox, metrics).recover(failure.model_copy(update={"batch": batch}))
    # Then only the order was sent, and the order outbox's metric counts the batch
    assert [o["order_id"] for o in queue.sent] == ["ord_1"]
    assert metrics.values == {"OrdersRelayed": 1, "OrdersNotRelayed": 0, "OrderOutboxBatchesRecovered": 1}


def test_a_trimmed_range_is_read_from_the_index_by_ordered_hour():
    # Given the stream trimmed, an order of the batch's minute and one of an hour later
    orders = FakeOrdersByHour([stored("ord_1", datetime(2024, 5, 1, 9, 12, 7, tzinfo=UTC)),
                               stored("ord_2", datetime(2024, 5, 1, 10, 12, 7, tzinfo=UTC))])
    queue, metrics = FakePublisher(), RecordedMetrics()
    failure = StreamBatchFailure.model_validate(sample_record("referral_intake"))
    # When recovered
    outbox = order_outbox(OrderRelay(queue, metrics), orders, TABLE)
    StreamBatchRecovery(FakeShards([], gone=True), outbox, metrics).recover(failure)
    # Then the index was asked for the batch's hour with the margin, and only the first order sent
    assert orders.asked == [("2024-05-01T09", "2024-05-01T09:11:07.000Z", "2024-05-01T09:13:07.000Z")]
    assert [o["order_id"] for o in queue.sent] == ["ord_1"]
    assert metrics.values["OrderOutboxBatchesRecoveredFromTable"] == 1
