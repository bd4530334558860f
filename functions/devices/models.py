"""Device registration: the request and reply of the API, the stored device, and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from functions.shared.catalogue import BLOOD_PRESSURE, BLOOD_PRESSURE_TYPES, catalogue
from functions.shared.device_records import DeviceCredentials, DeviceStatus
from functions.shared.identifiers import CprNumber
from functions.shared.settings import EnvironmentSettings

DEVICE_ID_PATTERN = r"^dev_[0-9a-f]{24}$"

if TYPE_CHECKING:  # a Literal made from the catalogue is beyond a type checker: a str to it
    DeclaredMeasurementType = str
else:
    DeclaredMeasurementType = Literal[(*catalogue(), BLOOD_PRESSURE)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Field(
    description="Beyond the schema: surrounding whitespace is removed first; 1 to 100 characters remain.")]
# No '#' in a serial: it ends the key of the serial's claim (see the repository).
SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
Serial = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=SERIAL_PATTERN)
]
InstrumentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=CODE_PATTERN)
]


class DeviceRegistration(BaseModel):
    """What the logistics centre knows about a device it delivered to a citizen."""

    model_config = ConfigDict(strict=True, extra="forbid")

    cpr: CprNumber
    vendor: Annotated[Text, Field(examples=["Nonin"])]
    model: Annotated[Text, Field(examples=["3230 Bluetooth Smart"])]
    serial: Annotated[Serial, Field(description="The vendor's serial number.", examples=["502012345"])]
    measurement_types: Annotated[
        list[DeclaredMeasurementType],
        Field(
            min_length=1,
            max_length=20,
            description=(
                "What the device measures: types of the measurement catalogue, or `blood_pressure` for a "
                "blood-pressure monitor (stored as systolic, diastolic and pulse). Systolic and diastolic "
                "come together or not at all."
            ),
            json_schema_extra={"allOf": [  # the rule of _systolic_with_diastolic, for the OpenAPI document
                {"if": {"contains": {"const": one}, "not": {"contains": {"const": BLOOD_PRESSURE}}},
                 "then": {"contains": {"const": other}}}
                for one, other in (("systolic", "diastolic"), ("diastolic", "systolic"))
            ]},
            examples=[["spo2", "pulse"]],
        ),
    ]
    medcom_instrument_code: Annotated[
        InstrumentCode | None, Field(description="The device's MedCom instrument code, where known.")
    ] = None

    @field_validator("measurement_types")
    @classmethod
    def _systolic_with_diastolic(cls, declared: list[str]) -> list[str]:
        types = _in_catalogue_terms(declared)
        if ("systolic" in types) != ("diastolic" in types):
            raise ValueError("systolic and diastolic are measured together; declare blood_pressure")
        return declared

    def catalogue_types(self) -> tuple[str, ...]:
        """The declared types in the catalogue's vocabulary, each once, in a stable order."""
        return tuple(sorted(_in_catalogue_terms(self.measurement_types)))


def _in_catalogue_terms(declared: list[str]) -> set[str]:
    types = set(declared)
    if BLOOD_PRESSURE in types:
        types = (types - {BLOOD_PRESSURE}) | set(BLOOD_PRESSURE_TYPES)
    return types


class RegisteredDevice(BaseModel):
    """A registered device and a fresh credential for its home collection point."""

    device_id: Annotated[str, Field(examples=["dev_3f9c0a1b2c3d4e5f60718293"])]
    patient_id: Annotated[str, Field(description="The citizen's internal patient id.",
                                     examples=["pat_0a1b2c3d4e5f60718293a4b5"])]
    status: DeviceStatus
    measurement_types: list[str]
    credential: Annotated[str, Field(description="The device credential, a JWT for `Authorization: Bearer`.")]
    credential_expires_at: datetime


class RotatedCredential(BaseModel):
    """The device's new credential, and until when the one it called with still works."""

    device_id: Annotated[str, Field(examples=["dev_3f9c0a1b2c3d4e5f60718293"])]
    credential: Annotated[str, Field(description="The new device credential: use it from now on.")]
    credential_expires_at: datetime
    previous_credential_valid_until: Annotated[datetime, Field(description=(
        "Until when the credential this request was sent with is still accepted (the grace to switch); "
        "a retry after a lost reply keeps the grace it had."))]


@dataclass(frozen=True)
class Device:
    """A device as stored in the devices table."""

    device_id: str
    patient_id: str
    status: DeviceStatus
    vendor: str
    model: str
    serial: str
    measurement_types: tuple[str, ...]
    registered_by: str
    registered_at: datetime
    medcom_instrument_code: str | None = None
    revoked_at: datetime | None = None
    episode_ids: tuple[str, ...] = ()  # the citizen's open episodes the device serves
    credentials: DeviceCredentials = DeviceCredentials()  # the ids of the credentials it may use


@dataclass(frozen=True)
class Credential:
    token: str
    expires_at: datetime
    credential_id: str  # its jti, which the device item records
    issued_at: datetime  # when it was signed (its iat is this, to the second)


class DevicesSettings(EnvironmentSettings):
    citizens_table_name: str
    devices_table_name: str
    episodes_table_name: str
    citizen_pseudonym_key_id: str
    device_credentials_key_id: str
    device_credential_issuer: str
    token_audience: str
    device_credential_ttl_days: int
    access_log_table_name: str  # a registration's reply names the citizen's patient id: logged first
    access_log_retention_days: int
