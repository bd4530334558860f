"""Who is calling: verify a bearer JWT from one of the two issuers Telehub trusts.

People and organisations' systems carry JWTs from the identity provider (keys from its JWKS);
devices carry the credentials Telehub signed with its KMS key when they were registered or rotated. The
unverified ``iss`` only chooses which key to verify with; everything is then verified in full:
the header's ``typ`` (an access token's, or a device credential's own: neither passes as the other),
signature with a pinned algorithm list (never ``none``, never HMAC), issuer, audience, expiry, the
required claims and, where the provider names it, the client (``azp``) the token was issued to. A device
must also still be registered and active, and the credential one of the two it may use: its current one,
or the one before it during the grace a rotation gives (functions.shared.device_records.DeviceCredentials).

A citizen's token (the national login, MitID) carries the CPR number in ``CPR_CLAIM``. The authorizer is
where it becomes the internal patient id (the citizens table, by the KMS MAC of the CPR number), so the
principal, the context, the logs and the principal id never hold it; a citizen Telehub does not know gets
a principal without a patient id.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import jwt

from functions.authorizer.models import NotAuthenticated, TrustSettings
from functions.shared.clock import Clock, utc_now
from functions.shared.device_records import DEVICE_CREDENTIAL_TYPE, DeviceStanding
from functions.shared.identifiers import InvalidIdentifier, normalise_cpr, normalise_organisation
from functions.shared.principal import Principal, Role

# The scheme is case-insensitive (RFC 9110); the token is three base64url segments.
_BEARER = re.compile(r"^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$", re.IGNORECASE)
MAX_TOKEN_CHARS = 8192  # far above any real token; refuses junk before any parsing
LEEWAY_SECONDS = 30  # clock skew tolerated on exp, iat and nbf
IDENTITY_ALGORITHMS = ("RS256", "ES256")
DEVICE_ALGORITHMS = ("RS256",)  # KMS RSASSA_PKCS1_V1_5_SHA_256
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "telehub_role")
DEVICE_CLAIMS = (*REQUIRED_CLAIMS, "telehub_device", "jti")
# The header ``typ`` of the identity provider's tokens: a JWT, or an access token as RFC 9068 types it
# (compared case-insensitively, as RFC 7515 has it). Anything else, a device credential's own type included,
# is no token of the provider's.
IDENTITY_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
IDENTITY_PROVIDER_ROLES = frozenset({Role.CLINICIAN, Role.LOGISTICS, Role.SYSTEM, Role.CITIZEN})
ROLES_WITH_ORGANISATION = frozenset({Role.CLINICIAN, Role.LOGISTICS})
# The CPR number's claim in a citizen's token: the attribute name of the Danish public sector's login
# (NemLog-in's OIOSAML/OIDC profile), so a broker in front of MitID passes it on unchanged.
CPR_CLAIM = "dk:gov:saml:attribute:CprNumberIdentifier"

# Most specific first: the first class the error is an instance of names the reason.
_REFUSAL_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.DecodeError, "malformed"),
)


class IdentityProviderKeys(Protocol):
    def signing_key(self, token: str) -> Any | None:
        """The identity provider's public key named by the token's ``kid``, or None if it has none;
        raises if the provider's keys cannot be had at all (an outage, not the caller's fault)."""


class DeviceCredentialKey(Protocol):
    def public_key(self) -> Any:
        """The public half of the KMS key that signs device credentials."""


class DeviceDirectory(Protocol):
    def standing(self, device_id: str) -> DeviceStanding | None:
        """The device's status, credentials and patient, read consistently, or None if it was never
        registered."""


class CitizenDirectory(Protocol):
    def patient_id(self, cpr: str) -> str | None:
        """The citizen's patient id, found by the pseudonym of the CPR number; None if Telehub has none."""


