"""The roles in the resource spec (the authorizer's policy) are the roles each route's handler requires.

The authorizer's policy refuses a wrong role before any function runs; the handler's ``Caller``
(``Depends(auth.caller)``) checks again in depth, by the access rule of the route it serves. Both take the
roles from functions.shared.access_rules; this holds every route's handler to checking them.
"""

from __future__ import annotations

import importlib
import re
import typing

import pytest
from aws_lambda_powertools.event_handler.depends import Depends

from functions.authorizer.models import AuthorizerSettings
from functions.shared.access_rules import ACCESS_RULES
from functions.shared.auth import caller
from infrastructure.resource_spec import (
    SPEC,
    PlatformSettings,
    ResourceNames,
    RouteSpec,
    function_environment,
)


def required_roles(route: RouteSpec) -> set[str]:
    """The roles the resolver route that serves ``route`` requires: those of the access rule of the route it
    is, if it depends on ``auth.caller``."""
    module = importlib.import_module(SPEC.function(route.function).module)
    resolver_path = re.sub(r"\{(\w+)\}", r"<\1>", route.path)
    [served] = [
        r for r in (*module.app._static_routes, *module.app._dynamic_routes)
        if r.method == route.method and r.path == resolver_path
    ]
    roles: set[str] = set()
    for hint in typing.get_type_hints(served.func, include_extras=True).values():
        for metadata in getattr(hint, "__metadata__", ()):
            if isinstance(metadata, Depends) and metadata.dependency is caller:
                roles.update(ACCESS_RULES[f"{served.method} {route.path}"].roles)
    return roles


@pytest.mark.parametrize("route", SPEC.routes, ids=lambda route: f"{route.method} {route.path}")
def test_the_spec_grants_a_route_to_exactly_the_roles_its_handler_requires(route):
    # Given a route of the spec and the handler function that serves it
    # When the roles its Caller dependency checks are read
    # Then they are the roles the authorizer's policy allows on it, and an authorized route names some
    assert set(route.roles) == required_roles(route)
    assert route.roles or not route.authorized


def test_the_authorizers_environment_holds_every_authorized_route_and_stays_within_lambdas_4_kb():
    # Given the authorizer's environment, computed from the spec as the stack and the embedded mode do
    names = ResourceNames(
        tables={t.id: f"telehub-prod-{t.id}-0123456789ab" for t in SPEC.tables}, queue_urls={}, topic_arns={},
        key_ids={k.id: "arn:aws:kms:eu-west-1:123456789012:key/" + "0" * 36 for k in SPEC.keys},
    )
    # (with 45 organisations of usage-plan buckets of their own: more than a stack has resources for)
    platform = PlatformSettings("prod", "https://idp.example.dk/realms/telehub", "telehub-api",
                                "https://idp.example.dk/realms/telehub/protocol/openid-connect/certs",
                                "https://telehub.example.dk/device-credentials",
                                usage_plan_organisations=tuple(str(380431000016007 + n) for n in range(45)))
    environment = function_environment(SPEC.function(SPEC.authorizer), names, platform)
    # Then ROUTE_ROLES lists each authorized route with its roles, as the authorizer's settings read it
    routes = AuthorizerSettings.model_validate({
        **{name.lower(): value for name, value in environment.items()},
    }).route_roles
    assert [(m, p, set(r)) for m, p, r in routes] == [
        (route.method, route.path, set(route.roles)) for route in SPEC.routes if route.authorized
    ]
    # And the whole environment fits Lambda's 4 KB limit with room to spare
    assert sum(len(name) + len(value) for name, value in environment.items()) < 3 * 1024
