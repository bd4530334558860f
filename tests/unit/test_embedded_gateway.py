"""The local gateway's pure parts: route matching, the proxy event, the authorizer policy, the reply."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from embedded.gateway import (
    ACCESS_DENIED,
    AUTHORIZER_FAILED,
    INTEGRATION_FAILED,
    MISSING_TOKEN,
    Request,
    Route,
    authorizer_context,
    find_route,
    integration_reply,
    method_arn,
    proxy_event,
)
from infrastructure.resource_spec import RouteSpec

DEVICE_ROUTE = Route.of(RouteSpec("DELETE", "/v1/devices/{device_id}", "devices"))
UPLOAD_ROUTE = Route.of(RouteSpec("POST", "/v1/measurements", "device-uploads"))
ARN = method_arn("eu-west-1", "local", "DELETE", "/v1/devices/dev_1")


def request(method="DELETE", path="/v1/devices/dev_1", query="", headers=(), body=b"") -> Request:
    return Request(method, path, query, list(headers), body, "127.0.0.1")


def allow(
    resource="arn:aws:execute-api:eu-west-1:123456789012:telehublocal/local/*/*", effect="Allow", **extra
):
    return {
        "principalId": "dev_1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        **extra,
    }


def test_a_path_template_matches_one_segment_per_parameter_and_decodes_it():
    # Given the routes of the spec's shape
    routes = [UPLOAD_ROUTE, DEVICE_ROUTE]
    # When paths are looked up
    route, parameters = find_route(routes, "DELETE", "/v1/devices/dev%5F1")
    # Then the parameter is the decoded segment, and nothing else matches
    assert route is DEVICE_ROUTE and parameters == {"device_id": "dev_1"}
    for method, path in [
        ("DELETE", "/v1/devices/dev_1/extra"),
        ("DELETE", "/v1/devices/"),
        ("GET", "/v1/devices/dev_1"),
        ("POST", "/v1/unknown"),
    ]:
        with pytest.raises(type(MISSING_TOKEN)) as refused:
            find_route(routes, method, path)
        assert refused.value.status == 403 and refused.value.code == "no_such_route"


def test_a_greedy_parameter_matches_the_rest_of_the_path():
    route = Route.of(RouteSpec("GET", "/files/{proxy+}", "files"))
    assert route.match("GET", "/files/a/b/c") == {"proxy": "a/b/c"}


def test_the_proxy_event_has_api_gateways_rest_shape():
    # Given a request with repeated headers and query parameters and a JSON body
    sent = request(
        query="page=1&tag=a&tag=b&empty=",
        headers=[
            ("Host", "127.0.0.1:8080"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
            ("User-Agent", "tablet/1.0"),
        ],
        body=b'{"reason": "lost"}',
    )
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # When it becomes an event for an authorized route
    event = proxy_event(
        DEVICE_ROUTE,
        {"device_id": "dev_1"},
        sent,
        stage="local",
        request_id="req-1",
        authorizer={"role": "logistics", "principalId": "sub"},
        now=now,
    )
    # Then single values keep the last one, multi values keep all, in order
    assert event["resource"] == "/v1/devices/{device_id}"
    assert event["path"] == "/v1/devices/dev_1"
    assert event["httpMethod"] == "DELETE"
    assert event["headers"]["X-Tag"] == "two"
    assert event["multiValueHeaders"]["X-Tag"] == ["one", "two"]
    assert event["queryStringParameters"] == {"page": "1", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["pathParameters"] == {"device_id": "dev_1"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"reason": "lost"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "req-1" and context["stage"] == "local"
    assert context["resourcePath"] == "/v1/devices/{device_id}" and context["httpMethod"] == "DELETE"
    assert context["path"] == "/local/v1/devices/dev_1"
    assert context["requestTimeEpoch"] == int(now.timestamp() * 1000)
    assert context["requestTime"] == "02/Jan/2026:03:04:05 +0000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tablet/1.0"
    assert context["authorizer"] == {"role": "logistics", "principalId": "sub"}


def test_an_event_without_query_body_or_parameters_has_nulls_like_api_gateway():
    event = proxy_event(
        UPLOAD_ROUTE,
        {},
        request("POST", "/v1/measurements"),
        stage="local",
        request_id="r",
        authorizer=None,
        now=datetime.now(UTC),
    )
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None and event["headers"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert "authorizer" not in event["requestContext"]


def test_a_body_that_is_not_utf8_is_passed_base64_encoded():
    raw = b"\xff\xfe\x00binary"
    event = proxy_event(
        UPLOAD_ROUTE,
        {},
        request("POST", "/v1/measurements", body=raw),
        stage="local",
        request_id="r",
        authorizer=None,
        now=datetime.now(UTC),
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_an_allow_for_the_whole_stage_passes_the_context_on_as_strings_with_the_principal():
    # Given an authorizer result allowing every method of the stage, with a mixed-type context
    result = allow(context={"role": "device", "device_id": "dev_1", "retries": 3, "trusted": True})
    # When it is applied to the request's method ARN
    context = authorizer_context(result, ARN)
    # Then the route sees the context as strings, plus the principal id
    assert context["role"] == "device" and context["device_id"] == "dev_1"
    assert context["retries"] == "3" and context["trusted"] == "true"
    assert context["principalId"] == "dev_1"


@pytest.mark.parametrize(
    ("result", "refusal"),
    [
        (allow(effect="Deny"), ACCESS_DENIED),
        (
            allow(resource="arn:aws:execute-api:eu-west-1:123456789012:telehublocal/local/POST/*"),
            ACCESS_DENIED,
        ),
        ({"policyDocument": allow()["policyDocument"]}, AUTHORIZER_FAILED),  # no principal
        (allow(context={"nested": {"not": "allowed"}}), AUTHORIZER_FAILED),
        ("not a policy", AUTHORIZER_FAILED),
    ],
)
def test_a_deny_or_no_matching_allow_refuses_and_a_malformed_result_is_an_authorizer_failure(result, refusal):
    with pytest.raises(type(refusal)) as refused:
        authorizer_context(result, ARN)
    assert refused.value is refusal


def test_an_explicit_deny_wins_over_an_allow():
    result = allow()
    result["policyDocument"]["Statement"].append(
        {"Action": "execute-api:*", "Effect": "Deny", "Resource": "arn:aws:execute-api:*:*:*/local/DELETE/*"}
    )
    with pytest.raises(type(ACCESS_DENIED)):
        authorizer_context(result, ARN)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/devices/dev_1", True),
        ("POST", "/v1/devices", True),
        ("POST", "/v1/measurements", False),
        ("DELETE", "/v1/episodes/ep_1/handover", False),
    ],
)
def test_only_the_routes_an_allow_lists_pass_with_a_wildcard_for_each_path_parameter(method, path, allowed):
    # Given a policy allowing a role's routes, as the authorizer builds it from the spec's roles
    stage = "arn:aws:execute-api:eu-west-1:123456789012:telehublocal/local"
    result = allow(resource=[f"{stage}/POST/v1/devices", f"{stage}/DELETE/v1/devices/*"])
    arn = method_arn("eu-west-1", "local", method, path)
    # When a request is checked against it, Then a listed route passes and any other is API Gateway's 403
    if allowed:
        assert authorizer_context(result, arn)["principalId"] == "dev_1"
    else:
        with pytest.raises(type(ACCESS_DENIED)) as refused:
            authorizer_context(result, arn)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


def test_the_reply_merges_headers_and_decodes_a_base64_body():
    reply = integration_reply(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "X-Both": "single"},
            "multiValueHeaders": {"X-Both": ["a", "b"], "Set-Cookie": ["c=1"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert reply.status == 201 and reply.body == b"\x00\x01"
    assert ("X-One", "1") in reply.headers and ("Set-Cookie", "c=1") in reply.headers
    assert [value for name, value in reply.headers if name == "X-Both"] == ["a", "b"]
    assert ("Content-Type", "application/json") in reply.headers  # API Gateway's default


@pytest.mark.parametrize(
    "result", [None, {"body": "no status"}, {"statusCode": "200"}, {"statusCode": 200, "body": {}}]
)
def test_a_malformed_integration_result_is_a_502(result):
    with pytest.raises(type(INTEGRATION_FAILED)) as refused:
        integration_reply(result)
    assert (refused.value.status, refused.value.code) == (502, "bad_gateway")


def test_the_event_has_every_field_of_the_sample_events_the_handler_tests_use():
    # Given the sample API Gateway event of a revocation (events/devices/), which handler tests load
    sample = json.loads((Path(__file__).parents[2] / "events" / "devices" / "revoke_device.json").read_text())
    # When the local gateway builds the event for the same request
    event = proxy_event(
        DEVICE_ROUTE,
        {"device_id": "dev_1"},
        request(headers=[("Host", "127.0.0.1:8080")]),
        stage="local",
        request_id="r",
        authorizer={"principalId": "p", "integrationLatency": 0},
        now=datetime.now(UTC),
    )
    # Then it has every field the sample has, at the top, in the request context and its identity
    assert set(sample) <= set(event)
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert set(sample["requestContext"]["identity"]) <= set(event["requestContext"]["identity"])
