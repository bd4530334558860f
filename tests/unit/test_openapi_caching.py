"""docs/openapi.json tells clients, on every reply of every operation, that no cache may keep it."""

from __future__ import annotations

import json

from scripts import openapi


def test_every_reply_of_every_operation_documents_cache_control_no_store():
    # Given the committed document
    document = json.loads(openapi.OUTPUT.read_text(encoding="utf-8"))
    components = document["components"]
    # Then the header it names is Cache-Control: no-store, always sent
    assert components["headers"]["NoStore"]["schema"] == {"type": "string", "const": "no-store"}
    assert components["headers"]["NoStore"]["required"] is True
    # And every reply of every operation, served or refused, by a function or by the edge, names it
    replies = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, reply in operation["responses"].items():
                named = reply["$ref"].rsplit("/", 1)[1] if "$ref" in reply else None
                resolved = components["responses"][named] if named else reply
                assert openapi.NO_STORE.items() <= resolved["headers"].items(), (method, path, status)
                replies += 1
    assert replies > len(document["paths"])
