"""The access log's contract (functions.shared.access_log.AccessLog), for the fake and for
DynamoAccessLog under moto: every read is one entry, however many come in the same instant or in one
list; entries DynamoDB leaves unprocessed are written again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from functions.shared import aws
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_log_store import DynamoAccessLog
from functions.shared.errors import ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeAccessLog
from tests.support.moto_state import table_items
from tests.support.organisations import TREATING

AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
DOCTOR = Principal(role=Role.CLINICIAN, subject="doc-1", organisation=TREATING)
Entry = tuple[str, str | None, str, str]  # patient, organisation, action, episode


@dataclass
class Log:
    access_log: AccessLog
    entries: Callable[[], list[Entry]]


@pytest.fixture(params=[FAKE, REAL])
def log(request) -> Log:
    if request.param == FAKE:
        fake = FakeAccessLog()
        return Log(fake, lambda: sorted(fake.entries))
    names = request.getfixturevalue("moto_resources")

    def stored() -> list[Entry]:
        return sorted((item["patient_id"]["S"], item["organisation"]["S"], item["action"]["S"],
                       item["episode_id"]["S"]) for item in table_items(names, "access-log"))

    return Log(DynamoAccessLog(names.tables["access-log"]), stored)


def test_every_read_is_one_entry_even_in_the_same_instant(log):
    # When the same clinician reads two episodes of a citizen, one of them twice, in the same instant
    for episode_id in ("epi_1", "epi_1", "epi_2"):
        log.access_log.record("pat_1", DOCTOR, "read_episode", episode_id, AT)
    # Then there are three entries, naming who read what
    assert log.entries() == [("pat_1", DOCTOR.organisation, "read_episode", "epi_1")] * 2 + [
        ("pat_1", DOCTOR.organisation, "read_episode", "epi_2")
    ]


def test_many_accesses_are_one_entry_each_beyond_one_batch(log):
    # When a clinician reads a list of 30 citizens' rows (more than one BatchWriteItem holds)
    accesses = [Access(f"pat_{n:02d}", "read_worklist", f"epi_{n:02d}") for n in range(30)]
    log.access_log.record_many(accesses, DOCTOR, AT)
    # Then each row is one entry
    assert log.entries() == [(f"pat_{n:02d}", DOCTOR.organisation, "read_worklist", f"epi_{n:02d}")
                             for n in range(30)]


class HoldBack:
    """BatchWriteItem that writes only the first ``writes`` items of each request and returns the rest as
    unprocessed, as DynamoDB does under load; ``forever`` keeps doing so, else only on the first call."""

    def __init__(self, monkeypatch, writes: int, forever: bool = False) -> None:
        self.writes, self.forever, self.calls = writes, forever, 0
        dynamodb = aws.client("dynamodb")
        self._write = dynamodb.batch_write_item
        monkeypatch.setattr(dynamodb, "batch_write_item", self._held_back)

    def _held_back(self, RequestItems):
        self.calls += 1
        if self.calls > 1 and not self.forever:
            return self._write(RequestItems=RequestItems)
        ((table, requests),) = RequestItems.items()
        if self.writes:
            self._write(RequestItems={table: requests[:self.writes]})
        return {"UnprocessedItems": {table: requests[self.writes:]} if requests[self.writes:] else {}}


def test_entries_left_unprocessed_are_written_again(moto_resources, monkeypatch):
    # Given DynamoDB that leaves all but 2 entries of the first batch unprocessed
    access_log = DynamoAccessLog(moto_resources.tables["access-log"])
    held_back = HoldBack(monkeypatch, writes=2)
    # When 5 accesses are recorded
    access_log.record_many([Access("pat_1", "read_worklist", f"epi_{n}") for n in range(5)], DOCTOR, AT)
    # Then all 5 are stored, the 3 left over by a second request
    assert held_back.calls == 2
    assert sorted(item["episode_id"]["S"] for item in table_items(moto_resources, "access-log")) == [
        f"epi_{n}" for n in range(5)]


def test_entries_that_stay_unprocessed_are_a_retry_later(moto_resources, monkeypatch):
    # Given DynamoDB that keeps leaving entries unprocessed
    access_log = DynamoAccessLog(moto_resources.tables["access-log"])
    HoldBack(monkeypatch, writes=0, forever=True)
    # When accesses are recorded, Then the caller is told to retry later (and so returns no data)
    with pytest.raises(ServiceUnavailable):
        access_log.record_many([Access("pat_1", "read_worklist", "epi_1")], DOCTOR, AT)
