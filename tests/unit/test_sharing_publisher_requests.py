"""The sharing topic's messages and requests (functions/cross_sector_sharing/publisher.py): the attributes a
subscriber filters and deduplicates by, and PublishBatch requests within SNS's ten messages and 256 KiB."""

from __future__ import annotations

from functions.cross_sector_sharing.models import BundleMessage
from functions.cross_sector_sharing.publisher import MAX_BUNDLE_BYTES, message_entry, size_of
from functions.shared.batch_requests import requests_of
from functions.shared.sns import PUBLISH_BATCH_BYTES
from tests.support.organisations import MONITORING, TREATING


def message(n: int, body_bytes: int = 100, part: int = 1, parts: int = 1) -> BundleMessage:
    return BundleMessage(event_id=f"evt_{n}", bundle_id=f"bundle-{n}-{part}", body="x" * body_bytes,
                         recipients=(TREATING, MONITORING), part=part, parts=parts, observations=1)


def test_a_message_carries_its_recipients_as_a_string_array_and_its_ids_as_attributes():
    entry = message_entry(message(1, part=2, parts=3))
    assert entry["Message"] == "x" * 100
    assert entry["MessageAttributes"] == {
        "recipients": {"DataType": "String.Array", "StringValue": f'["{TREATING}","{MONITORING}"]'},
        "message_type": {"DataType": "String", "StringValue": "telehub.sharing.bundle"},
        "schema_version": {"DataType": "Number", "StringValue": "1"},
        "bundle_id": {"DataType": "String", "StringValue": "bundle-1-2"},
        "event_id": {"DataType": "String", "StringValue": "evt_1"},
        "bundle_part": {"DataType": "Number", "StringValue": "2"},
        "bundle_parts": {"DataType": "Number", "StringValue": "3"},
    }


def test_a_messages_size_counts_its_body_and_every_attribute_as_sns_does():
    entry = message_entry(message(1, body_bytes=1000))
    attributes = sum(len(name) + len(value["DataType"]) + len(value["StringValue"])
                     for name, value in entry["MessageAttributes"].items())
    assert size_of(entry) == 1000 + attributes
    # And the room left beside the largest Bundle holds the attributes
    assert size_of(message_entry(message(1, body_bytes=MAX_BUNDLE_BYTES))) <= PUBLISH_BATCH_BYTES


def _requests(entries: list[dict]) -> list[range]:
    return list(requests_of([size_of(entry) for entry in entries], PUBLISH_BATCH_BYTES))


def test_small_messages_go_ten_per_request_in_order():
    entries = [message_entry(message(n)) for n in range(23)]
    requests = _requests(entries)
    assert [len(request) for request in requests] == [10, 10, 3]
    assert [position for request in requests for position in request] == list(range(23))


def test_large_messages_go_as_many_per_request_as_fit_in_256_kib():
    # Given messages of 100 KiB each (a Bundle of about 25 blood pressures)
    entries = [message_entry(message(n, body_bytes=100 * 1024)) for n in range(5)]
    # Then two fit in a request, never three
    requests = _requests(entries)
    assert [len(request) for request in requests] == [2, 2, 1]
    assert all(sum(size_of(entries[position]) for position in request) <= PUBLISH_BATCH_BYTES
               for request in requests)


def test_a_message_of_the_largest_bundle_goes_alone():
    entries = [message_entry(message(n, body_bytes=MAX_BUNDLE_BYTES)) for n in range(2)]
    assert [len(request) for request in _requests(entries)] == [1, 1]
