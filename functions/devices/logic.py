"""Registering and revoking a citizen's devices, and issuing the credentials devices upload with.

The citizen is found by a pseudonym (a keyed MAC of the CPR number, computed by KMS), never by
the CPR itself. A logistics centre registers a device only where it has a reason: an open episode of
the citizen whose logistics centre it is (the referral made the citizen and named the centre). Without
one the answer is NoRelation, whether the citizen is unknown, has no open episode or another centre's:
which citizens are monitored, and by whom, is health data. "Get or create" of the device for a vendor's
serial is a race between concurrent requests: the repository's writes are conditional, and a lost race
is resolved by reading what the winner wrote. A registration's reply names the citizen's patient id, so it
is access-logged (one entry per episode the device serves) before the device is written, as a revocation
is; a refusal of a known citizen or an existing device is logged as denied.

A credential is valid only once the device item records its id (jti): the current one, and the one it
replaced until ``CREDENTIAL_GRACE`` after the replacement (functions.shared.device_records.DeviceCredentials).
Each credential is issued (signed) first and recorded by a conditional write; one that loses a race is
never recorded, so never valid. A registration retry rotates, as the device's own rotation does: a
retry gets a fresh credential and never multiplies them, since a device has at most two valid at a time. A
device's rotation sent with its previous credential (the reply to its last rotation was lost) gets the current
credential again rather than a new one.

A device rotates its own credential at most once per ``MINIMUM_ROTATION_INTERVAL``: each credential is a
bucket of its own in the web ACL's per-credential limit, so a device rotating at will would escape that
limit. A registration retry is not held to it: it is the logistics centre's request, under the centre's own
limits, and its reply is the centre's only way to a credential for a device whose first reply was lost.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

from functions.devices.models import Credential, Device, DeviceRegistration
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, nothing_found
from functions.shared.citizens import ATTEMPTS, CitizenPseudonyms
from functions.shared.clock import Clock
from functions.shared.device_records import DEVICE_CREDENTIAL_TYPE, DeviceCredentials, DeviceStatus
from functions.shared.errors import Conflict, ServiceUnavailable, TooManyRequests, Unauthorized
from functions.shared.identifiers import new_id
from functions.shared.principal import Principal, organisation_of


class CredentialSigner(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """An RSASSA-PKCS1-v1_5 SHA-256 signature of ``message``."""


# A serial held by another citizen's or another organisation's device: only that the serial is taken.
SERIAL_TAKEN = ("a device with this vendor and serial is active; the organisation that registered it must "
                "revoke it first")
# The routes of the use cases below: their rules in functions.shared.access_rules decide who may call them.
REGISTER_DEVICE = "POST /v1/devices"
REVOKE_DEVICE = "DELETE /v1/devices/{device_id}"
# How long a replaced credential still works: time for a device (or the logistics centre that re-registered
# it) to switch to the new one, short enough that a leaked credential replaced on suspicion soon stops.
CREDENTIAL_GRACE = timedelta(minutes=10)
SUPERSEDED = "the credential is no longer valid; use the device's current credential"
# The least time between the device's own rotations, counted from when its current credential was issued: as
# long as the grace, so a device never holds more than two valid credentials (two buckets of the web ACL's
# per-credential limit), and the older one is always at least this old.
MINIMUM_ROTATION_INTERVAL = CREDENTIAL_GRACE
ROTATED_TOO_SOON = (f"the device's credential was issued less than {MINIMUM_ROTATION_INTERVAL.seconds // 60} "
                    "minutes ago; rotate it after the time Retry-After gives")


class DeviceRegistry(Protocol):
    def find_patient(self, pseudonym: str) -> str | None:
        """The citizen's patient id, if the citizen is known."""

    def open_episodes(self, patient_id: str) -> list[tuple[str, str]]:
        """(episode_id, logistics_centre) of each open episode of care of the citizen."""

    def device_with_serial(self, vendor: str, serial: str) -> Device | None:
        """The active device holding this vendor's serial, if any."""

    def add_device(self, device: Device) -> bool:
        """Store the device and claim its serial; False, writing nothing, if the serial is claimed."""

    def find_device(self, device_id: str) -> Device | None: ...

    def link_device(self, device: Device, episode_ids: tuple[str, ...]) -> bool:
        """Link the active device to more open episodes (activating them); False, writing nothing, if
        the device is no longer active or an episode is no longer open."""

    def revoke_device(self, device: Device, revoked_at: datetime) -> bool:
        """Mark the active device revoked and release its serial claim, if it still has one; False,
        writing nothing, if it was not active or its serial is claimed by another device."""

    def rotate_credential(self, device: Device, credentials: DeviceCredentials) -> bool:
        """Record ``credentials`` as the active device's; False, writing nothing, if it was revoked or its
        current credential is no longer ``device.credentials.current`` (another rotation came first)."""


@dataclass(frozen=True)
class Registration:
    device: Device
    credential: Credential
    created: bool  # False when an earlier request registered it (a retry): the reply is 200, not 201


