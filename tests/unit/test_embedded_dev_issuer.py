"""The embedded mode's dev issuer: a key kept privately, tokens that verify against its JWKS."""

from __future__ import annotations

import stat

import jwt
import pytest

from embedded.dev_issuer import KEY_FILE, DevIssuer, issuer_url, jwks_url
from functions.authorizer.logic import CPR_CLAIM

ISSUER = issuer_url("http://127.0.0.1:8080/")
SOR = "265161000016009"


def verify(token: str, issuer: DevIssuer) -> dict:
    key = jwt.PyJWKSet.from_dict(issuer.jwks())[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=issuer.audience, issuer=issuer.issuer)


def test_the_key_is_created_once_readable_by_its_owner_only_and_reused(tmp_path):
    # Given a fresh state directory
    first = DevIssuer(tmp_path, ISSUER)
    # When two issuers use it one after the other
    kid = first.kid
    second = DevIssuer(tmp_path, ISSUER)
    # Then the key file is private and the second issuer signs with the same key
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert second.kid == kid
    assert verify(second.mint("system"), first)["telehub_role"] == "system"


def test_a_minted_token_carries_the_claims_of_the_token_contract(tmp_path):
    # Given the dev issuer at the gateway's URL
    issuer = DevIssuer(tmp_path, ISSUER)
    # When it mints a logistics token
    token = issuer.mint("logistics", organisation=SOR, subject="anne", ttl_minutes=5)
    # Then the token is RS256 with the key's kid and verifies against the published JWKS
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == issuer.kid
    claims = verify(token, issuer)
    assert claims["iss"] == "http://127.0.0.1:8080" and claims["aud"] == "telehub-local"
    assert claims["sub"] == "anne" and claims["telehub_role"] == "logistics" and claims["telehub_org"] == SOR
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("organisation", [SOR, "123456"])
def test_a_clinician_token_names_a_sor_code_or_a_gp_ydernummer(tmp_path, organisation):
    # Given the dev issuer
    issuer = DevIssuer(tmp_path, ISSUER)
    # When a GP (known by a 6-digit ydernummer) or a hospital department (a SOR code) gets a token
    token = issuer.mint("clinician", organisation=organisation)
    # Then the token names that organisation
    assert verify(token, issuer)["telehub_org"] == organisation


def test_the_jwks_is_where_the_gateway_serves_it():
    assert jwks_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("role", "organisation", "ttl"),
    [
        ("clinician", None, 60),
        ("logistics", "12", 60),
        ("clinician", "1234567", 60),
        ("device", None, 60),
        ("system", None, 0),
        ("admin", None, 60),
    ],
)
def test_tokens_the_contract_does_not_allow_are_refused(tmp_path, role, organisation, ttl):
    with pytest.raises(ValueError):
        DevIssuer(tmp_path, ISSUER).mint(role, organisation=organisation, ttl_minutes=ttl)


def test_a_citizen_token_carries_the_cpr_number_where_the_authorizer_reads_it_and_no_organisation(tmp_path):
    # Given the dev issuer
    issuer = DevIssuer(tmp_path, ISSUER)
    # When it mints a citizen's token for a test CPR number written with a dash
    claims = verify(issuer.mint("citizen", cpr="251248-9996"), issuer)
    # Then the token carries the ten digits in the national login's CPR claim, and neither an organisation
    # nor the CPR number as its subject
    assert claims["telehub_role"] == "citizen"
    assert claims[CPR_CLAIM] == "2512489996"
    assert "telehub_org" not in claims and claims["sub"] == "dev-citizen"


@pytest.mark.parametrize(("role", "organisation", "cpr"), [
    ("citizen", None, None),  # a citizen needs a CPR number
    ("citizen", SOR, "2512489996"),  # and acts for no organisation
    ("citizen", None, "3212489996"),  # no such birth date
    ("clinician", SOR, "2512489996"),  # nobody else carries one
])
def test_citizen_tokens_the_contract_does_not_allow_are_refused(tmp_path, role, organisation, cpr):
    with pytest.raises(ValueError):
        DevIssuer(tmp_path, ISSUER).mint(role, organisation=organisation, cpr=cpr)
