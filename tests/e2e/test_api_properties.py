"""The API against its OpenAPI document, property-based (schemathesis), over real HTTP to the embedded mode.

For every operation schemathesis generates requests from docs/openapi.json, schema-valid ones and
schema-invalid ones, and each reply is held to the document:

- no 5xx, ever;
- a schema-valid request is accepted, or refused for a reason the document states: a 403, 404 or 409
  (which depend on what is stored), or a 422 naming only fields whose description states the rule that
  JSON Schema cannot (``Beyond the schema:``);
- a schema-invalid request is refused with a 4xx;
- every reply's status, content type and body are the ones documented for the operation;
- a token of another role is API Gateway's own 403, an altered token or none its own 401.

Half of the schema-valid requests are sent as generated. The other half are made right beyond the schema
first (tests/support/beyond_the_schema.py: stored ids, unique keys, test citizens, the time window, the
plausible ranges), still valid against the document, so that every operation also reaches its success
path; the test requires a 2xx from each. The token is the test's choice, on a fixed schedule per
operation and share, never schemathesis's.

Each operation is a test of its own (so the test processes share them out), against a stored world of
its process. Failures are collected rather than raised inside Hypothesis, so a broken rule costs no
shrinking time: the test reports every distinct failure with one example each. It prints the number of
requests, by share, by token and by reply, and the operation's 2xx.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
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
from functions.devices.logic import MINIMUM_ROTATION_INTERVAL
from functions.shared.catalogue import catalogue
from functions.shared.evaluation_records import measurement_id
from infrastructure.resource_spec import SPEC, RouteSpec
from tests.support.beyond_the_schema import (
    DEVICE_AREAS,
    DEVICE_CITIZEN,
    EPISODE_CITIZEN,
    OFFERED_CITIZEN,
    THRESHOLD_AREA,
    make_query_right,
    make_right,
)
from tests.support.devices_api import devices_clock_at
from tests.support.evaluator_inputs import evaluated_items
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, TREATING

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
OPERATIONS = [f"{method.upper()} {path}"
              for path, methods in json.loads(DOCUMENT.read_text())["paths"].items() for method in methods]
# At least MIN_CASES requests in all, spread evenly over the operations and both generation modes (about
# 60 ms each on the embedded mode: two minutes for 2,000). One operation has a single valid request
# (ONE_VALID_REQUEST, whose body is {}), and one takes no input at all (WITHOUT_INPUT: no parameter, no body,
# so one request is all there is to send and none is invalid); the others make up for their shares.
MIN_CASES = 2_000
ONE_VALID_REQUEST = "POST /v1/worklist/acknowledge-green"
WITHOUT_INPUT = "POST /v1/devices/me/credential"
CASES_PER_OPERATION_AND_MODE = -(-MIN_CASES // (2 * len(SPEC.routes) - 3))
BEYOND_THE_SCHEMA = "Beyond the schema:"
STATEFUL_REFUSALS = frozenset({403, 404, 409})
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
# API Gateway's 403 for a path no route matches, whatever the token (infrastructure/edge.py).
UNKNOWN_ROUTE = "no_such_route"


class Share(StrEnum):
    AS_GENERATED = "as generated"
    MADE_RIGHT = "made right"
    INVALID = "schema-invalid"


class Token(StrEnum):
    ROLE = "the route's role"
    OTHER_ROLE = "another role's"
    ALTERED = "altered"
    NONE = "none"


# Of every 20 requests of a share to an operation: 16 with a token of the route's role, 2 with another
# role's (the other roles in turn), 1 with the route's role's token altered (its signature no longer fits)
# and 1 with none.
TOKEN_SCHEDULE = (Token.ROLE,) * 16 + (Token.OTHER_ROLE, Token.ALTERED, Token.NONE, Token.OTHER_ROLE)
GATEWAY_REFUSALS = {Token.OTHER_ROLE: 403, Token.ALTERED: 401, Token.NONE: 401}
LENGTH_REQUIRED = "length_required"


@dataclass(frozen=True)
class Stored:
    """Tokens per role, and per operation the path parameters of the stored things a request made right
    acts on."""

    tokens: dict[str, str]
    path_parameters: dict[str, dict[str, str]]


@dataclass
class Findings:
    """Every broken property, once per kind, with one example; and what was sent and answered."""

    cases: Counter[str] = field(default_factory=Counter)
    shares: Counter[tuple[str, Share]] = field(default_factory=Counter)
    tokens: Counter[Token] = field(default_factory=Counter)
    replies: Counter[tuple[str, Share, int]] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def fail(self, kind: str, example: str) -> None:
        self.failures.setdefault(kind, example)

    def successes(self, name: str) -> int:
        return sum(count for (operation, _, status), count in self.replies.items()
                   if operation == name and status < 300)

    def report(self, elapsed: float) -> str:
        statuses: Counter[int] = Counter()
        for (_, _, status), count in self.replies.items():
            statuses[status] += count
        lines = [f"API property test: {sum(self.cases.values())} generated requests in {elapsed:.0f} s; "
                 f"by token: {', '.join(f'{token} {count}' for token, count in self.tokens.items())}; "
                 f"replies by status: {dict(sorted(statuses.items()))}"]
        for name in sorted(self.cases):
            shares = "; ".join(f"{share} {self.shares[name, share]} -> {self._statuses(name, share)}"
                               for share in Share)
            lines.append(f"  {name}: {self.successes(name)} 2xx of {self.cases[name]} ({shares})")
        return "\n".join(lines)

    def _statuses(self, name: str, share: Share) -> dict[int, int]:
        return dict(sorted((status, count) for (operation, of_share, status), count in self.replies.items()
                           if operation == name and of_share is share))


@pytest.fixture(scope="module")
def schema() -> Any:
    """The committed document. Schemathesis makes up no token: generating the bearer header as a
    parameter, its schema-invalid cases that leave the header out are sent without the token the test sets
    (dropped at sending, so the mutation survives), which made a quarter of all replies 401s that nobody
    chose."""
    document = schemathesis.openapi.from_path(str(DOCUMENT))
    document.config.generation.update(with_security_parameters=False)
    return document


@pytest.fixture(scope="module")
def stored(local_system: LocalSystem) -> Stored:
    """A clinician of the treating organisation, which also monitors the episodes it reads, changes,
    offers and ends; two episodes whose monitoring is offered to it, one to accept and one to decline; a
    device that uploads and one to revoke, of a citizen with an open episode of each area, whose
    questionnaires its uploads answer."""
    assert local_system.issuer is not None
    url = local_system.gateway_url
    clinician = local_system.issuer.mint("clinician", organisation=TREATING)
    monitoring = local_system.issuer.mint("clinician", organisation=MONITORING)
    logistics = local_system.issuer.mint("logistics", organisation=CENTRE)
    main_referral = _referral(url, clinician, EPISODE_CITIZEN, THRESHOLD_AREA, monitoring=TREATING)
    main = main_referral["episode_id"]
    ending = _refer(url, clinician, EPISODE_CITIZEN, "copd", monitoring=TREATING)
    to_accept = _refer(url, clinician, OFFERED_CITIZEN, "heart_failure", monitoring=MONITORING)
    to_decline = _refer(url, clinician, OFFERED_CITIZEN, "copd", monitoring=MONITORING)
    for area in DEVICE_AREAS:
        _refer(url, clinician, DEVICE_CITIZEN, area, monitoring=TREATING)
    _offer(url, clinician, main, HOSPITAL)  # the first withdrawal then takes an offer back
    _offer(url, monitoring, to_accept, TREATING)
    _offer(url, monitoring, to_decline, TREATING)
    # The uploading tablet registered as long ago as a device must have been to rotate (its one valid request)
    with devices_clock_at(datetime.now(UTC) - MINIMUM_ROTATION_INTERVAL):
        uploading = _register(url, logistics)
    revoked = _register(url, logistics)
    alarm = _red_alarm(url, logistics, clinician, main)
    wrong = _evaluated_measurement(local_system, main, _register(url, logistics, EPISODE_CITIZEN))
    return Stored(
        tokens={"clinician": clinician, "logistics": logistics, "device": uploading["credential"],
                "system": local_system.issuer.mint("system"),
                "citizen": local_system.issuer.mint("citizen", cpr=EPISODE_CITIZEN)},
        path_parameters={
            "DELETE /v1/devices/{device_id}": {"device_id": revoked["device_id"]},
            "GET /v1/episodes/{episode_id}": {"episode_id": main},
            "GET /v1/episodes/{episode_id}/citizen": {"episode_id": main},
            "PUT /v1/episodes/{episode_id}/thresholds": {"episode_id": main},
            "POST /v1/episodes/{episode_id}/handover": {"episode_id": main},
            "DELETE /v1/episodes/{episode_id}/handover": {"episode_id": main},
            "POST /v1/episodes/{episode_id}/handover/accept": {"episode_id": to_accept},
            "POST /v1/episodes/{episode_id}/handover/decline": {"episode_id": to_decline},
            "POST /v1/episodes/{episode_id}/end": {"episode_id": ending},
            "GET /v1/episodes/{episode_id}/measurements": {"episode_id": main},
            "GET /v1/episodes/{episode_id}/alarms": {"episode_id": main},
            "GET /v1/episodes/{episode_id}/answers": {"episode_id": main},
            "POST /v1/alarms/{alarm_id}/acknowledge": {"alarm_id": alarm},
            "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate": {
                "episode_id": main, "measurement_id": wrong},
            "POST /v1/episodes/{episode_id}/pauses": {"episode_id": main},
            "GET /v1/episodes/{episode_id}/pauses": {"episode_id": main},
            "GET /v1/episodes/{episode_id}/access-log": {"episode_id": main},
            # The delivery order of the main episode, sent to the logistics token's centre.
            "GET /v1/episodes/{episode_id}/orders/{order_id}/contact": {
                "episode_id": main, "order_id": main_referral["order_id"]},
        },
    )


def _refer(url: str, token: str, cpr: str, disease_area: str, monitoring: str) -> str:
    episode_id: str = _referral(url, token, cpr, disease_area, monitoring)["episode_id"]
    return episode_id


def _referral(url: str, token: str, cpr: str, disease_area: str, monitoring: str) -> dict[str, Any]:
    """The reply to a referral of the citizen: the episode, and the order sent to CENTRE."""
    referral = {
        "referral_id": f"fuzz-fixture-{disease_area}-{cpr[-2:]}",
        "citizen": {"cpr": cpr, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
        "disease_area": disease_area,
        "treating_organisation": TREATING,
        "monitoring_organisation": monitoring,
        "logistics_centre": CENTRE,
    }
    referred = call("POST", f"{url}/v1/referrals", token, referral)
    assert referred.status == 201, referred.body
    reply: dict[str, Any] = referred.body
    return reply


def _offer(url: str, token: str, episode_id: str, to_organisation: str) -> None:
    offer = {"to_organisation": to_organisation}
    offered = call("POST", f"{url}/v1/episodes/{episode_id}/handover", token, offer)
    assert offered.status == 200, offered.body


def _register(url: str, token: str, cpr: str = DEVICE_CITIZEN) -> dict[str, Any]:
    # Registered for every type, so that any upload made right is one the device may send.
    registration = {"cpr": cpr, "vendor": "Fuzz", "model": "Tablet",
                    "serial": f"fixture-{time.time_ns()}", "measurement_types": sorted(catalogue())}
    registered = call("POST", f"{url}/v1/devices", token, registration)
    assert registered.status == 201, registered.body
    device: dict[str, Any] = registered.body
    return device


def _evaluated_measurement(system: LocalSystem, episode_id: str, device: dict[str, Any]) -> str:
    """The id of a weight the device uploads for the episode's citizen, once the evaluator stored it."""
    upload = {"upload_id": f"fixture-{time.time_ns()}", "measurements": [
        {"type": "weight", "value": 80.5, "unit": "kg", "measured_at": datetime.now(UTC).isoformat(),
         "method": "automatic"}]}
    sent = call("POST", f"{system.gateway_url}/v1/measurements", device["credential"], upload)
    assert sent.status == 202, sent.body
    reading = measurement_id(f"{device['device_id']}/{upload['upload_id']}", 0)
    assert system.names is not None
    evaluated_items(system.names.tables["evaluations"], episode_id,
                    lambda items: any(item.get("measurement_id", {}).get("S") == reading for item in items))
    return reading


