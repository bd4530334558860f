"""A local stand-in for API Gateway (REST API, Lambda proxy integration, TOKEN authorizer).

Turns HTTP requests into the proxy events API Gateway would send, runs the authorizer first for
authorized routes and answers the way the stack's API Gateway does when it refuses a request itself,
with the stack's gateway responses (infrastructure/edge.py, problem+json): no route for the method and
path (any method, TRACE and made-up ones too) 403 ``no_such_route``, no or a bad token 401, a method ARN
that no Allow of the authorizer's policy matches (or that a Deny matches) 403, a failing authorizer 500,
a failing integration 502. In front of that it does what the stack's web ACL does first
(infrastructure/edge.py): a declared body over the edge's limit is 413, a POST, PUT or PATCH that declares
no length (chunked) 411 and a credential over its rate limit 429, before any route, authorizer or function
runs; and API Gateway's stage throttle and its usage plans' (by the API key the authorizer names) are token
buckets too. The limits are off unless given (``EdgeLimits``), with a clock tests control. It also serves
the dev issuer's JWKS, which the authorizer fetches, and, when given ``pages`` (embedded/web.py), what the
embedded mode serves besides the API on the same origin: the web app, its config.json and the sign-in.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from embedded.lambda_runtime import ACCOUNT_ID, describe_failure
from infrastructure.edge import (
    API_GATEWAY_MAX_BODY_BYTES,
    BODY_METHODS,
    BODY_TOO_LARGE,
    CREDENTIAL_RATE_EXCEEDED,
    GATEWAY_HEADERS,
    GATEWAY_RESPONSES,
    LENGTH_REQUIRED,
    WAF_MEDIA_TYPE,
    EdgeAnswer,
    EdgeLimits,
)
from infrastructure.resource_spec import RouteSpec

MAX_BODY_BYTES = API_GATEWAY_MAX_BODY_BYTES
JWKS_PATH = "/.well-known/jwks.json"
API_ID = "telehublocal"
# The TOKEN authorizer's identity validation expression, as the stack configures it
# (infrastructure/api.py; a test keeps the two equal): anything else is a 401 without the authorizer.
BEARER_TOKEN = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

log = logging.getLogger("telehub.gateway")

InvokeFunction = Callable[[str, dict[str, Any]], Any]
# Answers a request that is no API call (the web app's files, the sign-in), or None to leave it to the routes.
Pages = Callable[["Request"], "Reply | None"]


class GatewayRefusal(Exception):
    """API Gateway answers the request itself: the stack's gateway response of one type, with the error
    type API Gateway names in its x-amzn-ErrorType header."""

    def __init__(self, response_type: str, error_type: str) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        self.answer: EdgeAnswer = GATEWAY_RESPONSES[response_type]
        self.error_type = error_type

    @property
    def status(self) -> int:
        return self.answer.status

    @property
    def code(self) -> str:
        return self.answer.code


class WebAclRefusal(Exception):
    """The web ACL in front of API Gateway answers the request: the edge's problem, as application/json."""

    def __init__(self, answer: EdgeAnswer) -> None:
        super().__init__(answer.code)
        self.answer = answer


MISSING_TOKEN = GatewayRefusal("MISSING_AUTHENTICATION_TOKEN", "MissingAuthenticationTokenException")
UNAUTHORIZED = GatewayRefusal("UNAUTHORIZED", "UnauthorizedException")
ACCESS_DENIED = GatewayRefusal("ACCESS_DENIED", "AccessDeniedException")
AUTHORIZER_FAILED = GatewayRefusal("AUTHORIZER_FAILURE", "AuthorizerConfigurationException")
INTEGRATION_FAILED = GatewayRefusal("DEFAULT_5XX", "InternalServerErrorException")
TOO_LARGE = GatewayRefusal("REQUEST_TOO_LARGE", "RequestTooLongException")
THROTTLED = GatewayRefusal("THROTTLED", "TooManyRequestsException")
INVALID_API_KEY = GatewayRefusal("INVALID_API_KEY", "ForbiddenException")


