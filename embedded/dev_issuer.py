"""The embedded mode's identity provider: signs people's and systems' JWTs for local use.

In AWS the token issuer is configuration (a real identity provider). Locally Telehub is its own:
an RSA key generated once and kept in the state directory (readable by its owner only), published
as a JWKS by the local gateway, and used by ``telehub token`` to mint tokens with the claims of the
token contract (iss, aud, exp, iat, sub, telehub_role, telehub_org: a SOR code or a GP ydernummer; azp, the
client, for the tokens its sign-in page issues to the web app: embedded/oidc.py). A
citizen's token stands in for the national login's (MitID): no organisation, the CPR number in the claim
the authorizer reads it from (functions.authorizer.logic.CPR_CLAIM), and a subject that is not the CPR.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from functions.authorizer.logic import CPR_CLAIM
from functions.shared.auth import Role
from functions.shared.identifiers import normalise_cpr, normalise_organisation

KEY_FILE = "dev-issuer-key.pem"
AUDIENCE = "telehub-local"
ROLES_WITH_ORGANISATION = frozenset({Role.CLINICIAN, Role.LOGISTICS})
# Devices get their credentials from Telehub, not from an identity provider.
MINTABLE_ROLES = (Role.LOGISTICS, Role.CLINICIAN, Role.SYSTEM, Role.CITIZEN)


def issuer_url(gateway_url: str) -> str:
    """The dev issuer lives at the gateway's URL, which also serves its JWKS."""
    return gateway_url.rstrip("/")


def jwks_url(gateway_url: str) -> str:
    return f"{gateway_url.rstrip('/')}/.well-known/jwks.json"


class DevIssuer:
    def __init__(self, state_dir: Path, issuer: str, audience: str = AUDIENCE) -> None:
        self.state_dir = Path(state_dir)
        self.issuer = issuer
        self.audience = audience

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        path = self.state_dir / KEY_FILE
        if not path.exists():
            _write_new_key(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key; delete it to get a new one")
        return key

    @cached_property
    def _public_jwk(self) -> dict[str, str]:
        jwk = RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key: stable for as long as the key file lives."""
        canonical = json.dumps(self._public_jwk, sort_keys=True, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(
        self,
        role: Role | str,
        organisation: str | None = None,
        subject: str | None = None,
        ttl_minutes: int = 60,
        cpr: str | None = None,
        authorized_party: str | None = None,
    ) -> str:
        role = Role(role)
        if role not in MINTABLE_ROLES:
            raise ValueError(f"the dev issuer mints {', '.join(r.value for r in MINTABLE_ROLES)} tokens only")
        if role in ROLES_WITH_ORGANISATION and not organisation:
            raise ValueError(f"a {role.value} token needs an organisation (SOR code or GP ydernummer)")
        if (role is Role.CITIZEN) != (cpr is not None):
            raise ValueError("a citizen token, and only a citizen token, needs a CPR number")
        if role is Role.CITIZEN and organisation:
            raise ValueError("a citizen token names no organisation")
        if ttl_minutes <= 0:
            raise ValueError("the time to live must be at least one minute")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + ttl_minutes * 60,
            "sub": subject or f"dev-{role.value}",
            "telehub_role": role.value,
        }
        if organisation:
            claims["telehub_org"] = normalise_organisation(organisation)
        if authorized_party is not None:
            claims["azp"] = authorized_party  # the client it was issued to, which the authorizer checks
        if cpr is not None:
            # A test CPR number only (DESIGN §5); the subject stays the default, never the CPR number.
            claims[CPR_CLAIM] = normalise_cpr(cpr)
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written aside and linked into place, so a concurrent reader never sees a half-written key.
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(pem)
    try:
        os.link(staging, path)
    except FileExistsError:
        pass  # another process created it first; use theirs
    finally:
        staging.unlink()