class Authenticator:
    def __init__(self, trust: TrustSettings, identity_keys: IdentityProviderKeys,
                 device_key: DeviceCredentialKey, devices: DeviceDirectory,
                 citizens: CitizenDirectory, clock: Clock = utc_now) -> None:
        self._trust = trust
        self._identity_keys = identity_keys
        self._device_key = device_key
        self._devices = devices
        self._citizens = citizens
        self._clock = clock

    def authenticate(self, authorization: Any) -> Principal:
        token = _bearer_token(authorization)
        issuer = _unverified_issuer(token)
        if issuer == self._trust.device_credential_issuer:
            return self._device(token)
        if issuer == self._trust.token_issuer:
            return self._person_or_system(token)
        raise NotAuthenticated("unknown_issuer")

    def _person_or_system(self, token: str) -> Principal:
        if _unverified_type(token) not in IDENTITY_TOKEN_TYPES:
            raise NotAuthenticated("wrong_type")
        key = self._identity_keys.signing_key(token)
        if key is None:
            raise NotAuthenticated("unknown_key")
        claims = self._verified_claims(
            token, key, IDENTITY_ALGORITHMS, self._trust.token_issuer, REQUIRED_CLAIMS
        )
        # The client the token was issued to, where the provider names it (OpenID Connect's azp).
        if "azp" in claims and claims["azp"] not in self._trust.client_ids:
            raise NotAuthenticated("unknown_client")
        role = _role(claims["telehub_role"])
        if role not in IDENTITY_PROVIDER_ROLES:
            raise NotAuthenticated("role_not_issued_by_identity_provider")
        if role is Role.CITIZEN:
            return self._citizen(claims)
        organisation = claims.get("telehub_org")
        if organisation is None and role in ROLES_WITH_ORGANISATION:
            raise NotAuthenticated("missing_organisation")
        if organisation is not None:
            organisation = _organisation(organisation)
        return Principal(role=role, subject=claims["sub"], organisation=organisation)

    def _citizen(self, claims: dict[str, Any]) -> Principal:
        """The citizen as their patient id; no organisation, whatever the token says (a citizen acts for no
        organisation)."""
        cpr = _cpr(claims.get(CPR_CLAIM))
        if cpr in claims["sub"].replace("-", ""):  # the subject is the principal id, which API Gateway logs
            raise NotAuthenticated("cpr_in_subject")
        return Principal(role=Role.CITIZEN, subject=claims["sub"], patient_id=self._citizens.patient_id(cpr))

    def _device(self, token: str) -> Principal:
        if _unverified_type(token) != DEVICE_CREDENTIAL_TYPE:
            raise NotAuthenticated("wrong_type")
        if jwt.get_unverified_header(token).get("kid") != self._trust.device_credentials_key_id:
            raise NotAuthenticated("unknown_key")
        claims = self._verified_claims(
            token, self._device_key.public_key(), DEVICE_ALGORITHMS, self._trust.device_credential_issuer,
            DEVICE_CLAIMS,
        )
        device_id, credential_id = claims["sub"], claims["jti"]
        if (claims["telehub_role"] != Role.DEVICE.value or claims["telehub_device"] != device_id
                or not isinstance(credential_id, str)):
            raise NotAuthenticated("not_a_device_credential")
        standing = self._devices.standing(device_id)
        if standing is None:
            raise NotAuthenticated("unknown_device")
        if not standing.active:
            raise NotAuthenticated("revoked_device")
        if not standing.credentials.accepts(credential_id, self._clock()):
            raise NotAuthenticated("superseded_credential")  # rotated, and its grace is over
        return Principal(
            role=Role.DEVICE, subject=device_id, device_id=device_id, patient_id=standing.patient_id,
            measurement_types=standing.measurement_types,  # read with the standing: no request more
            credential_id=credential_id,
        )

    def _verified_claims(self, token: str, key: Any, algorithms: tuple[str, ...], issuer: str,
                         required: tuple[str, ...]) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token, key, algorithms=list(algorithms), audience=self._trust.token_audience, issuer=issuer,
                leeway=LEEWAY_SECONDS, options={"require": list(required)},
            )
        except jwt.PyJWTError as error:
            raise NotAuthenticated(_refusal_reason(error)) from None
        if not claims["sub"]:  # PyJWT checks that sub is a string, not that it names anyone
            raise NotAuthenticated("missing_claim")
        return claims


def _refusal_reason(error: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _REFUSAL_REASONS if isinstance(error, kind)), "invalid_token")


def _bearer_token(authorization: Any) -> str:
    if not authorization:
        raise NotAuthenticated("missing_token")
    if not isinstance(authorization, str):  # the event is input too: never a TypeError, always a 401
        raise NotAuthenticated("malformed")
    if len(authorization) > MAX_TOKEN_CHARS:
        raise NotAuthenticated("malformed")
    match = _BEARER.match(authorization)
    if not match:
        raise NotAuthenticated("malformed")
    return match.group(1)


def _unverified_issuer(token: str) -> str:
    """Read ``iss`` before verifying, only to choose the key; nothing else is trusted yet."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise NotAuthenticated("malformed") from None
    if not isinstance(issuer, str):
        raise NotAuthenticated("unknown_issuer")
    return issuer


def _unverified_type(token: str) -> str | None:
    """The header's ``typ``, case-folded (the token is three base64url parts, but its header may be junk)."""
    try:
        kind = jwt.get_unverified_header(token).get("typ")
    except jwt.PyJWTError:
        raise NotAuthenticated("malformed") from None
    return kind.casefold() if isinstance(kind, str) else None


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise NotAuthenticated("unknown_role") from None


def _cpr(value: Any) -> str:
    if value is None:
        raise NotAuthenticated("missing_claim")
    if not isinstance(value, str):
        raise NotAuthenticated("invalid_cpr")
    try:
        return normalise_cpr(value)
    except InvalidIdentifier:
        raise NotAuthenticated("invalid_cpr") from None


def _organisation(value: Any) -> str:
    if not isinstance(value, str):
        raise NotAuthenticated("invalid_organisation")
    try:
        return normalise_organisation(value)
    except InvalidIdentifier:
        raise NotAuthenticated("invalid_organisation") from None
