"""The devices API: a logistics centre registers a citizen's devices and revokes them; a device rotates its
credential."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.devices.keys import KmsCredentialSigner
from functions.devices.logic import (
    CREDENTIAL_GRACE,
    MINIMUM_ROTATION_INTERVAL,
    CredentialIssuer,
    DeviceService,
)
from functions.devices.models import (
    DEVICE_ID_PATTERN,
    DeviceRegistration,
    DevicesSettings,
    RegisteredDevice,
    RotatedCredential,
)
from functions.devices.repository import DynamoDeviceRegistry
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.citizen_store import KmsCitizenPseudonyms
from functions.shared.clock import utc_now
from functions.shared.observability import COUNT, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

app = build_resolver()
_REGISTERED: OpenAPIResponse = {"content": {"application/json": {"model": RegisteredDevice}}}
_GRACE_MINUTES = int(CREDENTIAL_GRACE.total_seconds() // 60)
_INTERVAL_MINUTES = int(MINIMUM_ROTATION_INTERVAL.total_seconds() // 60)


@cache
def _service() -> DeviceService:
    settings = DevicesSettings.from_environment()
    credentials = CredentialIssuer(
        KmsCredentialSigner(settings.device_credentials_key_id),
        issuer=settings.device_credential_issuer,
        audience=settings.token_audience,
        lifetime=timedelta(days=settings.device_credential_ttl_days),
        clock=utc_now,
    )
    registry = DynamoDeviceRegistry(settings.citizens_table_name, settings.devices_table_name,
                                    settings.episodes_table_name)
    pseudonyms = KmsCitizenPseudonyms(settings.citizen_pseudonym_key_id)
    access_log = DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                                 current_request(app))
    return DeviceService(registry, pseudonyms, credentials, access_log, utc_now)


@app.post(
    "/v1/devices",
    summary="Register a citizen's device",
    description=(
        "The logistics centre registers a device it delivered to a citizen and gets the credential the "
        "home collection point uploads with. Only the logistics centre of an open (planned or active) "
        "episode of the citizen may: the device joins the citizen's open episodes. Any other caller gets "
        "the same 403, whether or not the citizen is known or has an episode. The device uploads only the "
        "measurement types registered here. Sending the same vendor and serial for the same citizen again "
        "(a retry) registers nothing new: the reply is 200 with the same device and a fresh credential, "
        f"which replaces the device's: the one before works {_GRACE_MINUTES} minutes more, any older one no "
        "more. A serial that is active on another device is a 409 until it is revoked."
    ),
    tags=["devices"],
    responses={
        201: {**_REGISTERED, "description": "Registered: the new device and its credential"},
        200: {**_REGISTERED, "description": "Registered before (a retry): the device and a fresh credential "
                                            "(the one before works for the grace)"},
        403: {"description": "The caller is not the logistics centre of an open episode of the citizen"},
        409: {"description": "The serial is active on another device (another citizen's or organisation's)"},
    },
)
def register_device(registration: DeviceRegistration, principal: Caller) -> Response[RegisteredDevice]:
    outcome = _service().register(registration, principal)
    device = outcome.device
    metric = "DevicesRegistered" if outcome.created else "DeviceRegistrationsRepeated"
    metrics.add_metric(name=metric, unit=COUNT, value=1)
    logger.info("device registered", extra={"device_id": device.device_id, "patient_id": device.patient_id,
                                            "new_device": outcome.created})
    reply = RegisteredDevice(
        device_id=device.device_id,
        patient_id=device.patient_id,
        status=device.status,
        measurement_types=list(device.measurement_types),
        credential=outcome.credential.token,
        credential_expires_at=outcome.credential.expires_at,
    )
    return Response(status_code=201 if outcome.created else 200, content_type="application/json", body=reply)


@app.post(
    "/v1/devices/me/credential",
    summary="Rotate the device's credential",
    description=(
        "The calling device gets a new credential and uses it from now on. The credential it called with "
        f"still works for {_GRACE_MINUTES} minutes (the grace to switch; the reply says until when); any "
        f"older one is refused. A device rotates at most once per {_INTERVAL_MINUTES} minutes, counted from "
        "when its current credential was issued (by registration or rotation): sooner is a 429 whose "
        "Retry-After says in how many seconds it may. A retry with the previous credential after a lost "
        "reply is safe and not held to that: it gets the same new credential again, and the grace it had, "
        "not extended. The new credential lives as long as a registered one (the stage's "
        "device_credentials.ttl_days). Revoking the device stops all of them."
    ),
    tags=["devices"],
    responses={
        200: {"description": "The new credential, and the end of the old one's grace"},
        401: {"description": "The credential was replaced again, or the device revoked, meanwhile"},
        429: {"description": f"The device's current credential was issued less than {_INTERVAL_MINUTES} "
                              "minutes ago (Retry-After: the seconds until it may rotate)"},
    },
)
def rotate_credential(principal: Caller) -> RotatedCredential:
    rotation = _service().rotate_credential(principal)
    metrics.add_metric(name="DeviceCredentialsRotated", unit=COUNT, value=1)
    logger.info("device credential rotated", extra={"device_id": rotation.device_id})
    return RotatedCredential(
        device_id=rotation.device_id,
        credential=rotation.credential.token,
        credential_expires_at=rotation.credential.expires_at,
        previous_credential_valid_until=rotation.previous_valid_until,
    )


@app.delete(
    "/v1/devices/<device_id>",
    summary="Revoke a device",
    description=(
        "Revokes the device at once: its credentials are refused from the next request. Only the "
        "organisation that registered the device may revoke it; any other gets the 403 of a device that does "
        "not exist. Revoking a revoked device is a 204 again."
    ),
    tags=["devices"],
    responses={
        204: {"description": "Revoked (now or before)"},
        403: {"description": "No such device registered by the caller's organisation (one reply for both)"},
    },
)
def revoke_device(device_id: Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)],
                  principal: Caller) -> Response[None]:
    _service().revoke(device_id, principal)
    metrics.add_metric(name="DevicesRevoked", unit=COUNT, value=1)
    logger.info("device revoked", extra={"device_id": device_id})
    return Response(status_code=204)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)
