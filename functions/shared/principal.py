"""Who is calling: the roles and the principal the Lambda authorizer hands on to every route.

Kept apart from functions.shared.auth (which needs the Powertools event handler) so the
authorizer can build a principal without importing the API resolver: its cold start pays for
what it uses only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, PlainSerializer

from functions.shared.errors import Forbidden


def _split(value: Any) -> Any:
    return value.split() if isinstance(value, str) else value


# The authorizer context holds strings only: a device's measurement types travel space-separated.
MeasurementTypes = Annotated[
    tuple[str, ...], BeforeValidator(_split), PlainSerializer(" ".join, return_type=str)
]


class Role(StrEnum):
    DEVICE = "device"
    CLINICIAN = "clinician"
    LOGISTICS = "logistics"
    SYSTEM = "system"
    CITIZEN = "citizen"  # a citizen by the national login (MitID), reading their own data


class Principal(BaseModel):
    """Authorizer context. Device principals carry device_id and patient_id; people and
    organisations' systems carry their organisation (a SOR code); a citizen carries their own patient_id
    (never their CPR number), or none while Telehub does not know them."""

    role: Role
    subject: str
    device_id: str | None = None
    patient_id: str | None = None
    organisation: str | None = None
    measurement_types: MeasurementTypes | None = None  # a device's: what it was registered to measure
    credential_id: str | None = None  # a device's: the id (jti) of the credential it called with

    def context(self) -> dict[str, str]:
        """The authorizer context API Gateway passes on: strings only, absent values left out."""
        return {name: str(value) for name, value in self.model_dump(mode="json").items() if value is not None}


def organisation_of(principal: Principal) -> str:
    """The caller's organisation, for the rules that depend on it; 403 if the token names none."""
    if not principal.organisation:
        raise Forbidden("the token names no organisation")
    return principal.organisation
