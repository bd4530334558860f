"""Accepting uploads: time rules, the late flag, answers that fit the citizen's questionnaires and
idempotency (logic.py), with in-memory fakes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from functions.device_uploads import logic
from functions.device_uploads.logic import UploadService, canonical_hash
from functions.device_uploads.models import LATE_AFTER, MAX_AGE, MAX_AHEAD, UploadingDevice, UploadRequest
from functions.shared.catalogue import catalogue
from functions.shared.disease_areas import disease_area
from functions.shared.errors import Conflict, InvalidInput, ServiceUnavailable
from tests.support.fakes import FakeOpenDiseaseAreas, FakeUploadRepository, RecordedMetrics

NOW = datetime(2024, 5, 1, 8, 5, tzinfo=UTC)
DEVICE, PATIENT = "dev_5f0c2a9e41b7d3c8a6e1f042", "pat_9a3e7c1d5b2f8e4a6c0d1b37"
UPLOADER = UploadingDevice(DEVICE, PATIENT, frozenset(catalogue()))  # registered for every type


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _measurement(measured_at: datetime, **overrides) -> dict:
    return {"type": "spo2", "value": 94, "unit": "%", "measured_at": measured_at.isoformat(),
            "method": "automatic", **overrides}


def _request(*measured_at: datetime, upload_id: str = "upload-0001", **overrides) -> UploadRequest:
    return UploadRequest.model_validate(
        {"upload_id": upload_id, "measurements": [_measurement(m, **overrides) for m in measured_at]}
    )


def _answer(question_id: str, answer: str = "yes", answered_at: datetime = NOW) -> dict:
    return {"question_id": question_id, "answer": answer, "answered_at": answered_at.isoformat()}


def _answered(*answers: dict, measured_at: tuple[datetime, ...] = (), upload_id: str = "upload-0001"
              ) -> UploadRequest:
    return UploadRequest.model_validate({"upload_id": upload_id, "answers": list(answers),
                                         "measurements": [_measurement(m) for m in measured_at]})


@pytest.fixture
def uploads() -> FakeUploadRepository:
    return FakeUploadRepository()


@pytest.fixture
def metrics() -> RecordedMetrics:
    return RecordedMetrics()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_areas() -> FakeOpenDiseaseAreas:
    """The device's citizen is monitored for COPD."""
    areas = FakeOpenDiseaseAreas()
    areas.open(PATIENT, "copd")
    return areas


@pytest.fixture
def service(uploads, open_areas, metrics, clock) -> UploadService:
    return UploadService(uploads, open_areas, metrics, clock=clock)


# --- time rules and the late flag ----------------------------------------------------------------


def test_the_time_window_is_inclusive_at_both_ends(service, uploads):
    # Given measurements exactly MAX_AGE old and exactly MAX_AHEAD in the future
    request = _request(NOW - MAX_AGE, NOW + MAX_AHEAD)
    # When accepted
    receipt = service.accept(UPLOADER, request)
    # Then both are stored
    assert receipt.accepted == 2 and uploads.writes == 1


@pytest.mark.parametrize(
    ("measured_at", "message"),
    [
        (NOW - MAX_AGE - timedelta(seconds=1), "is more than 30 days old"),
        (NOW + MAX_AHEAD + timedelta(seconds=1), "is more than 10 minutes in the future"),
    ],
)
def test_a_measurement_outside_the_window_is_refused_naming_it(service, uploads, measured_at, message):
    # Given an upload whose second measurement is just outside the window
    request = _request(NOW, measured_at)
    # When accepted
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER, request)
    # Then the refusal names that measurement's measured_at, and nothing is stored
    problems = [(problem.field, problem.message) for problem in refusal.value.problems]
    assert problems == [("measurements[1].measured_at", message)]
    assert uploads.items == {}


def test_late_is_measured_more_than_the_threshold_before_receipt(service, uploads):
    # Given one measurement exactly LATE_AFTER old and one a second older
    request = _request(NOW - LATE_AFTER, NOW - LATE_AFTER - timedelta(seconds=1))
    # When accepted
    service.accept(UPLOADER, request)
    # Then only the older one is flagged late
    stored = uploads.get(DEVICE, "upload-0001")
    assert [m["late"] for m in stored.measurements] == [False, True]


