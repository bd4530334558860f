"""The gateway's web front over real HTTP: the built app from a dist directory, its config, the sign-in's
code flow, the security headers; the API's routes and refusals as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from embedded.gateway import Gateway
from embedded.oidc import CODE_LIFETIME_SECONDS, WEB_CLIENT_ID, s256
from embedded.web import WebFront
from infrastructure.edge import GATEWAY_RESPONSES
from infrastructure.resource_spec import RouteSpec
from infrastructure.web_headers import content_security_policy
from tests.support.fakes import MovableClock
from tests.support.raw_http import Answer, post_form, send

ROUTES = (RouteSpec("GET", "/v1/open", "open", authorized=False),)
PAGE = b"<!doctype html><html lang=da><title>app</title><script type=module src=/assets/app-AB12.js></script>"
SCRIPT = b"console.log('app')"
VERIFIER = "v" * 50
NURSES = "328081000016008"



def built_app(root: Path) -> Path:
    """A tiny stand-in for web/dist, with a secret beside it that must never be served."""
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(PAGE)
    (dist / "assets" / "app-AB12.js").write_bytes(SCRIPT)
    (dist / "assets" / "app-AB12.css").write_bytes(b"body{}")
    (root / "secret.txt").write_text("not for the browser")
    return dist


def minted(role, organisation, client):
    return f"token.{role.value}-{organisation}.{client}"


def web_gateway(dist: Path, clock: MovableClock[float]) -> Gateway:
    def invoked(function_id, event):
        return {"statusCode": 200, "body": json.dumps({"route": function_id})}

    gateway = Gateway(ROUTES, invoked, "authorizer", jwks=lambda: {"keys": []}, port=0)
    jwks_uri = f"{gateway.url}/.well-known/jwks.json"
    gateway.pages = WebFront(gateway.url, "http://issuer.test", jwks_uri, minted, stage="local", dist=dist,
                             clock=clock).reply
    return gateway


@pytest.fixture
def clock() -> MovableClock[float]:
    return MovableClock(50.0)


@pytest.fixture
def gateway(tmp_path: Path, clock: MovableClock[float]) -> Iterator[Gateway]:
    gateway = web_gateway(built_app(tmp_path), clock)
    gateway.start()
    yield gateway
    gateway.stop()


def assert_security_headers(answer: Answer) -> None:
    assert answer.headers["Content-Security-Policy"] == content_security_policy()
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=()"
    assert "Strict-Transport-Security" not in answer.headers  # plain http on 127.0.0.1


def test_the_page_is_served_at_the_root_not_to_be_stored(gateway):
    # When the browser opens the root, with or without the sign-in's code, or index.html
    for path in ("/", "/?code=abc&state=xyz", "/index.html"):
        answer = send(gateway.url, "GET", path)
        # Then it gets the built page, not to be stored, with the security headers
        assert (answer.status, answer.body) == (200, PAGE), path
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert answer.headers["Cache-Control"] == "no-store"
        assert_security_headers(answer)


def test_a_hashed_asset_is_served_with_its_media_type_to_be_kept(gateway):
    script = send(gateway.url, "GET", "/assets/app-AB12.js")
    assert (script.status, script.body) == (200, SCRIPT)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert_security_headers(script)
    stylesheet = send(gateway.url, "GET", "/assets/app-AB12.css")
    assert stylesheet.headers["Content-Type"] == "text/css; charset=utf-8"


def test_head_answers_like_get_without_the_body(gateway):
    answer = send(gateway.url, "HEAD", "/assets/app-AB12.js")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["Content-Length"] == str(len(SCRIPT))


@pytest.mark.parametrize("path", [
    "/assets/../index.html", "/assets/../../secret.txt", "/assets/..%2F..%2Fsecret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/.hidden", "/assets/", "/assets/missing-0000.js",
    "/assets//etc/passwd", "/assets/sub/app-AB12.js",
])
def test_only_files_directly_in_assets_are_reachable(gateway, path):
    # When a path tries to leave assets/ (raw or percent-encoded), or names nothing there
    answer = send(gateway.url, "GET", path)
    # Then nothing from disk is served
    assert answer.status == 404 and answer.body == b"no such file\n", path
    assert b"not for the browser" not in answer.body


def test_without_a_build_the_root_says_to_run_make_web(tmp_path, clock):
    # Given a gateway pointed at a dist directory that does not exist
    gateway = web_gateway(tmp_path / "nothing-built", clock)
    gateway.start()
    try:
        answer = send(gateway.url, "GET", "/")
    finally:
        gateway.stop()
    # Then the root says how to build the app
    assert answer.status == 503 and b"make web" in answer.body
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/"), ("PUT", "/index.html"), ("DELETE", "/assets/app-AB12.js"), ("POST", "/config.json"),
    ("GET", "/oauth2/token"), ("PUT", "/oauth2/authorize"), ("GET", "/app-AB12.js"),
    ("GET", "/v1/index.html"), ("GET", "/fhir/assets/app-AB12.js"),
])
def test_other_methods_and_paths_are_api_gateways_no_such_route_as_before(gateway, method, path):
    answer = send(gateway.url, method, path)
    no_such_route = GATEWAY_RESPONSES["MISSING_AUTHENTICATION_TOKEN"].problem()
    assert (answer.status, answer.json()) == (403, no_such_route)


def test_the_api_routes_still_answer(gateway):
    answer = send(gateway.url, "GET", "/v1/open")
    assert (answer.status, answer.json()) == (200, {"route": "open"})


def test_config_json_names_the_sign_in_of_this_origin(gateway):
    answer = send(gateway.url, "GET", "/config.json")
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "stage": "local",
        "oidc": {"authorization_endpoint": f"{gateway.url}/oauth2/authorize",
                 "token_endpoint": f"{gateway.url}/oauth2/token", "client_id": WEB_CLIENT_ID,
                 "scope": "openid", "end_session_endpoint": None},
        "languages": ["da", "en"],
    }
    assert_security_headers(answer)


def test_the_discovery_document_describes_the_code_flow_with_s256(gateway):
    metadata = send(gateway.url, "GET", "/.well-known/openid-configuration").json()
    assert metadata["issuer"] == "http://issuer.test"
    assert metadata["authorization_endpoint"] == f"{gateway.url}/oauth2/authorize"
    assert metadata["token_endpoint"] == f"{gateway.url}/oauth2/token"
    assert metadata["jwks_uri"] == f"{gateway.url}/.well-known/jwks.json"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code"]


def authorization_query(gateway: Gateway, **overrides: str) -> str:
    return urlencode({"response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": f"{gateway.url}/",
                      "state": "st<ate>", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256",
                      **overrides})


def sign_in(gateway: Gateway) -> Answer:
    """The sign-in form posted as the browser posts it: its hidden fields, the nurses chosen."""
    fields = [(name, values[0]) for name, values in parse_qs(authorization_query(gateway)).items()]
    return post_form(gateway.url, "/oauth2/authorize",
                     [*fields, ("role", "clinician"), ("organisation", NURSES)])


def token_request(gateway: Gateway, code: str) -> list[tuple[str, str]]:
    return [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", f"{gateway.url}/"),
            ("client_id", WEB_CLIENT_ID), ("code_verifier", VERIFIER)]


def test_the_code_flow_over_http(gateway):
    # Given the app's authorization request, When the browser follows it
    page = send(gateway.url, "GET", f"/oauth2/authorize?{authorization_query(gateway)}")
    # Then it gets the sign-in page: a form posting to the same path, the nurses chosen by default
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert_security_headers(page)
    html = page.body.decode()
    assert '<form method="post" action="/oauth2/authorize">' in html and "<script" not in html
    assert f'value="{NURSES}" checked' in html and "st&lt;ate&gt;" in html and "st<ate>" not in html
    # When the form is posted as the browser would
    redirect = sign_in(gateway)
    # Then the browser goes back to the app's root with a code and its state
    assert redirect.status == 302 and redirect.headers["Cache-Control"] == "no-store"
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{gateway.url}/"
    query = parse_qs(location.query)
    assert query["state"] == ["st<ate>"]
    # When the app exchanges the code with its verifier
    exchange = token_request(gateway, query["code"][0])
    tokens = post_form(gateway.url, "/oauth2/token", exchange)
    # Then it gets the nurse's token, once
    assert tokens.status == 200 and tokens.headers["Cache-Control"] == "no-store"
    assert tokens.json()["access_token"] == f"token.clinician-{NURSES}.{WEB_CLIENT_ID}"
    again = post_form(gateway.url, "/oauth2/token", exchange)
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")


def test_an_expired_code_is_an_invalid_grant(gateway, clock):
    code = parse_qs(urlsplit(sign_in(gateway).headers["Location"]).query)["code"][0]
    clock.now += CODE_LIFETIME_SECONDS
    answer = post_form(gateway.url, "/oauth2/token", token_request(gateway, code))
    assert (answer.status, answer.json()["error"]) == (400, "invalid_grant")


def test_a_token_request_that_is_no_form_is_an_invalid_request(gateway):
    answer = send(gateway.url, "POST", "/oauth2/token", b'{"grant_type": "authorization_code"}',
                  {"Content-Type": "application/json"})
    assert answer.status == 400
    assert answer.json() == {"error": "invalid_request",
                             "error_description": "the body must be application/x-www-form-urlencoded"}


@pytest.mark.parametrize("override", [{"redirect_uri": "https://evil.example/"}, {"client_id": "other"}])
def test_an_unknown_redirect_or_client_gets_a_400_page_and_no_redirect(gateway, override):
    answer = send(gateway.url, "GET", f"/oauth2/authorize?{authorization_query(gateway, **override)}")
    assert answer.status == 400 and "Location" not in answer.headers
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert next(iter(override)).encode() in answer.body and b"evil.example" not in answer.body


def test_the_sign_in_pages_stylesheet_is_served_from_the_same_origin(gateway):
    answer = send(gateway.url, "GET", "/oauth2/sign-in.css")
    assert answer.status == 200 and answer.headers["Content-Type"] == "text/css; charset=utf-8"
