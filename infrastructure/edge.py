"""What Telehub's edge answers itself, before any function runs, and the edge's limits.

Two parts answer there: API Gateway (its gateway responses: no or a bad token, a role the route does not
allow, no such route, its throttles (the stage's, and the usage plans' per organisation, for all citizens
and for all devices), a failing authorizer or function) and the web ACL in front of it (a body over the
limit or without a declared length, too many requests with one credential or from one address). Every
answer is the problem+json body a Telehub function would send (functions.shared.api.problem). API Gateway
sends it as application/problem+json; WAF can only say application/json (its custom responses know three
media types), so the web ACL's answers carry the same body under that media type.

Pure data: the stack (infrastructure/api.py), the embedded gateway and the OpenAPI generator all read it,
so what AWS answers, what the embedded mode answers and what the document promises cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.shared.api import DEFAULT_MAX_BODY_BYTES, PROBLEM_JSON, problem

# WAF's custom responses can say text/plain, text/html or application/json only.
WAF_MEDIA_TYPE = "application/json"
# The largest body any route accepts (uploads take at most 128 KiB, every other route 256 KiB; an upload of
# 200 measurements is about 50 KiB): anything larger is refused by the web ACL and never reaches Lambda.
MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES
# API Gateway's own payload limit.
API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
# The methods whose requests must declare their body's length: the web ACL cannot hold a body it cannot
# measure (chunked) to the limit, so it refuses one without Content-Length.
BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class EdgeAnswer:
    """One refusal the edge writes itself: its status and a problem's code and detail."""

    status: int
    code: str
    detail: str

    def body(self) -> str:
        return str(problem(self.status, self.code, self.detail).body)

    def problem(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body())
        return parsed


_RETRY = "; retry later with the same request"

# API Gateway's gateway responses by response type, each with the status it is sent with. Every type
# API Gateway has is here, so none answers with API Gateway's own {"message": ...}; DEFAULT_5XX is what a
# failing function's 502 is sent as (API Gateway names no type of its own for it) and DEFAULT_4XX a 4xx
# of a type API Gateway adds later.
GATEWAY_RESPONSES: dict[str, EdgeAnswer] = {
    "UNAUTHORIZED": EdgeAnswer(
        401, "unauthorized", "a valid bearer token is required: it is missing, malformed, expired or not "
        "trusted, or the credential of a revoked device"),
    "ACCESS_DENIED": EdgeAnswer(403, "forbidden", "the caller's role may not call this route"),
    "MISSING_AUTHENTICATION_TOKEN": EdgeAnswer(403, "no_such_route", "no route has this method and path"),
    "WAF_FILTERED": EdgeAnswer(403, "forbidden", "the request was refused by the web application firewall"),
    "EXPIRED_TOKEN": EdgeAnswer(403, "forbidden", "the request's AWS signature has expired"),
    "INVALID_SIGNATURE": EdgeAnswer(403, "forbidden", "the request's AWS signature is not valid"),
    "INVALID_API_KEY": EdgeAnswer(403, "forbidden", "the API key is not valid"),
    "RESOURCE_NOT_FOUND": EdgeAnswer(404, "not_found", "there is no such resource"),
    "BAD_REQUEST_BODY": EdgeAnswer(400, "bad_request", "the body does not fit the route's model"),
    "BAD_REQUEST_PARAMETERS": EdgeAnswer(400, "bad_request", "a required request parameter is missing"),
    "DEFAULT_4XX": EdgeAnswer(400, "bad_request", "the request was refused"),
    "REQUEST_TOO_LARGE": EdgeAnswer(
        413, "payload_too_large",
        f"the body is larger than API Gateway accepts ({API_GATEWAY_MAX_BODY_BYTES} bytes)"),
    "UNSUPPORTED_MEDIA_TYPE": EdgeAnswer(415, "unsupported_media_type", "the body's content encoding is not "
                                         "supported"),
    "THROTTLED": EdgeAnswer(429, "too_many_requests", "too many requests to the API, or from the caller's "
                            "organisation, from all citizens or from all devices" + _RETRY),
    "QUOTA_EXCEEDED": EdgeAnswer(429, "too_many_requests", "the caller's quota is used up" + _RETRY),
    "AUTHORIZER_FAILURE": EdgeAnswer(500, "authorizer_failed", "the caller could not be authorised just now"
                                     + _RETRY),
    "AUTHORIZER_CONFIGURATION_ERROR": EdgeAnswer(
        500, "authorizer_failed", "the caller could not be authorised just now" + _RETRY),
    "API_CONFIGURATION_ERROR": EdgeAnswer(500, "internal_error", "the API is misconfigured" + _RETRY),
    "DEFAULT_5XX": EdgeAnswer(502, "bad_gateway", "the route's function failed" + _RETRY),
    "INTEGRATION_FAILURE": EdgeAnswer(502, "bad_gateway", "the route's function failed" + _RETRY),
    "INTEGRATION_TIMEOUT": EdgeAnswer(504, "gateway_timeout", "the route's function did not answer in time"
                                      + _RETRY),
}
# The headers API Gateway sends its answers with: problem+json, and like every reply of Telehub's, not
# to be stored by any cache.
GATEWAY_HEADERS = {"Content-Type": PROBLEM_JSON, "Cache-Control": "no-store"}

