"""A minimal client for Telehub's API over real HTTP (urllib), for the simulator and the demo: JSON bodies,
and form bodies for the FHIR search by POST."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiReply:
    status: int
    body: Any  # the parsed JSON, or None when there was no body

    def error_fields(self) -> list[str]:
        """The fields a problem+json reply names (``errors[].field``)."""
        errors = self.body.get("errors", []) if isinstance(self.body, dict) else []
        return [error.get("field", "") for error in errors if isinstance(error, dict)]


def call(method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 15,
         form: list[tuple[str, str]] | None = None) -> ApiReply:
    """One request with a JSON ``body`` or a ``form`` (application/x-www-form-urlencoded, a field may
    repeat); 4xx and 5xx replies are returned, not raised."""
    if form is not None:
        data: bytes | None = urllib.parse.urlencode(form).encode("ascii")
        media_type = "application/x-www-form-urlencoded"
    else:
        data, media_type = (None if body is None else json.dumps(body).encode("utf-8")), "application/json"
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", media_type)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return ApiReply(response.status, _json(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return ApiReply(error.code, _json(error.read()))


def _json(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
