"""The access matrix's world, callers and requests (tests/e2e/test_access_matrix.py): every route of the spec,
called over real HTTP through the embedded gateway, its authorizer and its handler, by a caller of each role
holding each relation to what the request names, and the outcome functions/shared/access_rules.py promises.

One organisation holds each relation the episode relations can hold apart: TREATING, MONITORING, OFFERED
(a pending handover) and DECLINED (the last offer before it, declined) are four organisations of one episode.
The logistics centre holds LOGISTICS, REGISTRAR and ORDERED at once: Telehub gives a citizen one logistics
centre while an episode is open, and the citizen's devices and orders are that centre's (a device is revoked
when the citizen's last episode ends), so no organisation holds one of the three without the others.
ACCEPTED (the monitoring organisation while no offer is pending) cannot be held in an episode with a pending
offer: its cells are walked on a second world, whose monitoring was handed over to, and accepted by, an
organisation of its own (which so holds MONITORING and ACCEPTED). OWN and "none" are an organisation with no
part in the episode; on the routes whose rule allows only OWN (the worklist, the citizen's own views, a
device's upload) every caller holds OWN, since they name nothing but the caller's own.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import boto3

from embedded.gateway import ACCESS_DENIED, refusal_reply
from embedded.local import LocalSystem
from functions.shared.access_rules import ACCESS_RULES, Relation, Rule
from functions.shared.api import problem
from functions.shared.episode_records import ORDER_PREFIX, episode_partition
from functions.shared.evaluation_records import measurement_alarm_id, measurement_id
from functions.shared.principal import Role

# The organisations of the matrix (SOR codes no other module uses: the worklist and its GREEN
# acknowledgement are an organisation's own, so no other test may act for them).
TREATING_ORG = "719000000000001"
MONITORING_ORG = "719000000000002"
OFFERED_ORG = "719000000000003"
DECLINED_ORG = "719000000000004"
CENTRE_ORG = "719000000000005"
UNRELATED_ORG = "719000000000006"
ACCEPTED_ORG = "719000000000007"

# Test citizens (DESIGN §5) of this module only: the world's; one Telehub never hears of (the "does not
# exist" of every request naming a citizen, and the citizen role's caller without a relation); and one per
# fresh episode a state-changing call gets.
WORLD_CITIZEN = "0101010019"
UNKNOWN_CITIZEN = "0101010027"
ACCEPTED_WORLD_CITIZEN = "0101010035"
_FRESH_CITIZENS = (f"01010101{number:02d}" for number in itertools.count())

NONE = "none"
# The matrix's columns: every relation, and none.
COLUMNS: tuple[str, ...] = (*(relation.value for relation in Relation), NONE)
HOLDER: dict[str, str] = {
    Relation.TREATING: TREATING_ORG, Relation.MONITORING: MONITORING_ORG, Relation.OFFERED: OFFERED_ORG,
    Relation.DECLINED: DECLINED_ORG, Relation.ACCEPTED: ACCEPTED_ORG, Relation.LOGISTICS: CENTRE_ORG,
    Relation.REGISTRAR: CENTRE_ORG, Relation.ORDERED: CENTRE_ORG, Relation.OWN: UNRELATED_ORG,
    NONE: UNRELATED_ORG,
}
HELD_BY: dict[str, frozenset[Relation]] = {
    TREATING_ORG: frozenset({Relation.TREATING}),
    MONITORING_ORG: frozenset({Relation.MONITORING}),
    OFFERED_ORG: frozenset({Relation.OFFERED}),
    DECLINED_ORG: frozenset({Relation.DECLINED}),
    ACCEPTED_ORG: frozenset({Relation.MONITORING, Relation.ACCEPTED}),
    CENTRE_ORG: frozenset({Relation.LOGISTICS, Relation.REGISTRAR, Relation.ORDERED}),
    UNRELATED_ORG: frozenset(),
}
ORGANISATION_ROLES = (Role.CLINICIAN, Role.LOGISTICS, Role.SYSTEM)
# Ids of the right form that name nothing.
UNKNOWN_IDS = {"episode_id": f"epi_{'0' * 24}", "alarm_id": f"alm_{'0' * 24}",
               "device_id": f"dev_{'0' * 24}", "measurement_id": f"msr_{'0' * 24}",
               "order_id": f"ord_{'0' * 24}"}
WAIT_SECONDS = 30  # how long the evaluator behind the measurements queue may take (a bound, not a timing)


class Expect(StrEnum):
    GATEWAY = "the gateway's 403"  # the role is not the route's: the authorizer's policy refuses it
    ALLOWED = "allowed"
    TOLD = "told why"  # a related caller the rule tells which relation the route needs
    NO_RELATION = "the reply of nothing"  # byte-equal to the reply for a request naming nothing that exists


@dataclass(frozen=True, order=True)
class Cell:
    route: str  # "METHOD /path", as ACCESS_RULES and SPEC name it
    role: Role
    relation: str  # a Relation's value, or NONE

    @property
    def id(self) -> str:
        return f"{self.route}-{self.role.value}-{self.relation}"

    @property
    def rule(self) -> Rule:
        return ACCESS_RULES[self.route]

    @property
    def own_route(self) -> bool:
        """The route names nothing but the caller's own (every caller holds OWN to it)."""
        return self.rule.allowed == frozenset({Relation.OWN})

    @property
    def caller(self) -> tuple[Role, str]:
        """Who calls: the role and the organisation holding the relation; a citizen (their own data, or a
        citizen without any: every relation but OWN is none to a citizen, who is no organisation); a
        device (a device names only itself: every relation is OWN to it)."""
        if self.role is Role.DEVICE:
            return self.role, "the world's device"
        if self.role is Role.CITIZEN:
            return self.role, WORLD_CITIZEN if self.relation == Relation.OWN else UNKNOWN_CITIZEN
        return self.role, HOLDER[self.relation]

    @property
    def in_accepted_world(self) -> bool:
        """The cell names the second world's things (an organisation holding ACCEPTED)."""
        return self.role in ORGANISATION_ROLES and self.relation == Relation.ACCEPTED

    @property
    def held(self) -> frozenset[Relation]:
        """The relations the caller holds to what the request names."""
        own = frozenset({Relation.OWN}) if self.own_route else frozenset()
        if self.role in ORGANISATION_ROLES:
            return HELD_BY[self.caller[1]] | own
        return own

    @property
    def expect(self) -> Expect:
        if self.role not in self.rule.roles:
            return Expect.GATEWAY
        refusal = self.rule.refusal(self.held)
        if refusal is None:
            return Expect.ALLOWED
        return Expect.TOLD if self.rule.told_why and refusal.message == self.rule.told_why else (
            Expect.NO_RELATION)

    @property
    def walked(self) -> Cell:
        """The cell whose request this one is: itself, or the first column with the same caller (one the
        rule allows, if any), which the test walks for both."""
        same_caller = [cell for cell in (Cell(self.route, self.role, column) for column in COLUMNS)
                       if cell.caller == self.caller]
        allowed = [cell for cell in same_caller if cell.relation in self.rule.allowed]
        return (allowed or same_caller)[0]