class TokenBuckets:
    """A token bucket per key: ``capacity`` requests at once, refilled at ``refill_per_second``; a key whose
    bucket is empty is refused until it has refilled. The clock is injected, so tests need no sleeps."""

    def __init__(self, capacity: float, refill_per_second: float, clock: Callable[[], float]) -> None:
        self._capacity = capacity
        self._refill_per_second = refill_per_second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - counted) * self._refill_per_second)
            taken = tokens >= 1
            self._buckets[key] = (tokens - 1 if taken else tokens, now)
            return taken


@dataclass(frozen=True)
class Route:
    spec: RouteSpec
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, spec: RouteSpec) -> Route:
        """'/v1/devices/{device_id}' matches one non-empty path segment; '{proxy+}' matches the rest."""
        regex = ""
        for segment in spec.path.strip("/").split("/"):
            parameter = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
            if parameter:
                regex += f"/(?P<{parameter[1]}>{'.+' if parameter[2] else '[^/]+'})"
            else:
                regex += "/" + re.escape(segment)
        return cls(spec, re.compile(regex or "/"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.spec.method:
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string, as sent
    query: str
    headers: Sequence[tuple[str, str]]  # in the order sent, repeats kept
    body: bytes
    source_ip: str


def find_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]]:
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None:
            return route, parameters
    raise MISSING_TOKEN


