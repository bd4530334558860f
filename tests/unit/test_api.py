"""functions.shared.api: problem+json responses, body refusals and field paths."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from functions.shared import errors
from functions.shared.api import PROBLEM_TITLES, build_resolver, field_path, loggable_field, resolve
from functions.shared.errors import Conflict, TelehubError


class _Cat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["cat"]
    lives: int


class _Dog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["dog"]
    name: str


class _Shelter(BaseModel):
    animals: list[Annotated[_Cat | _Dog, Field(discriminator="kind")]]
    size: int | str = 1


_app = build_resolver()


@_app.post("/shelters")
def _post_shelter(shelter: Annotated[_Shelter, Body()]) -> dict:
    if shelter.size == "taken":
        raise Conflict("that shelter exists")
    return {"animals": len(shelter.animals)}


def _event(body: str, content_type: str = "application/json") -> dict:
    return {
        "resource": "/shelters", "path": "/shelters", "httpMethod": "POST", "body": body,
        "headers": {"Content-Type": content_type}, "multiValueHeaders": {"Content-Type": [content_type]},
        "requestContext": {"resourcePath": "/shelters", "httpMethod": "POST", "stage": "test"},
        "isBase64Encoded": False,
    }


def _problem(response: dict) -> dict:
    assert response["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    return json.loads(response["body"])


def test_a_plain_location_becomes_a_dotted_path():
    assert field_path(("body", "measurements", 3, "unit")) == "measurements[3].unit"
    assert field_path(("body",)) == "body"
    assert field_path(("query", "limit")) == "limit"


def test_the_tag_of_a_discriminated_union_is_left_out_of_the_path():
    # Given pydantic's location for a field of a tagged union member, and the body it came from
    body = {"measurements": [{"type": "spo2"}, {"type": "blood_pressure", "systolic": 120}]}
    loc = ("body", "measurements", 1, "blood_pressure", "diastolic")
    # When it is turned into a path, knowing the field is missing
    path = field_path(loc, body, missing=True)
    # Then the tag is gone and the absent field is named
    assert path == "measurements[1].diastolic"


def test_a_union_members_label_is_left_out_even_at_the_end():
    # Given an item that is not an object at all, reported under the member's tag
    body = {"measurements": [{"type": "spo2"}, 5]}
    # Then the path names the item, and a plain union's member label is dropped too
    assert field_path(("body", "measurements", 1, "single_value"), body) == "measurements[1]"
    assert field_path(("body", "size", "int"), {"size": [1]}) == "size"


def test_without_the_body_the_location_is_rendered_as_given():
    assert field_path(("body", "measurements", 1, "blood_pressure", "unit")) == (
        "measurements[1].blood_pressure.unit"
    )


def test_validation_errors_name_the_field_inside_a_union_member():
    # Given a body whose second animal (a dog) lacks its name and whose first has a wrong field type
    body = {"animals": [{"kind": "cat", "lives": "many"}, {"kind": "dog"}]}
    # When the resolver validates it
    response = resolve(_app, _event(json.dumps(body)), None)
    # Then the 422 problem names both fields by their path in the body
    assert response["statusCode"] == 422
    assert [e["field"] for e in _problem(response)["errors"]] == ["animals[0].lives", "animals[1].name"]


def test_malformed_json_is_a_422_naming_the_body():
    response = resolve(_app, _event('{"animals": ['), None)
    assert response["statusCode"] == 422
    assert _problem(response)["errors"] == [{"field": "body", "message": "is not valid JSON"}]


def test_a_domain_error_is_a_problem_json_string_body():
    # Given a route that raises a typed error
    response = resolve(_app, _event(json.dumps({"animals": [], "size": "taken"})), None)
    # Then API Gateway gets a serialised problem+json body with the error's status and code
    assert response["statusCode"] == 409
    assert isinstance(response["body"], str)
    assert _problem(response)["code"] == "conflict"
    assert _problem(response)["title"] == "Conflict"


def test_problem_titles_are_telehubs_own_whatever_the_python_version():
    # Given the titles Telehub answers with (http.HTTPStatus renamed 413 and 422 in Python 3.13)
    # Then they are fixed here, as clients have always seen them
    assert PROBLEM_TITLES == {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        411: "Length Required",
        413: "Request Entity Too Large",
        415: "Unsupported Media Type",
        422: "Unprocessable Entity",
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    # And every typed error has one, so a problem response is never a KeyError
    typed = [value for value in vars(errors).values()
             if isinstance(value, type) and issubclass(value, TelehubError)]
    assert {error.status for error in typed} <= set(PROBLEM_TITLES)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("x" * 2049, "application/json", 413, "payload_too_large"),
        ('{"animals": []}', "text/plain", 415, "unsupported_media_type"),
        ('{"animals": []}', "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_oversized_bodies_and_other_media_types_are_refused_before_parsing(body, content_type, status, code):
    response = resolve(_app, _event(body, content_type), None, max_body_bytes=2048)
    assert response["statusCode"] == status
    assert _problem(response)["code"] == code
    assert _problem(response)["title"] == PROBLEM_TITLES[status]


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (_event('{"animals": [{"kind": "cat", "lives": 9}]}'), 200),  # served
        (_event('{"animals": [], "size": "taken"}'), 409),  # a domain error
        (_event('{"animals": [{"kind": "cow"}]}'), 422),  # refused by validation
        (_event("x" * 300_000), 413),  # refused before the resolver
        ({**_event("{}"), "path": "/kennels", "resource": "/kennels"}, 404),  # no such route
    ],
    ids=["served", "domain-error", "invalid", "refused-body", "no-route"],
)
def test_every_reply_tells_caches_not_to_store_it(event, status):
    # Given a request the resolver serves, or refuses at any of its stages
    # When resolved
    response = resolve(_app, event, None)
    # Then the reply, whatever it is, says no cache may keep it
    assert response["statusCode"] == status
    assert response["multiValueHeaders"]["Cache-Control"] == ["no-store"]


def test_a_path_no_route_matches_is_a_problem_json_404():
    # Given a request API Gateway routed here whose path Powertools' route pattern does not match
    event = {**_event('{"animals": []}'), "path": "/shelters/\u00e0#", "resource": "/shelters/{id}"}
    # Then it is the documented 404 problem, not Powertools' own body
    response = resolve(_app, event, None)
    assert response["statusCode"] == 404
    assert _problem(response)["code"] == "not_found"


def test_a_path_parameter_the_route_pattern_refuses_is_a_422_naming_it():
    # Given a request API Gateway routed to /shelters/{id} whose id has characters no route pattern takes
    event = {**_event('{"animals": []}'), "path": "/shelters/a#b", "resource": "/shelters/{id}",
             "pathParameters": {"id": "a#b"}}
    # Then it is a 422 naming the path parameter, as a malformed id is everywhere
    response = resolve(_app, event, None)
    assert response["statusCode"] == 422
    assert [error["field"] for error in _problem(response)["errors"]] == ["id"]


def test_a_json_media_type_with_a_charset_is_accepted():
    response = resolve(_app, _event('{"animals": []}', "application/json; charset=utf-8"), None)
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    "body",
    ['{"size": ' + "9" * 5000 + "}", "[" * 50_000 + "]" * 50_000],
    ids=["number-past-the-digit-limit", "nesting-past-the-recursion-limit"],
)
def test_json_python_cannot_decode_is_a_422_naming_the_body_not_a_5xx(body):
    # Given JSON that is well-formed but beyond what Python's decoder takes
    response = resolve(_app, _event(body), None, max_body_bytes=1_000_000)
    # Then it is refused as input, naming the body
    assert response["statusCode"] == 422
    assert _problem(response)["errors"] == [{"field": "body", "message": "is not valid JSON"}]


def test_a_body_with_a_lone_surrogate_is_a_422_naming_the_body_not_a_5xx():
    # Given a body holding text no UTF-8 can encode (a lone surrogate)
    response = resolve(_app, _event('{"animals": [], "size": "\ud800"}'), None)
    # Then it is refused as input, naming the body
    assert response["statusCode"] == 422
    assert _problem(response)["errors"] == [{"field": "body", "message": "is not valid UTF-8"}]


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("measurements[3].unit", "measurements[3].unit"),
        ("thresholds.absolute.2512489996.red_low", "thresholds.absolute.*.red_low"),
        ("citizen.name with spaces", "citizen.*"),
        ("body", "body"),
    ],
)
def test_a_logged_field_path_keeps_names_and_indexes_but_never_a_key_the_client_made_up(path, logged):
    assert loggable_field(path) == logged
