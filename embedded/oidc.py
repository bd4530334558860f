"""The dev issuer as an OpenID Connect provider for the clinician web app: the authorization code flow with
PKCE (RFC 6749 §4.1, RFC 7636, S256 only), so the app signs in locally the way it does against the stage's
identity provider in AWS.

There is no password: the sign-in page lets you choose a role and an organisation, and the access token is
the dev issuer's JWT for them, issued to the web app's client (``azp``). A code is single use, lives
``CODE_LIFETIME_SECONDS`` and is bound to the client, the redirect URI and the code challenge. Only one
client is known, and only one redirect URI: the gateway's own origin + "/", where the app takes the code.
No HTTP here (embedded/web.py serves it); the clock and the token minting are injected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from embedded.organisations import GP_YDERNUMMER, HOSPITAL_SOR, MUNICIPALITY_SOR, NURSES_SOR, OTHER_REGION_SOR
from functions.shared.principal import Role

WEB_CLIENT_ID = "telehub-clinician-web"
SCOPE = "openid"
CODE_LIFETIME_SECONDS = 60
TOKEN_LIFETIME_MINUTES = 60
# S256's challenge is the base64url of a SHA-256 digest, unpadded: 43 characters. The verifier is 43 to 128
# unreserved characters (RFC 7636 §4.1).
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")

# Mints the access token for a role and organisation, issued to a client: (role, organisation, client) -> JWT.
MintToken = Callable[[Role, str, str], str]


@dataclass(frozen=True)
class SignInOrganisation:
    code: str  # a SOR code or a GP's ydernummer
    danish: str
    english: str


# The organisations the sign-in page offers, the default first: the municipality's nurses, whom the demo
# leaves a RED alarm; the others see other worklists (or none), to try that a 403 tells nothing.
SIGN_IN_ORGANISATIONS = (
    SignInOrganisation(NURSES_SOR, "Kommunens sygeplejersker, telemedicinsk overvågning",
                       "the municipality's nurses, telemonitoring"),
    SignInOrganisation(HOSPITAL_SOR, "Hospitalets lungeklinik", "the hospital's lung clinic"),
    SignInOrganisation(GP_YDERNUMMER, "Den praktiserende læge", "the GP practice"),
    SignInOrganisation(MUNICIPALITY_SOR, "En anden kommunes hjemmepleje", "another municipality's home care"),
    SignInOrganisation(OTHER_REGION_SOR, "En anden regions hospital", "another region's hospital"),
)
DEFAULT_ORGANISATION = NURSES_SOR
# The web app is for clinicians; the page offers no other role.
SIGN_IN_ROLES = (Role.CLINICIAN,)


class SignInRefused(Exception):
    """The request cannot go back to the client: an unknown client or redirect URI (RFC 6749 §4.1.2.1), or a
    sign-in form that names no offered role or organisation. A page says why; nothing is redirected."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class AuthorizationError(Exception):
    """An error the client is told on its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class TokenError(Exception):
    """An error of the token endpoint (RFC 6749 §5.2): 400 with the error code and a description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class AuthorizationRequest:
    """A request of the web app's client to its one redirect URI, with an S256 code challenge."""

    redirect_uri: str
    state: str | None
    code_challenge: str

    def hidden_fields(self) -> list[tuple[str, str]]:
        """The request again, as the sign-in form's hidden fields."""
        fields = [("response_type", "code"), ("client_id", WEB_CLIENT_ID),
                  ("redirect_uri", self.redirect_uri), ("code_challenge", self.code_challenge),
                  ("code_challenge_method", "S256")]
        return fields + ([("state", self.state)] if self.state is not None else [])

    def redirect(self, **parameters: str) -> str:
        state = {} if self.state is None else {"state": self.state}
        return f"{self.redirect_uri}?{urlencode({**parameters, **state})}"


@dataclass(frozen=True)
class _Grant:
    """What a code stands for until it is exchanged or expires."""

    redirect_uri: str
    code_challenge: str
    role: Role
    organisation: str
    expires_at: float