# The web ACL's refusals, by the name of their custom response body.
BODY_TOO_LARGE = EdgeAnswer(
    413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes, the most any route accepts")
LENGTH_REQUIRED = EdgeAnswer(
    411, "length_required", "a POST, PUT or PATCH must declare its body's length in Content-Length (0 for "
    "no body); a chunked body is refused")
CREDENTIAL_RATE_EXCEEDED = EdgeAnswer(
    429, "too_many_requests", "too many requests with this credential; wait a minute, then retry")
ADDRESS_RATE_EXCEEDED = EdgeAnswer(
    429, "too_many_requests", "too many requests from this address; wait a few minutes, then retry")
WAF_RESPONSES: dict[str, EdgeAnswer] = {
    "body_too_large": BODY_TOO_LARGE,
    "length_required": LENGTH_REQUIRED,
    "credential_rate_exceeded": CREDENTIAL_RATE_EXCEEDED,
    "address_rate_exceeded": ADDRESS_RATE_EXCEEDED,
}


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``window_seconds`` for one key (a credential)."""

    requests: int
    window_seconds: int


@dataclass(frozen=True)
class Throttle:
    """One of API Gateway's throttles: a token bucket of ``burst`` refilled at ``rate`` per second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class EdgeLimits:
    """The edge's limits as the embedded gateway applies them: the web ACL's body rules (on in every stage)
    and, where given, its limit per credential, API Gateway's stage throttle (shared by every caller) and
    its usage plans' throttles by API key (functions.authorizer.usage.usage_key; a key the authorizer
    names that none has is API Gateway's 403)."""

    max_body_bytes: int = MAX_BODY_BYTES
    per_credential: RateLimit | None = None
    stage: Throttle | None = None
    per_usage_key: Mapping[str, Throttle] | None = None


def decimal_above(limit: int) -> str:
    """A regular expression matching exactly the decimal numbers greater than ``limit`` (leading zeros
    allowed): how the web ACL compares a Content-Length header with a number, which WAF cannot do."""
    digits = str(limit)
    longer = f"[1-9][0-9]{{{len(digits)},}}"
    same_length = [
        f"{digits[:position]}[{int(digit) + 1}-9]" + (f"[0-9]{{{len(digits) - position - 1}}}"
                                                       if position < len(digits) - 1 else "")
        for position, digit in enumerate(digits)
        if digit != "9"
    ]
    return f"^0*({'|'.join([longer, *same_length])})$"
