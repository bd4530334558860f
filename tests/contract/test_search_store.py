"""The FHIR search's reading store (functions.cross_sector_sharing.search.ReadingStore), for the fake and for
DynamoReadingStore under moto: an episode's readings by time (window, types, pages continued after a sort
key) in the shape the Observation builder takes, and its threshold versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from functions.cross_sector_sharing.search import ReadingStore
from functions.cross_sector_sharing.search_models import Window
from functions.cross_sector_sharing.search_store import DynamoReadingStore
from functions.shared.episode_records import thresholds_item
from functions.shared.thresholds import Thresholds, ThresholdVersion
from tests.support.contract import FAKE, REAL
from tests.support.observation_search import FakeReadingStore
from tests.support.worklist_items import put_items, reading_item

EPISODE, OTHER_EPISODE = "epi_" + "a" * 24, "epi_" + "b" * 24
SET_AT = datetime(2026, 11, 1, tzinfo=UTC)
LIMITS = {"absolute": {"spo2": {"red_low": 88, "yellow_low": 92}}, "relative": {}}


@dataclass
class Store:
    store: ReadingStore
    arrange: Callable[[list[dict[str, Any]], dict[int, dict[str, Any]]], None]


@pytest.fixture(params=[FAKE, REAL])
def readings(request) -> Store:
    if request.param == FAKE:
        fake = FakeReadingStore()

        def arrange_fake(items: list[dict[str, Any]], versions: dict[int, dict[str, Any]]) -> None:
            fake.items += items
            fake.versions[EPISODE] = versions

        return Store(fake, arrange_fake)
    names = request.getfixturevalue("moto_resources")

    def arrange_real(items: list[dict[str, Any]], versions: dict[int, dict[str, Any]]) -> None:
        put_items(names.tables["evaluations"], items)
        put_items(names.tables["episodes"], [thresholds_item(EPISODE, ThresholdVersion(
            version, SET_AT, Thresholds.model_validate(thresholds), "123456789012345", SET_AT))
            for version, thresholds in versions.items()])

    return Store(DynamoReadingStore(names.tables["evaluations"], names.tables["episodes"]), arrange_real)


def _at(day: int, millisecond: int = 0) -> str:
    return f"2026-11-{day:02d}T08:00:00.{millisecond:03d}Z"


def _spo2(number: int, measured_at: str, episode_id: str = EPISODE, **changes: Any) -> dict[str, Any]:
    return reading_item(episode_id, "pat_1", f"msr_{number}", measured_at, **changes)


def _ids(page) -> list[str]:
    return [reading.measurement["measurement_id"] for reading in page.readings]


def test_an_episodes_readings_newest_first_a_page_at_a_time(readings):
    readings.arrange([_spo2(day, _at(day)) for day in range(1, 6)] + [_spo2(9, _at(3), OTHER_EPISODE)], {})
    first = readings.store.readings(EPISODE, Window(), None, 2, None)
    assert (_ids(first), first.more) == (["msr_5", "msr_4"], True)
    second = readings.store.readings(EPISODE, Window(), None, 2, first.readings[-1].sort_key)
    last = readings.store.readings(EPISODE, Window(), None, 2, second.readings[-1].sort_key)
    assert (_ids(second), _ids(last), last.more) == (["msr_3", "msr_2"], ["msr_1"], False)


def test_the_window_includes_its_start_and_excludes_its_end_to_the_millisecond(readings):
    readings.arrange([_spo2(1, _at(2, 0)), _spo2(2, _at(2, 1)), _spo2(3, _at(2, 2))], {})
    since, until = (datetime.fromisoformat(_at(2, ms)) for ms in (1, 2))
    assert _ids(readings.store.readings(EPISODE, Window(since, until), None, 10, None)) == ["msr_2"]
    assert _ids(readings.store.readings(EPISODE, Window(since=since), None, 10, None)) == ["msr_3", "msr_2"]
    assert _ids(readings.store.readings(EPISODE, Window(until=until), None, 10, None)) == ["msr_2", "msr_1"]


def test_types_filter_the_readings_and_a_page_is_filled_past_the_others(readings):
    weights = [_spo2(10 + day, _at(day), reading_type="weight", value=70, unit="kg") for day in range(2, 9)]
    readings.arrange([_spo2(1, _at(1)), _spo2(9, _at(9))] + weights, {})
    page = readings.store.readings(EPISODE, Window(), frozenset({"spo2"}), 2, None)
    assert (_ids(page), page.more) == (["msr_9", "msr_1"], False)
    page = readings.store.readings(EPISODE, Window(), frozenset({"spo2", "weight"}), 1, None)
    assert (_ids(page), page.more) == (["msr_9"], True)


def test_a_reading_is_the_measurement_the_observation_builder_takes(readings):
    invalidated = {"by": "nurse-17", "organisation": "234567890123456", "at": _at(3), "reason": "Cold hands"}
    readings.arrange([
        _spo2(1, _at(1), invalidated=invalidated, late=True),
        reading_item(EPISODE, "pat_1", "msr_2", _at(2), reading_type="blood_pressure", colour=None,
                     threshold_version=None,
                     components=[("systolic", 128, "mmHg"), ("diastolic", 82, "mmHg")]),
    ], {})
    pressure, saturation = readings.store.readings(EPISODE, Window(), None, 10, None).readings
    assert (saturation.episode_id, saturation.device_id) == (EPISODE, "dev_1")
    assert saturation.sort_key == f"EVAL#READING#spo2#{_at(1)}#msr_1"
    assert saturation.measurement == {
        "measurement_id": "msr_1", "type": "spo2", "measured_at": _at(1), "method": "automatic", "late": True,
        "colour": "YELLOW", "threshold_version": 1, "invalidated": invalidated, "value": 91, "unit": "%"}
    assert pressure.measurement["components"] == [{"type": "systolic", "value": 128, "unit": "mmHg"},
                                                  {"type": "diastolic", "value": 82, "unit": "mmHg"}]
    assert (pressure.measurement["colour"], pressure.measurement["threshold_version"]) == (None, None)
    assert isinstance(saturation.measurement["threshold_version"], int)
    assert saturation.measurement["value"] == Decimal(91)


def test_an_episodes_threshold_versions_by_number(readings):
    relative = {"absolute": {}, "relative": {"weight": {"baseline": "window", "window_days": 30,
                                                        "red_change": -2}}}
    readings.arrange([], {1: LIMITS, 2: relative})
    versions = readings.store.threshold_versions(EPISODE)
    assert sorted(versions) == [1, 2]
    assert versions[1]["absolute"] == LIMITS["absolute"]
    assert versions[2]["relative"]["weight"]["red_change"] == -2
