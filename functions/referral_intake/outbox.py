"""The episodes' stream side: each stored order handed on to the logistics-orders queue (the relay),
and the recovery's view of the episode outbox for the stream batches it gave up on.

No event shapes and no boto3 here: the publisher, the metrics recorder and the orders by hour are
injected, so the relay and its recovery are tested with in-memory fakes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from functions.shared.clock import iso_utc
from functions.shared.episode_records import ORDER_PREFIX
from functions.shared.outbox import StreamRelay
from functions.shared.stream_recovery import OutboxOfTable, hours_between

# What of an ORDER item the queue message is made of: the body (written when the order was made)
# and the attributes a logistics centre's consumer filters on.
ORDER_MESSAGE_FIELDS = ("message", "order_id", "kind", "logistics_centre")


def order_message(item: dict[str, Any]) -> dict[str, Any]:
    """The stored order's message and attributes; KeyError for an item that is no order."""
    return {name: item[name] for name in ORDER_MESSAGE_FIELDS}


class OrderRelay(StreamRelay[dict[str, Any]]):
    """Every ORDER item the stream (or the recovery) brings becomes one message on the logistics-orders
    queue; the outbox's event source passes only ORDER items on, so any other item fails."""

    what = "order"
    relayed_metric = "OrdersRelayed"
    not_relayed_metric = "OrdersNotRelayed"

    def message_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return order_message(item)


# --- recovery: the stream batches the outbox gave up on (functions.shared.stream_recovery) -------------


class OrdersByHour(Protocol):
    def ordered_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """ORDER items of ``hour`` (``hour_of`` form) ordered between two ``iso_utc`` instants."""


def order_outbox(relay: OrderRelay, orders: OrdersByHour, episodes_table_name: str) -> OutboxOfTable:
    """The episode outbox as the shared recovery sees it: of the range's inserts only the ORDER items
    (the stream carries every item of the table), relayed through the outbox's own OrderRelay; once
    the stream is trimmed, the episodes table's index by ordered hour gives them, named by order id."""

    def ordered_between(since: datetime, until: datetime) -> list[tuple[str, dict[str, Any]]]:
        return [
            (item["order_id"], item)
            for hour in hours_between(since, until)
            for item in orders.ordered_in_hour(hour, iso_utc(since), iso_utc(until))
        ]

    return OutboxOfTable(
        table_name=episodes_table_name,
        relay=relay.relay,
        written_between=ordered_between,
        metric_prefix="OrderOutbox",
        relays_item=lambda item: str(item.get("sk", "")).startswith(ORDER_PREFIX),
    )