def _red_alarm(url: str, logistics: str, clinician: str, episode_id: str) -> str:
    """The id of the RED alarm a blood pressure far above the episode's limits raises (the evaluator works
    behind the measurements queue), for the clinician of the monitoring organisation to acknowledge once."""
    device = call("POST", f"{url}/v1/devices", logistics, {
        "cpr": EPISODE_CITIZEN, "vendor": "Fuzz", "model": "Cuff", "serial": f"fixture-{time.time_ns()}",
        "measurement_types": ["blood_pressure"]})
    assert device.status == 201, device.body
    upload = {"upload_id": f"fixture-{time.time_ns()}", "measurements": [
        {"type": "blood_pressure", "systolic": 230, "diastolic": 130, "unit": "mmHg",
         "measured_at": datetime.now(UTC).isoformat(), "method": "automatic"}]}
    sent = call("POST", f"{url}/v1/measurements", device.body["credential"], upload)
    assert sent.status == 202, sent.body
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alarms = call("GET", f"{url}/v1/episodes/{episode_id}/alarms?status=open", clinician).body["alarms"]
        if alarms:
            alarm_id: str = alarms[0]["alarm_id"]
            return alarm_id
        time.sleep(0.2)
    raise AssertionError("no alarm was raised for the fixture's blood pressure")


