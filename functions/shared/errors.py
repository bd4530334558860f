"""Typed domain errors. Each carries its HTTP status; the API layer maps them in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    """One wrong field: a dotted path into the request (``measurements[3].unit``) and why."""

    field: str
    message: str


@dataclass
class TelehubError(Exception):
    message: str
    problems: list[FieldProblem] = field(default_factory=list)

    status = 500
    code = "internal_error"

    def __str__(self) -> str:
        return self.message

    def headers(self) -> dict[str, str]:
        """Headers the error's reply carries besides the problem body."""
        return {}


class InvalidInput(TelehubError):
    status = 422
    code = "invalid_input"

    @classmethod
    def for_field(cls, field_path: str, message: str) -> InvalidInput:
        return cls(f"{field_path}: {message}", [FieldProblem(field_path, message)])


class Unauthorized(TelehubError):
    status = 401
    code = "unauthorized"


class Forbidden(TelehubError):
    status = 403
    code = "forbidden"


# The one reply to a caller without a relation to what the request names, and to a request naming
# something that does not exist: the same status and body, so a refusal tells nothing about whether an
# episode, alarm or measurement exists. 403 as every other "not yours" in Telehub (the sharing API, device
# registration); a caller with a relation gets the specific answer (403 for its role in it, 409, 404).
NO_RELATION = "the caller's organisation has no relation to this, or it does not exist"


class NoRelation(Forbidden):
    def __init__(self) -> None:
        super().__init__(NO_RELATION)


class NotFound(TelehubError):
    status = 404
    code = "not_found"


class Conflict(TelehubError):
    status = 409
    code = "conflict"


class PayloadTooLarge(TelehubError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TelehubError):
    status = 415
    code = "unsupported_media_type"


@dataclass
class TooManyRequests(TelehubError):
    """The caller asked again too soon; it may ask again after ``retry_after_seconds`` (Retry-After)."""

    retry_after_seconds: int = 1

    status = 429
    code = "too_many_requests"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ServiceUnavailable(TelehubError):
    """A dependency (DynamoDB, SQS, KMS) refused or throttled: the client should retry."""

    status = 503
    code = "service_unavailable"
