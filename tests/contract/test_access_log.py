"""The access log's contract (functions.shared.access_log.AccessLog), for the fake and for
DynamoAccessLog under moto: every read is one entry, however many come in the same instant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from functions.shared.access_log import AccessLog
from functions.shared.access_log_store import DynamoAccessLog
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
