"""How messages are grouped into SendMessageBatch and PublishBatch requests
(functions/shared/batch_requests.py): in order, at most ten and at most the service's bytes to a request,
each message's bytes as SQS and SNS count them."""

from __future__ import annotations

import pytest

from functions.shared.batch_requests import BATCH_ENTRIES, message_bytes, requests_of


def test_a_messages_bytes_are_its_body_and_each_attributes_name_type_and_value_in_utf8():
    attributes = {"dedupe_key": {"DataType": "String", "StringValue": "dev_1/upload-0001"},
                  "schema_version": {"DataType": "Number", "StringValue": "1"}}
    # "æ" is two bytes in UTF-8: the services count bytes, not characters
    assert message_bytes("æble", attributes) == 5 + (10 + 6 + 17) + (14 + 6 + 1)


def test_small_messages_go_ten_to_a_request_in_order():
    requests = list(requests_of([100] * 23, limit_bytes=1_048_576))
    assert [len(request) for request in requests] == [BATCH_ENTRIES, BATCH_ENTRIES, 3]
    assert [position for request in requests for position in request] == list(range(23))


@pytest.mark.parametrize(("sizes", "expected"), [
    ([400, 400, 400], [2, 1]),  # a third would be over the limit
    ([1000, 1], [1, 1]),  # exactly the limit fits
    ([1, 1000, 1], [1, 1, 1]),  # the message that would overflow starts a request of its own
    ([1500, 10, 10], [1, 2]),  # larger than the limit: alone, for the service to refuse it alone
])
def test_a_request_holds_no_more_bytes_than_the_limit(sizes, expected):
    requests = list(requests_of(sizes, limit_bytes=1000))
    assert [len(request) for request in requests] == expected
    assert [position for request in requests for position in request] == list(range(len(sizes)))
    assert all(sum(sizes[p] for p in request) <= 1000 for request in requests if len(request) > 1)


def test_no_messages_make_no_request():
    assert list(requests_of([], limit_bytes=1000)) == []
