"""The API against its OpenAPI document, property-based (schemathesis), over real HTTP to the embedded mode.

For every operation and role schemathesis generates requests from docs/openapi.json, schema-valid ones
and schema-invalid ones, and each reply is held to the document:

- no 5xx, ever;
- a schema-valid request is accepted, or refused for a reason the document states: a 403, 404 or 409
  (which depend on what is stored), or a 422 naming only fields whose description states the rule that
  JSON Schema cannot (``Beyond the schema:``);
- a schema-invalid request is refused with a 4xx;
- every reply's status, content type and body are the ones documented for the operation;
- a token of another role, or none, is API Gateway's own 403 or 401.

Failures are collected rather than raised inside Hypothesis, so a broken rule costs no shrinking time:
the test reports every distinct failure with one example each. The number of cases is printed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, Response
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from embedded.api_client import call
from embedded.local import LocalSystem
from infrastructure.resource_spec import SPEC, RouteSpec

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
# At least MIN_CASES requests in all, spread evenly over the operations and both generation modes (about
# 50 ms each on the embedded mode: two minutes for 2,000).
MIN_CASES = 2_000
CASES_PER_OPERATION_AND_MODE = -(-MIN_CASES // (2 * len(SPEC.routes)))
BEYOND_THE_SCHEMA = "Beyond the schema:"
STATEFUL_REFUSALS = frozenset({403, 404, 409})
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]

TEST_CPR = "2512489996"
# A citizen with no episode: ending the fixture episode never revokes the device that uploads.
DEVICE_ONLY_CPR = "0101011235"
GP, MUNICIPALITY, CENTRE = "123456", "380431000016007", "265161000016009"


@dataclass
class Fixtures:
    """Tokens per role and the ids of stored things, so that schema-valid requests can also succeed."""

    tokens: dict[str, str]
    path_parameters: dict[str, str]


@dataclass
class Findings:
    """Every broken property, once per kind, with one example; and the number of requests sent."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def fail(self, kind: str, example: str) -> None:
        self.failures.setdefault(kind, example)