# --- the types the device was registered for ----------------------------------------------------


def _blood_pressure(pulse: float | None = 72) -> dict:
    return {"type": "blood_pressure", "systolic": 132, "diastolic": 84, "unit": "mmHg", "measured_at":
            NOW.isoformat(), "method": "automatic", **({"pulse": pulse} if pulse is not None else {})}


def _mixed(*measurements: dict) -> UploadRequest:
    return UploadRequest.model_validate({"upload_id": "upload-0001", "measurements": list(measurements)})


def test_a_type_the_device_was_not_registered_for_is_a_422_naming_it_and_nothing_is_stored(service, uploads):
    # Given an oximeter registered for SpO2 and pulse
    oximeter = UploadingDevice(DEVICE, PATIENT, frozenset({"spo2", "pulse"}))
    # When it uploads SpO2, a weight and a blood pressure
    weight = _measurement(NOW, type="weight", value=76.4, unit="kg")
    request = _mixed(_measurement(NOW), weight, _blood_pressure())
    with pytest.raises(InvalidInput) as refusal:
        service.accept(oximeter, request)
    # Then the weight and the blood pressure are named by their type field, and nothing is stored
    fields = [problem.field for problem in refusal.value.problems]
    assert fields == ["measurements[1].type", "measurements[2].type"]
    assert uploads.items == {}


def test_a_blood_pressure_monitor_uploads_blood_pressure_as_a_whole_and_its_pulse(service, uploads):
    # Given a monitor registered for blood_pressure (stored as systolic, diastolic and pulse)
    monitor = UploadingDevice(DEVICE, PATIENT, frozenset({"systolic", "diastolic", "pulse"}))
    # When it uploads a reading with and one without the cuff's pulse, and a pulse on its own
    receipt = service.accept(monitor, _mixed(_blood_pressure(), _blood_pressure(pulse=None),
                                             _measurement(NOW, type="pulse", value=70, unit="/min")))
    # Then all three are accepted
    assert receipt.accepted == 3


def test_a_blood_pressure_needs_both_pressures_registered(service):
    # Given a device registered for systolic and pulse only (as no registration allows; an old item)
    odd = UploadingDevice(DEVICE, PATIENT, frozenset({"systolic", "pulse"}))
    # When it uploads a blood pressure, Then it is refused
    with pytest.raises(InvalidInput) as refusal:
        service.accept(odd, _mixed(_blood_pressure()))
    assert [problem.field for problem in refusal.value.problems] == ["measurements[0].type"]


def test_a_retry_of_an_upload_stored_before_the_types_were_checked_gets_its_reply(service, uploads):
    # Given an upload stored from a device for a type it was not registered for (before the check)
    first = service.accept(UPLOADER, _request(NOW))
    # When the tablet retries it, its device now checked against its registered types
    again = service.accept(UploadingDevice(DEVICE, PATIENT, frozenset({"weight"})), _request(NOW))
    # Then the retry gets the stored reply: nothing is lost and nothing written twice
    assert again == first and uploads.writes == 1


# --- what is stored ------------------------------------------------------------------------------