@pytest.mark.parametrize("name", OPERATIONS)
def test_the_api_keeps_every_promise_of_its_openapi_document(name: str, schema: Any,
                                                             local_system: LocalSystem, stored: Stored,
                                                             capsys: pytest.CaptureFixture[str]):
    # Given an operation of the committed document and the embedded API it describes
    method, path = name.split(" ", 1)
    operation = schema[path][method]
    [route] = [route for route in SPEC.routes if (route.method, route.path) == (method, path)]
    findings = Findings()
    session = requests.Session()
    started = time.monotonic()
    # When schemathesis sends generated requests to it, valid and invalid, half of the valid ones made
    # right beyond the schema, with the tokens of the schedule
    modes = (GenerationMode.POSITIVE,) if name == WITHOUT_INPUT else (GenerationMode.POSITIVE,
                                                                      GenerationMode.NEGATIVE)
    for mode in modes:
        _exercise(operation, route, mode, stored, local_system.gateway_url, session, findings)
    elapsed = time.monotonic() - started
    with capsys.disabled():  # shown in every run, not only with -s
        print("\n" + findings.report(elapsed))  # noqa: T201
    # Then none broke a promise of the document, enough were sent to mean something (with every other
    # operation's, at least MIN_CASES), and it accepted some
    assert not findings.failures, "\n\n".join(f"{kind}\n  {example}"
                                               for kind, example in findings.failures.items())
    valid = findings.shares[name, Share.AS_GENERATED] + findings.shares[name, Share.MADE_RIGHT]
    enough_valid = 1 if name in (ONE_VALID_REQUEST, WITHOUT_INPUT) else CASES_PER_OPERATION_AND_MODE
    assert valid >= enough_valid, findings.report(elapsed)
    enough_invalid = 0 if name == WITHOUT_INPUT else CASES_PER_OPERATION_AND_MODE
    assert findings.shares[name, Share.INVALID] >= enough_invalid, findings.report(elapsed)
    assert findings.successes(name), f"{name} gave no 2xx"


