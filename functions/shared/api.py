"""The one way Telehub turns API Gateway events into routes and errors into HTTP responses.

Every API function builds its resolver with ``build_resolver`` and enters through ``resolve``:
typed errors map to a status once, here, as problem+json naming the wrong fields, and every reply
says that no cache may keep it.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.shared.errors import (
    FieldProblem,
    InvalidInput,
    PayloadTooLarge,
    TelehubError,
    UnsupportedMediaType,
)
from functions.shared.observability import logger, metrics

PROBLEM_JSON = "application/problem+json"
# Telehub's own titles, not http.HTTPStatus phrases: Python 3.13 renamed some of those (422 became
# "Unprocessable Content", 413 "Content Too Large"), and a client must not see a title that depends on
# the interpreter that served it. One per status a problem is returned with; the OpenAPI document uses them.
PROBLEM_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    411: "Length Required",  # only the edge's (infrastructure/edge.py): a body without Content-Length
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Every reply: most carry health data, a CPR number or a device credential, and a rule for all of them
# cannot miss one (a refusal is no worse for it). Cache-Control alone: Pragma is defined for requests only.
NO_STORE = {"Cache-Control": ["no-store"]}
DEFAULT_MAX_BODY_BYTES = 256 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What Powertools' route pattern accepts as a path parameter's value (its _SAFE_URI, _UNSAFE_URI and \w).
_PATH_PARAMETER = re.compile(r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+")


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    def domain_error(error: TelehubError) -> Response[str]:
        _count_refusal(error.status, error_code=error.code)
        response = problem(error.status, error.code, error.message, error.problems)
        response.headers.update(error.headers())
        return response

    @app.not_found
    def no_such_route(_: Exception) -> Response[str]:
        # API Gateway routed it here, so only a path parameter Powertools' route pattern refuses gets here:
        # malformed input, a 422 naming it as a parameter the route's own pattern refuses is (a 404 would
        # answer a well-formed id that exists and one that does not differently from a malformed one).
        problems = [FieldProblem(name, "has characters no such identifier has")
                    for name, value in sorted((app.current_event.path_parameters or {}).items())
                    if not _PATH_PARAMETER.fullmatch(value)]
        if not problems:  # no route at all (a function invoked directly): nothing to name
            _count_refusal(404, error_code="not_found")
            return problem(404, "not_found", "there is no such resource")
        _count_refusal(422, fields=[p.field for p in problems])
        return problem(422, "invalid_input", "the request is not valid; see errors", problems)

    def invalid_request(error: RequestValidationError) -> Response[str]:
        problems = [_field_problem(item, app) for item in error.errors()]
        _count_refusal(422, fields=[loggable_field(p.field) for p in problems])
        return problem(422, "invalid_input", "the request is not valid; see errors", problems)

    # Registered by a call, not as decorators: Powertools' exception_handler is unannotated, so as a
    # decorator it would leave the handlers untyped.
    app.exception_handler(TelehubError)(domain_error)
    app.exception_handler(RequestValidationError)(invalid_request)
    return app


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any,
            max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
            form_routes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Refuse oversized bodies, non-JSON media types and bodies that are no JSON object before
    anything parses them. The routes named in ``form_routes`` (their resource paths, as API Gateway
    names them) take an application/x-www-form-urlencoded body instead, and only that (a FHIR search).
    Every reply, a refusal too, carries ``NO_STORE``."""
    refusal = _refuse_body(event, max_body_bytes, form=event.get("resource") in form_routes)
    if refusal is not None:
        _count_refusal(refusal.status, error_code=refusal.code)
        response = problem(refusal.status, refusal.code, refusal.message, refusal.problems)
        reply = ResponseBuilder[APIGatewayProxyEvent](response).build(APIGatewayProxyEvent(event))
    else:
        reply = app.resolve(event, context)
    reply.setdefault("multiValueHeaders", {}).update(NO_STORE)
    return reply


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_PART = re.compile(r"\[[0-9]+\]|[^.\[\]]+")


def loggable_field(path: str) -> str:
    """The field path with every part that is no plain name replaced by '*': dict keys come from
    the body, and a client may put anything there, a CPR number included."""
    parts = [part if part.startswith("[") or _FIELD_NAME.fullmatch(part) else "*"
             for part in _PATH_PART.findall(path)]
    return "".join(part if part.startswith("[") or index == 0 else f".{part}"
                   for index, part in enumerate(parts))


