"""The clinician web app's sign-in end to end, over real HTTP against the running embedded system: the dev
issuer's page, the code flow with PKCE, and the token it gives being taken by the authorizer."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from embedded.api_client import call
from embedded.local import LocalSystem
from embedded.oidc import CODE_LIFETIME_SECONDS, WEB_CLIENT_ID, s256
from embedded.organisations import NURSES_SOR
from infrastructure.edge import EdgeLimits
from tests.support.fakes import MovableClock
from tests.support.raw_http import Answer, post_form, send

pytestmark = pytest.mark.e2e



@dataclass
class App:
    """What the web app does: a fresh verifier and state, the authorization request, the code exchange."""

    url: str  # the gateway's origin
    verifier: str = ""
    state: str = ""

    def __post_init__(self) -> None:
        self.verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        self.state = secrets.token_urlsafe(16)

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/"

    def authorization_request(self, **overrides: str) -> list[tuple[str, str]]:
        parameters = {"response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": self.redirect_uri,
                      "scope": "openid", "state": self.state, "code_challenge": s256(self.verifier),
                      "code_challenge_method": "S256", **overrides}
        return list(parameters.items())

    def sign_in(self, organisation: str = NURSES_SOR) -> str:
        """The person picks the role and organisation on the page; the app gets a code on its root."""
        page = send(self.url, "GET", f"/oauth2/authorize?{urlencode(self.authorization_request())}")
        assert page.status == 200 and b'name="organisation"' in page.body
        redirect = post_form(self.url, "/oauth2/authorize", [
            *self.authorization_request(), ("role", "clinician"), ("organisation", organisation)])
        assert redirect.status == 302
        location = urlsplit(redirect.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == self.redirect_uri
        query = parse_qs(location.query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def exchange(self, code: str, **overrides: str) -> Answer:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": WEB_CLIENT_ID, "code_verifier": self.verifier, **overrides}
        return post_form(self.url, "/oauth2/token", list(form.items()))


def test_the_nurse_signs_in_and_the_token_opens_her_worklist(local_system: LocalSystem):
    # Given the app at the gateway's origin, reading its configuration
    app = App(local_system.gateway_url)
    config = send(app.url, "GET", "/config.json").json()
    assert config["oidc"] == {"authorization_endpoint": f"{app.url}/oauth2/authorize",
                              "token_endpoint": f"{app.url}/oauth2/token", "client_id": WEB_CLIENT_ID,
                              "scope": "openid", "end_session_endpoint": None}
    # When the municipality's nurse signs in on the dev issuer's page and the app exchanges the code
    tokens = app.exchange(app.sign_in())
    # Then the app has a bearer token for her, issued to the web app's client
    assert tokens.status == 200 and tokens.headers["Cache-Control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    access_token = str(body["access_token"])
    claims = jwt.decode(access_token, options={"verify_signature": False})
    assert claims["azp"] == WEB_CLIENT_ID and claims["telehub_role"] == "clinician"
    assert claims["telehub_org"] == NURSES_SOR and claims["sub"] == f"nurse-{NURSES_SOR}"
    assert claims["iss"] == local_system.gateway_url
    # And the API takes it: her worklist answers
    assert call("GET", f"{app.url}/v1/worklist", access_token).status == 200


def test_a_token_issued_to_another_client_is_refused_by_the_authorizer(local_system: LocalSystem):
    # Given a token of the dev issuer naming a client the embedded mode does not know
    assert local_system.issuer is not None
    token = local_system.issuer.mint("clinician", organisation=NURSES_SOR, authorized_party="someone-else")
    # When it calls the API, Then it is 401, as any token that is not trusted
    assert call("GET", f"{local_system.gateway_url}/v1/worklist", token).status == 401


def test_a_wrong_verifier_or_a_reused_code_gets_no_token(local_system: LocalSystem):
    app = App(local_system.gateway_url)
    # Given a code taken with a wrong verifier
    wrong = app.exchange(app.sign_in(), code_verifier="w" * 43)
    assert (wrong.status, wrong.json()["error"]) == (400, "invalid_grant")
    # And a code used once
    code = app.sign_in()
    assert app.exchange(code).status == 200
    # When it is used again, Then no second token
    again = app.exchange(code)
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")


def test_a_redirect_uri_other_than_the_apps_root_is_a_400_page_without_a_redirect(local_system: LocalSystem):
    app = App(local_system.gateway_url)
    for redirect_uri in ("https://evil.example/", f"{app.url}/callback"):
        query = urlencode(app.authorization_request(redirect_uri=redirect_uri))
        answer = send(app.url, "GET", f"/oauth2/authorize?{query}")
        assert answer.status == 400 and "Location" not in answer.headers
        assert b"redirect_uri" in answer.body
    # And a token request naming another redirect URI than the code's gets nothing
    moved = app.exchange(app.sign_in(), redirect_uri=f"{app.url}/callback")
    assert (moved.status, moved.json()["error"]) == (400, "invalid_grant")


def test_a_code_expires_after_60_seconds(local_system: LocalSystem):
    # Given a gateway in front of the running system whose clock the test moves
    clock = MovableClock(0.0)
    with local_system.entrance(EdgeLimits(), clock) as url:
        app = App(url)
        code = app.sign_in()
        # When the app presents the code 60 s later, Then it has expired
        clock.now += CODE_LIFETIME_SECONDS
        expired = app.exchange(code)
        assert (expired.status, expired.json()["error"]) == (400, "invalid_grant")
        # And a code presented in time still works there
        assert app.exchange(app.sign_in()).status == 200
