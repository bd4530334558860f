"""The access log's contract (functions.shared.access_log.AccessLog), for the fake and for
DynamoAccessLog under moto: every access is one entry, however many come in the same instant or in one
list, allowed or denied; an entry is only ever appended (never overwritten), carries who, which citizen,
what, when, the outcome and the request, and expires after the retention; an entry that cannot be stored
is a retry-later."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import access_log_store, aws
from functions.shared.access_log import Access, AccessContext, AccessLog, Outcome
from functions.shared.access_log_store import DynamoAccessLog
from functions.shared.errors import ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeAccessLog
from tests.support.moto_state import table_items
from tests.support.organisations import TREATING

AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
RETENTION_DAYS = 731
DOCTOR = Principal(role=Role.CLINICIAN, subject="doc-1", organisation=TREATING)
REQUEST = AccessContext(endpoint="GET /v1/episodes/{episode_id}", request_id="req-7f3a")
CPR = "2512489996"
Entry = tuple[str, str | None, str, str, str]  # patient, organisation, action, episode, outcome


@dataclass
class Log:
    access_log: AccessLog
    entries: Callable[[], list[Entry]]


def _dynamo_log(names) -> DynamoAccessLog:
    return DynamoAccessLog(names.tables["access-log"], RETENTION_DAYS, lambda: REQUEST)


@pytest.fixture(params=[FAKE, REAL])
def log(request) -> Log:
    if request.param == FAKE:
        fake = FakeAccessLog()
        return Log(fake, lambda: sorted([(*entry, "allowed") for entry in fake.entries]
                                        + [(*entry, "denied") for entry in fake.denials]))
    names = request.getfixturevalue("moto_resources")

    def stored() -> list[Entry]:
        return sorted((item["patient_id"]["S"], item["organisation"]["S"], item["action"]["S"],
                       item["episode_id"]["S"], item["outcome"]["S"])
                      for item in table_items(names, "access-log"))

    return Log(_dynamo_log(names), stored)


def test_every_read_is_one_entry_even_in_the_same_instant(log):
    # When the same clinician reads two episodes of a citizen, one of them twice, in the same instant
    for episode_id in ("epi_1", "epi_1", "epi_2"):
        log.access_log.record("pat_1", DOCTOR, "read_episode", episode_id, AT)
    # Then there are three entries, naming who read what, allowed
    assert log.entries() == [("pat_1", DOCTOR.organisation, "read_episode", "epi_1", "allowed")] * 2 + [
        ("pat_1", DOCTOR.organisation, "read_episode", "epi_2", "allowed")
    ]


def test_many_accesses_are_one_entry_each_beyond_one_transaction(log):
    # When a clinician reads a list of 130 citizens' rows (more than one transaction holds)
    accesses = [Access(f"pat_{n:03d}", "read_worklist", f"epi_{n:03d}") for n in range(130)]
    log.access_log.record_many(accesses, DOCTOR, AT)
    # Then each row is one entry
    assert log.entries() == [(f"pat_{n:03d}", DOCTOR.organisation, "read_worklist", f"epi_{n:03d}", "allowed")
                             for n in range(130)]


def test_a_refusal_is_an_entry_denied(log):
    # When a clinician is refused an episode, and refused a citizen named by CPR in a list of accesses
    log.access_log.record("pat_1", DOCTOR, "access_episode", "epi_1", AT, Outcome.DENIED)
    log.access_log.record_many([Access("pat_2", "access_citizen", "", Outcome.DENIED)], DOCTOR, AT)
    # Then both are entries with the outcome denied
    assert log.entries() == [("pat_1", DOCTOR.organisation, "access_episode", "epi_1", "denied"),
                             ("pat_2", DOCTOR.organisation, "access_citizen", "", "denied")]


def test_an_entry_names_who_which_citizen_what_when_the_outcome_and_the_request(moto_resources):
    # When a clinician's read is recorded
    _dynamo_log(moto_resources).record("pat_1", DOCTOR, "read_episode", "epi_1", AT)
    # Then the entry says who (subject, organisation, role), the citizen, the endpoint and action, when,
    # the outcome and the request, and expires after the retention (epoch seconds, DynamoDB's TTL)
    ((item),) = table_items(moto_resources, "access-log")
    assert {name: next(iter(value.values())) for name, value in item.items() if name != "access_id"} == {
        "patient_id": "pat_1", "subject": "doc-1", "organisation": TREATING, "role": "clinician",
        "endpoint": "GET /v1/episodes/{episode_id}", "action": "read_episode", "episode_id": "epi_1",
        "accessed_at": AT.isoformat(), "outcome": "allowed", "request_id": "req-7f3a",
        "expires_at": str(int((AT + timedelta(days=RETENTION_DAYS)).timestamp())),
    }
    assert item["access_id"]["S"].startswith(AT.isoformat())
    # And no CPR number
    assert CPR not in json.dumps(item)


@pytest.fixture
def repeated_ids(monkeypatch) -> None:
    """Every entry gets the same access id, as a second write of an existing entry would."""
    monkeypatch.setattr(access_log_store.secrets, "token_hex", lambda _: "000000000000")


def test_an_entry_is_never_overwritten(moto_resources, repeated_ids):
    # Given an entry stored
    access_log = _dynamo_log(moto_resources)
    access_log.record("pat_1", DOCTOR, "read_episode", "epi_1", AT)
    # When a second entry with the same access id is put, Then it is refused as a retry-later
    with pytest.raises(ServiceUnavailable):
        access_log.record("pat_1", DOCTOR, "change_thresholds", "epi_2", AT)
    # And the first entry is unchanged
    assert [(item["action"]["S"], item["episode_id"]["S"])
            for item in table_items(moto_resources, "access-log")] == [("read_episode", "epi_1")]


def test_a_list_that_would_overwrite_an_entry_is_written_not_at_all(moto_resources, repeated_ids):
    # Given an entry stored
    access_log = _dynamo_log(moto_resources)
    access_log.record("pat_1", DOCTOR, "read_episode", "epi_1", AT)
    # When a list with another citizen's access and one colliding with the stored entry is recorded
    accesses = [Access("pat_2", "read_worklist", "epi_9"), Access("pat_1", "read_worklist", "epi_2")]
    # Then it is a retry-later, and neither is written
    with pytest.raises(ServiceUnavailable):
        access_log.record_many(accesses, DOCTOR, AT)
    assert [item["patient_id"]["S"] for item in table_items(moto_resources, "access-log")] == ["pat_1"]


def _record_one(access_log: AccessLog) -> None:
    access_log.record("pat_1", DOCTOR, "read_episode", "epi_1", AT)


def _record_a_list(access_log: AccessLog) -> None:
    access_log.record_many([Access("pat_1", "read_worklist", "epi_1")], DOCTOR, AT)


@pytest.mark.parametrize(("operation", "recording"), [("put_item", _record_one),
                                                      ("transact_write_items", _record_a_list)])
def test_an_access_log_that_stays_throttled_is_a_retry_later(moto_resources, monkeypatch, operation,
                                                             recording):
    # Given DynamoDB that keeps throttling the access log's writes
    def throttled(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, operation)

    monkeypatch.setattr(aws.client("dynamodb"), operation, throttled)
    # When an access (or a list of them) is recorded, Then the caller is told to retry later, and so
    # returns no data
    with pytest.raises(ServiceUnavailable):
        recording(_dynamo_log(moto_resources))
    assert table_items(moto_resources, "access-log") == []
