"""End to end in the embedded mode: a tiny run of the load benchmark (benchmarks/load.py) with throttles, lost
replies and a crashing consumer: every upload a tablet got a 202 for is stored, queued, evaluated and handed
on exactly once after the system drains, and every poller is still running. Speed is the benchmark's
business, not this test's."""

from __future__ import annotations

import pytest

from benchmarks.load import LoadPlan, run_load
from embedded.faults import FaultPlan
from embedded.local import LocalSystem

pytestmark = pytest.mark.e2e

TINY = LoadPlan(
    tablets=2, seconds=3, pause_seconds=0.3, storm_tablets=2, backlog=3,
    impatient_fraction=0.2,  # some first attempts time out, so that their retries meet a stored upload
    # throttled attempts are retried by botocore (each retry throttled again would hold up the process);
    # half the writes lose their reply, so that the evaluator's transaction is sent again: the retry once
    # cut the evaluations table's stream off from its outboxes (embedded/moto_transactions.py)
    faults=FaultPlan(throttled_fraction=0.1, throttled_again=0.0, lost_replies=0.5, crash_every=2),
    drain_seconds=120,  # a tiny run drains in seconds; a stall fails sooner than the benchmark's 5 minutes
    first_citizen=0,  # test citizens 1704489000.. (this module's only)
)


def test_a_tiny_load_with_throttles_lost_replies_and_a_crash_loses_and_duplicates_nothing(
    local_system: LocalSystem,
) -> None:
    # Given tablets online, tablets reconnecting with a backlog, a tenth of the functions' DynamoDB and SQS
    # calls throttled, half their DynamoDB writes applied with the reply lost, and the evaluator crashing
    # half-way through every other batch
    # When they upload for a few seconds and the system drains
    result = run_load(local_system, TINY)

    # Then the faults happened
    assert sum(result.faults.throttled.values()) > 0
    assert result.faults.lost_replies["dynamodb.TransactWriteItems"] > 0
    assert result.faults.crashed_batches > 0
    # and every upload was accepted in the end, the storm's included
    assert len(result.stats.latencies["storm"]) == TINY.storm_tablets * TINY.backlog
    assert not result.stats.refused and result.stats.gave_up == 0
    # and none of them is missing or found twice in the tables, their streams or the queues
    assert result.verdict.lost == {}
    assert result.verdict.duplicated == {}
    assert result.verdict.stored_without_202 == 0
    # and every poller outlived the faults
    assert result.stopped_pollers == []
    # while the crashed batches came back to the evaluator
    assert result.verdict.redelivered["measurements"] > 0
