"""The partition key of an index by the hour items were written, write-sharded.

The outboxes' recoveries find the items written in a time window by keys-only indexes whose partition
is the hour (uploads ``by-received-hour``, evaluations ``by-evaluated-hour``, episodes ``by-ordered-hour``).
With one partition key value per hour every write of the hour would land in one index partition, which
takes at most 1,000 writes a second; beyond that DynamoDB throttles the index, and through it the
table's writes. So each hour is ``HOUR_SHARDS`` partition key values, ``<hour>#<shard>``, the shard a
stable hash of the item's id: an hour's writes spread evenly over them, and a reader of an hour
queries every one (docs/scaling.md, "Hot keys: the indexes by hour").
"""

from __future__ import annotations

import hashlib

# 16 partitions of 1,000 writes a second each: an hour takes 16,000 writes a second, and a recovery
# reading it back makes 16 Queries per hour of its window.
HOUR_SHARDS = 16


def shard_of(item_id: str) -> int:
    """0 to HOUR_SHARDS - 1, the same for an id in every process and release: a SHA-256 of the id, not
    Python's ``hash``, which is salted per process."""
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") % HOUR_SHARDS


def sharded_hour(hour: str, item_id: str) -> str:
    """2024-05-01T08#11: the index partition key of the item ``item_id`` written in ``hour``
    (``clock.hour_of`` form)."""
    return f"{hour}#{shard_of(item_id)}"


def hour_partitions(hour: str) -> tuple[str, ...]:
    """Every partition key value of ``hour`` in the index: the ones a reader of the hour queries."""
    return tuple(f"{hour}#{shard}" for shard in range(HOUR_SHARDS))