def matrix(routes: list[str]) -> list[Cell]:
    """Every cell: route x role x (relation or none)."""
    return [Cell(route, role, column) for route in routes for role in Role for column in COLUMNS]


def gateway_refusal() -> bytes:
    """API Gateway's own 403 for a method the authorizer's policy does not allow."""
    return refusal_reply(ACCESS_DENIED).body


def problem_body(status: int, message: str) -> bytes:
    """The handler's problem+json for a refusal, as sent."""
    return str(problem(status, "forbidden", message).body).encode()


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    request_id: str
    cache_control: str | None  # the Cache-Control header, if any

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class World:
    """One citizen's episode (treating, monitoring, declined, offered; or handed over and accepted), its
    logistics centre's delivery order, a device that uploads, the RED alarm of its measurement, and the
    citizen's consent granted."""

    cpr: str
    accepted: bool  # the second world: the monitoring handed over to ACCEPTED_ORG, which accepted it
    patient_id: str
    episode_id: str
    device_id: str
    credential: str
    measurement_id: str
    alarm_id: str
    order_id: str

    def path_ids(self) -> dict[str, str]:
        return {"episode_id": self.episode_id, "alarm_id": self.alarm_id, "device_id": self.device_id,
                "measurement_id": self.measurement_id, "order_id": self.order_id}


