"""One HTTP request as a browser's single step sees it: no redirect followed, no body decoded, no retry."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


def send(url: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def post_form(url: str, path: str, fields: list[tuple[str, str]]) -> Answer:
    return send(url, "POST", path, urlencode(fields).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
