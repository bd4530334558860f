"""The web app's security headers: one table for CloudFront and the embedded gateway."""

from __future__ import annotations

import pytest

from infrastructure.web_headers import (
    STRICT_TRANSPORT_SECURITY,
    cache_control,
    content_security_policy,
    content_type,
    origin_of,
    security_headers,
)


def _directives(policy: str) -> dict[str, str]:
    return dict(directive.split(" ", 1) for directive in policy.split("; "))


def test_the_policy_without_a_provider_allows_only_the_apps_own_origin():
    # Given no identity provider of another origin (the embedded mode's issuer is the gateway itself)
    # When the policy is built
    directives = _directives(content_security_policy())
    # Then everything is 'self' or nothing, with no inline script or style and no framing
    assert directives == {
        "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
        "connect-src": "'self'", "font-src": "'self'", "form-action": "'self'", "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    assert "unsafe" not in content_security_policy()


def test_the_identity_providers_origins_join_connect_src_and_form_action_only():
    # Given a provider's authorize and token endpoints, on one origin with paths and one other
    urls = ["https://login.example.dk/oauth2/authorize", "https://login.example.dk/oauth2/token",
            "https://token.example.dk:8443/t?x=1"]
    # When the policy is built
    directives = _directives(content_security_policy(urls))
    # Then each origin appears once, without its path, where the sign-in needs it and nowhere else
    expected = "'self' https://login.example.dk https://token.example.dk:8443"
    assert directives["connect-src"] == expected
    assert directives["form-action"] == expected
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"


@pytest.mark.parametrize("url", ["login.example.dk", "/oauth2/token", "javascript:alert(1)", "ftp://x.dk/"])
def test_a_source_that_is_no_absolute_http_url_is_refused(url):
    # Given something that is not an absolute http(s) URL, When its origin is asked, Then it is refused
    with pytest.raises(ValueError):
        origin_of(url)


def test_strict_transport_security_is_sent_over_https_only():
    # Given the headers for https and for http
    over_https = security_headers(https=True)
    over_http = security_headers(https=False)
    # Then HSTS is in the first only, and both carry the rest of the table
    assert over_https["Strict-Transport-Security"] == STRICT_TRANSPORT_SECURITY
    assert "Strict-Transport-Security" not in over_http
    for headers in (over_https, over_http):
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=()"
        assert headers["Content-Security-Policy"] == content_security_policy()


@pytest.mark.parametrize(("name", "expected"), [
    ("index.html", "text/html; charset=utf-8"), ("app-3F2A.js", "text/javascript; charset=utf-8"),
    ("app-3F2A.CSS", "text/css; charset=utf-8"), ("config.json", "application/json"),
    ("logo.svg", "image/svg+xml"), ("font.woff2", "font/woff2"), ("README", "application/octet-stream"),
    ("archive.tar.gz", "application/octet-stream"),
])
def test_each_file_is_served_with_the_media_type_of_its_ending(name, expected):
    assert content_type(name) == expected


def test_only_the_content_hashed_assets_may_be_kept():
    # Given the page, its configuration and a hashed asset
    # Then the browser keeps the asset for a year and fetches the others every time
    assert cache_control("/assets/app-3F2A.js") == "public, max-age=31536000, immutable"
    assert cache_control("/index.html") == cache_control("/") == cache_control("/config.json") == "no-store"