class Calls:
    """Requests to the running system as a caller of a role and organisation (or citizen, or device)."""

    def __init__(self, system: LocalSystem) -> None:
        assert system.issuer is not None
        self.system = system
        self._tokens: dict[tuple[Role, str], str] = {}

    def token(self, role: Role, who: str) -> str:
        """A token of ``role`` for an organisation, or a citizen's for a CPR number (a device's is its
        credential, which the world holds)."""
        if (role, who) not in self._tokens:
            assert self.system.issuer is not None
            self._tokens[role, who] = (self.system.issuer.mint(role, cpr=who) if role is Role.CITIZEN
                                       else self.system.issuer.mint(role, organisation=who))
        return self._tokens[role, who]

    def send(self, method: str, path: str, token: str, body: Any = None,
             form: list[tuple[str, str]] | None = None) -> Reply:
        """One request; the reply's status, body as sent and request id (4xx and 5xx returned, not raised)."""
        if form is not None:
            data: bytes | None = urllib.parse.urlencode(form).encode("ascii")
            media_type = "application/x-www-form-urlencoded"
        else:
            data, media_type = (None if body is None else json.dumps(body).encode()), "application/json"
        request = urllib.request.Request(f"{self.system.gateway_url}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", media_type)
        request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, response.read(), response.headers["x-amzn-RequestId"],
                             response.headers["Cache-Control"])
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.read(), error.headers["x-amzn-RequestId"],
                             error.headers["Cache-Control"])

    def as_org(self, method: str, path: str, organisation: str, body: Any = None,
               role: Role = Role.CLINICIAN) -> Reply:
        return self.send(method, path, self.token(role, organisation), body)

    # --- the world ------------------------------------------------------------------------------

    def episode(self, cpr: str, accepted: bool = False) -> dict[str, Any]:
        """A COPD episode of the citizen, treated and monitored by the matrix's organisations with its
        logistics centre, whose monitoring was offered to DECLINED_ORG (declined) and is now offered to
        OFFERED_ORG; or, ``accepted``, was offered to ACCEPTED_ORG, which accepted it. The referral's
        reply."""
        referred = self.as_org("POST", "/v1/referrals", TREATING_ORG, referral(cpr))
        assert referred.status == 201, referred.body
        episode: dict[str, Any] = referred.json()
        path = f"/v1/episodes/{episode['episode_id']}/handover"
        steps = [(MONITORING_ORG, path, {"to_organisation": ACCEPTED_ORG}),
                 (ACCEPTED_ORG, f"{path}/accept", None)] if accepted else [
                 (MONITORING_ORG, path, {"to_organisation": DECLINED_ORG}),
                 (DECLINED_ORG, f"{path}/decline", None),
                 (MONITORING_ORG, path, {"to_organisation": OFFERED_ORG})]
        for organisation, step, body in steps:
            reply = self.as_org("POST", step, organisation, body)
            assert reply.status in (200, 204), reply.body
        return episode

    def fresh_episode(self, accepted: bool) -> str:
        """Another such episode, of a citizen of its own, for a call that changes its relations."""
        episode_id: str = self.episode(next(_FRESH_CITIZENS), accepted)["episode_id"]
        return episode_id

    def world(self, accepted: bool = False) -> World:
        cpr = ACCEPTED_WORLD_CITIZEN if accepted else WORLD_CITIZEN
        episode = self.episode(cpr, accepted)
        episode_id = episode["episode_id"]
        consent = self.as_org("POST", "/v1/consents", TREATING_ORG, {"cpr": cpr, "status": "granted"})
        assert consent.status in (200, 201), consent.body  # so that every grant the matrix sends is a 200
        device = self.fresh_device(cpr)
        reading = self.upload(device["credential"], device["device_id"], "spo2", 80, "%")  # RED
        alarm_id = self.raised_alarm(episode_id, reading)
        return World(cpr=cpr, accepted=accepted, patient_id=episode["patient_id"], episode_id=episode_id,
                     device_id=device["device_id"], credential=device["credential"], measurement_id=reading,
                     alarm_id=alarm_id, order_id=self.delivery_order(episode_id))

    def fresh_device(self, cpr: str) -> dict[str, Any]:
        """A device the logistics centre registers for the citizen: its id and credential."""
        registered = self.as_org("POST", "/v1/devices", CENTRE_ORG, registration(cpr), Role.LOGISTICS)
        assert registered.status == 201, registered.body
        device: dict[str, Any] = registered.json()
        return device

    def upload(self, credential: str, device_id: str, measurement_type: str, value: float, unit: str) -> str:
        """One measurement the device sends now; its measurement id."""
        body = upload_body(measurement_type, value, unit)
        sent = self.send("POST", "/v1/measurements", credential, body)
        assert sent.status == 202, sent.body
        return measurement_id(f"{device_id}/{body['upload_id']}", 0)

    def raised_alarm(self, episode_id: str, reading: str) -> str:
        """The id of the alarm the measurement raises, once the evaluator behind the queue raised it."""
        alarm_id = measurement_alarm_id(episode_id, reading)
        self._wait_for(f"/v1/episodes/{episode_id}/alarms?status=open&limit=100", "alarms", "alarm_id",
                       alarm_id)
        return alarm_id

    def evaluated(self, episode_id: str, reading: str) -> str:
        """The measurement's id, once the evaluator judged it for the episode."""
        self._wait_for(f"/v1/episodes/{episode_id}/measurements?limit=100", "measurements", "measurement_id",
                       reading)
        return reading

    def _wait_for(self, path: str, items: str, key: str, wanted: str) -> None:
        """Until the list shows ``wanted`` (read by the treating organisation, in either world)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            listed = self.as_org("GET", path, TREATING_ORG)
            assert listed.status == 200, listed.body
            if any(item[key] == wanted for item in listed.json()[items]):
                return
            time.sleep(0.1)
        raise AssertionError(f"{wanted} was not listed within {WAIT_SECONDS} s")

    def delivery_order(self, episode_id: str) -> str:
        """The id of the delivery order the referral sent the logistics centre (as its queue message
        names it), read from the episodes table."""
        assert self.system.names is not None
        items = boto3.client("dynamodb").query(
            TableName=self.system.names.tables["episodes"],
            KeyConditionExpression="pk = :pk AND begins_with(sk, :order)",
            ExpressionAttributeValues={":pk": episode_partition(episode_id), ":order": {"S": ORDER_PREFIX}},
        )["Items"]
        assert len(items) == 1, items
        return str(items[0]["sk"]["S"]).removeprefix(ORDER_PREFIX)

    def denied_entries(self, patient_id: str, request_id: str) -> list[dict[str, Any]]:
        """The access log's entries of the request for the citizen that say it was denied."""
        assert self.system.names is not None
        items = boto3.client("dynamodb").query(
            TableName=self.system.names.tables["access-log"],
            KeyConditionExpression="patient_id = :patient",
            FilterExpression="request_id = :request AND outcome = :denied",
            ExpressionAttributeValues={":patient": {"S": patient_id}, ":request": {"S": request_id},
                                       ":denied": {"S": "denied"}},
        )["Items"]
        return list(items)


