"""The episode outbox's failure path under moto: a stored referral's delivery order whose stream
batch the outbox gave up on is handed on to the logistics-orders queue by the episode-outbox-recovery
function, from the episodes stream or, once trimmed, from the episodes table by ordered hour."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support.moto_state import Throttle, queued_messages, table_items
from tests.support.referrals_api import refer
from tests.support.runtime import invoke
from tests.support.streams import failure_event, sample_failure_event, whole_stream_failure_record

FEATURE = "referral_intake"  # its events/ folder
POISON = '{"DDBStreamBatchInfo": "truncated'


def _batch_so_far(resources) -> str:
    """The on-failure record of every record of the episodes stream so far (what the test wrote)."""
    return whole_stream_failure_record(FEATURE, resources.tables["episodes"])


def _recover(event: dict[str, Any]) -> dict[str, Any]:
    return invoke("episode-outbox-recovery", event)


def _orders(resources) -> Counter[str]:
    """How often each order is on the logistics-orders queue."""
    messages = queued_messages(resources.queue_urls["logistics-orders"])
    return Counter(message["body"]["order_id"] for message in messages)


def _stored_order_id(resources) -> str:
    items = table_items(resources, "episodes")
    [order_id] = [item["order_id"]["S"] for item in items if item["sk"]["S"].startswith("ORDER#")]
    return order_id


def test_a_stored_referrals_order_is_relayed_once_from_the_stream_range(resources):
    # Given a stored referral (its delivery order never sent) and the on-failure record of its batch
    assert refer()[0] == 201
    event = failure_event(FEATURE, _batch_so_far(resources))
    # When the recovery function handles it
    response = _recover(event)
    # Then it succeeded, and of the range's inserts only the ORDER item became a message, exactly once
    assert response == {"batchItemFailures": []}
    assert _orders(resources) == Counter({_stored_order_id(resources): 1})


def test_a_range_the_stream_no_longer_holds_is_found_by_the_ordered_hour_index(resources, monkeypatch):
    # Given a stored referral, its on-failure record, and the stream trimmed (moto never trims)
    assert refer()[0] == 201
    record = _batch_so_far(resources)

    def trimmed(**request):
        raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                          "GetShardIterator")

    monkeypatch.setattr(aws.client("dynamodbstreams"), "get_shard_iterator", trimmed)
    # When the recovery function handles the record
    response = _recover(failure_event(FEATURE, record))
    # Then the order is read from the episodes table by its ordered hour and relayed once
    assert response == {"batchItemFailures": []}
    assert _orders(resources) == Counter({_stored_order_id(resources): 1})


def test_a_throttled_send_fails_the_message_and_its_redelivery_sends_the_order(resources, monkeypatch):
    # Given a stored referral's on-failure record, and SQS throttling the first send
    assert refer()[0] == 201
    event = failure_event(FEATURE, _batch_so_far(resources))
    throttle = Throttle(monkeypatch, failing_calls={1})
    # When the recovery function handles it, Then the message is a batch item failure (SQS redelivers it)
    assert _recover(event) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert _orders(resources) == Counter()
    # When SQS redelivers it, Then the order is on the queue once
    assert _recover(event) == {"batchItemFailures": []}
    assert throttle.calls == [1, 1]
    assert _orders(resources) == Counter({_stored_order_id(resources): 1})


def test_a_poison_record_fails_alone_and_the_good_one_beside_it_is_recovered(resources):
    # Given an unreadable message beside a good on-failure record
    assert refer()[0] == 201
    event = failure_event(FEATURE, POISON, _batch_so_far(resources))
    # When handled, Then only the poison message fails (for the DLQ and a person), the order is sent
    assert _recover(event) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert _orders(resources) == Counter({_stored_order_id(resources): 1})


def test_a_record_for_another_tables_stream_fails_and_nothing_is_sent(resources):
    # Given the sample record, which names the dev stage's episodes table, not this one
    # When handled, Then it fails, and nothing was relayed
    assert _recover(sample_failure_event(FEATURE)) == {
        "batchItemFailures": [{"itemIdentifier": "7a1c5e3b-9d2f-4b6a-8e0c-3f5d1b7a9c24"}]
    }
    assert _orders(resources) == Counter()