def method_arn(region: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{path}"


def proxy_event(
    route: Route,
    path_parameters: dict[str, str],
    request: Request,
    *,
    stage: str,
    request_id: str,
    authorizer: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The event API Gateway's Lambda proxy integration sends for ``request`` (REST API, payload 1.0)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    body, is_base64 = _event_body(request.body)
    host = headers.get("Host") or headers.get("host") or ""
    return {
        "resource": route.spec.path,
        "path": unquote(request.path),
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": route.spec.function,
            "resourcePath": route.spec.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{request.path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": headers.get("User-Agent") or headers.get("user-agent"),
                "user": None,
            },
            "domainName": host,
            "apiId": API_ID,
            **({"authorizer": authorizer} if authorizer is not None else {}),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_body(body: bytes) -> tuple[str | None, bool]:
    """Text bodies pass as they are; bytes that are not UTF-8 pass base64-encoded (binary media type)."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def authorizer_context(result: Any, arn: str) -> dict[str, Any]:
    """requestContext.authorizer from a TOKEN authorizer's result, if its policy allows ``arn``."""
    if not isinstance(result, dict) or not isinstance(result.get("principalId"), str):
        raise AUTHORIZER_FAILED
    statements = (result.get("policyDocument") or {}).get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise AUTHORIZER_FAILED
    applicable = [
        s
        for s in statements
        if _matches(s.get("Action"), "execute-api:Invoke", case_sensitive=False)
        and _matches(s.get("Resource"), arn, case_sensitive=True)
    ]
    if any(s.get("Effect") == "Deny" for s in applicable) or not any(
        s.get("Effect") == "Allow" for s in applicable
    ):
        raise ACCESS_DENIED
    context = result.get("context") or {}
    if not isinstance(context, dict) or not all(
        isinstance(v, str | int | float | bool) for v in context.values()
    ):
        raise AUTHORIZER_FAILED  # API Gateway accepts strings, numbers and booleans only
    # REST APIs pass the context on as strings, next to the principal id.
    passed_on: dict[str, Any] = {name: _as_string(value) for name, value in context.items()}
    return {**passed_on, "principalId": result["principalId"], "integrationLatency": 0}


def _as_string(value: str | int | float | bool) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _matches(patterns: Any, value: str, case_sensitive: bool) -> bool:
    """IAM wildcard matching: '*' any run of characters, '?' one character."""
    for pattern in [patterns] if isinstance(patterns, str) else (patterns or []):
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
        if re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE):
            return True
    return False


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def integration_reply(result: Any) -> Reply:
    """The HTTP reply for a proxy integration's result; anything malformed is API Gateway's 502."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise INTEGRATION_FAILED
    headers = dict(result.get("headers") or {})
    multi_headers = dict(result.get("multiValueHeaders") or {})
    merged = [(name, str(value)) for name, value in headers.items() if name not in multi_headers]
    merged += [(name, str(value)) for name, values in multi_headers.items() for value in values]
    if not any(name.lower() == "content-type" for name, _ in merged):
        merged.append(("Content-Type", "application/json"))
    body = result.get("body")
    body = "" if body is None else body
    if not isinstance(body, str):
        raise INTEGRATION_FAILED
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return Reply(result["statusCode"], merged, payload)


def web_acl_reply(refusal: WebAclRefusal) -> Reply:
    """The web ACL's custom response: its status and body, under the one JSON media type WAF can send, not
    to be stored."""
    headers = [("Content-Type", WAF_MEDIA_TYPE), ("Cache-Control", GATEWAY_HEADERS["Cache-Control"])]
    return Reply(refusal.answer.status, headers, refusal.answer.body().encode())


def refusal_reply(refusal: GatewayRefusal) -> Reply:
    return Reply(
        refusal.status,
        [*GATEWAY_HEADERS.items(), ("x-amzn-ErrorType", refusal.error_type)],
        refusal.answer.body().encode(),
    )


class Gateway:
    """Binds at construction (so a taken port fails at once), serves after ``start``."""

    def __init__(
        self,
        routes: Sequence[RouteSpec],
        invoke: InvokeFunction,
        authorizer: str | None,
        jwks: Callable[[], dict[str, Any]],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        stage: str = "local",
        region: str = "eu-west-1",
        max_body_bytes: int = MAX_BODY_BYTES,
        token_pattern: str | None = None,
        limits: EdgeLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        pages: Pages | None = None,
    ) -> None:
        self.routes = [Route.of(route) for route in routes]
        self.pages = pages
        self.token_pattern = re.compile(token_pattern) if token_pattern else None
        self.invoke = invoke
        self.authorizer = authorizer
        self.jwks = jwks
        self.stage = stage
        self.region = region
        self.max_body_bytes = max_body_bytes
        self.limits = limits = limits or EdgeLimits()
        credential, stage_throttle = limits.per_credential, limits.stage
        self._per_credential = None if credential is None else TokenBuckets(
            credential.requests, credential.requests / credential.window_seconds, clock)
        self._stage_throttle = None if stage_throttle is None else TokenBuckets(
            stage_throttle.burst, stage_throttle.rate, clock)
        plans = limits.per_usage_key
        self._usage_plans = None if plans is None else {
            key: TokenBuckets(throttle.burst, throttle.rate, clock) for key, throttle in plans.items()}
        self._server = _GatewayServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="telehub-gateway",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == JWKS_PATH:
            return Reply(200, [("Content-Type", "application/json")], json.dumps(self.jwks()).encode())
        page = self.pages(request) if self.pages is not None else None
        if page is not None:
            return page
        request_id = str(uuid.uuid4())
        try:
            self._web_acl(request)
            route, parameters = find_route(self.routes, request.method, request.path)
            if len(request.body) > self.max_body_bytes:
                raise TOO_LARGE
            if self._stage_throttle and not self._stage_throttle.take("stage"):
                raise THROTTLED
            authorizer = self.authorizer if route.spec.authorized else None
            context = self._authorize(authorizer, request) if authorizer else None
            event = proxy_event(
                route,
                parameters,
                request,
                stage=self.stage,
                request_id=request_id,
                authorizer=context,
                now=datetime.now(UTC),
            )
            reply = integration_reply(self._invoke(route.spec.function, event))
        except WebAclRefusal as refusal:
            reply = web_acl_reply(refusal)
        except GatewayRefusal as refusal:
            reply = refusal_reply(refusal)
        return Reply(reply.status, [*reply.headers, ("x-amzn-RequestId", request_id)], reply.body)

    def _web_acl(self, request: Request) -> None:
        """The web ACL's limits, in its rules' order: the declared body size, a declared length at all,
        then the credential's rate (a request with no Authorization header is not counted, as WAF leaves out
        a request without the key's header)."""
        if _declared_length(request.headers) > self.limits.max_body_bytes:
            raise WebAclRefusal(BODY_TOO_LARGE)
        if _length_missing(request.method, request.headers):
            raise WebAclRefusal(LENGTH_REQUIRED)
        token = _authorization(request.headers)
        if token and self._per_credential and not self._per_credential.take(token):
            raise WebAclRefusal(CREDENTIAL_RATE_EXCEEDED)

    def _authorize(self, authorizer: str, request: Request) -> dict[str, Any]:
        token = _authorization(request.headers)
        if not token or (self.token_pattern and not self.token_pattern.fullmatch(token)):
            raise UNAUTHORIZED
        arn = method_arn(self.region, self.stage, request.method, request.path)
        try:
            result = self.invoke(authorizer, {"type": "TOKEN", "authorizationToken": token, "methodArn": arn})
        except Exception as error:
            if str(error) == "Unauthorized":
                raise UNAUTHORIZED from None
            log.error("authorizer failed: %s", describe_failure(error))
            raise AUTHORIZER_FAILED from None
        context = authorizer_context(result, arn)
        self._usage_plan(result.get("usageIdentifierKey"))
        return context

    def _usage_plan(self, key: Any) -> None:
        """API Gateway's usage plans, after the policy: the API key the authorizer named must be one of a
        plan's (403 otherwise), and its bucket must not be empty (429)."""
        if self._usage_plans is None:
            return
        if key not in self._usage_plans:
            raise INVALID_API_KEY
        if not self._usage_plans[key].take(key):
            raise THROTTLED

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        try:
            return self.invoke(function, event)
        except Exception as error:
            log.error("function %s failed: %s", function, describe_failure(error))
            raise INTEGRATION_FAILED from None


def _authorization(headers: Sequence[tuple[str, str]]) -> str:
    return next((value for name, value in headers if name.lower() == "authorization"), "")


def _declared_length(headers: Sequence[tuple[str, str]]) -> int:
    declared = next((value for name, value in headers if name.lower() == "content-length"), "0").strip()
    return int(declared) if declared.isdigit() else 0


def _length_missing(method: str, headers: Sequence[tuple[str, str]]) -> bool:
    return method in BODY_METHODS and not any(name.lower() == "content-length" for name, _ in headers)


def _refused_unread(method: str, headers: Sequence[tuple[str, str]], limits: EdgeLimits) -> bool:
    """The web ACL refuses the request by its headers alone, so its body is never read."""
    return _declared_length(headers) > limits.max_body_bytes or _length_missing(method, headers)


class _GatewayServer(ThreadingHTTPServer):
    """The HTTP server of one gateway, which its request handlers reach through ``server``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _RequestHandler)
        self.host = address[0]
        self.gateway = gateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timed-out tablet, the load benchmark stopping) is no error of the
        gateway's: one quiet line instead of a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("%s hung up", client_address[0])
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "TelehubGateway"
    timeout = 30  # an idle keep-alive connection does not hold a thread for ever
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the client's
    # delayed ACK on a kept-alive connection, about 40 ms a reply.
    disable_nagle_algorithm = True

    def __getattr__(self, name: str) -> Any:
        # Every method is served, TRACE and made-up ones too: API Gateway answers a method no route has
        # like any path no route has (403), where http.server would answer 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.monotonic()
        gateway = self.server.gateway
        target = urlsplit(self.path)
        if _refused_unread(self.command, list(self.headers.items()), gateway.limits):
            body: bytes | None = b""  # refused by its headers, unread, as the web ACL does
            self.close_connection = True  # the unread body cannot be skipped
        else:
            body = self._read_body(gateway.max_body_bytes)
        if body is None:
            reply = refusal_reply(TOO_LARGE)
            self.close_connection = True  # the unread body cannot be skipped
        else:
            request = Request(
                self.command,
                target.path,
                target.query,
                list(self.headers.items()),
                body,
                self.client_address[0],
            )
            reply = gateway.handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        # One line per request: no query string, no body, no token.
        log.info(
            "%s %s -> %d in %.0f ms",
            self.command,
            target.path,
            reply.status,
            (time.monotonic() - started) * 1000,
        )

    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None if it is larger than ``limit``."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        return None if length > limit else self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes | None:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            if len(body) + size > limit:
                return None
            body += self.rfile.read(size)
            self.rfile.readline()

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        log.warning("%s: %s", self.client_address[0], format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _serve logs one line per request, without the query string
