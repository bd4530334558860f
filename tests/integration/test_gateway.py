"""The local gateway over real HTTP, with a fake authorizer and fake functions."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from embedded.gateway import BEARER_TOKEN, Gateway
from infrastructure.edge import (
    BODY_TOO_LARGE,
    CREDENTIAL_RATE_EXCEEDED,
    GATEWAY_RESPONSES,
    LENGTH_REQUIRED,
    EdgeAnswer,
    EdgeLimits,
    RateLimit,
    Throttle,
)
from infrastructure.resource_spec import RouteSpec
from tests.support.fakes import MovableClock

ROUTES = (
    RouteSpec("POST", "/v1/things/{thing_id}", "things"),
    RouteSpec("POST", "/v1/explode", "explode"),
    RouteSpec("GET", "/v1/open", "open", authorized=False),
)
JWKS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}
UNAUTHORIZED = GATEWAY_RESPONSES["UNAUTHORIZED"].problem()


@dataclass
class FakeFunctions:
    """An authorizer that decides by the token's text (naming a usage-plan key of the token's own), and
    functions that record their events."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        self.events.setdefault(function_id, []).append(event)
        return getattr(self, function_id)(event)

    def authorizer(self, event: dict[str, Any]) -> dict[str, Any]:
        token = event["authorizationToken"].removeprefix("Bearer ")
        if token == "broken":
            raise RuntimeError("the JWKS endpoint is down")
        if token not in ("allow", "allow-other", "deny"):
            raise Exception("Unauthorized")
        arn_prefix = event["methodArn"].split("/")[0]
        return {
            "principalId": "user-1",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow" if token.startswith("allow") else "Deny",
                        "Resource": f"{arn_prefix}/local/*/*",
                    }
                ],
            },
            "context": {"role": "logistics", "subject": "user-1", "organisation": "265161000016009"},
            "usageIdentifierKey": f"usage-key-{token}",
        }

    def things(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "headers": {"X-Thing": event["pathParameters"]["thing_id"]},
            "body": json.dumps({"received": event["body"]}),
        }

    def explode(self, event: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("a bug")

    def open(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": "{}"}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any


@pytest.fixture
def functions() -> FakeFunctions:
    return FakeFunctions()


@pytest.fixture
def gateway(functions: FakeFunctions) -> Iterator[Gateway]:
    gateway = Gateway(ROUTES, functions, "authorizer", jwks=lambda: JWKS, port=0, max_body_bytes=1024)
    gateway.start()
    yield gateway
    gateway.stop()


def send(
    gateway: Gateway,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Reply:
    address = urlsplit(gateway.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    try:
        if chunked:
            connection.request(
                method, path, body=iter([body or b""]), headers=all_headers, encode_chunked=True
            )
        else:
            connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        return Reply(response.status, response.headers, json.loads(payload) if payload else None)
    finally:
        connection.close()


def assert_gateway_answer(reply: Reply, response_type: str, error_type: str) -> None:
    """API Gateway's own answer: the stack's gateway response, as problem+json, naming its error type."""
    assert (reply.status, reply.body) == (
        GATEWAY_RESPONSES[response_type].status,
        GATEWAY_RESPONSES[response_type].problem(),
    )
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["x-amzn-ErrorType"] == error_type




def test_an_authorized_request_reaches_its_function_as_a_proxy_event(gateway, functions):
    # Given an authorizer that allows the token
    # When a request with a path parameter, a query and a body arrives
    reply = send(
        gateway,
        "POST",
        "/v1/things/t%2D1?colour=red&colour=blue",
        b'{"a": 1}',
        token="allow",
        headers={"X-Trace": "abc"},
    )
    # Then the function got API Gateway's event, with the authorizer's context and principal
    assert reply.status == 201 and reply.headers["X-Thing"] == "t-1" and reply.headers["x-amzn-RequestId"]
    assert reply.body == {"received": '{"a": 1}'}
    event = functions.events["things"][0]
    assert event["resource"] == "/v1/things/{thing_id}" and event["pathParameters"] == {"thing_id": "t-1"}
    assert event["queryStringParameters"] == {"colour": "blue"}
    assert event["multiValueQueryStringParameters"] == {"colour": ["red", "blue"]}
    assert event["headers"]["X-Trace"] == "abc" and event["headers"]["Authorization"] == "Bearer allow"
    assert event["requestContext"]["authorizer"] == {
        "role": "logistics",
        "subject": "user-1",
        "organisation": "265161000016009",
        "principalId": "user-1",
        "integrationLatency": 0,
    }
    # And the authorizer got a TOKEN event for this method and path
    authorizer_event = functions.events["authorizer"][0]
    assert authorizer_event["type"] == "TOKEN" and authorizer_event["authorizationToken"] == "Bearer allow"
    assert authorizer_event["methodArn"].endswith("/local/POST/v1/things/t%2D1")


def test_without_a_token_the_answer_is_401_and_the_authorizer_is_not_called(gateway, functions):
    reply = send(gateway, "POST", "/v1/things/t1", b"{}")
    assert_gateway_answer(reply, "UNAUTHORIZED", "UnauthorizedException")
    assert "authorizer" not in functions.events and "things" not in functions.events


def test_a_token_the_authorizer_refuses_is_401(gateway, functions):
    reply = send(gateway, "POST", "/v1/things/t1", b"{}", token="expired")
    assert_gateway_answer(reply, "UNAUTHORIZED", "UnauthorizedException")
    assert "things" not in functions.events


def test_an_explicit_deny_is_403(gateway, functions):
    reply = send(gateway, "POST", "/v1/things/t1", b"{}", token="deny")
    assert_gateway_answer(reply, "ACCESS_DENIED", "AccessDeniedException")
    assert "things" not in functions.events


def test_a_failing_authorizer_is_500_so_the_client_retries(gateway):
    reply = send(gateway, "POST", "/v1/things/t1", b"{}", token="broken")
    assert_gateway_answer(reply, "AUTHORIZER_FAILURE", "AuthorizerConfigurationException")


def test_an_unknown_route_or_method_is_403_no_such_route(gateway, functions):
    for method, path in [("GET", "/v1/nothing"), ("GET", "/v1/things/t1"), ("POST", "/v1/things")]:
        reply = send(gateway, method, path, token="allow")
        assert_gateway_answer(reply, "MISSING_AUTHENTICATION_TOKEN", "MissingAuthenticationTokenException")
    assert functions.events == {}


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_a_method_no_route_has_is_api_gateways_403_never_501(gateway, functions, method):
    # When a request comes with a method http.server has no handler of its own for
    reply = send(gateway, method, "/v1/things/t1", token="allow")
    # Then the answer is API Gateway's: no route has it, 403 as problem+json
    assert_gateway_answer(reply, "MISSING_AUTHENTICATION_TOKEN", "MissingAuthenticationTokenException")
    assert functions.events == {}


def test_a_failing_function_is_502(gateway):
    reply = send(gateway, "POST", "/v1/explode", b"{}", token="allow")
    assert_gateway_answer(reply, "DEFAULT_5XX", "InternalServerErrorException")


def test_a_body_over_the_limit_is_413_before_any_function_runs(gateway, functions):
    reply = send(gateway, "POST", "/v1/things/t1", b"x" * 2048, token="allow")
    assert_gateway_answer(reply, "REQUEST_TOO_LARGE", "RequestTooLongException")
    assert functions.events == {}


def test_a_post_without_content_length_is_the_web_acls_411_and_its_body_is_never_read(gateway, functions):
    # When a body is sent chunked, with no Content-Length
    reply = send(gateway, "POST", "/v1/things/t1", b'{"chunked": true}', token="allow", chunked=True)
    # Then the web ACL refuses it, and nothing behind it ran
    assert_web_acl_answer(reply, LENGTH_REQUIRED)
    assert functions.events == {}
    # And a POST that declares an empty body (Content-Length: 0) passes
    assert send(gateway, "POST", "/v1/things/t1", token="allow").status == 201


def test_a_chunked_body_of_another_method_is_read_whole(gateway, functions):
    reply = send(gateway, "GET", "/v1/open", b'{"chunked": true}', chunked=True)
    assert reply.status == 200
    assert functions.events["open"][0]["body"] == '{"chunked": true}'


def test_an_open_route_skips_the_authorizer(gateway, functions):
    reply = send(gateway, "GET", "/v1/open")
    assert reply.status == 200
    assert "authorizer" not in functions.events
    assert "authorizer" not in functions.events["open"][0]["requestContext"]


def test_the_dev_issuers_jwks_is_served(gateway):
    reply = send(gateway, "GET", "/.well-known/jwks.json")
    assert (reply.status, reply.body) == (200, JWKS)


def test_a_token_not_shaped_like_the_stacks_validation_expression_never_reaches_the_authorizer(functions):
    # Given a gateway with the TOKEN authorizer's identity validation expression
    gateway = Gateway(ROUTES, functions, "authorizer", jwks=lambda: JWKS, port=0, token_pattern=BEARER_TOKEN)
    gateway.start()
    try:
        # When a token that is not "Bearer <jwt>" arrives
        reply = send(gateway, "POST", "/v1/things/t1", b"{}", token="allow")
    finally:
        gateway.stop()
    # Then API Gateway's 401 comes back and the authorizer was not invoked
    assert (reply.status, reply.body) == (401, UNAUTHORIZED)
    assert functions.events == {}


def test_the_validation_expression_is_the_one_the_stack_gives_the_authorizer():
    from infrastructure.api import BEARER_TOKEN as STACK_BEARER_TOKEN  # imports the CDK: only here

    assert BEARER_TOKEN == STACK_BEARER_TOKEN


@pytest.fixture
def clock() -> MovableClock[float]:
    return MovableClock(0.0)


@pytest.fixture
def limited(functions: FakeFunctions, clock: MovableClock[float]) -> Iterator[Gateway]:
    """A gateway with small edge limits: 2 requests a minute per credential, bodies of 512 bytes."""
    limits = EdgeLimits(max_body_bytes=512, per_credential=RateLimit(requests=2, window_seconds=60))
    gateway = Gateway(ROUTES, functions, "authorizer", jwks=lambda: JWKS, port=0, limits=limits, clock=clock)
    gateway.start()
    yield gateway
    gateway.stop()


def assert_web_acl_answer(reply: Reply, answer: EdgeAnswer) -> None:
    """The web ACL's custom response: the edge's problem as application/json, not to be stored, no API
    Gateway error type."""
    assert (reply.status, reply.body) == (answer.status, answer.problem())
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "x-amzn-ErrorType" not in reply.headers


def test_a_declared_body_over_the_edges_limit_is_the_web_acls_413_before_anything_runs(limited, functions):
    # When a body longer than the edge's limit is sent, to a route and to no route
    for path in ("/v1/things/t1", "/v1/nothing"):
        reply = send(limited, "POST", path, b"x" * 513, token="allow")
        # Then the web ACL refuses it by its Content-Length, and nothing behind it ran
        assert_web_acl_answer(reply, BODY_TOO_LARGE)
    assert functions.events == {}
    # And a body at the limit passes
    assert send(limited, "POST", "/v1/things/t1", b"x" * 512, token="allow").status == 201


def test_a_hammering_credential_gets_429_while_another_is_served_and_it_recovers_as_time_passes(
    limited, functions, clock
):
    # Given a credential that used its 2 requests of the minute
    for _ in range(2):
        assert send(limited, "POST", "/v1/things/t1", b"{}", token="allow").status == 201
    # When it sends a third
    hammering = send(limited, "POST", "/v1/things/t1", b"{}", token="allow")
    # Then the web ACL refuses it before the authorizer runs
    assert_web_acl_answer(hammering, CREDENTIAL_RATE_EXCEEDED)
    assert len(functions.events["authorizer"]) == 2
    # And another credential is not affected (its refusal is the authorizer's 403, not a 429)
    assert send(limited, "POST", "/v1/things/t1", b"{}", token="deny").status == 403
    # And after half the window the first has one request again
    clock.now += 30
    assert send(limited, "POST", "/v1/things/t1", b"{}", token="allow").status == 201
    assert send(limited, "POST", "/v1/things/t1", b"{}", token="allow").status == 429


def test_the_stage_throttle_is_api_gateways_429_for_everyone(functions, clock):
    # Given a stage throttle of a burst of 2, refilled at 1 a second
    limits = EdgeLimits(stage=Throttle(rate=1, burst=2))
    gateway = Gateway(ROUTES, functions, "authorizer", jwks=lambda: JWKS, port=0, limits=limits, clock=clock)
    gateway.start()
    try:
        # When three callers send at once
        statuses = [send(gateway, "GET", "/v1/open").status for _ in range(2)]
        throttled = send(gateway, "POST", "/v1/things/t1", b"{}", token="allow")
        # Then the third is API Gateway's THROTTLED answer, whoever sent it
        assert statuses == [200, 200]
        assert_gateway_answer(throttled, "THROTTLED", "TooManyRequestsException")
        # And a second later there is room for one more
        clock.now += 1
        assert send(gateway, "GET", "/v1/open").status == 200
    finally:
        gateway.stop()


def test_a_usage_plan_throttles_its_keys_callers_only_and_a_key_no_plan_has_is_403(functions, clock):
    # Given usage plans of a burst of 2, refilled at 1 a second, for the keys the authorizer names for
    # "allow" and "deny" (not for "allow-other")
    plan = Throttle(rate=1, burst=2)
    limits = EdgeLimits(per_usage_key={"usage-key-allow": plan, "usage-key-deny": plan})
    gateway = Gateway(ROUTES, functions, "authorizer", jwks=lambda: JWKS, port=0, limits=limits, clock=clock)
    gateway.start()
    try:
        # When the caller whose key is "usage-key-allow" calls three times at once
        statuses = [send(gateway, "POST", "/v1/things/t1", b"{}", token="allow").status for _ in range(2)]
        throttled = send(gateway, "POST", "/v1/things/t1", b"{}", token="allow")
        # Then the third is API Gateway's THROTTLED answer, and its function did not run
        assert statuses == [201, 201]
        assert_gateway_answer(throttled, "THROTTLED", "TooManyRequestsException")
        assert len(functions.events["things"]) == 2
        # And a caller the policy denies gets its 403 first, its plan untouched
        assert send(gateway, "POST", "/v1/things/t1", b"{}", token="deny").status == 403
        # And a caller whose key is in no plan is refused with API Gateway's 403 for it
        unplanned = send(gateway, "POST", "/v1/things/t1", b"{}", token="allow-other")
        assert_gateway_answer(unplanned, "INVALID_API_KEY", "ForbiddenException")
        # And a route without the authorizer is no plan's
        assert send(gateway, "GET", "/v1/open").status == 200
        # And a second later the throttled key has room for one more
        clock.now += 1
        assert send(gateway, "POST", "/v1/things/t1", b"{}", token="allow").status == 201
    finally:
        gateway.stop()


def test_a_client_that_hung_up_is_one_quiet_line_and_any_other_failure_a_traceback(gateway, capsys):
    # Given the gateway's server, as its handler thread reports a failure while serving a request
    server = gateway._server
    for failure, printed in ((BrokenPipeError(32, "Broken pipe"), False),
                             (ConnectionResetError(104, "Connection reset by peer"), False),
                             (ValueError("a bug in the gateway"), True)):
        try:
            raise failure
        except Exception:
            server.handle_error(None, ("127.0.0.1", 50000))
        # Then a client hanging up prints nothing, and a bug of the gateway's prints its traceback
        assert bool(capsys.readouterr().err) is printed, failure
