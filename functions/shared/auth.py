"""Who is calling: the principal the Lambda authorizer put into the request context."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from aws_lambda_powertools.event_handler.request import Request
from pydantic import BaseModel, ValidationError

from functions.shared.errors import Forbidden, Unauthorized


class Role(StrEnum):
    DEVICE = "device"
    CLINICIAN = "clinician"
    LOGISTICS = "logistics"
    SYSTEM = "system"


class Principal(BaseModel):
    """Authorizer context. Device principals carry device_id and patient_id; people and
    organisations' systems carry their organisation (a SOR code)."""

    role: Role
    subject: str
    device_id: str | None = None
    patient_id: str | None = None
    organisation: str | None = None

    def context(self) -> dict[str, str]:
        """The authorizer context API Gateway passes on: strings only, absent values left out."""
        return {name: str(value) for name, value in self.model_dump(mode="json").items() if value is not None}


def principal_of(request: Request) -> Principal:
    context = request.resolved_event.request_context.authorizer.raw_event or {}
    try:
        return Principal.model_validate(context)
    except ValidationError:
        raise Unauthorized("the request carries no valid principal") from None


def requires(*roles: Role) -> Callable[[Request], Principal]:
    """A route dependency that returns the principal if it has one of ``roles``, else 403."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role.value} may not call this endpoint")
        return principal

    dependency.__name__ = "requires_" + "_or_".join(role.value for role in roles)
    return dependency
