"""docs/security.md's relation table is the rule table (functions/shared/access_rules.py): every route
once, with the roles the authorizer's policy lets call it, the relations that allow it and those told why, so
the page a reviewer reads cannot leave a route out or give it another rule. The rule table holds exactly the
spec's routes, and the page names every relation with its meaning."""

from __future__ import annotations

import re

from functions.shared.access_rules import ACCESS_RULES, Relation
from infrastructure.resource_spec import SPEC
from tests.support.docs import table_after

RULE_TABLE = "### The rule of each route"
NOT_TOLD = "—"
ANYONE_ELSE = "anyone else: "


def relations_in(cell: str) -> set[Relation]:
    return {Relation(name) for name in re.findall(r"`(\w+)`", cell)}


def documented_rules() -> dict[str, tuple[set[str], set[Relation], set[Relation], str, str]]:
    """route -> (roles, allowed, told, told why, why an unrelated caller is told), as the page states them."""
    rows = table_after("docs/security.md", RULE_TABLE)
    rules = {}
    for route, roles, allowed, told in rows:
        told_relations: set[Relation] = set()
        told_why = unrelated_why = ""
        if told.startswith(ANYONE_ELSE):
            unrelated_why = told.removeprefix(ANYONE_ELSE)
        elif told != NOT_TOLD:
            names, told_why = told.split(": ", 1)
            told_relations = relations_in(names)
        rules[route.strip("`")] = ({role.strip() for role in roles.split(",")}, relations_in(allowed),
                                   told_relations, told_why, unrelated_why)
    assert len(rules) == len(rows), "a route is listed twice"
    return rules


def test_the_relation_table_is_the_rule_table():
    # Given the page's table and the code's
    # Then each route has the same roles, allowed relations, told relations and reasons
    assert documented_rules() == {
        route: ({role.value for role in rule.roles}, set(rule.allowed), set(rule.told), rule.told_why,
                rule.unrelated_why)
        for route, rule in ACCESS_RULES.items()
    }


def test_the_rule_table_holds_exactly_the_spec_routes_with_their_roles():
    assert {f"{route.method} {route.path}": set(route.roles) for route in SPEC.routes} == {
        route: {role.value for role in rule.roles} for route, rule in ACCESS_RULES.items()}


def test_every_relation_is_explained_once():
    rows = table_after("docs/security.md", "### The relations")
    assert [relations_in(name) for name, _ in rows] == [{relation} for relation in Relation]
    assert all(meaning for _, meaning in rows)


def test_every_role_a_route_needs_is_described():
    roles = {role.strip("`") for role, *_ in table_after("docs/security.md", "## Roles")}
    assert {role.value for rule in ACCESS_RULES.values() for role in rule.roles} <= roles
