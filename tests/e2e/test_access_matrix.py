"""The access matrix, walked against the running system: every route of the spec x every role x every
relation (and none), each called over real HTTP through the embedded gateway, the authorizer and the
route's handler, and held to functions/shared/access_rules.py:

- a role the route is not for: the gateway's 403 (the authorizer's policy), the same body every time;
- a role the route is for, holding a relation the rule allows: served, with the status the route gives for
  the state the call meets (e.g. a referral for an area the citizen is monitored for is a 409);
- holding a relation the rule tells: a 403 whose body is the rule's reason;
- otherwise: a 403 byte-equal to the reply to a request naming nothing that exists (so byte-equal across
  every such caller), and the refusal of the known citizen access-logged as denied;
- every reply, served or refused, by the gateway or a function, says ``Cache-Control: no-store``.

Who holds what (tests/support/access_matrix.py): four organisations hold an episode's TREATING, MONITORING,
OFFERED (a pending handover) and DECLINED (the last offer before it); ACCEPTED, which a pending offer rules
out, is a second world's organisation that accepted its monitoring (so also MONITORING); the citizen's
logistics centre holds LOGISTICS, REGISTRAR and ORDERED at once (a citizen has one logistics centre while an
episode is open, and its devices and orders are that centre's, so none of the three is held without the
others); OWN and none are an organisation with no part in the episode, except on the routes that name only
the caller's own (the worklist, the citizen's views, a device's upload), to which every caller holds OWN. A
citizen holds no organisation's relation: every relation but OWN is a citizen the request is not about; a
device names only itself: every relation is OWN. A cell whose caller is another cell's (the same token, the
same request) is walked once, under the cell the rule allows if either is (Cell.walked); the first test
holds every cell to that mapping.

The calls that change what other cells depend on (offering, withdrawing, accepting or declining a handover,
ending, revoking a device, acknowledging an alarm, invalidating a measurement) are made, when allowed, on a
fresh episode, device, alarm or measurement of their own, so every cell meets the same world whatever the
order (and so pytest-xdist may spread the cells over its workers, each building the worlds once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from embedded.local import LocalSystem
from functions.devices.logic import MINIMUM_ROTATION_INTERVAL
from functions.shared.access_rules import ACCESS_RULES, Relation
from functions.shared.principal import Role
from infrastructure.resource_spec import SPEC
from tests.support.access_matrix import (
    COLUMNS,
    UNRELATED_ORG,
    Calls,
    Cell,
    Expect,
    Reply,
    World,
    gateway_refusal,
    matrix,
    problem_body,
    request,
    unknown_request,
)
from tests.support.devices_api import devices_clock_at

pytestmark = pytest.mark.e2e

ROUTES = [f"{route.method} {route.path}" for route in SPEC.routes if route.authorized]
CELLS = matrix(ROUTES)
WALKED = sorted({cell.walked for cell in CELLS})
# What every reply says to caches (functions.shared.api.resolve and infrastructure.edge.GATEWAY_HEADERS).
NO_STORE = "no-store"

# The status a caller the rule allows gets, for the state its call meets.
SERVED: dict[str, int] = {
    "POST /v1/devices": 201,
    "DELETE /v1/devices/{device_id}": 204,
    "POST /v1/devices/me/credential": 200,
    "POST /v1/measurements": 202,
    "POST /v1/referrals": 409,  # the citizen has an open episode of the area
    "GET /v1/episodes/{episode_id}": 200,
    "GET /v1/episodes/{episode_id}/citizen": 200,
    "PUT /v1/episodes/{episode_id}/thresholds": 200,
    "POST /v1/episodes/{episode_id}/handover": 200,  # the pending offer again, or a first one
    "DELETE /v1/episodes/{episode_id}/handover": 204,
    "POST /v1/episodes/{episode_id}/handover/accept": 200,
    "POST /v1/episodes/{episode_id}/handover/decline": 204,
    "POST /v1/episodes/{episode_id}/end": 204,
    "GET /v1/worklist": 200,
    "POST /v1/worklist/acknowledge-green": 200,
    "GET /v1/episodes/{episode_id}/measurements": 200,
    "GET /v1/episodes/{episode_id}/alarms": 200,
    "GET /v1/episodes/{episode_id}/answers": 200,
    "POST /v1/alarms/{alarm_id}/acknowledge": 200,
    "POST /v1/episodes/{episode_id}/pauses": 201,
    "GET /v1/episodes/{episode_id}/pauses": 200,
    "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate": 200,
    "POST /v1/consents": 200,  # the consent the world granted, granted again
    "POST /fhir/Observation/_search": 200,
    "GET /v1/me/access-log": 200,
    "GET /v1/me/measurements": 200,
    "GET /v1/episodes/{episode_id}/access-log": 200,
    "GET /v1/episodes/{episode_id}/orders/{order_id}/contact": 200,
}


def _fresh_episode(calls: Calls, world: World) -> dict[str, str]:
    return {"episode_id": calls.fresh_episode(world.accepted)}


def _registered_long_enough_ago(calls: Calls, world: World) -> dict[str, Any]:
    with devices_clock_at(datetime.now(UTC) - MINIMUM_ROTATION_INTERVAL):
        return calls.fresh_device(world.cpr)


# For an allowed call that changes what other cells meet: the path ids of a fresh thing of its own.
FRESH: dict[str, Callable[[Calls, World], dict[str, str]]] = {
    "DELETE /v1/devices/{device_id}": lambda calls, world: {
        "device_id": calls.fresh_device(world.cpr)["device_id"]},
    # A rotation retires the caller's credential after a grace: a fresh device's, not the world's, registered
    # as long ago as a device must have been to rotate.
    "POST /v1/devices/me/credential": lambda calls, world: {
        "credential": _registered_long_enough_ago(calls, world)["credential"]},
    "POST /v1/episodes/{episode_id}/handover": _fresh_episode,  # in the accepted world, a new offer
    "DELETE /v1/episodes/{episode_id}/handover": _fresh_episode,
    "POST /v1/episodes/{episode_id}/handover/accept": _fresh_episode,
    "POST /v1/episodes/{episode_id}/handover/decline": _fresh_episode,
    "POST /v1/episodes/{episode_id}/end": _fresh_episode,
    "POST /v1/alarms/{alarm_id}/acknowledge": lambda calls, world: {"alarm_id": calls.raised_alarm(
        world.episode_id, calls.upload(world.credential, world.device_id, "spo2", 80, "%"))},
    "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate": lambda calls, world: {
        "measurement_id": calls.evaluated(world.episode_id, calls.upload(
            world.credential, world.device_id, "pulse", 70, "/min"))},
}


@pytest.fixture(scope="module")
def calls(local_system: LocalSystem) -> Calls:
    return Calls(local_system)


@pytest.fixture(scope="module")
def worlds(calls: Calls) -> Callable[[Cell], World]:
    """The world a cell names, each built the first time a cell needs it."""
    built: dict[bool, World] = {}

    def world(cell: Cell) -> World:
        if cell.in_accepted_world not in built:
            built[cell.in_accepted_world] = calls.world(accepted=cell.in_accepted_world)
        return built[cell.in_accepted_world]

    return world


@pytest.fixture(scope="module")
def references(calls: Calls) -> Callable[[str], Reply]:
    """Per route, the reply to its request naming nothing that exists, by an organisation of the route's
    role with no part in anything (asked once per route)."""
    replies: dict[str, Reply] = {}

    def reference(route: str) -> Reply:
        if route not in replies:
            (role,) = ACCESS_RULES[route].roles
            sent = unknown_request(route)
            replies[route] = calls.send(sent.method, sent.path, calls.token(role, UNRELATED_ORG), sent.body,
                                        sent.form)
        return replies[route]

    return reference


def walk(cell: Cell, calls: Calls, world: World, ids: dict[str, str] | None = None) -> Reply:
    """The cell's request, naming the world's things (or ``ids`` instead; a device's ``credential`` too),
    sent as its caller."""
    sent = request(cell.route, world.path_ids() | (ids or {}), world.cpr)
    role, who = cell.caller
    token = (ids or {}).get("credential", world.credential) if role is Role.DEVICE else calls.token(role, who)
    return calls.send(sent.method, sent.path, token, sent.body, sent.form)


def cells(expect: Expect) -> list[pytest.ParameterSet]:
    return [pytest.param(cell, id=cell.id) for cell in WALKED if cell.expect is expect]


def test_every_cell_of_the_matrix_is_walked_or_is_the_request_of_one_that_is():
    # Given every route the spec serves, which are the rule table's, every role and every column
    assert set(ROUTES) == set(ACCESS_RULES)
    assert len(CELLS) == len(ROUTES) * len(Role) * len(COLUMNS)
    # When each cell is taken to the cell the test walks for it
    for cell in CELLS:
        walked = cell.walked
        # Then that cell is walked, with the same caller, so the same request and the same expectation
        assert walked in WALKED and walked.walked == walked
        assert (walked.route, walked.role, walked.caller, walked.expect) == (
            cell.route, cell.role, cell.caller, cell.expect)
    # And every route is walked in each of the outcomes its rule has
    outcomes = Counter((cell.route, cell.expect) for cell in WALKED)
    for route in ROUTES:
        assert outcomes[route, Expect.GATEWAY] and outcomes[route, Expect.ALLOWED]
        rule = ACCESS_RULES[route]
        assert bool(outcomes[route, Expect.TOLD]) == bool(rule.told)
        assert bool(outcomes[route, Expect.NO_RELATION]) == (rule.allowed != frozenset({Relation.OWN}))


@pytest.mark.parametrize("cell", cells(Expect.GATEWAY))
def test_a_role_the_route_is_not_for_gets_the_gateways_403(
        cell: Cell, calls: Calls, worlds: Callable[[Cell], World]):
    # Given a caller of a role the route's rule does not name, holding the cell's relation
    world = worlds(cell)
    # When it calls the route
    reply = walk(cell, calls, world)
    # Then the authorizer's policy refuses it: API Gateway's own 403, the same body whoever asks
    assert (reply.status, reply.body) == (403, gateway_refusal())
    # And no cache may keep it, as no reply may be kept
    assert reply.cache_control == NO_STORE


@pytest.mark.parametrize("cell", cells(Expect.NO_RELATION))
def test_a_caller_without_an_allowed_relation_gets_the_reply_of_nothing(
        cell: Cell, calls: Calls, worlds: Callable[[Cell], World], references: Callable[[str], Reply]):
    # Given a caller of the route's role holding no relation its rule allows or tells
    world = worlds(cell)
    # When it calls the route about the world's citizen
    reply = walk(cell, calls, world)
    # Then it gets, byte for byte, the reply to a request naming nothing that exists: the rule's refusal
    nothing = references(cell.route)
    refusal = cell.rule.refusal(frozenset())
    assert refusal is not None
    assert (nothing.status, nothing.body) == (403, problem_body(403, refusal.message))
    assert (reply.status, reply.body) == (nothing.status, nothing.body)
    # And no cache may keep it, as no reply may be kept
    assert reply.cache_control == nothing.cache_control == NO_STORE
    # And the refusal of a citizen Telehub knows is in the access log as denied
    assert calls.denied_entries(world.patient_id, reply.request_id)


@pytest.mark.parametrize("cell", cells(Expect.TOLD))
def test_a_related_caller_the_rule_tells_gets_its_reason(
        cell: Cell, calls: Calls, worlds: Callable[[Cell], World]):
    # Given a caller holding a relation the rule tells which relation the route needs
    world = worlds(cell)
    # When it calls the route
    reply = walk(cell, calls, world)
    # Then it gets a 403 saying so, not to be cached, and the refusal is in the access log as denied
    assert (reply.status, reply.body) == (403, problem_body(403, cell.rule.told_why))
    assert reply.cache_control == NO_STORE
    assert calls.denied_entries(world.patient_id, reply.request_id)


@pytest.mark.parametrize("cell", cells(Expect.ALLOWED))
def test_a_caller_holding_an_allowed_relation_is_served(
        cell: Cell, calls: Calls, worlds: Callable[[Cell], World]):
    # Given a caller holding a relation the rule allows (a fresh thing of its own where the call changes it)
    world = worlds(cell)
    fresh = FRESH[cell.route](calls, world) if cell.route in FRESH else {}
    # When it calls the route
    reply = walk(cell, calls, world, fresh)
    # Then it is served, as the route serves the state its call meets
    assert reply.status == SERVED[cell.route], reply.body
    # And no cache may keep the reply (health data, a CPR number or a credential, or nothing: one rule)
    assert reply.cache_control == NO_STORE
    # And the worklist is the caller's own: the world's episode is on the monitoring organisation's only
    if cell.route == "GET /v1/worklist":
        rows = [row["episode_id"] for row in reply.json()["rows"]]
        assert (world.episode_id in rows) == (Relation.MONITORING in cell.held)