def test_the_stored_upload_has_the_devices_citizen_and_normalised_values(service, uploads, metrics):
    # Given a weight in pounds, an SpO2 fraction and a blood-pressure reading in kPa
    request = UploadRequest.model_validate({
        "upload_id": "upload-0001",
        "measurements": [
            _measurement(NOW, type="weight", value=154.3, unit="lb"),
            _measurement(NOW, type="spo2", value=0.96, unit="1"),
            {"type": "blood_pressure", "systolic": 16, "diastolic": 10, "unit": "kPa",
             "measured_at": "2024-05-01T10:00:00+02:00", "method": "typed"},
        ],
    })
    # When accepted
    receipt = service.accept(UPLOADER, request)
    # Then the item holds the device's citizen, the catalogue units as Decimal, and UTC times
    stored = uploads.get(DEVICE, "upload-0001")
    assert stored.patient_id == PATIENT and stored.accepted == 3 == receipt.accepted
    assert stored.received_at == "2024-05-01T08:05:00.000Z"
    weight, spo2, pressure = stored.measurements
    assert weight == {"type": "weight", "value": Decimal("69.989303"), "unit": "kg",
                      "measured_at": "2024-05-01T08:05:00.000Z", "method": "automatic", "late": False}
    assert (spo2["value"], spo2["unit"]) == (Decimal("96"), "%")
    assert pressure == {
        "type": "blood_pressure",
        "components": [
            {"type": "systolic", "value": Decimal("120.009872"), "unit": "mmHg"},
            {"type": "diastolic", "value": Decimal("75.00617"), "unit": "mmHg"},
        ],
        "measured_at": "2024-05-01T08:00:00.000Z", "method": "typed", "late": False,
    }
    assert metrics.values == {"UploadsAccepted": 1, "MeasurementsAccepted": 3, "LateMeasurementsAccepted": 0,
                              "AnswersAccepted": 0}


# --- idempotency -------------------------------------------------------------------------------


def test_an_identical_retry_gets_the_first_reply_and_writes_nothing(service, uploads, metrics, clock):
    # Given an accepted upload
    first = service.accept(UPLOADER, _request(NOW))
    # When the same upload is retried an hour later
    clock.now = NOW + timedelta(hours=1)
    again = service.accept(UPLOADER, _request(NOW))
    # Then the reply is the same, received_at included, and nothing more was written
    assert again == first
    assert uploads.writes == 1
    assert metrics.values["UploadDuplicates"] == 1 and metrics.values["UploadsAccepted"] == 1


def test_a_retry_is_recognised_even_after_its_measurements_aged_out(service, uploads, clock):
    # Given an upload accepted with a 29-day-old measurement
    first = service.accept(UPLOADER, _request(NOW - timedelta(days=29)))
    # When the tablet retries it three days later (now 32 days old)
    clock.now = NOW + timedelta(days=3)
    again = service.accept(UPLOADER, _request(NOW - timedelta(days=29)))
    # Then it gets its original reply rather than a 422
    assert again == first and uploads.writes == 1


def test_a_time_problem_is_a_422_even_when_the_store_cannot_be_asked_about_retries(metrics, clock):
    # Given a store that is throttled
    class ThrottledUploads(FakeUploadRepository):
        def get(self, device_id, upload_id):
            raise ServiceUnavailable("throttled")

    service = UploadService(ThrottledUploads(), FakeOpenDiseaseAreas(), metrics, clock=clock)
    # When an upload with a too-old measurement arrives
    # Then it is refused as bad input, not as a server problem
    with pytest.raises(InvalidInput):
        service.accept(UPLOADER, _request(NOW - MAX_AGE - timedelta(days=1)))


def test_the_same_upload_id_with_a_different_body_is_a_conflict(service, uploads, metrics):
    # Given an accepted upload
    service.accept(UPLOADER, _request(NOW))
    stored = uploads.get(DEVICE, "upload-0001")
    # When another body arrives under the same upload_id
    with pytest.raises(Conflict):
        service.accept(UPLOADER, _request(NOW, value=95))
    # Then the stored upload is unchanged
    assert uploads.get(DEVICE, "upload-0001") == stored and uploads.writes == 1
    assert metrics.values["UploadConflicts"] == 1


def test_the_same_upload_id_from_another_device_is_another_upload(service, uploads):
    service.accept(UPLOADER, _request(NOW))
    service.accept(UploadingDevice("dev_other", "pat_other", frozenset({"spo2"})), _request(NOW, value=95))
    assert uploads.writes == 2


def test_an_upload_without_answers_hashes_as_before_answers_existed():
    # Given a measurements-only upload, and its canonical JSON as hashed before uploads had answers
    request = _request(NOW)
    before = json.dumps({"upload_id": "upload-0001", "measurements": [
        {"type": "spo2", "value": 94.0, "unit": "%", "measured_at": "2024-05-01T08:05:00Z",
         "method": "automatic"},
    ]}, sort_keys=True, separators=(",", ":"))
    # Then its hash is the same, so a retry of an upload stored then is still recognised
    assert canonical_hash(request) == hashlib.sha256(before.encode()).hexdigest()


