"""The citizen view's stores (functions.citizen_view.logic.AccessEntries and ReadingStore), for the fakes and
for the DynamoDB adapters under moto: a citizen's access-log entries newest first (all, or one episode's) and
an episode's readings newest measured first, each paged from where the last page ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.citizen_view.logic import AccessEntries, ReadingStore
from functions.citizen_view.repository import (
    DynamoAccessEntries,
    DynamoReadingStore,
    access_from_item,
    reading_from_item,
)
from tests.support.citizen_view import FakeAccessEntries, FakeReadingStore
from tests.support.contract import FAKE, REAL
from tests.support.organisations import MONITORING
from tests.support.worklist_items import put_items, reading_item

PATIENT, OTHER_PATIENT = "pat_" + "1" * 24, "pat_" + "2" * 24
EPISODE, OTHER_EPISODE = "epi_" + "a" * 24, "epi_" + "b" * 24
Arrange = Callable[[list[dict[str, Any]]], None]


@dataclass
class Entries:
    store: AccessEntries
    arrange: Arrange  # access-log items as functions.shared.access_log_store writes them


@dataclass
class Readings:
    store: ReadingStore
    arrange: Arrange  # reading items as the evaluator writes them


def access_item(patient_id: str, minute: int, episode_id: str = EPISODE, organisation: str = MONITORING,
                **extra: str) -> dict[str, Any]:
    at = f"2026-11-25T09:{minute:02d}:00+00:00"
    return {"patient_id": {"S": patient_id}, "access_id": {"S": f"{at}#{minute:012x}"},
            "accessed_at": {"S": at}, "action": {"S": "read_measurements"}, "episode_id": {"S": episode_id},
            "role": {"S": "clinician"}, "subject": {"S": "nurse-17"}, "organisation": {"S": organisation},
            **{name: {"S": value} for name, value in extra.items()}}


@pytest.fixture(params=[FAKE, REAL])
def entries(request) -> Entries:
    if request.param == FAKE:
        fake = FakeAccessEntries()

        def arrange_fake(items: list[dict[str, Any]]) -> None:
            for item in items:
                fake.stored[item["patient_id"]["S"]].append(access_from_item(item))

        return Entries(fake, arrange_fake)
    table = request.getfixturevalue("moto_resources").tables["access-log"]
    return Entries(DynamoAccessEntries(table), lambda items: put_items(table, items))


@pytest.fixture(params=[FAKE, REAL])
def readings(request) -> Readings:
    if request.param == FAKE:
        fake = FakeReadingStore()

        def arrange_fake(items: list[dict[str, Any]]) -> None:
            for item in items:
                fake.stored[item["episode_id"]["S"]].append(reading_from_item(item))

        return Readings(fake, arrange_fake)
    table = request.getfixturevalue("moto_resources").tables["evaluations"]
    return Readings(DynamoReadingStore(table), lambda items: put_items(table, items))


def test_a_citizens_entries_come_newest_first_in_pages_and_no_other_citizens(entries):
    # Given five entries of the citizen and one of another citizen
    entries.arrange([access_item(PATIENT, minute) for minute in (3, 1, 5, 2, 4)]
                    + [access_item(OTHER_PATIENT, 6)])
    # When they are read two at a time from where each page ended
    first = entries.store.entries(PATIENT, None, 2, None)
    second = entries.store.entries(PATIENT, None, 2, first.after)
    last = entries.store.entries(PATIENT, None, 2, second.after)
    # Then every entry of the citizen comes once, newest first, and the last page says it is the last
    minutes = [entry.accessed_at.minute for page in (first, second, last) for entry in page.entries]
    assert minutes == [5, 4, 3, 2, 1]
    assert last.after is None


def test_one_episodes_entries_are_the_citizens_of_that_episode_only_in_full_pages(entries):
    # Given entries of two episodes of the citizen, interleaved
    entries.arrange([access_item(PATIENT, minute, EPISODE if minute % 2 else OTHER_EPISODE)
                     for minute in range(1, 10)])
    # When the first episode's are read two at a time
    first = entries.store.entries(PATIENT, EPISODE, 2, None)
    rest = entries.store.entries(PATIENT, EPISODE, 5, first.after)
    # Then the pages are full despite the other episode's entries between them, and hold only the episode's
    assert [entry.accessed_at.minute for entry in first.entries] == [9, 7]
    assert [entry.accessed_at.minute for entry in rest.entries] == [5, 3, 1]
    assert rest.after is None and {entry.episode_id for entry in rest.entries} == {EPISODE}


def test_an_entry_reads_as_written_its_missing_and_empty_fields_as_none(entries):
    # Given an entry of a citizen's own read (no organisation, no episode) and one with endpoint and outcome
    entries.arrange([access_item(PATIENT, 1, episode_id="", organisation=""),
                     access_item(PATIENT, 2, endpoint="GET /v1/episodes/{episode_id}", outcome="allowed")])
    newest, oldest = entries.store.entries(PATIENT, None, 10, None).entries
    assert (newest.endpoint, newest.outcome, newest.organisation, newest.subject) == (
        "GET /v1/episodes/{episode_id}", "allowed", MONITORING, "nurse-17")
    assert (oldest.episode_id, oldest.organisation, oldest.endpoint, oldest.outcome) == (None,) * 4


def test_an_episodes_readings_come_newest_measured_first_in_pages(readings):
    # Given readings of the episode (a blood pressure among them, one invalidated) and of another episode
    readings.arrange([
        reading_item(EPISODE, PATIENT, "msr_1", "2026-11-25T08:00:00.000Z", value=84, colour="RED"),
        reading_item(EPISODE, PATIENT, "msr_2", "2026-11-24T08:00:00.000Z", reading_type="blood_pressure",
                     components=[("systolic", 150, "mmHg"), ("diastolic", 95, "mmHg")]),
        reading_item(EPISODE, PATIENT, "msr_3", "2026-11-23T08:00:00.000Z", colour=None,
                     invalidated={"by": "nurse-17", "organisation": MONITORING,
                                  "at": "2026-11-24T10:00:00.000Z", "reason": "worn wrongly"}),
        reading_item(OTHER_EPISODE, PATIENT, "msr_4", "2026-11-25T09:00:00.000Z"),
    ])
    # When they are read two at a time from where the first page ended
    first = readings.store.readings(EPISODE, 2, None)
    rest = readings.store.readings(EPISODE, 2, first.readings[-1].sort_key)
    # Then the episode's readings come newest first, with their values, components, colours and invalidation
    assert [reading.measurement["measurement_id"] for reading in first.readings + rest.readings] == [
        "msr_1", "msr_2", "msr_3"]
    assert (first.more, rest.more) == (True, False)
    red, pressure = first.readings
    assert (red.measurement["value"], red.measurement["unit"], red.measurement["colour"]) == (
        84.0, "%", "RED")
    assert pressure.measurement["components"] == [{"type": "systolic", "value": 150.0, "unit": "mmHg"},
                                                  {"type": "diastolic", "value": 95.0, "unit": "mmHg"}]
    assert pressure.measurement["value"] is None
    [invalidated] = rest.readings
    assert invalidated.measurement["invalidated"] == {"at": "2026-11-24T10:00:00.000Z",
                                                      "reason": "worn wrongly"}
    assert invalidated.measurement["colour"] is None
    assert invalidated.measured_key == "2026-11-23T08:00:00.000Z#msr_3"