def s256(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def single_parameters(pairs: Sequence[tuple[str, str]]) -> dict[str, str] | str:
    """The parameters by name, or the name of one sent more than once (RFC 6749 §3.1: at most once each)."""
    parameters: dict[str, str] = {}
    for name, value in pairs:
        if name in parameters:
            return name
        parameters[name] = value
    return parameters


class CodeFlow:
    """The authorization code flow of the one client, for one redirect URI."""

    def __init__(self, redirect_uri: str, mint: MintToken, clock: Callable[[], float] = time.monotonic,
                 new_code: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> None:
        self.redirect_uri = redirect_uri
        self._mint = mint
        self._clock = clock
        self._new_code = new_code
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def authorization_request(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        """The request as sent; raises SignInRefused for an unknown client or redirect URI, AuthorizationError
        (to be redirected) for anything else."""
        parameters = single_parameters(pairs)
        if isinstance(parameters, str):
            if parameters in ("client_id", "redirect_uri"):
                raise SignInRefused(parameters, "is given more than once")
            raise AuthorizationError(self._redirect_error(
                pairs, "invalid_request", f"{parameters} is given more than once"))
        if parameters.get("client_id") != WEB_CLIENT_ID:
            raise SignInRefused("client_id", f"must be {WEB_CLIENT_ID}")
        if parameters.get("redirect_uri") != self.redirect_uri:
            raise SignInRefused("redirect_uri", f"must be {self.redirect_uri}")
        request = AuthorizationRequest(self.redirect_uri, parameters.get("state"),
                                       parameters.get("code_challenge", ""))
        if parameters.get("response_type") != "code":
            raise AuthorizationError(request.redirect(
                error="unsupported_response_type", error_description="response_type must be code"))
        if parameters.get("code_challenge_method") != "S256":
            raise AuthorizationError(request.redirect(
                error="invalid_request", error_description="code_challenge_method must be S256"))
        if not _CHALLENGE.fullmatch(request.code_challenge):
            raise AuthorizationError(request.redirect(
                error="invalid_request", error_description="code_challenge must be 43 base64url characters"))
        return request

    def sign_in(self, pairs: Sequence[tuple[str, str]]) -> str:
        """The sign-in form posted: the redirect to the client with a new code for the chosen role and
        organisation."""
        request = self.authorization_request([(n, v) for n, v in pairs if n not in ("role", "organisation")])
        chosen = single_parameters([(n, v) for n, v in pairs if n in ("role", "organisation")])
        if isinstance(chosen, str):
            raise SignInRefused(chosen, "is chosen more than once")
        role = chosen.get("role", "")
        if role not in {offered.value for offered in SIGN_IN_ROLES}:
            raise SignInRefused("role", f"must be one of {', '.join(r.value for r in SIGN_IN_ROLES)}")
        organisation = chosen.get("organisation", "")
        if organisation not in {offered.code for offered in SIGN_IN_ORGANISATIONS}:
            raise SignInRefused("organisation", "must be one of the organisations the page offers")
        code = self._new_code()
        now = self._clock()
        with self._lock:
            self._grants = {kept: grant for kept, grant in self._grants.items() if grant.expires_at > now}
            self._grants[code] = _Grant(request.redirect_uri, request.code_challenge, Role(role),
                                        organisation, now + CODE_LIFETIME_SECONDS)
        return request.redirect(code=code)

    def exchange(self, pairs: Sequence[tuple[str, str]]) -> dict[str, str | int]:
        """The token request: the access token for a code, once, with the verifier of its challenge."""
        parameters = single_parameters(pairs)
        if isinstance(parameters, str):
            raise TokenError("invalid_request", f"{parameters} is given more than once")
        if parameters.get("grant_type") != "authorization_code":
            raise TokenError("unsupported_grant_type", "grant_type must be authorization_code")
        for name in ("code", "redirect_uri", "client_id", "code_verifier"):
            if not parameters.get(name):
                raise TokenError("invalid_request", f"{name} is required")
        if parameters["client_id"] != WEB_CLIENT_ID:
            raise TokenError("invalid_client", f"client_id must be {WEB_CLIENT_ID}")
        with self._lock:  # taken whatever follows: a code is tried once
            grant = self._grants.pop(parameters["code"], None)
        if grant is None or grant.expires_at <= self._clock():
            raise TokenError("invalid_grant", "the code is unknown, used or expired")
        if parameters["redirect_uri"] != grant.redirect_uri:
            raise TokenError("invalid_grant", "redirect_uri is not the one the code was issued for")
        verifier = parameters["code_verifier"]
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), grant.code_challenge):
            raise TokenError("invalid_grant", "code_verifier does not match the code challenge")
        return {
            "access_token": self._mint(grant.role, grant.organisation, WEB_CLIENT_ID),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_MINUTES * 60,
            "scope": SCOPE,
        }

    def _redirect_error(self, pairs: Sequence[tuple[str, str]], error: str, description: str) -> str:
        state = next((value for name, value in pairs if name == "state"), None)
        return AuthorizationRequest(self.redirect_uri, state, "").redirect(
            error=error, error_description=description)


def discovery(issuer: str, origin: str, jwks_uri: str) -> dict[str, object]:
    """The provider's metadata (OpenID Connect Discovery 1.0's fields for the code flow; it issues access
    tokens only, no ID token: the app reads who signed in from the access token's claims)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{origin}/oauth2/authorize",
        "token_endpoint": f"{origin}/oauth2/token",
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": [SCOPE],
    }


def subject_for(role: Role, organisation: str) -> str:
    """The signed-in person's subject: who they are by role and organisation, never a person's name."""
    return f"{'nurse' if role is Role.CLINICIAN else role.value}-{organisation}"


def minted_by(mint: Callable[..., str]) -> MintToken:
    """A MintToken from the dev issuer's ``mint``."""
    return lambda role, organisation, client: mint(
        role, organisation=organisation, subject=subject_for(role, organisation),
        ttl_minutes=TOKEN_LIFETIME_MINUTES, authorized_party=client)

