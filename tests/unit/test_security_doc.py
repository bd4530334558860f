"""docs/security.md's relation table is the spec's routes: every route once, with the roles the authorizer's
policy lets call it, so the page a reviewer reads cannot leave a route out or give it another role."""

from __future__ import annotations

from infrastructure.resource_spec import SPEC
from tests.support.docs import table_after


def test_the_relation_table_lists_every_route_with_its_roles():
    rows = table_after("docs/security.md", "## Relations")
    documented = {route.strip("`"): role for route, role, _ in rows}
    assert len(documented) == len(rows), "a route is listed twice"
    assert documented == {f"{route.method} {route.path}": ", ".join(route.roles) for route in SPEC.routes}


def test_every_role_a_route_needs_is_described():
    roles = {role.strip("`") for role, *_ in table_after("docs/security.md", "## Roles")}
    assert {role for route in SPEC.routes for role in route.roles} <= roles
