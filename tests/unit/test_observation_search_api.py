"""The FHIR search's edge: functions.shared.api's resolve() lets the routes it names take a form body (and
only those, and only that), a form field's problem is named as sent; the search's own URL for its links."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body, Form
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from functions.cross_sector_sharing.search_api import search_url
from functions.shared.api import build_resolver, resolve
from tests.support.observation_search import search_event
from tests.support.worklist_api import nurse

FORM = "application/x-www-form-urlencoded"


class _Note(BaseModel):
    text: str


_app = build_resolver()


@_app.post("/search")
def _search(identifier: Annotated[str, Form(alias="patient.identifier", min_length=3)]) -> dict:
    return {"identifier": identifier}


@_app.post("/notes")
def _note(note: Annotated[_Note, Body()]) -> dict:
    return {"text": note.text}


def _call(path: str, body: str, content_type: str) -> tuple[int, dict]:
    event = {"resource": path, "path": path, "httpMethod": "POST", "body": body,
             "headers": {"Content-Type": content_type}, "multiValueHeaders": {"Content-Type": [content_type]},
             "requestContext": {"resourcePath": path, "httpMethod": "POST", "stage": "test"},
             "isBase64Encoded": False}
    reply = resolve(_app, event, None, form_routes=frozenset({"/search"}))
    return reply["statusCode"], json.loads(reply["body"])


def test_a_form_route_takes_a_form_body():
    reply = _call("/search", "patient.identifier=abc", f"{FORM}; charset=utf-8")
    assert reply == (200, {"identifier": "abc"})


def test_a_form_fields_problem_names_it_as_sent():
    status, problem = _call("/search", "patient.identifier=a", FORM)
    assert (status, [error["field"] for error in problem["errors"]]) == (422, ["patient.identifier"])


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/search", '{"patient.identifier": "abc"}', "application/json"),
    ("/notes", "text=abc", FORM),
])
def test_a_form_route_takes_no_json_and_every_other_route_no_form(path, body, content_type):
    status, problem = _call(path, body, content_type)
    assert (status, problem["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(("host", "proto", "url"), [
    ("a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", "https",
     "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/test/fhir/Observation/_search"),
    ("api.telehub.dk", "https", "https://api.telehub.dk/fhir/Observation/_search"),
    ("127.0.0.1:8080", None, "http://127.0.0.1:8080/fhir/Observation/_search"),
])
def test_the_search_url_is_the_one_the_client_called(host, proto, url):
    event = search_event({}, nurse())
    event["requestContext"]["domainName"] = host
    event["headers"] = {"Host": host, **({"X-Forwarded-Proto": proto} if proto else {})}
    assert search_url(APIGatewayProxyEvent(event)) == url
