"""The write shards of the indexes by hour (functions/shared/hour_shards.py): stable, and spread evenly."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from functions.shared.hour_shards import HOUR_SHARDS, hour_partitions, shard_of, sharded_hour


def test_an_ids_shard_is_the_same_in_every_process():
    # Given ids' shards computed here, and the same ids' shards computed by another Python process (whose
    # string hashing is salted differently)
    ids = [f"dev_{n:024x}/upload-{n}" for n in range(20)]
    script = ("from functions.shared.hour_shards import shard_of; "
              f"print(' '.join(str(shard_of(i)) for i in {ids!r}))")
    elsewhere = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # Then they agree
    assert elsewhere.stdout.split() == [str(shard_of(i)) for i in ids]
    # And known ids keep the shards they had when this was written: a changed hash would hide the items
    # already in the index from the recovery
    assert [shard_of(i) for i in ("evt_0123456789abcdef01234567", "ord_1", "dev_1/upload-0001")] == [5, 8, 11]
    assert sharded_hour("2024-05-01T08", "ord_1") == "2024-05-01T08#8"


def test_ids_spread_evenly_over_every_shard():
    # Given 16,000 ids of the shapes the indexes shard by (upload keys, event ids, order ids)
    ids = [f"dev_{n % 97:024x}/upload-{n}" for n in range(8_000)] + [f"evt_{n:024x}" for n in range(8_000)]
    # When each is given its shard
    counts = Counter(shard_of(i) for i in ids)
    # Then every shard takes a share within 10 % of an even one
    expected = len(ids) / HOUR_SHARDS
    assert set(counts) == set(range(HOUR_SHARDS))
    assert all(0.9 * expected <= count <= 1.1 * expected for count in counts.values()), counts


def test_a_reader_of_an_hour_queries_every_partition_a_writer_of_the_hour_can_use():
    # Given the partitions a reader of 08:00 queries
    partitions = hour_partitions("2024-05-01T08")
    # Then they are HOUR_SHARDS distinct values, and every item written in the hour is in one of them
    assert len(set(partitions)) == HOUR_SHARDS
    assert {sharded_hour("2024-05-01T08", f"evt_{n}") for n in range(1_000)} == set(partitions)
