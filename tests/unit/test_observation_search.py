"""The treating doctor's FHIR search (functions/cross_sector_sharing/search.py) with in-memory fakes: who may
search, what each filter finds, paging across episodes, cursors, the access log, and the searchset built as
the shared Bundles build their Observations. Every Bundle is validated with fhir.resources (R4B)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from functions.cross_sector_sharing.fhir import bundle_of
from functions.cross_sector_sharing.relations import CitizenRelations
from functions.cross_sector_sharing.search import ObservationSearch
from functions.cross_sector_sharing.search_models import ObservationQuery, code_choice, date_window
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import Forbidden, InvalidInput, ServiceUnavailable
from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES
from tests.support.fakes import FakeAccessLog, FakeCitizenStore, FakeEpisodeDirectory, FakePseudonyms
from tests.support.observation_search import (
    CPR,
    FakeReadingStore,
    doctor,
    matches,
    measurement_ids,
    next_cursor,
    valid_searchset,
)
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.worklist_items import reading_item

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
URL = "https://api.telehub.test/fhir/Observation/_search"
PATIENT = "pat_1"
COPD, HEART = "epi_" + "a" * 24, "epi_" + "b" * 24
SPO2_LIMITS = {"absolute": {"spo2": {"red_low": 88, "yellow_low": 92}}, "relative": {}}
SPO2_CODE = "urn:oid:1.2.208.176.2.1|NPU03011"


def relations(episode_id: str = COPD, treating: str = TREATING, monitoring: str = MONITORING,
              handover_to: str | None = HOSPITAL,
              status: EpisodeStatus = EpisodeStatus.ACTIVE) -> EpisodeRelations:
    return EpisodeRelations(episode_id, PATIENT, "copd", status, NOW, treating, monitoring, handover_to)


def spo2(episode_id: str, number: int, day: int, value: float = 91, **changes) -> dict:
    return reading_item(episode_id, PATIENT, f"msr_{number}", f"2026-11-{day:02d}T08:00:00.000Z", value=value,
                        **changes)


def service(store: FakeReadingStore, *episodes: EpisodeRelations, access_log=None,
            shared=COPD_SHARED_MEASUREMENT_TYPES) -> ObservationSearch:
    citizens = FakeCitizenStore()
    citizens.patients[FakePseudonyms().pseudonym(CPR)] = PATIENT
    directory = FakeEpisodeDirectory(episodes or [relations()])
    return ObservationSearch(store, CitizenRelations(citizens, FakePseudonyms(), directory),
                             access_log or FakeAccessLog(), lambda: NOW, frozenset(shared))


def query(codes=(), dates=(), count=50, cpr=CPR) -> ObservationQuery:
    return ObservationQuery.of(cpr, [code_choice(code) for code in codes],
                               [date_window(date) for date in dates], count)


def run(search: ObservationSearch, who=None, cursor=None, **filters) -> dict:
    bundle = search.search(query(**filters), who or doctor(), cursor, URL).bundle
    valid_searchset(bundle)
    return bundle


# --- who may search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("organisation", [TREATING, MONITORING])
def test_the_treating_and_the_monitoring_organisation_get_the_citizens_observations(organisation):
    # Given an episode with a saturation judged YELLOW under threshold version 1
    store = FakeReadingStore([spo2(COPD, 1, 20)], {COPD: {1: SPO2_LIMITS}})
    log = FakeAccessLog()
    # When a clinician of the treating or the monitoring organisation searches the citizen
    bundle = run(service(store, access_log=log), doctor(organisation))
    # Then the searchset holds its Observation, the Patient and the Device, and the search is logged
    assert measurement_ids(bundle) == ["msr_1"]
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["Observation", "Patient", "Device"]
    assert log.entries == [(PATIENT, organisation, "fhir_search", COPD)]


def test_the_observation_is_the_one_the_shared_bundle_carries_for_the_same_measurement():
    # Given a stored reading and the evaluated event that shared the same measurement
    store = FakeReadingStore([spo2(COPD, 1, 20)], {COPD: {1: SPO2_LIMITS}})
    event = {"event_id": "evt_1", "patient_id": PATIENT, "evaluated_at": "2026-11-20T08:05:00.000Z",
             "threshold_versions": [{"version": 1, "valid_from": "2026-11-01T00:00:00.000Z",
                                     "thresholds": SPO2_LIMITS}], "answers": [],
             "measurements": [{"measurement_id": "msr_1", "type": "spo2", "value": 91, "unit": "%",
                               "measured_at": "2026-11-20T08:00:00.000Z", "method": "automatic",
                               "late": False, "colour": "YELLOW", "threshold_version": 1,
                               "invalidated": None}]}
    shared = next(entry["resource"] for entry in bundle_of(event, cpr=CPR, device_id="dev_1")["entry"]
                  if entry["resource"]["resourceType"] == "Observation")
    # When the doctor searches
    (found,) = matches(run(service(store)))
    # Then it is the shared Observation (same id, codes, value, ranges, colour), without the event's issued
    assert found == {name: value for name, value in shared.items() if name != "issued"}
    assert [limit["type"]["coding"][0]["code"] for limit in found["referenceRange"]] == ["RAL", "GAL"]


def test_an_invalidated_reading_is_entered_in_error_and_a_blood_pressure_brings_its_cuff_pulse():
    store = FakeReadingStore([
        spo2(COPD, 1, 20, invalidated={"by": "nurse-17", "organisation": MONITORING,
                                       "at": "2026-11-20T09:00:00.000Z", "reason": "Cold fingers"}),
        reading_item(COPD, PATIENT, "msr_2", "2026-11-21T08:00:00.000Z", reading_type="blood_pressure",
                     colour="GREEN", components=[("systolic", 128, "mmHg"), ("diastolic", 82, "mmHg"),
                                                 ("pulse", 66, "/min")]),
    ], {COPD: {1: SPO2_LIMITS}})
    bundle = run(service(store))
    panel, invalidated = matches(bundle)
    assert invalidated["status"] == "entered-in-error"
    assert panel["code"]["text"] == "Blood pressure" and [c["valueQuantity"]["value"]
                                                          for c in panel["component"]] == [128, 82]
    # The cuff's pulse is included with its panel, not a match of its own
    included = [entry["resource"] for entry in bundle["entry"] if entry["search"]["mode"] == "include"]
    assert panel["hasMember"][0]["reference"] == f"urn:uuid:{included[0]['id']}"
    assert included[0]["valueQuantity"]["value"] == 66


@pytest.mark.parametrize("who", [doctor(HOSPITAL), doctor(OTHER)],
                         ids=["offered the monitoring", "unrelated"])
def test_an_organisation_without_a_relation_gets_the_refusal_of_an_unknown_citizen(who):
    # Given a citizen whose episode is offered to HOSPITAL (not yet accepted)
    store = FakeReadingStore([spo2(COPD, 1, 20)], {COPD: {1: SPO2_LIMITS}})
    log = FakeAccessLog()
    search = service(store, access_log=log)
    # When an organisation without a relation searches the citizen, and then a citizen nobody knows
    with pytest.raises(Forbidden) as related_refusal:
        search.search(query(), who, None, URL)
    with pytest.raises(Forbidden) as unknown_refusal:
        search.search(query(cpr="0101901234"), who, None, URL)
    # Then both are the same refusal, nothing was read and nothing logged
    assert (related_refusal.value.status, related_refusal.value.message) == (
        unknown_refusal.value.status, unknown_refusal.value.message)
    assert store.queries == {} and log.entries == []


def test_an_ended_episode_gives_no_relation():
    store = FakeReadingStore([spo2(COPD, 1, 20)], {COPD: {1: SPO2_LIMITS}})
    with pytest.raises(Forbidden):
        service(store, relations(status=EpisodeStatus.ENDED)).search(query(), doctor(), None, URL)


def test_only_the_episodes_the_caller_treats_or_monitors_are_searched():
    # Given two open episodes: COPD treated by TREATING, heart failure treated by HOSPITAL, both monitored
    store = FakeReadingStore([spo2(COPD, 1, 20), spo2(HEART, 2, 21)], {COPD: {1: SPO2_LIMITS},
                                                                         HEART: {1: SPO2_LIMITS}})
    episodes = (relations(COPD), relations(HEART, treating=HOSPITAL, handover_to=None))
    log = FakeAccessLog()
    # When the treating organisation of the COPD episode searches, then the monitoring organisation
    assert measurement_ids(run(service(store, *episodes, access_log=log), doctor(TREATING))) == ["msr_1"]
    assert measurement_ids(run(service(store, *episodes, access_log=log), doctor(MONITORING))) == ["msr_2",
                                                                                                  "msr_1"]
    # Then each search is logged under the episodes it searched, and the other episode was never read for it
    assert log.entries == [(PATIENT, TREATING, "fhir_search", COPD),
                           (PATIENT, MONITORING, "fhir_search", COPD),
                           (PATIENT, MONITORING, "fhir_search", HEART)]


def test_only_the_nationally_agreed_types_are_returned():
    store = FakeReadingStore([spo2(COPD, 1, 20),
                              reading_item(COPD, PATIENT, "msr_2", "2026-11-21T08:00:00.000Z",
                                           reading_type="blood_glucose", value=6.1, unit="mmol/L")],
                             {COPD: {1: SPO2_LIMITS}})
    assert measurement_ids(run(service(store))) == ["msr_1"]
    assert measurement_ids(run(service(store), codes=["NPU22089"])) == []


# --- the access log ------------------------------------------------------------------------------------


class _FailingAccessLog(FakeAccessLog):
    def record_many(self, accesses, principal, at):
        raise ServiceUnavailable("the access log left entries unwritten; retry the request")


def test_a_search_the_access_log_cannot_record_reads_and_returns_nothing():
    store = FakeReadingStore([spo2(COPD, 1, 20)], {COPD: {1: SPO2_LIMITS}})
    with pytest.raises(ServiceUnavailable):
        service(store, access_log=_FailingAccessLog()).search(query(), doctor(), None, URL)
    assert store.queries == {} and store.version_reads == {}


# --- filters -------------------------------------------------------------------------------------------

WEIGHT = "urn:oid:1.2.208.176.2.1|NPU03804"


def _mixed_store() -> FakeReadingStore:
    """Saturations on the 20th and 22nd, a weight on the 21st, a blood pressure on the 23rd."""
    return FakeReadingStore([
        spo2(COPD, 1, 20), spo2(COPD, 3, 22),
        reading_item(COPD, PATIENT, "msr_2", "2026-11-21T08:00:00.000Z", reading_type="weight", value=71.5,
                     unit="kg", colour=None, threshold_version=None),
        reading_item(COPD, PATIENT, "msr_4", "2026-11-23T08:00:00.000Z", reading_type="blood_pressure",
                     colour=None, threshold_version=None,
                     components=[("systolic", 128, "mmHg"), ("diastolic", 82, "mmHg")]),
    ], {COPD: {1: SPO2_LIMITS}})


@pytest.mark.parametrize(("codes", "found"), [
    ([SPO2_CODE], ["msr_3", "msr_1"]),
    (["NPU03011"], ["msr_3", "msr_1"]),  # a bare code, of any system
    (["http://loinc.org|29463-7"], ["msr_2"]),
    (["urn:iso:std:iso:11073:10101|188736"], ["msr_2"]),
    ([f"{SPO2_CODE},{WEIGHT}"], ["msr_3", "msr_2", "msr_1"]),  # a comma list: either
    ([SPO2_CODE, WEIGHT], []),  # repeated: both, which no Observation is
    ([SPO2_CODE, f"{WEIGHT},NPU03011"], ["msr_3", "msr_1"]),
    (["DNK05472"], ["msr_4"]),  # a blood-pressure component's code finds the panel
    (["http://loinc.org|85354-9"], ["msr_4"]),
    (["NPU99999"], []),  # a code Telehub does not share matches nothing
    (["http://loinc.org|NPU03011"], []),  # the right code in another system
    (["|NPU03011"], []),  # a code without a system: Telehub's all have one
])
def test_code_finds_the_observations_of_its_codes(codes, found):
    assert measurement_ids(run(service(_mixed_store()), codes=codes)) == found


@pytest.mark.parametrize(("dates", "found"), [
    (["2026-11-21"], ["msr_2"]),  # eq: within the UTC day
    (["ge2026-11-22"], ["msr_4", "msr_3"]),
    (["gt2026-11-22"], ["msr_4"]),  # after the whole day
    (["le2026-11-21"], ["msr_2", "msr_1"]),
    (["lt2026-11-21"], ["msr_1"]),
    (["ge2026-11-21", "lt2026-11-23"], ["msr_3", "msr_2"]),
    (["ge2026-11-22T09:00:00+01:00", "le2026-11-22T09:00:00+01:00"], ["msr_3"]),  # 08:00Z to the second
    (["gt2026-11-22T08:00Z"], ["msr_4"]),  # after that minute
    (["2026-11"], ["msr_4", "msr_3", "msr_2", "msr_1"]),
    (["2025"], []),
    (["ge2026-11-23", "lt2026-11-21"], []),  # an empty range
])
def test_date_finds_what_was_measured_in_its_period(dates, found):
    assert measurement_ids(run(service(_mixed_store()), dates=dates)) == found


def test_code_and_date_together():
    found = run(service(_mixed_store()), codes=[SPO2_CODE], dates=["ge2026-11-21"])
    assert measurement_ids(found) == ["msr_3"]


def test_a_search_that_can_match_nothing_reads_nothing_but_is_logged():
    store, log = _mixed_store(), FakeAccessLog()
    bundle = run(service(store, access_log=log), codes=["NPU99999"])
    assert bundle["entry"] == [] and store.queries == {} and len(log.entries) == 1


# --- paging --------------------------------------------------------------------------------------------


def _two_episodes() -> tuple[FakeReadingStore, tuple[EpisodeRelations, ...]]:
    """Nine readings over two episodes monitored by MONITORING, interleaved in time; msr_9 (a weight) was
    judged under both episodes."""
    items = [spo2(COPD if number % 2 else HEART, number, number) for number in range(1, 9)]
    both = dict(reading_type="weight", value=70, unit="kg", colour=None, threshold_version=None)
    items += [reading_item(episode, PATIENT, "msr_9", "2026-11-05T12:00:00.000Z", **both)
              for episode in (COPD, HEART)]
    versions = {episode: {1: SPO2_LIMITS} for episode in (COPD, HEART)}
    return FakeReadingStore(items, versions), (relations(COPD), relations(HEART, treating=HOSPITAL))


@pytest.mark.parametrize("count", [1, 2, 3, 50])
def test_pages_follow_each_other_newest_first_without_gaps_or_duplicates(count):
    store, episodes = _two_episodes()
    search = service(store, *episodes)
    found, cursor, pages = [], None, 0
    while True:
        bundle = run(search, doctor(MONITORING), cursor, count=count)
        assert len(matches(bundle)) <= count
        found += measurement_ids(bundle)
        pages += 1
        cursor = next_cursor(bundle)
        if cursor is None:
            break
    assert found == ["msr_8", "msr_7", "msr_6", "msr_9", "msr_5", "msr_4", "msr_3", "msr_2", "msr_1"]
    assert pages == -(-9 // count)
    # One query per episode per page (fewer once an episode is read to its end)
    assert all(queries <= pages for queries in store.queries.values())


def test_threshold_versions_are_read_once_per_episode_a_page_returns_readings_of():
    store, episodes = _two_episodes()
    run(service(store, *episodes), doctor(MONITORING))
    assert store.version_reads == {COPD: 1, HEART: 1}
    assert store.queries == {COPD: 1, HEART: 1}


def test_the_links_carry_only_the_cursor():
    store, episodes = _two_episodes()
    bundle = run(service(store, *episodes), doctor(MONITORING), count=2)
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["self"] == URL and links["next"].startswith(f"{URL}?_cursor=")
    assert CPR not in links["next"] and PATIENT not in base64.urlsafe_b64decode(
        links["next"].split("=", 1)[1] + "==").decode()


def _forged(cursor: str, after: dict) -> str:
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    text = json.dumps({**decoded, "after": after})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_continues_only_the_same_callers_search_with_the_same_filters():
    store, episodes = _two_episodes()
    search = service(store, *episodes)
    cursor = next_cursor(run(search, doctor(MONITORING), count=2))
    for who, filters in ((doctor(MONITORING), {"codes": [SPO2_CODE]}),
                         (doctor(MONITORING), {"dates": ["ge2026-11-02"]}),
                         (doctor(HOSPITAL), {})):  # HOSPITAL treats the heart episode: another caller's list
        with pytest.raises(InvalidInput) as refusal:
            search.search(query(count=2, **filters), who, cursor, URL)
        assert refusal.value.problems[0].field == "_cursor"


@pytest.mark.parametrize("after", [
    {COPD: "EVAL#READING#spo2#not-a-time#msr_1"},
    {COPD: "EVAL#READING#spo2#2026-11-01T08:00:00.000Z"},
    {COPD: "ALARM#2026-11-01T08:00:00.000Z#alm_1"},
    {COPD: "EVAL#READING#blood_glucose#2026-11-01T08:00:00.000Z#msr_1"},  # a type the list cannot hold
])
def test_a_tampered_cursor_is_a_422_naming_it(after):
    store, episodes = _two_episodes()
    search = service(store, *episodes)
    cursor = next_cursor(run(search, doctor(MONITORING), count=2))
    for forged in (_forged(cursor, after), "bm90IGEgY3Vyc29y", cursor[:-3]):
        with pytest.raises(InvalidInput) as refusal:
            search.search(query(count=2), doctor(MONITORING), forged, URL)
        assert refusal.value.problems[0].field == "_cursor"


def test_a_position_outside_the_searched_dates_is_refused():
    store, episodes = _two_episodes()
    search = service(store, *episodes)
    cursor = next_cursor(run(search, doctor(MONITORING), count=2, dates=["ge2026-11-03"]))
    forged = _forged(cursor, {COPD: "EVAL#READING#spo2#2026-11-01T08:00:00.000Z#msr_1"})
    with pytest.raises(InvalidInput):
        search.search(query(count=2, dates=["ge2026-11-03"]), doctor(MONITORING), forged, URL)