def test_the_canonical_hash_ignores_form_but_not_content():
    # Given the same measurement written with another offset and 94.0 for 94
    same = _request(NOW.astimezone(timezone(timedelta(hours=2))), value=94.0)
    # Then the hash is the same; a different value changes it
    assert canonical_hash(same) == canonical_hash(_request(NOW))
    assert canonical_hash(_request(NOW, value=95)) != canonical_hash(_request(NOW))


# --- questionnaire answers -----------------------------------------------------------------------


def test_answers_are_stored_normalised_beside_the_measurements(service, uploads, metrics, open_areas):
    # Given a COPD citizen's upload of a measurement and two answers, one given 25 hours ago in Danish time
    request = _answered(_answer("more_cough_than_usual", "yes"),
                        _answer("coloured_sputum", "no", (NOW - timedelta(hours=25)).astimezone(
                            timezone(timedelta(hours=2)))),
                        measured_at=(NOW,))
    # When accepted
    receipt = service.accept(UPLOADER, request)
    # Then the answers are stored in UTC with milliseconds, the older one flagged late, and counted
    stored = uploads.get(DEVICE, "upload-0001")
    assert stored.answers == [
        {"question_id": "more_cough_than_usual", "answer": "yes", "answered_at": "2024-05-01T08:05:00.000Z",
         "late": False},
        {"question_id": "coloured_sputum", "answer": "no", "answered_at": "2024-04-30T07:05:00.000Z",
         "late": True},
    ]
    assert (receipt.accepted, receipt.answers_accepted) == (1, 2)
    assert metrics.values["AnswersAccepted"] == 2 and open_areas.asked == 1


def test_an_upload_of_answers_only_is_accepted(service, uploads):
    receipt = service.accept(UPLOADER, _answered(_answer("more_breathless_than_usual", "no")))
    assert (receipt.accepted, receipt.answers_accepted) == (0, 1)
    assert uploads.get(DEVICE, "upload-0001").measurements == []


def test_an_upload_without_answers_never_asks_for_the_citizens_episodes(service, open_areas):
    # Given a measurements-only upload, When accepted, Then the episodes were not read (no request more)
    service.accept(UPLOADER, _request(NOW))
    assert open_areas.asked == 0


def test_a_question_another_open_area_asks_is_valid(service, uploads, open_areas):
    # Given a citizen monitored for COPD and heart failure
    open_areas.open(PATIENT, "heart_failure")
    # When they answer a question of each, and one both areas ask
    request = _answered(_answer("coloured_sputum"), _answer("swollen_ankles_or_legs"),
                        _answer("more_breathless_than_usual"))
    # Then all three are accepted
    assert service.accept(UPLOADER, request).answers_accepted == 3


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        # a question of heart failure only, for a citizen monitored for COPD only
        ([_answer("coloured_sputum"), _answer("swollen_ankles_or_legs")], "answers[1].question_id"),
        ([_answer("breathless_lying_flat", "no")], "answers[0].question_id"),
    ],
)
def test_a_question_of_no_open_area_is_a_422_naming_it_and_nothing_is_stored(service, uploads, answers,
                                                                            field):
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER, _answered(*answers, measured_at=(NOW,)))
    problems = [(problem.field, problem.message) for problem in refusal.value.problems]
    assert problems == [(field, "is not a question of the citizen's questionnaires")]
    assert uploads.items == {}


def test_an_answer_the_open_areas_do_not_list_is_a_422_naming_it_and_nothing_is_stored(monkeypatch, service,
                                                                                       uploads):
    # Given a COPD questionnaire that lists only yes for coloured sputum (as the reference set does)
    copd = disease_area("copd")
    questionnaire = {**copd.questionnaire, "coloured_sputum": {"yes": "RED"}}
    narrowed = copd.model_copy(update={"questionnaire": questionnaire})
    monkeypatch.setattr(logic, "disease_area",
                        lambda code: narrowed if code == "copd" else disease_area(code))
    # When the citizen answers no
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER,
                       _answered(_answer("more_cough_than_usual"), _answer("coloured_sputum", "no")))
    # Then the answer is named, and nothing is stored
    assert [problem.field for problem in refusal.value.problems] == ["answers[1].answer"]
    assert uploads.items == {}


