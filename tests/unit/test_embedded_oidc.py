"""The dev issuer's code flow: PKCE S256, codes single use for 60 s, bound to the client and redirect URI."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from embedded.oidc import (
    CODE_LIFETIME_SECONDS,
    DEFAULT_ORGANISATION,
    SIGN_IN_ORGANISATIONS,
    WEB_CLIENT_ID,
    AuthorizationError,
    CodeFlow,
    SignInRefused,
    TokenError,
    s256,
    subject_for,
)
from functions.shared.principal import Role
from tests.support.fakes import MovableClock

REDIRECT = "http://127.0.0.1:8080/"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
HOSPITAL = next(offered.code for offered in SIGN_IN_ORGANISATIONS if offered.code != DEFAULT_ORGANISATION)


def minted(role: Role, organisation: str, client: str) -> str:
    return f"token:{role.value}:{organisation}:{client}"


def authorize(**overrides: str) -> list[tuple[str, str]]:
    parameters = {"response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": REDIRECT,
                  "state": "s-1", "code_challenge": CHALLENGE, "code_challenge_method": "S256", **overrides}
    return [(name, value) for name, value in parameters.items() if value is not None]


def signed_in(flow: CodeFlow, organisation: str = DEFAULT_ORGANISATION) -> str:
    location = flow.sign_in([*authorize(), ("role", "clinician"), ("organisation", organisation)])
    (code,) = parse_qs(urlsplit(location).query)["code"]
    return code


def token_request(code: str, **overrides: str) -> list[tuple[str, str]]:
    parameters = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                  "client_id": WEB_CLIENT_ID, "code_verifier": VERIFIER, **overrides}
    return list(parameters.items())


@pytest.fixture
def clock() -> MovableClock[float]:
    return MovableClock(1000.0)


@pytest.fixture
def flow(clock: MovableClock[float]) -> CodeFlow:
    return CodeFlow(REDIRECT, minted, clock)


def test_the_s256_challenge_is_rfc_7636s():
    # Given RFC 7636's example verifier, Then its challenge is the RFC's, and any verifier's is a digest
    assert s256(VERIFIER) == CHALLENGE
    digest = hashlib.sha256(b"x" * 43).digest()
    assert s256("x" * 43) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_code_with_its_verifier_gets_the_chosen_clinicians_token_for_the_web_client(flow):
    # Given a clinician of the hospital signed in through the page
    location = flow.sign_in([*authorize(), ("role", "clinician"), ("organisation", HOSPITAL)])
    # Then the browser goes back to the app's origin with a code and the app's state
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-1"] and len(query["code"][0]) >= 32
    # When the app exchanges the code with its verifier
    tokens = flow.exchange(token_request(query["code"][0]))
    # Then it gets a bearer token minted for that role and organisation, issued to the web client
    assert tokens == {"access_token": f"token:clinician:{HOSPITAL}:{WEB_CLIENT_ID}", "token_type": "Bearer",
                      "expires_in": 3600, "scope": "openid"}


def test_a_code_is_used_once(flow):
    # Given a code exchanged once
    code = signed_in(flow)
    flow.exchange(token_request(code))
    # When it is presented again, Then it is an invalid grant
    with pytest.raises(TokenError) as refused:
        flow.exchange(token_request(code))
    assert refused.value.error == "invalid_grant"


def test_a_wrong_verifier_spends_the_code(flow):
    # Given a code presented with another verifier
    code = signed_in(flow)
    with pytest.raises(TokenError) as refused:
        flow.exchange(token_request(code, code_verifier="A" * 43))
    assert refused.value.body() == {"error": "invalid_grant",
                                    "error_description": "code_verifier does not match the code challenge"}
    # When the right verifier follows, Then the code is gone: one try per code
    with pytest.raises(TokenError) as again:
        flow.exchange(token_request(code))
    assert again.value.error == "invalid_grant"


@pytest.mark.parametrize("verifier", ["short", "é" * 43, "A" * 129])
def test_a_verifier_outside_rfc_7636s_alphabet_or_length_is_an_invalid_grant(flow, verifier):
    with pytest.raises(TokenError) as refused:
        flow.exchange(token_request(signed_in(flow), code_verifier=verifier))
    assert refused.value.error == "invalid_grant"


def test_a_code_lives_60_seconds(flow, clock):
    # Given two codes issued now
    early, late = signed_in(flow), signed_in(flow)
    # When just under 60 s have passed, Then one is still good
    clock.now += CODE_LIFETIME_SECONDS - 0.001
    assert flow.exchange(token_request(early))["token_type"] == "Bearer"
    # And at 60 s the other is expired
    clock.now += 0.001
    with pytest.raises(TokenError) as refused:
        flow.exchange(token_request(late))
    assert refused.value.error == "invalid_grant"


def test_a_code_is_bound_to_its_redirect_uri_and_client(flow):
    # Given a code, When it is presented for another redirect URI, Then it is an invalid grant
    with pytest.raises(TokenError) as redirect:
        flow.exchange(token_request(signed_in(flow), redirect_uri="http://127.0.0.1:9999/"))
    assert redirect.value.error == "invalid_grant"
    # And another client gets nothing for it
    with pytest.raises(TokenError) as client:
        flow.exchange(token_request(signed_in(flow), client_id="someone-else"))
    assert client.value.error == "invalid_client"


@pytest.mark.parametrize(("change", "error"), [
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"code_verifier": ""}, "invalid_request"),
    ({"redirect_uri": ""}, "invalid_request"),
])
def test_a_malformed_token_request_is_refused_without_spending_the_code(flow, change, error):
    # Given a code, When a malformed request presents it, Then the error names what is wrong
    code = signed_in(flow)
    with pytest.raises(TokenError) as refused:
        flow.exchange(token_request(code, **change))
    assert refused.value.error == error
    # And the code still works for a well-formed request
    assert flow.exchange(token_request(code))["token_type"] == "Bearer"


def test_a_parameter_given_twice_is_an_invalid_request(flow):
    with pytest.raises(TokenError) as refused:
        flow.exchange([*token_request(signed_in(flow)), ("code", "another")])
    assert refused.value.body()["error"] == "invalid_request" and "code" in refused.value.description


@pytest.mark.parametrize(("change", "field"), [
    ({"client_id": "someone-else"}, "client_id"),
    ({"client_id": None}, "client_id"),
    ({"redirect_uri": "https://evil.example/"}, "redirect_uri"),
    ({"redirect_uri": "http://127.0.0.1:8080/callback"}, "redirect_uri"),
    ({"redirect_uri": "http://127.0.0.1:8080"}, "redirect_uri"),
])
def test_an_unknown_client_or_redirect_uri_is_refused_without_a_redirect(flow, change, field):
    # Given an authorization request for another client or redirect URI
    # Then it is refused with the field named, and nothing says where to send the browser
    with pytest.raises(SignInRefused) as refused:
        flow.authorization_request(authorize(**change))
    assert refused.value.field == field


@pytest.mark.parametrize(("change", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
])
def test_other_faults_of_the_request_go_back_to_the_client_with_its_state(flow, change, error):
    # Given a request of the known client to its redirect URI, but without S256 PKCE or for another flow
    with pytest.raises(AuthorizationError) as refused:
        flow.authorization_request(authorize(**change))
    # Then the browser is sent back to the app with the error and the app's state
    location = refused.value.location
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error] and query["state"] == ["s-1"] and "code" not in query


@pytest.mark.parametrize(("choice", "field"), [
    ([("role", "system"), ("organisation", DEFAULT_ORGANISATION)], "role"),
    ([("role", "clinician"), ("organisation", "999999")], "organisation"),
    ([("role", "clinician")], "organisation"),
    ([("role", "clinician"), ("organisation", DEFAULT_ORGANISATION), ("organisation", HOSPITAL)],
     "organisation"),
])
def test_the_form_signs_in_only_as_an_offered_role_and_organisation(flow, choice, field):
    with pytest.raises(SignInRefused) as refused:
        flow.sign_in([*authorize(), *choice])
    assert refused.value.field == field


def test_the_subject_names_the_role_and_organisation():
    assert subject_for(Role.CLINICIAN, "328081000016008") == "nurse-328081000016008"
