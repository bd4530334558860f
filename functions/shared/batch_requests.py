"""How messages are grouped into SendMessageBatch and PublishBatch requests: in order, at most ten to a
request, and at most as many bytes as the service takes in one request.

Pure: the limits are the adapters' (``functions.shared.sqs``, ``functions.shared.sns``), and the
outboxes and the sharing publisher group their messages with ``requests_of``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

BATCH_ENTRIES = 10  # messages per request, SQS's SendMessageBatch and SNS's PublishBatch alike


def message_bytes(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """The bytes SQS and SNS count of a message against a request's limit: its body, and each
    attribute's name, data type and value (UTF-8)."""
    return len(body.encode()) + sum(
        len(name.encode()) + len(attribute["DataType"].encode()) + len(attribute["StringValue"].encode())
        for name, attribute in attributes.items())


def requests_of(sizes: Sequence[int], limit_bytes: int) -> Iterator[range]:
    """The positions of messages of these sizes, in order, in requests of at most ``BATCH_ENTRIES``
    messages and ``limit_bytes`` bytes. A message larger than the limit goes alone: the service
    refuses it, and that refusal is its own, not its neighbours'."""
    start, total = 0, 0
    for position, size in enumerate(sizes):
        if position > start and (position - start == BATCH_ENTRIES or total + size > limit_bytes):
            yield range(start, position)
            start, total = position, 0
        total += size
    if start < len(sizes):
        yield range(start, len(sizes))
