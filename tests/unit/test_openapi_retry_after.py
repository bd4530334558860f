"""docs/openapi.json names Retry-After on the 429 a function answers itself (the device's credential rotation
within its interval), and only there: the edge's 429s say no such thing."""

from __future__ import annotations

import json

from scripts import openapi

ROTATION = ("/v1/devices/me/credential", "post")


def test_only_the_rotations_own_429_names_retry_after():
    # Given the committed document
    document = json.loads(openapi.OUTPUT.read_text(encoding="utf-8"))
    assert document["components"]["headers"]["RetryAfter"]["schema"] == {"type": "integer", "minimum": 1}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            reply = operation["responses"]["429"]
            # Then the rotation's 429 is its own, with Retry-After and the edge's reasons too
            if (path, method) == ROTATION:
                assert reply["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
                assert "less than 10 minutes ago" in reply["description"]
                assert openapi.PROBLEMS[429][2] in reply["description"]
            # And every other operation's 429 is the edge's, which names no Retry-After
            else:
                assert reply == {"$ref": "#/components/responses/TooManyRequests"}, (method, path)
