"""moto's DynamoDB TransactWriteItems made all-or-nothing, as DynamoDB's is, so that a cancelled transaction
leaves a table's stream as it was.

moto (5.2) applies a transaction's writes one after another and, when an item fails its condition, rolls back
by putting in each table's place a deep copy of it taken before the transaction. The copy brings a copy of
the table's stream shard, so every shard iterator handed out before (a stream poller's position, followed
from ``NextShardIterator`` to ``NextShardIterator``) goes on reading the old shard: no new record reaches
it, and it holds the records of the cancelled writes, which DynamoDB never streams. The stream's consumers
then relay nothing more, silently. In the load benchmark (benchmarks/load.py) a cancellation came from a
retry: under heavy machine load a transaction took moto longer than the functions' read timeout (5 s),
botocore sent it again, and the retry failed its conditions on the items the first attempt had written
(moto ignores the ``ClientRequestToken`` that makes DynamoDB answer such a retry as the original).

Installed here, for every backend of the process: a transaction's conditions are all checked first, writing
nothing, and a failed one cancels the transaction as DynamoDB does (nothing written, a reason per item, in
order); only then does moto apply the writes. Transactions run one at a time, so a retry of one still being
applied waits for it, as DynamoDB's isolation would have it. A transaction moto still rolls back (a request
found invalid part-way) keeps the table's stream: the restored table takes the shard back, without the records
of the writes undone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table

TransactWriteItems = Callable[[DynamoDBBackend, list[dict[str, Any]]], None]
Reason = tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]
PASSED: Reason = (None, None, None)
CONDITION_FAILED = "ConditionalCheckFailed"

_one_at_a_time = threading.Lock()
_installing = threading.Lock()
_installed = False  # once a process, by a flag: a wrapper around ours (a probe's) is not wrapped again
_METHOD = "transact_write_items"


def install() -> None:
    """Replace moto's TransactWriteItems with the all-or-nothing one; installing again changes nothing."""
    global _installed
    with _installing:
        if _installed:
            return
        _installed = True
        moto_transaction: TransactWriteItems = getattr(DynamoDBBackend, _METHOD)

        def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
            with _one_at_a_time:
                reasons = [_condition_check(backend, item) for item in transact_items]
                if any(code is not None for code, _, _ in reasons):
                    raise TransactionCanceledException(reasons)
                streams = _streams_of(backend, transact_items)
                try:
                    moto_transaction(backend, transact_items)
                finally:
                    _keep_streams(backend, streams)

        setattr(DynamoDBBackend, _METHOD, transact_write_items)


def _condition_check(backend: DynamoDBBackend, transact_item: dict[str, Any]) -> Reason:
    """Whether the item's condition holds now, as moto would find it part-way through the transaction. An item
    this cannot judge (a malformed request, a missing table) passes here: moto's own answer to it stands."""
    try:
        [(operation, request)] = transact_item.items()
        condition = request.get("ConditionExpression")
        if condition is None:
            return PASSED
        table = backend.get_table(request["TableName"])
        key = request["Key"] if operation != "Put" else _key_of(table, request["Item"])
        current = backend.get_item(table.name, key)
        holds = get_filter_expression(condition, request.get("ExpressionAttributeNames"),
                                      request.get("ExpressionAttributeValues")).expr(current)
    except Exception:  # the request's fault is moto's to report, as it did before
        return PASSED
    if holds:
        return PASSED
    wants_old = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    old = current.to_json()["Attributes"] if current is not None and wants_old else None
    return CONDITION_FAILED, "The conditional request failed", old


def _key_of(table: Table, item: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


@dataclass(frozen=True)
class _StreamBefore:
    table: Table
    shard: StreamShard
    records: int  # how many records the shard held before the transaction


def _streams_of(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> dict[str, _StreamBefore]:
    names = {request.get("TableName") for item in transact_items for request in item.values()
             if isinstance(request, dict)}
    return {name: _StreamBefore(table, table.stream_shard, len(table.stream_shard.items))
            for name, table in backend.tables.items() if name in names and table.stream_shard is not None}


def _keep_streams(backend: DynamoDBBackend, streams: dict[str, _StreamBefore]) -> None:
    """After a rollback (moto put a copy of the table in its place) the copy streams on the original shard."""
    for name, before in streams.items():
        restored = backend.tables.get(name)
        if restored is None or restored is before.table:
            continue
        del before.shard.items[before.records:]
        before.shard.table = restored
        restored.stream_shard = before.shard