@pytest.fixture(scope="module")
def fixtures(local_system: LocalSystem) -> Fixtures:
    """A clinician of the treating GP, a logistics centre, a device credential, and an open episode
    and a registered device whose ids some generated requests use."""
    assert local_system.issuer is not None
    clinician = local_system.issuer.mint("clinician", organisation=GP)
    logistics = local_system.issuer.mint("logistics", organisation=CENTRE)
    referral = {
        "referral_id": f"fuzz-{uuid.uuid4().hex[:12]}",
        "citizen": {"cpr": TEST_CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
        "disease_area": "heart_failure",
        "treating_organisation": GP,
        "monitoring_organisation": MUNICIPALITY,
        "logistics_centre": CENTRE,
    }
    referred = call("POST", f"{local_system.gateway_url}/v1/referrals", clinician, referral)
    assert referred.status in (201, 409), referred.body  # 409: another test left the area open
    devices = []
    for cpr in (DEVICE_ONLY_CPR, TEST_CPR):  # one to upload with, one for the generated revocations
        registration = {"cpr": cpr, "vendor": "Fuzz", "model": "Tablet", "serial": uuid.uuid4().hex[:12],
                        "measurement_types": ["weight", "blood_pressure"]}
        registered = call("POST", f"{local_system.gateway_url}/v1/devices", logistics, registration)
        assert registered.status == 201, registered.body
        devices.append(registered.body)
    path_parameters = {"device_id": devices[1]["device_id"]}
    if referred.status == 201:
        path_parameters["episode_id"] = referred.body["episode_id"]
    return Fixtures(
        tokens={"clinician": clinician, "logistics": logistics, "device": devices[0]["credential"],
                "system": local_system.issuer.mint("system")},
        path_parameters=path_parameters,
    )


def test_the_api_keeps_every_promise_of_its_openapi_document(local_system: LocalSystem, fixtures: Fixtures,
                                                             capsys: pytest.CaptureFixture[str]):
    # Given the committed document and the embedded API it describes
    schema = schemathesis.openapi.from_path(str(DOCUMENT))
    roles = {(route.method, route.path): route for route in SPEC.routes}
    findings = Findings()
    session = requests.Session()
    started = time.monotonic()
    # When schemathesis sends generated requests to every operation, valid and invalid, with each role
    for result in schema.get_all_operations():
        operation = result.ok()
        route = roles[(operation.method.upper(), operation.path)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, route, mode, fixtures, local_system.gateway_url, session, findings)
    elapsed = time.monotonic() - started
    total = sum(findings.cases.values())
    with capsys.disabled():  # shown in every run, not only with -s
        print(f"\nAPI property test: {total} generated requests in {elapsed:.0f} s "  # noqa: T201
              f"({', '.join(f'{name} {count}' for name, count in sorted(findings.cases.items()))}); "
              f"replies by status: {dict(sorted(findings.statuses.items()))}")
    # Then none broke a promise of the document, and enough were sent to mean something
    assert not findings.failures, "\n\n".join(f"{kind}\n  {example}"
                                               for kind, example in findings.failures.items())
    assert total >= MIN_CASES


def _exercise(operation: Any, route: RouteSpec, mode: GenerationMode, fixtures: Fixtures, base_url: str,
              session: requests.Session, findings: Findings) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    known = {key: value for key, value in fixtures.path_parameters.items() if f"{{{key}}}" in operation.path}
    strategies = [operation.as_strategy(mode)]
    if known and mode is GenerationMode.POSITIVE:  # half of them on stored things, so some succeed
        strategies.append(operation.as_strategy(mode, path_parameters=known))
    per_strategy = -(-CASES_PER_OPERATION_AND_MODE // len(strategies))
    for strategy in strategies:
        @settings(max_examples=per_strategy, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def send(case: Any) -> None:
            index = findings.cases[name]
            findings.cases[name] += 1
            role = route.roles[0]
            token = _token_for(index, role, fixtures)
            # Set on the case, replacing any Authorization schemathesis made up for the bearer scheme.
            case.headers.pop("Authorization", None)
            if token:
                case.headers["Authorization"] = f"Bearer {token}"
            response = case.call(base_url=base_url, session=session, timeout=30)
            findings.statuses[response.status_code] += 1
            # What was sent decides: a negative case may leave the Authorization header out on purpose.
            sent = response.request.headers.get("Authorization")
            right_role = sent == f"Bearer {fixtures.tokens[role]}"
            _check_reply(case, response, mode, right_role, findings, name, _describe(case, response))

        send()


def _token_for(index: int, role: str, fixtures: Fixtures) -> str | None:
    """Mostly the route's role; every tenth request another role's token, and every 25th none at all."""
    if index % 25 == 24:
        return None
    if index % 10 == 9:
        return next(token for other, token in sorted(fixtures.tokens.items()) if other != role)
    return fixtures.tokens[role]


def _check_reply(case: Any, response: Response, mode: GenerationMode, right_role: bool,
                 findings: Findings, name: str, example: str) -> None:
    status = response.status_code
    if status >= 500:
        findings.fail(f"{name}: a {status}", example)
        return
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except (Failure, FailureGroup) as failure:
        findings.fail(f"{name}: reply not as documented ({type(failure).__name__}: "
                      f"{str(failure).splitlines()[0][:120]})", example)
    if not right_role:
        if status not in (401, 403) or _problem(response):
            findings.fail(f"{name}: a token without the route's role got {status}, not the gateway's 401/403",
                          example)
        return
    gateway_refusal = _problem(response) is None and b"Missing Authentication" not in response.content
    if status in (401, 403) and gateway_refusal:
        findings.fail(f"{name}: the right role was refused by the gateway ({status})", example)
    if mode is GenerationMode.NEGATIVE:
        try:
            case.validate_response(response, checks=[negative_data_rejection])
        except (Failure, FailureGroup) as failure:
            findings.fail(f"{name}: a schema-invalid request was not refused "
                          f"({str(failure).splitlines()[0][:120]})", example)
        return
    if status < 300 or status in STATEFUL_REFUSALS:
        return
    if status == 422:
        for field_name in _error_fields(response):
            if BEYOND_THE_SCHEMA not in _description_of(case, field_name):
                findings.fail(f"{name}: a schema-valid request was refused on {_generic(field_name)}, whose "
                              f"description states no rule beyond the schema", example)
        return
    findings.fail(f"{name}: a schema-valid request got {status}", example)


def _problem(response: Response) -> dict[str, Any] | None:
    content_type = next((values[0] for name, values in response.headers.items()
                         if name.lower() == "content-type"), "")
    return json.loads(response.content) if content_type.startswith("application/problem+json") else None


def _error_fields(response: Response) -> list[str]:
    problem = _problem(response) or {}
    return [error["field"] for error in problem.get("errors", [])]


def _generic(field_path: str) -> str:
    """measurements[3].unit -> measurements[].unit: one failure kind per field, whatever the index."""
    return re.sub(r"\[[0-9]+\]", "[]", field_path)


def _describe(case: Any, response: Response) -> str:
    sent = response.request.body or b""
    sent = sent.decode("utf-8", "replace") if isinstance(sent, bytes) else sent
    return (f"{case.method} {response.request.url} body={sent[:600]} -> {response.status_code} "
            f"{response.content[:400].decode('utf-8', 'replace')}")


def _description_of(case: Any, field_path: str) -> str:
    """Every description on the way to ``field_path`` in the operation's request schema (the path parameter's,
    or the body's, following $ref, properties, additionalProperties, items and the union's chosen member)."""
    document = case.operation.schema.raw_schema
    parameters = {p["name"]: p for p in case.operation.definition.raw.get("parameters", [])}
    if field_path in parameters:
        return parameters[field_path].get("schema", {}).get("description", "") + parameters[field_path].get(
            "description", "")
    body_schema = (case.operation.definition.raw.get("requestBody", {}).get("content", {})
                   .get("application/json", {}).get("schema", {}))
    parts = re.findall(r"\[[0-9]+\]|[^.\[\]]+", field_path)
    node, value, descriptions = body_schema, case.body, []
    for part in parts + [None]:
        node = _resolve(document, node, value)
        descriptions.append(node.get("description", ""))
        if part is None:
            break
        if part.startswith("["):
            index = int(part[1:-1])
            node, value = node.get("items", {}), value[index] if isinstance(value, list) else None
        else:
            properties = node.get("properties", {})
            node = properties.get(part, node.get("additionalProperties", {}) or {})
            value = value.get(part) if isinstance(value, dict) else None
    return " ".join(descriptions[-2:])


def _resolve(document: dict[str, Any], node: dict[str, Any], value: Any) -> dict[str, Any]:
    """The schema ``node`` stands for: a $ref followed, a union narrowed to the member that ``value``
    (the sent JSON) takes, keeping the outer description."""
    description = node.get("description", "")
    while True:
        if "$ref" in node:
            node = _follow(document, node["$ref"])
        elif "anyOf" in node or "oneOf" in node:
            members = node.get("anyOf") or node.get("oneOf")
            mapping = node.get("discriminator", {}).get("mapping", {})
            if mapping and isinstance(value, dict) and value.get("type") in mapping:
                node = _follow(document, mapping[value["type"]])
            else:
                node = next((m for m in members if m.get("type") != "null"), members[0])
        else:
            break
    return {**node, "description": " ".join(filter(None, (description, node.get("description", ""))))}


def _follow(document: dict[str, Any], reference: str) -> dict[str, Any]:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node
