"""The simulated tablet produces uploads the upload API accepts, in the units real devices use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from embedded.simulator import HomeTablet
from functions.device_uploads.models import UploadRequest

MORNING = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)


def test_a_morning_upload_is_valid_for_the_upload_api():
    # Given a tablet
    tablet = HomeTablet("http://127.0.0.1:8080", credential="unused")
    # When it prepares a morning's upload
    upload = tablet.new_upload(tablet.morning_readings(MORNING))
    # Then the API's request model accepts it as it is
    request = UploadRequest.model_validate(upload)
    assert len(request.measurements) == 6


def test_the_readings_use_pounds_a_typed_cat_score_and_times_up_to_the_end_of_the_session():
    readings = HomeTablet("http://x", credential="unused").morning_readings(MORNING)
    by_type = {reading["type"]: reading for reading in readings}
    assert set(by_type) == {"spo2", "pulse", "blood_pressure", "weight", "temperature", "cat_score"}
    assert by_type["weight"]["unit"] == "lb"
    assert by_type["cat_score"]["method"] == "typed" and isinstance(by_type["cat_score"]["value"], int)
    assert by_type["blood_pressure"]["diastolic"] < by_type["blood_pressure"]["systolic"]
    times = [datetime.fromisoformat(reading["measured_at"]) for reading in readings]
    assert max(times) == MORNING and min(times) >= MORNING - timedelta(minutes=10)


def test_the_same_seed_gives_the_same_readings_and_each_upload_its_own_id():
    first, second = HomeTablet("http://x", "c", seed=7), HomeTablet("http://x", "c", seed=7)
    assert first.morning_readings(MORNING) == second.morning_readings(MORNING)
    readings = first.morning_readings(MORNING)
    assert first.new_upload(readings)["upload_id"] != first.new_upload(readings)["upload_id"]


def test_the_morning_answers_cover_the_copd_questionnaire_and_are_valid_for_the_upload_api():
    # Given a tablet whose citizen feels more breathless than usual
    tablet = HomeTablet("http://x", credential="unused")
    answers = tablet.morning_answers(MORNING, worse=("more_breathless_than_usual",))
    # When the answers go into an upload with the readings
    upload = tablet.new_upload(tablet.morning_readings(MORNING), answers=answers)
    request = UploadRequest.model_validate(upload)
    # Then every COPD question is answered once, yes only to the one named, at the end of the session
    assert {answer.question_id: answer.answer for answer in request.answers} == {
        "more_breathless_than_usual": "yes", "more_cough_than_usual": "no", "coloured_sputum": "no",
        "more_breathless_and_more_cough": "no"}
    assert {answer.answered_at for answer in request.answers} == {MORNING}
