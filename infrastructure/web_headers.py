"""The security headers the clinician web app is served with, in both modes.

Pure data and one function: CloudFront's response headers policy (AWS) and the embedded gateway's static
replies both read it, so what the browser is told cannot differ between the two. The app has no inline
script or style, so 'self' is all it needs; in AWS the sign-in redirect goes to the identity provider and
the token request is a fetch to it, so its origins join form-action and connect-src.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# Two years, the preload list's minimum; sent on https only (a browser ignores it on http://127.0.0.1).
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"
STRICT_TRANSPORT_SECURITY_SECONDS = 63072000

# The headers every static reply carries, whatever the scheme (the CSP is added by content_security_policy).
COMMON_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# index.html and config.json change with every deployment and must be fetched each time; the assets carry
# a content hash in their names, so a browser may keep them for a year.
NO_STORE = "no-store"
IMMUTABLE = "public, max-age=31536000, immutable"

# The media type of each kind of file the build emits, by its name's ending; with nosniff the browser
# goes by these alone. Anything else is bytes.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
OCTET_STREAM = "application/octet-stream"

_SELF = "'self'"


def content_type(name: str) -> str:
    """The media type a file of the build is served with."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, OCTET_STREAM)


def cache_control(path: str) -> str:
    """How long a browser may keep a file: the content-hashed assets a year, everything else not at all."""
    return IMMUTABLE if path.lstrip("/").startswith("assets/") else NO_STORE


def origin_of(url: str) -> str:
    """The scheme://host[:port] of an absolute http(s) URL; a CSP source names an origin, never a path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(identity_provider_urls: Iterable[str] = ()) -> str:
    """The CSP: only the app's own origin, plus the identity provider's origins for the sign-in redirect
    (form-action) and the token request (connect-src). The embedded mode's provider is the same origin."""
    extra = sorted({origin_of(url) for url in identity_provider_urls})
    own_and_provider = " ".join([_SELF, *extra])
    directives = [
        ("default-src", "'none'"),
        ("script-src", _SELF),
        ("style-src", _SELF),
        ("img-src", f"{_SELF} data:"),
        ("connect-src", own_and_provider),
        ("font-src", _SELF),
        ("form-action", own_and_provider),
        ("frame-ancestors", "'none'"),
        ("base-uri", "'none'"),
    ]
    return "; ".join(f"{name} {value}" for name, value in directives)


def security_headers(*, https: bool, identity_provider_urls: Iterable[str] = ()) -> dict[str, str]:
    """Every security header for a static reply: HSTS only over https."""
    headers = {"Content-Security-Policy": content_security_policy(identity_provider_urls), **COMMON_HEADERS}
    if https:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers
