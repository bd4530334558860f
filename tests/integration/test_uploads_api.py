"""POST /v1/measurements under moto: the API function against the uploads table of the spec, and the
episodes table for uploads with questionnaire answers."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from functions.device_uploads import handler
from functions.shared import aws
from functions.shared.hour_shards import shard_of
from functions.shared.observability import logger
from infrastructure.resource_spec import ResourceNames
from tests.support.moto_state import table_items
from tests.support.runtime import invoke
from tests.support.uploads_api import (
    NOW,
    answers,
    open_episode,
    post,
    refused_fields,
    reply,
    sample_body,
    sample_event,
    stored_uploads,
    use_handler_at,
)

DEVICE = sample_event("post_measurements.json")["requestContext"]["authorizer"]


@pytest.fixture
def names(resources, monkeypatch) -> ResourceNames:
    use_handler_at(monkeypatch)
    return resources


def test_an_upload_is_accepted_and_stored_as_one_item(names):
    # Given the sample upload of a device (SpO2, blood pressure, a weight in lb, a CAT score two days old)
    # When the device posts it
    response = post(sample_body())
    # Then 202 with the receipt
    assert response["statusCode"] == 202
    assert reply(response) == {
        "upload_id": "0b9f7c1e-5d2a-4a57-9d0e-3c1f2b8a6e41",
        "accepted": 4,
        "answers_accepted": 0,
        "received_at": "2024-05-01T08:05:00.000Z",
    }
    # And one item holds the upload for the device's citizen, normalised, the old score flagged late
    [item] = stored_uploads(names)
    assert (item["device_id"], item["patient_id"]) == (DEVICE["device_id"], DEVICE["patient_id"])
    assert item["accepted"] == 4 and len(item["body_hash"]) == 64
    spo2, pressure, weight, score = item["measurements"]
    assert (weight["value"], weight["unit"]) == (Decimal("69.989303"), "kg")
    assert [c["type"] for c in pressure["components"]] == ["systolic", "diastolic", "pulse"]
    assert [m["late"] for m in item["measurements"]] == [False, False, False, True]


def test_an_identical_retry_gets_the_same_reply_and_stores_nothing_new(names, monkeypatch):
    # Given an accepted upload
    first = post(sample_body())
    # When the tablet retries it later, the same body serialised differently
    use_handler_at(monkeypatch, lambda: NOW + timedelta(minutes=7))
    retried = post(json.dumps(sample_body(), indent=2, sort_keys=True))
    # Then the reply is identical, received_at included, and there is still one item
    assert retried["statusCode"] == 202 and retried["body"] == first["body"]
    assert len(stored_uploads(names)) == 1


def test_the_same_upload_id_with_another_body_is_a_409_and_changes_nothing(names):
    # Given an accepted upload
    post(sample_body())
    before = stored_uploads(names)
    # When a different body arrives with the same upload_id
    body = sample_body()
    body["measurements"][0]["value"] = 95
    response = post(body)
    # Then 409, and the stored upload is unchanged
    assert response["statusCode"] == 409 and reply(response)["code"] == "conflict"
    assert stored_uploads(names) == before


@pytest.mark.parametrize(
    ("index", "name", "value", "field"),
    [
        (0, "type", "mood", "measurements[0].type"),  # not in the catalogue
        (2, "unit", "stone", "measurements[2].unit"),  # not an accepted unit
        (0, "value", 49, "measurements[0].value"),  # outside the plausible range
        (0, "measured_at", "2024-05-01T10:02:00", "measurements[0].measured_at"),  # no UTC offset
        (0, "measured_at", "2024-05-01T08:15:01Z", "measurements[0].measured_at"),  # > 10 min ahead
        (0, "measured_at", "2024-04-01T08:04:59Z", "measurements[0].measured_at"),  # > 30 days old
        (0, "measured_at", "9999-12-31T23:59:59-14:00", "measurements[0].measured_at"),  # past 9999 in UTC
        (0, "measured_at", 1714550400, "measurements[0].measured_at"),  # Unix time, not ISO 8601
        (1, "diastolic", 132, "measurements[1].diastolic"),  # not below systolic
        (3, "value", 18.5, "measurements[3].value"),  # a score is a whole number
        (3, "method", "guessed", "measurements[3].method"),
        (3, "note", "tired", "measurements[3].note"),  # unknown field
        (None, "patient_id", "pat_someone_else", "patient_id"),  # the body never names the citizen
        (None, "upload_id", "a/b", "upload_id"),
        (None, "measurements", [], "measurements"),
        (None, "measurements", [sample_body()["measurements"][0]] * 201, "measurements"),
    ],
)
def test_each_bad_field_is_a_422_naming_it_and_nothing_is_stored(names, index, name, value, field):
    # Given the sample upload with one field made wrong
    body = sample_body()
    (body if index is None else body["measurements"][index])[name] = value
    # When posted
    response = post(body)
    # Then 422 names that field, and the table is empty
    assert response["statusCode"] == 422
    assert refused_fields(response) == [field]
    assert stored_uploads(names) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        ('{"upload_id": "0b9f7c1e", "measurements": [', "application/json", 422, "body"),
        ("[]", "application/json", 422, "body"),
        (json.dumps([sample_body()]), "application/json", 422, "body"),  # an array is no upload
        (json.dumps(sample_body()), "text/plain", 415, None),
        ("{" + " " * (handler.MAX_UPLOAD_BYTES - 1) + "}", "application/json", 413, None),
    ],
)
def test_malformed_oversized_and_non_json_bodies_are_refused(names, body, content_type, status,
                                                             field):
    response = post(body, content_type=content_type)
    assert response["statusCode"] == status
    assert response["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    assert refused_fields(response) == ([field] if field else [])
    assert stored_uploads(names) == []


def test_a_body_just_under_the_limit_is_not_refused_for_its_size(names):
    text = json.dumps(sample_body())
    padded = text[:-1] + " " * (handler.MAX_UPLOAD_BYTES - len(text)) + "}"
    assert post(padded)["statusCode"] == 202


@pytest.mark.parametrize("role", ["logistics", "clinician", "system"])
def test_only_a_device_may_upload(names, role):
    response = post(sample_body(), role=role)
    assert response["statusCode"] == 403
    assert stored_uploads(names) == []


@pytest.mark.parametrize("missing", ["patient_id", "measurement_types"])
def test_a_device_principal_without_its_citizen_or_types_is_refused(names, missing):
    # Given an authorizer context for a device that names no citizen, or no registered types
    event = sample_event("post_measurements.json")
    del event["requestContext"]["authorizer"][missing]
    # When it posts the sample upload
    response = invoke("device-uploads", event)
    # Then 403, nothing stored
    assert response["statusCode"] == 403
    assert stored_uploads(names) == []


def test_a_type_the_device_was_not_registered_for_is_a_422_naming_it_and_nothing_is_stored(names):
    # Given a device registered for SpO2 and blood pressure only (the authorizer's context says so)
    event = sample_event("post_measurements.json")
    event["requestContext"]["authorizer"]["measurement_types"] = "diastolic pulse spo2 systolic"
    # When it posts the sample upload, which holds a weight and a CAT score too
    response = invoke("device-uploads", event)
    # Then 422 names the two measurements' type, and nothing is stored
    assert response["statusCode"] == 422
    assert refused_fields(response) == ["measurements[2].type", "measurements[3].type"]
    assert stored_uploads(names) == []


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "InternalServerError"])
def test_a_throttled_or_failing_table_is_a_503_the_client_may_retry(names, monkeypatch, code):
    # Given DynamoDB refusing the next write
    table_client = aws.client("dynamodb")
    write, refusals = table_client.put_item, []

    def refuse_once(**request):
        if not refusals:
            refusals.append(code)
            raise ClientError({"Error": {"Code": code, "Message": "try later"}}, "PutItem")
        return write(**request)

    monkeypatch.setattr(table_client, "put_item", refuse_once)
    # When the device posts
    response = post(sample_body())
    # Then 503 with a problem body, nothing stored; the client's retry is accepted
    assert response["statusCode"] == 503 and reply(response)["code"] == "service_unavailable"
    assert stored_uploads(names) == []
    assert post(sample_body())["statusCode"] == 202


def test_the_table_holds_no_cpr_and_no_body(names):
    post(sample_body())
    [item] = table_items(names, "uploads")
    assert set(item) == {"device_id", "upload_id", "patient_id", "received_at", "body_hash", "accepted",
                         "measurements", "answers", "received_hour"}
    # The index partition: the hour received and the upload's shard
    upload_key = f"{item['device_id']['S']}/{item['upload_id']['S']}"
    assert item["received_hour"] == {"S": f"2024-05-01T08#{shard_of(upload_key)}"}


def test_logs_and_metrics_carry_ids_and_counts_but_no_measured_value(names, capsys):
    # Given the function's log stream captured, an upload with distinctive values, and a refused
    # one with a distinctive wrong value
    log = io.StringIO()
    previous = logger.registered_handler.setStream(log)
    body = sample_body()
    body["measurements"][0]["value"] = 93.7
    refused = sample_body()
    refused["upload_id"] = "refused-upload-0001"
    refused["measurements"][0]["value"] = 47.3
    # When both are posted
    try:
        assert post(body)["statusCode"] == 202
        assert post(refused)["statusCode"] == 422
    finally:
        logger.registered_handler.setStream(previous)
    # Then the logs and the EMF metrics name the upload, the refused field and the counts
    output = log.getvalue() + capsys.readouterr().out
    assert body["upload_id"] in output and "measurements[0].value" in output
    assert '"MeasurementsAccepted":[4.0]' in output
    # And hold no value, neither as sent nor as stored
    for value in ("93.7", "154.3", "69.989303", "47.3"):
        assert value not in output


# --- questionnaire answers -----------------------------------------------------------------------


def test_answers_of_an_open_episodes_questionnaire_are_stored_with_the_measurements(names):
    # Given the device's citizen has an open COPD episode
    open_episode(names, "copd")
    # When the device posts the sample measurements with two answers, one from the day before yesterday
    body = {**sample_body(), "answers": [*answers("coloured_sputum"),
                                         *answers("more_cough_than_usual", answer="no",
                                                  answered_at="2024-04-29T18:00:00+02:00")]}
    response = post(body)
    # Then 202, counting both, and the one item holds them in UTC with milliseconds, the old one late
    assert response["statusCode"] == 202
    assert (reply(response)["accepted"], reply(response)["answers_accepted"]) == (4, 2)
    [item] = stored_uploads(names)
    assert item["answers"] == [
        {"question_id": "coloured_sputum", "answer": "yes", "answered_at": "2024-05-01T08:04:00.000Z",
         "late": False},
        {"question_id": "more_cough_than_usual", "answer": "no", "answered_at": "2024-04-29T16:00:00.000Z",
         "late": True},
    ]


def test_an_upload_of_answers_only_is_accepted_and_retried_as_any_upload(names, monkeypatch):
    # Given a citizen monitored for heart failure, whose device sends answers only
    open_episode(names, "heart_failure")
    body = {"upload_id": "answers-0001",
            "answers": answers("swollen_ankles_or_legs", "more_breathless_than_usual")}
    first = post(body)
    # When the same upload is retried later, and then the same upload_id comes with another answer
    use_handler_at(monkeypatch, lambda: NOW + timedelta(minutes=7))
    retried = post(body)
    changed = post({**body, "answers": answers("swollen_ankles_or_legs", answer="no")})
    # Then the first is accepted, the retry gets the same reply, the change is a 409, and one item is stored
    assert first["statusCode"] == 202 and reply(first)["answers_accepted"] == 2
    assert retried["statusCode"] == 202 and retried["body"] == first["body"]
    assert changed["statusCode"] == 409
    [item] = stored_uploads(names)
    assert item["measurements"] == [] and len(item["answers"]) == 2


@pytest.mark.parametrize(
    ("areas", "answer", "field"),
    [
        (["copd"], {"question_id": "swollen_ankles_or_legs"}, "answers[1].question_id"),  # heart failure's
        (["heart_failure"], {"question_id": "coloured_sputum"}, "answers[1].question_id"),  # COPD's
        (["copd"], {"question_id": "how_are_you"}, "answers[1].question_id"),  # no template asks it
        (["copd"], {"answer": "sometimes"}, "answers[1].answer"),  # no template lists it
        (["copd"], {"question_id": "more_breathless_than_usual"}, "answers[1].question_id"),  # twice
        (["copd"], {"answered_at": "2024-04-01T08:04:59Z"}, "answers[1].answered_at"),  # > 30 days old
        (["copd"], {"answered_at": "2024-05-01T08:15:01Z"}, "answers[1].answered_at"),  # > 10 min ahead
        ([], {}, "answers"),  # no open episode at all
    ],
)
def test_an_answer_that_fits_no_open_questionnaire_is_a_422_naming_it_and_nothing_is_stored(
        names, areas, answer, field):
    # Given the citizen's open episodes, and an upload whose second answer is wrong
    for area in areas:
        open_episode(names, area)
    first, second = answers("more_breathless_than_usual", "more_cough_than_usual")
    body = {**sample_body(), "answers": [first, {**second, **answer}]}
    # When posted
    response = post(body)
    # Then 422 names that field, and the table is empty
    assert response["statusCode"] == 422
    assert refused_fields(response) == [field]
    assert stored_uploads(names) == []


def test_the_refusal_without_an_open_episode_says_why_without_naming_an_area(names):
    response = post({**sample_body(), "answers": answers("coloured_sputum")})
    [error] = reply(response)["errors"]
    assert error["field"] == "answers" and "no open episode" in error["message"]
    assert not any(area in response["body"].lower() for area in ("copd", "heart_failure", "kol"))


def test_logs_carry_the_count_of_answers_but_no_question_or_answer(names, capsys):
    # Given the function's log stream captured
    log = io.StringIO()
    previous = logger.registered_handler.setStream(log)
    open_episode(names, "copd")
    # When an upload with answers is accepted, and one with a question the citizen is not asked is refused
    try:
        assert post({**sample_body(), "answers": answers("coloured_sputum")})["statusCode"] == 202
        refused = {**sample_body(), "upload_id": "refused-upload-0001",
                   "answers": answers("breathless_lying_flat")}
        assert post(refused)["statusCode"] == 422
    finally:
        logger.registered_handler.setStream(previous)
    # Then the logs and metrics count the answers, and hold no question id
    output = log.getvalue() + capsys.readouterr().out
    accepted = next(json.loads(line) for line in log.getvalue().splitlines() if "upload accepted" in line)
    assert accepted["answers"] == 1 and '"AnswersAccepted":[1.0]' in output
    assert "coloured_sputum" not in output and "breathless_lying_flat" not in output