def _exercise(operation: Any, route: RouteSpec, mode: GenerationMode, stored: Stored, base_url: str,
              session: requests.Session, findings: Findings) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    role = route.roles[0]

    @settings(max_examples=CASES_PER_OPERATION_AND_MODE, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def send(case: Any) -> None:
        share = _share(name, mode, findings)
        token = TOKEN_SCHEDULE[findings.shares[name, share] % len(TOKEN_SCHEDULE)]
        findings.cases[name] += 1
        findings.shares[name, share] += 1
        findings.tokens[token] += 1
        if share is Share.MADE_RIGHT:
            case.path_parameters.update(stored.path_parameters.get(name, {}))
            make_right(name, case.body)
            make_query_right(name, case.query)
        # Schemathesis validates the case again as it is now: a case made right must still be valid.
        valid = case.meta.generation.mode is GenerationMode.POSITIVE
        authorization = _authorization(token, role, stored.tokens, findings.tokens[Token.OTHER_ROLE])
        if authorization is not None:
            case.headers["Authorization"] = authorization
        response = case.call(base_url=base_url, session=session, timeout=30)
        findings.replies[name, share, response.status_code] += 1
        example = _describe(case, response)
        if share is Share.MADE_RIGHT and not valid:
            findings.fail(f"{name}: a request made right is no longer valid against the document", example)
        elif response.request.headers.get("Authorization") != authorization:
            findings.fail(f"{name}: the token was not sent as the schedule chose ({token})", example)
        else:
            _check_reply(case, response, valid, token, findings, name, example)

    send()


def _share(name: str, mode: GenerationMode, findings: Findings) -> Share:
    if mode is GenerationMode.NEGATIVE:
        return Share.INVALID
    valid_so_far = findings.shares[name, Share.MADE_RIGHT] + findings.shares[name, Share.AS_GENERATED]
    return Share.MADE_RIGHT if valid_so_far % 2 == 0 else Share.AS_GENERATED


def _authorization(token: Token, role: str, tokens: dict[str, str], others_sent: int) -> str | None:
    """The Authorization header for the token the schedule chose; None for none."""
    if token is Token.NONE:
        return None
    if token is Token.OTHER_ROLE:
        others = sorted(other for other in tokens if other != role)
        return f"Bearer {tokens[others[others_sent % len(others)]]}"
    if token is Token.ALTERED:
        signed, signature = tokens[role].rsplit(".", 1)
        return f"Bearer {signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    return f"Bearer {tokens[role]}"


def _check_reply(case: Any, response: Response, valid: bool, token: Token, findings: Findings, name: str,
                 example: str) -> None:
    status = response.status_code
    if status >= 500:
        findings.fail(f"{name}: a {status}", example)
        return
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except (Failure, FailureGroup) as failure:
        findings.fail(f"{name}: reply not as documented ({type(failure).__name__}: "
                      f"{str(failure).splitlines()[0][:120]})", example)
    if _declares_no_length(response):
        # The web ACL answers before the authorizer, whatever the token: a body's length must be declared.
        # (as application/json: WAF's custom responses have no problem+json)
        if status != 411 or json.loads(response.content).get("code") != LENGTH_REQUIRED:
            findings.fail(f"{name}: a {response.request.method} without Content-Length got {status}, not the "
                          f"edge's 411", example)
        return
    by_gateway = _gateway_problem(response)
    unknown_route = status == 403 and by_gateway is not None and by_gateway["code"] == UNKNOWN_ROUTE
    if token is not Token.ROLE:
        refusal = GATEWAY_REFUSALS[token]
        if by_gateway is None or not (status == refusal or unknown_route):
            findings.fail(f"{name}: a request with {token} token got {status}, not the gateway's {refusal}",
                          example)
        return
    if status in (401, 403) and by_gateway is not None and not unknown_route:
        findings.fail(f"{name}: the right role was refused by the gateway ({status})", example)
    if not valid:
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


def _declares_no_length(response: Response) -> bool:
    """A POST, PUT or PATCH sent without Content-Length (requests sends none for an empty body)."""
    request = response.request
    return request.method in ("POST", "PUT", "PATCH") and "Content-Length" not in request.headers


def _gateway_problem(response: Response) -> dict[str, Any] | None:
    """The problem API Gateway wrote itself (it names its error type in x-amzn-ErrorType; a function's
    reply has no such header), or None."""
    if not any(name.lower() == "x-amzn-errortype" for name in response.headers):
        return None
    return _problem(response)


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
    content = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    if "application/x-www-form-urlencoded" in content:  # a form's fields are named as sent, dots and all
        form = _resolve(document, content["application/x-www-form-urlencoded"].get("schema", {}), case.body)
        name = re.sub(r"\[[0-9]+\]$", "", field_path)
        form_field = _resolve(document, form.get("properties", {}).get(name, {}), None)
        return f"{form_field.get('description', '')} {form_field.get('items', {}).get('description', '')}"
    body_schema = content.get("application/json", {}).get("schema", {})
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
