"""docs/openapi.json is generated from the resolvers, current, and agrees with SPEC.routes."""

from __future__ import annotations

import copy
import json

import pytest

from infrastructure import edge
from infrastructure.resource_spec import SPEC
from scripts import openapi


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi.build_document()


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(openapi.OUTPUT.read_text(encoding="utf-8"))


def _operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_committed_document_is_what_the_resolvers_generate(document):
    # Given the document generated from the code now
    generated = openapi.render(document)
    # When it is compared with the committed file
    current = openapi.OUTPUT.read_text(encoding="utf-8")
    # Then they are identical (else: run `make openapi` and commit)
    assert current == generated, "docs/openapi.json is stale: run `make openapi`"


def test_every_spec_route_is_documented_and_every_documented_route_is_in_the_spec(committed):
    # Given the routes API Gateway is built with, and those the committed document describes
    spec_routes = {(route.method, route.path) for route in SPEC.routes}
    documented = set(_operations(committed))
    # Then they are the same set
    assert documented == spec_routes
    # And each route is served by the function the spec sends it to
    assert openapi.route_mismatches(committed) == []


def test_route_mismatches_names_a_route_missing_from_the_document_and_one_missing_from_the_spec(committed):
    # Given a document where one spec route is gone and an unknown route appeared
    altered = copy.deepcopy(committed)
    first = SPEC.routes[0]
    operation = altered["paths"][first.path].pop(first.method.lower())
    altered["paths"]["/v1/unknown"] = {"get": operation}
    # When the document is compared with the spec
    problems = openapi.route_mismatches(altered)
    # Then both directions are reported, naming the routes
    assert any(f"{first.method} {first.path}" in problem and "not served" in problem for problem in problems)
    assert any("GET /v1/unknown" in problem and "missing from SPEC.routes" in problem for problem in problems)


def test_authorized_routes_require_the_bearer_token_and_document_401_and_403(committed):
    operations = _operations(committed)
    for route in SPEC.routes:
        operation = operations[(route.method, route.path)]
        if route.authorized:
            assert operation["security"] == [{openapi.SECURITY_SCHEME: []}], route
            assert {"401", "403"} <= set(operation["responses"]), route
        else:
            assert "security" not in operation, route


def test_every_error_a_function_or_the_edge_returns_is_problem_json(committed):
    # Given every 4xx/5xx response of every operation
    responses = committed["components"]["responses"]
    for (method, path), operation in _operations(committed).items():
        errors = {status: reply for status, reply in operation["responses"].items() if int(status) >= 400}
        # Then the edge's limits and failures and a dependency's refusal are documented everywhere, and
        # 411/413/415 wherever a body is sent
        assert {"422", "429", "500", "502", "503", "504"} <= set(errors), (method, path)
        if method in ("POST", "PUT", "PATCH"):
            assert {"411", "413", "415"} <= set(errors), (method, path)
        for status, reply in errors.items():
            resolved = responses[reply["$ref"].rsplit("/", 1)[1]] if "$ref" in reply else reply
            content = dict(resolved["content"])
            # And each is the Problem schema as application/problem+json; the web ACL's 411, 413 and 429
            # are the same body as application/json (the only JSON media type WAF sends)
            waf = {"application/json"} if status in ("411", "413", "429") else set()
            assert set(content) == {"application/problem+json", *waf}, (method, path, status)
            for media in content.values():
                assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_the_edges_answers_are_the_documented_examples(committed):
    # Given the answers API Gateway and the web ACL write themselves (infrastructure/edge.py)
    responses = committed["components"]["responses"]
    # Then the document shows them as they are sent
    assert responses["Unauthorized"]["content"]["application/problem+json"]["example"] == (
        edge.GATEWAY_RESPONSES["UNAUTHORIZED"].problem())
    assert responses["TooManyRequests"]["content"]["application/json"]["example"] == (
        edge.CREDENTIAL_RATE_EXCEEDED.problem())
    assert responses["PayloadTooLarge"]["content"]["application/json"]["example"] == (
        edge.BODY_TOO_LARGE.problem())
    # And every status an edge answer has is documented, with the title the body carries
    for answer in [*edge.GATEWAY_RESPONSES.values(), *edge.WAF_RESPONSES.values()]:
        if answer.status == 400:  # only a request validator's model or a type API Gateway adds later
            continue
        name = openapi.PROBLEMS[answer.status][0]
        example = responses[name]["content"]["application/problem+json"]["example"]
        assert example["title"] == answer.problem()["title"], answer


def test_the_document_names_the_project_version_and_the_embedded_server(committed):
    assert committed["info"]["title"] == "Telehub"
    assert committed["info"]["version"] == openapi.project_version()
    assert committed["servers"][0]["url"] == "http://127.0.0.1:8080"


def test_generation_is_deterministic(document):
    # When the document is generated again in the same process
    again = openapi.build_document()
    # Then the rendered text is byte for byte the same
    assert openapi.render(again) == openapi.render(document)


def test_check_fails_with_a_clear_message_when_the_file_is_stale(tmp_path, capsys, document):
    # Given a file that differs from what the resolvers generate
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi.render(document).replace('"Telehub"', '"Telehub (old)"', 1), encoding="utf-8")
    # When the check runs against it
    status = openapi.main(["--check", "--output", str(stale)])
    # Then it fails and says how to fix it
    assert status == 1
    assert "is stale" in capsys.readouterr().err
    # And after regenerating, the check passes
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--check", "--output", str(stale)]) == 0