@dataclass(frozen=True)
class Rotation:
    device_id: str
    credential: Credential
    previous_valid_until: datetime  # the end of the grace of the credential the device called with


class CredentialIssuer:
    """Device credentials: RS256 JWTs signed by KMS, which the authorizer verifies with the public key."""

    def __init__(self, signer: CredentialSigner, issuer: str, audience: str, lifetime: timedelta,
                 clock: Clock) -> None:
        self._signer = signer
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime
        self._clock = clock

    def issue(self, device_id: str) -> Credential:
        """A new credential of the device, with an id (jti) of its own; valid once the device records it."""
        return self._signed(device_id, new_id("crd"), self._clock())

    def reissue(self, device_id: str, credential_id: str, issued: datetime) -> Credential:
        """The device's credential ``credential_id``, issued at ``issued``, once more: the same claims, so the
        same token byte for byte (an RS256 signature of the same input is the same)."""
        return self._signed(device_id, credential_id, issued)

    def _signed(self, device_id: str, credential_id: str, issued: datetime) -> Credential:
        issued_at = int(issued.timestamp())
        expires_at = issued_at + int(self._lifetime.total_seconds())
        header = {"alg": "RS256", "typ": DEVICE_CREDENTIAL_TYPE, "kid": self._signer.key_id}
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": device_id,
            "iat": issued_at,
            "exp": expires_at,
            "jti": credential_id,
            "telehub_role": "device",
            "telehub_device": device_id,
        }
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        signature = _base64url(self._signer.sign(signing_input.encode("ascii")))
        return Credential(f"{signing_input}.{signature}", datetime.fromtimestamp(expires_at, UTC),
                          credential_id, issued)