# --- the requests ----------------------------------------------------------------------------------


def referral(cpr: str) -> dict[str, Any]:
    return {"referral_id": f"matrix-{uuid.uuid4().hex[:12]}",
            "citizen": {"cpr": cpr, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
            "disease_area": "copd", "treating_organisation": TREATING_ORG,
            "monitoring_organisation": MONITORING_ORG, "logistics_centre": CENTRE_ORG}


def registration(cpr: str) -> dict[str, Any]:
    return {"cpr": cpr, "vendor": "Nonin", "model": "3230", "serial": f"matrix-{uuid.uuid4().hex[:12]}",
            "measurement_types": ["spo2", "pulse"]}


def upload_body(measurement_type: str = "pulse", value: float = 70, unit: str = "/min") -> dict[str, Any]:
    return {"upload_id": f"matrix-{uuid.uuid4().hex[:12]}", "measurements": [
        {"type": measurement_type, "value": value, "unit": unit, "measured_at": datetime.now(UTC).isoformat(),
         "method": "automatic"}]}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None
    form: list[tuple[str, str]] | None = None


# The body each route is sent with, given the CPR number the request names (the world's, or one Telehub
# does not know); a route not named here is sent without one.
_BODIES: dict[str, Callable[[str], Any]] = {
    "POST /v1/devices": registration,
    "POST /v1/measurements": lambda _: upload_body(),
    "POST /v1/referrals": referral,  # a new referral for the area of an open episode: 409 to its treating
    "PUT /v1/episodes/{episode_id}/thresholds": lambda _: {
        "thresholds": {"absolute": {"temperature": {"red_low": 35.0, "yellow_low": 36.0, "yellow_high": 38.0,
                                                    "red_high": 39.0}}}},
    "POST /v1/episodes/{episode_id}/handover": lambda _: {"to_organisation": OFFERED_ORG},  # its retry: 200
    "POST /v1/episodes/{episode_id}/end": lambda _: {},
    "POST /v1/worklist/acknowledge-green": lambda _: {},
    "POST /v1/alarms/{alarm_id}/acknowledge": lambda _: {"note": "Called the citizen."},
    "POST /v1/episodes/{episode_id}/pauses": lambda _: {
        "ends_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(), "reason": "Admitted to hospital"},
    "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate": lambda _: {
        "reason": "The probe was on a cold finger"},
    "POST /v1/consents": lambda cpr: {"cpr": cpr, "status": "granted"},
}
FORMS: dict[str, Callable[[str], list[tuple[str, str]]]] = {
    "POST /fhir/Observation/_search": lambda cpr: [("patient.identifier", f"urn:oid:1.2.208.176.1.2|{cpr}")],
}


def request(route: str, ids: dict[str, str], cpr: str) -> Request:
    """The route's request naming the things ``ids`` gives for its path parameters and the citizen ``cpr``."""
    method, template = route.split(" ", 1)
    path = template.format(**ids)
    body = _BODIES[route](cpr) if route in _BODIES else None
    form = FORMS[route](cpr) if route in FORMS else None
    return Request(method, path, body, form)


def unknown_request(route: str) -> Request:
    """The route's request naming nothing that exists (an unknown episode, alarm, device, measurement or
    order, or a citizen Telehub does not know)."""
    return request(route, UNKNOWN_IDS, UNKNOWN_CITIZEN)
