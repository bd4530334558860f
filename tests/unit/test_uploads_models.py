"""The upload request model refuses every bad input class and names the field (models.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from functions.device_uploads.models import MAX_ANSWERS, QUESTIONS, BloodPressureMeasurement, UploadRequest
from functions.shared.api import error_field
from functions.shared.disease_areas import disease_areas

VALID = {
    "upload_id": "0b9f7c1e-5d2a-4a57-9d0e-3c1f2b8a6e41",
    "measurements": [
        {"type": "spo2", "value": 94, "unit": "%", "measured_at": "2024-05-01T10:02:00+02:00",
         "method": "automatic"},
        {"type": "blood_pressure", "systolic": 132, "diastolic": 84, "pulse": 71, "unit": "mmHg",
         "measured_at": "2024-05-01T10:03:30+02:00", "method": "automatic"},
        {"type": "cat_score", "value": 18, "unit": "score", "measured_at": "2024-04-29T18:00:00+02:00",
         "method": "typed"},
    ],
    "answers": [
        {"question_id": "more_breathless_than_usual", "answer": "yes",
         "answered_at": "2024-05-01T10:04:00+02:00"},
        {"question_id": "coloured_sputum", "answer": "no", "answered_at": "2024-05-01T10:04:20+02:00"},
    ],
}


def _refused_fields(body: dict) -> list[str]:
    with pytest.raises(ValidationError) as refusal:
        UploadRequest.model_validate(body)
    return [error_field(e, body) for e in refusal.value.errors()]


def _with(path: tuple, value) -> dict:
    body = copy.deepcopy(VALID)
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()


def test_a_valid_upload_is_accepted_with_times_in_utc():
    # Given a valid upload with measured_at in local Danish time
    request = UploadRequest.model_validate(VALID)
    # Then it validates, and the times are the same instants in UTC
    assert len(request.measurements) == 3
    assert request.measurements[0].measured_at == datetime(2024, 5, 1, 8, 2, tzinfo=UTC)
    assert isinstance(request.measurements[1], BloodPressureMeasurement)
    assert request.answers[0].answered_at == datetime(2024, 5, 1, 8, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("measurements", 0, "type"), "heart_mood", "measurements[0].type"),  # unknown type
        (("measurements", 0, "type"), "systolic", "measurements[0].type"),  # only inside a BP reading
        (("measurements", 0, "type"), _DELETE, "measurements[0].type"),
        (("measurements", 0, "unit"), "mmHg", "measurements[0].unit"),  # a unit of another type
        (("measurements", 0, "unit"), "permille", "measurements[0].unit"),  # unknown unit
        (("measurements", 0, "value"), 101, "measurements[0].value"),  # above the plausible range
        (("measurements", 0, "value"), 49.9, "measurements[0].value"),  # below it
        (("measurements", 0, "value"), "94", "measurements[0].value"),  # text is not a number
        (("measurements", 0, "value"), True, "measurements[0].value"),
        (("measurements", 0, "value"), float("nan"), "measurements[0].value"),
        (("measurements", 0, "measured_at"), "2024-05-01T10:02:00", "measurements[0].measured_at"),  # naive
        (("measurements", 0, "measured_at"), "yesterday", "measurements[0].measured_at"),
        # past year 9999 or before year 1 once in UTC (Python's datetime cannot hold it)
        (("measurements", 0, "measured_at"), "9999-12-31T23:59:59-14:00", "measurements[0].measured_at"),
        (("measurements", 0, "measured_at"), "0001-01-01T00:00:00+14:00", "measurements[0].measured_at"),
        # Unix time: the contract is ISO 8601 text, and seconds or milliseconds would be a guess
        (("measurements", 0, "measured_at"), 1714550400, "measurements[0].measured_at"),
        (("measurements", 0, "measured_at"), "1714550400", "measurements[0].measured_at"),
        (("measurements", 0, "measured_at"), 1714550400.5, "measurements[0].measured_at"),
        (("measurements", 0, "method"), "guessed", "measurements[0].method"),
        (("measurements", 0, "patient_id"), "pat_1", "measurements[0].patient_id"),  # extra field
        (("measurements", 1, "diastolic"), 132, "measurements[1].diastolic"),  # not below systolic
        (("measurements", 1, "diastolic"), 140, "measurements[1].diastolic"),
        (("measurements", 1, "diastolic"), _DELETE, "measurements[1].diastolic"),
        (("measurements", 1, "unit"), "/min", "measurements[1].unit"),
        (("measurements", 1, "systolic"), 301, "measurements[1].systolic"),
        (("measurements", 1, "pulse"), 251, "measurements[1].pulse"),
        (("measurements", 1, "value"), 120, "measurements[1].value"),  # BP has no single value
        (("measurements", 2, "value"), 12.5, "measurements[2].value"),  # non-integer score
        (("measurements", 2, "value"), 41, "measurements[2].value"),
        (("measurements", 2), "cat_score=18", "measurements[2]"),  # not an object
        (("upload_id",), "short", "upload_id"),
        (("upload_id",), "has/slash-in-it", "upload_id"),
        (("upload_id",), "x" * 65, "upload_id"),
        (("upload_id",), _DELETE, "upload_id"),
        (("patient_id",), "pat_9a3e7c1d5b2f8e4a6c0d1b37", "patient_id"),  # the body never names a citizen
        (("answers", 0, "question_id"), "feeling_blue", "answers[0].question_id"),  # no template asks it
        (("answers", 0, "question_id"), _DELETE, "answers[0].question_id"),
        (("answers", 1, "question_id"), "more_breathless_than_usual", "answers[1].question_id"),  # twice
        (("answers", 0, "answer"), "maybe", "answers[0].answer"),  # no template lists it
        (("answers", 0, "answer"), True, "answers[0].answer"),
        (("answers", 0, "answered_at"), "2024-05-01T10:04:00", "answers[0].answered_at"),  # naive
        (("answers", 0, "answered_at"), 1714550400, "answers[0].answered_at"),
        (("answers", 0, "severity"), "RED", "answers[0].severity"),  # the template decides it, not the body
        (("answers", 0), "coloured_sputum=yes", "answers[0]"),
    ],
)
def test_each_bad_input_is_refused_naming_its_field(path, value, field):
    # Given a valid upload with one field made wrong
    body = _with(path, value)
    # When it is validated
    fields = _refused_fields(body)
    # Then exactly that field is named
    assert fields == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"upload_id": VALID["upload_id"], "measurements": [], "answers": []}, "measurements"),
        ({"upload_id": VALID["upload_id"], "measurements": []}, "measurements"),
        ({"upload_id": VALID["upload_id"]}, "measurements"),  # named although the body left it out
    ],
)
def test_an_upload_without_measurements_or_answers_is_refused_naming_measurements(body, field):
    assert _refused_fields(body) == [field]


def test_an_upload_of_measurements_only_or_answers_only_is_valid():
    measured = UploadRequest.model_validate({**VALID, "answers": []})
    answered = UploadRequest.model_validate({"upload_id": VALID["upload_id"], "answers": VALID["answers"]})
    assert (len(measured.measurements), measured.answers) == (3, [])
    assert (answered.measurements, len(answered.answers)) == ([], 2)


def test_the_second_answer_to_a_question_is_the_one_named():
    # Given three answers, the third to the first's question again
    body = _with(("answers",), [*VALID["answers"], {**VALID["answers"][0], "answer": "no"}])
    # Then the third is refused, its message pointing at the first
    with pytest.raises(ValidationError) as refusal:
        UploadRequest.model_validate(body)
    [error] = refusal.value.errors()
    assert error_field(error, body) == "answers[2].question_id"
    assert "answers[0]" in error["msg"]


def test_every_answer_of_every_template_is_valid_and_one_sitting_of_all_questionnaires_fits():
    # Given every answer every template lists
    listed = {(question, answer) for area in disease_areas().values()
              for question, severities in area.questionnaire.items() for answer in severities}
    # Then each is a valid answer
    for question, answer in listed:
        one = {"question_id": question, "answer": answer, "answered_at": "2024-05-01T08:00:00Z"}
        assert UploadRequest.model_validate({**VALID, "answers": [one]}).answers[0].answer == answer
    # And one answer to each question of every template fits in one upload
    assert {question for question, _ in listed} == set(QUESTIONS)
    assert len(QUESTIONS) <= MAX_ANSWERS


def test_more_answers_than_the_cap_are_refused():
    answers = [VALID["answers"][0]] * (MAX_ANSWERS + 1)
    assert _refused_fields({**VALID, "answers": answers}) == ["answers"]


def test_more_than_200_measurements_are_refused_and_200_are_accepted():
    item = VALID["measurements"][0]
    assert _refused_fields({**VALID, "measurements": [item] * 201}) == ["measurements"]
    assert len(UploadRequest.model_validate({**VALID, "measurements": [item] * 200}).measurements) == 200


def test_a_blood_pressure_reading_in_kpa_is_checked_after_conversion():
    # Given 16/10.7 kPa (about 120/80 mmHg), and 45 kPa (about 338 mmHg, implausible)
    reading = {**VALID["measurements"][1], "unit": "kPa", "systolic": 16, "diastolic": 10.7, "pulse": None}
    assert UploadRequest.model_validate({**VALID, "measurements": [reading]}).measurements[0].pulse is None
    # Then the implausible one is refused on the systolic field
    fields = _refused_fields({**VALID, "measurements": [{**reading, "systolic": 45}]})
    assert fields == ["measurements[0].systolic"]


def test_a_weight_in_pounds_is_checked_in_kilograms():
    # Given 40 lb (18.1 kg, below the 20 kg minimum) and 50 lb (22.7 kg)
    weight = {"type": "weight", "unit": "lb", "measured_at": "2024-05-01T08:00:00Z", "method": "automatic"}
    assert _refused_fields({**VALID, "measurements": [{**weight, "value": 40}]}) == ["measurements[0].value"]
    assert UploadRequest.model_validate({**VALID, "measurements": [{**weight, "value": 50}]})
    # And one too large to convert at all (1e144 lb) is refused on the value too, not a 500
    huge = {**weight, "value": 1e144}
    assert _refused_fields({**VALID, "measurements": [huge]}) == ["measurements[0].value"]


def test_a_whole_score_sent_as_a_float_is_the_integer_json_schema_says_it_is():
    # Given a CAT score of 18.0 (an integer in JSON Schema) and one of 18.5
    score = {**VALID["measurements"][2], "value": 18.0}
    # Then the first is accepted as 18, the second refused
    assert UploadRequest.model_validate({**VALID, "measurements": [score]}).measurements[0].value == 18
    assert _refused_fields({**VALID, "measurements": [{**score, "value": 18.5}]}) == ["measurements[0].value"]


def test_several_wrong_fields_are_all_named():
    body = _with(("measurements", 0, "unit"), "permille")
    body["measurements"][2]["value"] = 12.5
    assert _refused_fields(body) == ["measurements[0].unit", "measurements[2].value"]