def test_answers_from_a_citizen_without_an_open_episode_are_a_422_naming_answers(service, uploads,
                                                                                open_areas):
    # Given a citizen whose only episode has ended
    open_areas.end(PATIENT, "copd")
    # When their device sends measurements and answers
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER, _answered(_answer("coloured_sputum"), measured_at=(NOW,)))
    # Then answers is named, the message says why without naming any disease area, and nothing is stored
    [problem] = refusal.value.problems
    assert problem.field == "answers" and "no open episode" in problem.message
    assert not any(area in problem.message.lower() for area in ("copd", "heart", "kol", "lung"))
    assert uploads.items == {}


@pytest.mark.parametrize(
    ("answered_at", "message"),
    [
        (NOW - MAX_AGE - timedelta(seconds=1), "is more than 30 days old"),
        (NOW + MAX_AHEAD + timedelta(seconds=1), "is more than 10 minutes in the future"),
    ],
)
def test_an_answer_outside_the_window_is_refused_naming_it(service, uploads, answered_at, message):
    request = _answered(_answer("coloured_sputum", answered_at=NOW - MAX_AGE),
                        _answer("more_cough_than_usual", answered_at=answered_at))
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER, request)
    assert [(p.field, p.message) for p in refusal.value.problems] == [("answers[1].answered_at", message)]
    assert uploads.items == {}


def test_every_problem_of_an_upload_is_named_at_once(service):
    # Given a too-old measurement and an answer to a question the citizen is not asked
    request = _answered(_answer("swollen_ankles_or_legs"), measured_at=(NOW - MAX_AGE - timedelta(days=1),))
    with pytest.raises(InvalidInput) as refusal:
        service.accept(UPLOADER, request)
    # Then both are named
    fields = [problem.field for problem in refusal.value.problems]
    assert fields == ["measurements[0].measured_at", "answers[0].question_id"]


def test_an_identical_retry_with_answers_gets_the_first_reply(service, uploads, clock):
    first = service.accept(UPLOADER, _answered(_answer("coloured_sputum"), measured_at=(NOW,)))
    clock.now = NOW + timedelta(minutes=5)
    again = service.accept(UPLOADER, _answered(_answer("coloured_sputum"), measured_at=(NOW,)))
    assert again == first and uploads.writes == 1


def test_a_retry_is_recognised_after_the_episode_it_answered_for_ended(service, uploads, open_areas):
    # Given an accepted upload with answers, and the citizen's episode ended since
    first = service.accept(UPLOADER, _answered(_answer("coloured_sputum")))
    open_areas.end(PATIENT, "copd")
    # When the tablet retries it (its reply was lost)
    again = service.accept(UPLOADER, _answered(_answer("coloured_sputum")))
    # Then it gets its original reply rather than a 422
    assert again == first and uploads.writes == 1


@pytest.mark.parametrize(
    "other",
    [
        [_answer("coloured_sputum", "no")],  # another answer
        [_answer("coloured_sputum"), _answer("more_cough_than_usual")],  # one answer more
        [],  # the answers left out
    ],
)
def test_the_same_upload_id_with_other_answers_is_a_conflict(service, uploads, other):
    # Given an accepted upload of a measurement and an answer
    service.accept(UPLOADER, _answered(_answer("coloured_sputum"), measured_at=(NOW,)))
    stored = uploads.get(DEVICE, "upload-0001")
    # When the same upload_id arrives with other answers
    with pytest.raises(Conflict):
        service.accept(UPLOADER, _answered(*other, measured_at=(NOW,)))
    # Then the stored upload is unchanged
    assert uploads.get(DEVICE, "upload-0001") == stored and uploads.writes == 1