def _count_refusal(status: int, **details: Any) -> None:
    """Refusals are logged by field name and code only (never a value) and counted per status."""
    logger.info("request refused", extra={"status": status, **details})
    metrics.add_metric(name=f"Refused{status}", unit="Count", value=1)


def problem(
    status: int, code: str, detail: str, problems: list[FieldProblem] | None = None
) -> Response[str]:
    body: dict[str, Any] = {
        "type": f"https://telehub.dk/problems/{code}",
        "title": PROBLEM_TITLES[status],
        "status": status,
        "code": code,
        "detail": detail,
    }
    if problems:
        body["errors"] = [{"field": p.field, "message": p.message} for p in problems]
    # Serialised here: Powertools only serialises bodies whose media type is application/json.
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


_NO_BODY = object()


def field_path(loc: tuple[Any, ...] | list[Any], received: Any = _NO_BODY, *, missing: bool = False) -> str:
    """('body', 'measurements', 3, 'unit') -> 'measurements[3].unit'.

    Pydantic puts labels into a location that name no field: the tag of a discriminated union
    (('body', 'measurements', 1, 'blood_pressure', 'diastolic')) or a plain union's member
    ('int'). Given what was ``received`` (the parsed body), a part that names nothing in it is
    such a label and is left out, except the last part of a ``missing`` error (the absent field).
    """
    parts = list(loc)
    location = parts.pop(0) if parts and parts[0] in ("body", "query", "path", "header") else None
    if received is not _NO_BODY:
        parts = _fields_only(parts, received, missing)
    if not parts:
        return location or ""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def error_field(error: dict[str, Any], received: Any = _NO_BODY) -> str:
    """The field path of one pydantic error. A wrong or missing tag of a discriminated union
    (``measurements[0].type``) is that tag field's error, not the whole item's."""
    loc, missing = tuple(error["loc"]), error["type"] == "missing"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc += (error["ctx"]["discriminator"].strip("'"),)
        missing = error["type"] == "union_tag_not_found"
    return field_path(loc, received, missing=missing)


def _fields_only(parts: list[Any], body: Any, missing: bool) -> list[Any]:
    fields, node = [], body
    for position, part in enumerate(parts):
        if _names_a_child(node, part):
            fields.append(part)
            node = node[part]
        elif missing and position == len(parts) - 1 and isinstance(node, dict):
            fields.append(part)
    return fields


def _names_a_child(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _field_problem(error: dict[str, Any], app: APIGatewayRestResolver) -> FieldProblem:
    if error["type"] == "json_invalid":  # the location is a character position, not a field
        return FieldProblem("body", "is not valid JSON")
    form = _media_type(app.current_event.headers) == FORM_MEDIA_TYPE  # its fields are named as sent
    body = app.current_event.json_body if error["loc"][:1] == ("body",) and not form else _NO_BODY
    return FieldProblem(error_field(error, body),
                        error["msg"].removeprefix("Value error, "))


def _media_type(headers: dict[str, str] | None) -> str:
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    return lowered.get("content-type", "").split(";")[0].strip().lower()


def _refuse_body(event: dict[str, Any], max_body_bytes: int, form: bool) -> TelehubError | None:
    if event.get("httpMethod") not in _BODY_METHODS or not event.get("body"):
        return None
    body = event["body"]
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: text that no UTF-8 body can carry
        return InvalidInput.for_field("body", "is not valid UTF-8")
    size = len(raw)
    if size > max_body_bytes:
        return PayloadTooLarge(f"the body is {size} bytes; at most {max_body_bytes} are accepted")
    media_type = _media_type(event.get("headers"))
    if form:
        if media_type != FORM_MEDIA_TYPE:
            return UnsupportedMediaType(f"send the body as {FORM_MEDIA_TYPE}")
        return None
    if media_type != "application/json":
        return UnsupportedMediaType("send the body as application/json")
    # Parsed here once as well: Powertools turns only JSONDecodeError into a 422, not the
    # ValueError of a number past Python's digit limit or the RecursionError of deep nesting.
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return InvalidInput.for_field("body", "is not valid JSON")
    # Powertools gives a model parameter the first item of a JSON array body; every body here is an object.
    if not isinstance(parsed, dict):
        return InvalidInput.for_field("body", "must be a JSON object")
    return None
