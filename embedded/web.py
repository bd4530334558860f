"""What the embedded gateway serves besides the API: the clinician web app, its configuration and the dev
issuer's sign-in (OpenID Connect's code flow with PKCE, embedded/oidc.py), all on the API's own origin.

GET (and HEAD) of / or /index.html is the built app's page, /assets/<name> a file directly in
web/dist/assets (nothing else on disk is reachable), /config.json where the app finds its identity
provider. Every reply carries the security headers of infrastructure/web_headers.py, as CloudFront's do in
AWS. Anything else (another method, another path) is not answered here: the gateway's routes and its 403
``no_such_route`` apply as before, and nothing under /v1 or /fhir is ever served from here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from embedded.gateway import Reply, Request
from embedded.oidc import (
    SCOPE,
    WEB_CLIENT_ID,
    AuthorizationError,
    CodeFlow,
    MintToken,
    SignInRefused,
    TokenError,
    discovery,
)
from embedded.sign_in_page import STYLESHEET, STYLESHEET_PATH, refusal_page, sign_in_page
from infrastructure.web_headers import NO_STORE, cache_control, content_type, security_headers

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_DIST = REPOSITORY / "web" / "dist"
CONFIG_PATH = "/config.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/oauth2/authorize"
TOKEN_PATH = "/oauth2/token"
LANGUAGES = ("da", "en")
# A name the build emits: no separators, no leading dot, so only files directly in assets/ are reachable.
_ASSET_NAME = re.compile(r"/assets/([A-Za-z0-9_][A-Za-z0-9._-]*)")
_FORM = "application/x-www-form-urlencoded"
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Telehub: the web app is not built</title></head>
<body><main><h1>The web app is not built</h1>
<p>Run <code>make web</code> (or <code>make demo</code>, which builds it) and reload this page. The API
answers under <code>/v1</code> meanwhile.</p></main></body>
</html>
"""


def index_page(dist: Path) -> Path:
    """The built app's page; the build writes it last, so with it the app is there."""
    return Path(dist) / "index.html"


class WebFront:
    """The web app's files and the sign-in, for one origin (the gateway's URL, http://127.0.0.1:<port>)."""

    def __init__(self, origin: str, issuer: str, jwks_uri: str, mint: MintToken, *, stage: str,
                 dist: Path = DEFAULT_DIST, clock: Callable[[], float] = time.monotonic) -> None:
        self.origin = origin.rstrip("/")
        self.dist = Path(dist)
        self.stage = stage
        self.flow = CodeFlow(f"{self.origin}/", mint, clock)
        self._discovery = discovery(issuer, self.origin, jwks_uri)
        self._headers = security_headers(https=self.origin.startswith("https://"))

    def config(self) -> dict[str, Any]:
        """The app's configuration (GET /config.json): the stage, its identity provider, its languages."""
        return {
            "stage": self.stage,
            "oidc": {
                "authorization_endpoint": f"{self.origin}{AUTHORIZE_PATH}",
                "token_endpoint": f"{self.origin}{TOKEN_PATH}",
                "client_id": WEB_CLIENT_ID,
                "scope": SCOPE,
                "end_session_endpoint": None,
            },
            "languages": list(LANGUAGES),
        }

    def reply(self, request: Request) -> Reply | None:
        """The reply for a request this front answers, or None for the gateway to handle."""
        if request.method in ("GET", "HEAD"):
            return self._read(request)
        if request.method == "POST" and request.path == AUTHORIZE_PATH:
            return self._sign_in(request)
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self._token(request)
        return None

    def _read(self, request: Request) -> Reply | None:
        path = request.path
        if path in ("/", "/index.html"):
            page = index_page(self.dist)
            if not page.is_file():
                return self._reply(503, _HTML, NOT_BUILT_PAGE.encode(), NO_STORE)
            return self._reply(200, _HTML, page.read_bytes(), cache_control(path))
        if path == CONFIG_PATH:
            return self._json(200, self.config())
        if path == DISCOVERY_PATH:
            return self._json(200, self._discovery)
        if path == AUTHORIZE_PATH:
            return self._authorize(parse_qsl(request.query, keep_blank_values=True))
        if path == STYLESHEET_PATH:
            return self._reply(200, content_type(path), STYLESHEET.encode(), NO_STORE)
        if path.startswith("/assets/"):
            return self._asset(path)
        return None

    def _asset(self, path: str) -> Reply:
        found = _ASSET_NAME.fullmatch(path)
        assets = self.dist / "assets"
        file = assets / found[1] if found else None
        if file is None or not file.is_file() or file.resolve().parent != assets.resolve():
            return self._reply(404, "text/plain; charset=utf-8", b"no such file\n", NO_STORE)
        return self._reply(200, content_type(file.name), file.read_bytes(), cache_control(path))

    def _authorize(self, pairs: list[tuple[str, str]]) -> Reply:
        try:
            request = self.flow.authorization_request(pairs)
        except SignInRefused as refused:
            return self._refused(refused)
        except AuthorizationError as error:
            return self._redirect(error.location)
        return self._reply(200, _HTML, sign_in_page(request).encode(), NO_STORE)

    def _sign_in(self, request: Request) -> Reply:
        try:
            location = self.flow.sign_in(_form(request))
        except SignInRefused as refused:
            return self._refused(refused)
        except AuthorizationError as error:
            location = error.location
        return self._redirect(location)

    def _token(self, request: Request) -> Reply:
        try:
            if _content_type(request) != _FORM:
                raise TokenError("invalid_request", f"the body must be {_FORM}")
            tokens = self.flow.exchange(_form(request))
        except TokenError as error:
            return self._json(400, error.body())
        return self._json(200, tokens)

    def _refused(self, refused: SignInRefused) -> Reply:
        return self._reply(400, _HTML, refusal_page(refused.field, refused.detail).encode(), NO_STORE)

    def _redirect(self, location: str) -> Reply:
        return Reply(302, [("Location", location), ("Cache-Control", NO_STORE), *self._headers.items()], b"")

    def _json(self, status: int, body: dict[str, Any]) -> Reply:
        return self._reply(status, _JSON, json.dumps(body).encode(), NO_STORE)

    def _reply(self, status: int, media_type: str, body: bytes, caching: str) -> Reply:
        headers = [("Content-Type", media_type), ("Cache-Control", caching), *self._headers.items()]
        return Reply(status, headers, body)


def _content_type(request: Request) -> str:
    value = next((value for name, value in request.headers if name.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def _form(request: Request) -> list[tuple[str, str]]:
    try:
        return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return []
