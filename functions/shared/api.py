"""The one way Telehub turns API Gateway events into routes and errors into HTTP responses.

Every API function builds its resolver with ``build_resolver`` and enters through ``resolve``:
typed errors map to a status once, here, as problem+json naming the wrong fields.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from functions.shared.errors import FieldProblem, PayloadTooLarge, TelehubError, UnsupportedMediaType
from functions.shared.observability import logger

PROBLEM_JSON = "application/problem+json"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(TelehubError)
    def domain_error(error: TelehubError) -> Response:
        logger.info("request refused", extra={"status": error.status, "error_code": error.code})
        return problem(error.status, error.code, error.message, error.problems)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        problems = [FieldProblem(field_path(item["loc"]), item["msg"]) for item in error.errors()]
        logger.info("request refused", extra={"status": 422, "fields": [p.field for p in problems]})
        return problem(422, "invalid_input", "the request is not valid; see errors", problems)

    return app


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any,
            max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> dict[str, Any]:
    """Refuse oversized bodies and non-JSON media types before anything parses them."""
    refusal = _refuse_body(event, max_body_bytes)
    if refusal is not None:
        return problem(refusal.status, refusal.code, refusal.message).build_dict()
    return app.resolve(event, context)


def problem(status: int, code: str, detail: str, problems: list[FieldProblem] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"https://telehub.dk/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if problems:
        body["errors"] = [{"field": p.field, "message": p.message} for p in problems]
    return Response(status_code=status, content_type=PROBLEM_JSON, body=body)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'measurements', 3, 'unit') -> 'measurements[3].unit'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        location = parts.pop(0)
        if not parts:
            return location
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _refuse_body(event: dict[str, Any], max_body_bytes: int) -> TelehubError | None:
    if event.get("httpMethod") not in _BODY_METHODS or not event.get("body"):
        return None
    body = event["body"]
    size = len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode("utf-8"))
    if size > max_body_bytes:
        return PayloadTooLarge(f"the body is {size} bytes; at most {max_body_bytes} are accepted")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return UnsupportedMediaType("send the body as application/json")
    return None