class DeviceService:
    def __init__(self, registry: DeviceRegistry, pseudonyms: CitizenPseudonyms, credentials: CredentialIssuer,
                 access_log: AccessLog, clock: Clock) -> None:
        self._registry = registry
        self._pseudonyms = pseudonyms
        self._credentials = credentials
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def register(self, registration: DeviceRegistration, principal: Principal) -> Registration:
        """Register the device for the citizen, or, for a retry, return the device registered before.

        Only the logistics centre of an open episode of the citizen may register (NoRelation otherwise,
        the same for every reason); the device is linked to the citizen's open episodes. A retry is the same
        vendor and serial for the same citizen from the same organisation while the device is active;
        the device is linked to the open episodes it does not serve yet, and its credential rotated: the
        retry's is current, the one before works for ``CREDENTIAL_GRACE``, any older one no more.
        The serial held by any other device is a 409 that says only that.
        """
        organisation = organisation_of(principal)
        patient_id = self._registry.find_patient(self._pseudonyms.pseudonym(registration.cpr))
        if patient_id is None:
            raise nothing_found(REGISTER_DEVICE)
        logged: set[str] = set()  # the episodes this request's entries name: a lost race logs none again
        for _ in range(ATTEMPTS):
            # Decided again on each attempt: an episode that ended meanwhile may have taken the reason away.
            episode_ids = self._episodes_to_link(patient_id, principal)
            existing = self._registry.device_with_serial(registration.vendor, registration.serial)
            if existing is not None:
                if (existing.patient_id, existing.registered_by) != (patient_id, organisation):
                    raise Conflict(SERIAL_TAKEN)
                # A retry may come for an episode opened since (a scale shared by COPD and heart failure):
                # the device joins the open episodes it is not linked to yet.
                missing = tuple(sorted(set(episode_ids) - set(existing.episode_ids)))
                self._logged(patient_id, "register_device", sorted({*existing.episode_ids, *missing}),
                             principal, logged)
                if missing and not self._registry.link_device(existing, missing):
                    continue  # revoked or an episode ended meanwhile: decide again on what is stored now
                linked = replace(existing, episode_ids=tuple(sorted({*existing.episode_ids, *missing})))
                rotated = self._rotated(linked, caller=None)
                if rotated is None:
                    continue  # revoked or rotated meanwhile: decide again on what is stored now
                credential, credentials = rotated
                return Registration(replace(linked, credentials=credentials), credential, created=False)
            device_id = new_id("dev")
            credential = self._credentials.issue(device_id)
            device = Device(
                device_id=device_id,
                patient_id=patient_id,
                status=DeviceStatus.ACTIVE,
                vendor=registration.vendor,
                model=registration.model,
                serial=registration.serial,
                measurement_types=registration.catalogue_types(),
                medcom_instrument_code=registration.medcom_instrument_code,
                registered_by=organisation,
                registered_at=self._clock(),
                episode_ids=episode_ids,
                credentials=DeviceCredentials(current=credential.credential_id,
                                              current_issued_at=credential.issued_at),
            )
            self._logged(patient_id, "register_device", episode_ids, principal, logged)
            if self._registry.add_device(device):
                return Registration(device, credential, created=True)
        raise ServiceUnavailable("the device could not be registered now; retry the same request")

    def rotate_credential(self, principal: Principal) -> Rotation:
        """A new credential for the calling device: current from now on; the one it called with works until
        ``CREDENTIAL_GRACE`` from now. TooManyRequests if the device's current credential, the one it called
        with, was issued less than ``MINIMUM_ROTATION_INTERVAL`` ago. Called with the previous credential
        (the reply to the device's last rotation was lost), the current one once more, byte for byte, and
        the grace unchanged: nothing is written, and however often a device asks, it gets no third credential
        (nor a fresh bucket of the web ACL's limit). Unauthorized if the calling credential stopped working
        since the authorizer let it in (the device revoked, or the credential replaced again)."""
        device_id, caller = principal.device_id, principal.credential_id
        for _ in range(ATTEMPTS):
            device = self._registry.find_device(device_id) if device_id else None
            if (device is None or device.status != DeviceStatus.ACTIVE or caller is None
                    or not device.credentials.accepts(caller, self._clock())):
                raise Unauthorized(SUPERSEDED)
            credentials = device.credentials
            if caller == credentials.previous and credentials.current and credentials.current_issued_at:
                again = self._credentials.reissue(device.device_id, credentials.current,
                                                  credentials.current_issued_at)
                return Rotation(device.device_id, again, cast(datetime, credentials.previous_until))
            self._not_too_soon(credentials)
            rotated = self._rotated(device, caller)
            if rotated is not None:
                credential, recorded = rotated
                # The previous credential is now the caller's (it was the current one): its grace is set.
                return Rotation(device.device_id, credential, cast(datetime, recorded.previous_until))
        raise ServiceUnavailable("the credential could not be rotated now; retry the same request")

    def _not_too_soon(self, credentials: DeviceCredentials) -> None:
        """TooManyRequests, with the whole seconds until it may, if the current credential was issued less
        than MINIMUM_ROTATION_INTERVAL ago."""
        issued_at = credentials.current_issued_at
        wait = (issued_at + MINIMUM_ROTATION_INTERVAL - self._clock()) if issued_at else timedelta(0)
        if wait > timedelta(0):
            raise TooManyRequests(ROTATED_TOO_SOON, retry_after_seconds=math.ceil(wait.total_seconds()))

    def _rotated(self, device: Device, caller: str | None) -> tuple[Credential, DeviceCredentials] | None:
        """A new credential recorded as the device's current one, with the credentials now recorded; None,
        with nothing recorded, if the device was revoked or rotated since it was read."""
        credential = self._credentials.issue(device.device_id)
        issued_at = credential.issued_at
        credentials = device.credentials.rotated(credential.credential_id, caller,
                                                 issued_at + CREDENTIAL_GRACE, issued_at)
        if not self._registry.rotate_credential(device, credentials):
            return None
        return credential, credentials

    def _episodes_to_link(self, patient_id: str, principal: Principal) -> tuple[str, ...]:
        """The citizen's open episodes, which the device joins: the caller's reason to register. The
        citizen has one logistics centre while an episode is open, so every one of them is the caller's."""
        episodes = self._registry.open_episodes(patient_id)
        centre_of_all = bool(episodes) and all(centre == organisation_of(principal) for _, centre in episodes)
        self._guard.check(REGISTER_DEVICE, {Relation.LOGISTICS} if centre_of_all else set(), principal,
                          Access(patient_id, "register_device", ""))
        return tuple(sorted(episode_id for episode_id, _ in episodes))

    def _logged(self, patient_id: str, action: str, episode_ids: Sequence[str], principal: Principal,
                logged: set[str]) -> None:
        """Append the allowed access, one entry per episode the device serves (each episode's log shows
        it) that the request has not logged yet (``logged``, updated), before the write and the reply;
        ServiceUnavailable, with nothing written, if it cannot be."""
        accesses = [Access(patient_id, action, episode_id) for episode_id in episode_ids or ("",)
                    if episode_id not in logged]
        if accesses:
            self._access_log.record_many(accesses, principal, self._clock())
            logged.update(access.episode_id for access in accesses)

    def revoke(self, device_id: str, principal: Principal) -> None:
        """Revoke the device: its credential is refused from now on. Revoking twice is harmless. Another
        organisation's device gets the reply of a device that does not exist (one 403)."""
        organisation = organisation_of(principal)
        device = self._registry.find_device(device_id)
        if device is None:
            raise nothing_found(REVOKE_DEVICE)
        registrar = {Relation.REGISTRAR} if device.registered_by == organisation else set()
        self._guard.check(REVOKE_DEVICE, registrar, principal, Access(device.patient_id, "revoke_device", ""))
        self._logged(device.patient_id, "revoke_device", device.episode_ids, principal, set())
        if device.status == DeviceStatus.REVOKED:
            return
        if self._registry.revoke_device(device, self._clock()):
            return
        current = self._registry.find_device(device_id)  # lost a race: revoked by a concurrent request?
        if current is None or current.status != DeviceStatus.REVOKED:
            raise ServiceUnavailable("the device could not be revoked now; retry the same request")


def _segment(value: Mapping[str, object]) -> str:
    return _base64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
