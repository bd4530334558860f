"""Who may call each route: the one rule table. Pure: no boto3, no event shapes.

A route is open to the roles its rule names (the authorizer's policy is built from them, through
infrastructure/resource_spec.py) and, inside the route, to a caller that holds one of the relations the
rule allows to the citizen, episode, device or order the request names. docs/security.md's relation
table is held to this one (tests/unit/test_security_doc.py), and tests/e2e/test_access_matrix.py walks
every role, relation and route against the running handlers.

A caller without an allowed relation gets errors.NoRelation: the same 403 as for something that does
not exist. Only a caller that already holds a relation the rule names as ``told`` (it knows the episode)
learns which relation the route needs. A feature computes the relations its caller holds and decides through
AccessGuard.check, which writes any refusal of a citizen Telehub knows to the access log as denied first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from functions.shared.access_log import Access, AccessLog, Outcome
from functions.shared.clock import Clock
from functions.shared.errors import Forbidden, NoRelation
from functions.shared.principal import Principal, Role


class Relation(StrEnum):
    """What a caller is to the citizen, episode, device or order a request names."""

    TREATING = "treating"  # the episode's treating organisation (for a referral: the one it names as such)
    MONITORING = "monitoring"  # the episode's current monitoring organisation
    OFFERED = "offered"  # the organisation a pending handover of the episode is offered to
    DECLINED = "declined"  # the organisation that declined the episode's last offer (its retried decline)
    ACCEPTED = "accepted"  # the monitoring organisation while no offer is pending (its retried acceptance)
    LOGISTICS = "logistics"  # the logistics centre of an open (planned or active) episode of the citizen
    REGISTRAR = "registrar"  # the logistics centre that registered the device
    ORDERED = "ordered"  # the logistics centre an order was sent to, while the order is current
    OWN = "own"  # the caller's own: the citizen's own data, the device itself, the organisation's own rows


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    allowed: frozenset[Relation]
    # Related callers refused with a 403 that says why (``told_why``) rather than the one that tells nothing.
    told: frozenset[Relation] = frozenset()
    told_why: str = ""
    # Where the request names nothing that exists yet (a referral), the unrelated caller may be told why.
    unrelated_why: str = ""

    def refusal(self, held: Collection[Relation]) -> Forbidden | None:
        """None if a caller holding ``held`` may call the route; else the 403 it gets."""
        if self.allowed.intersection(held):
            return None
        if self.told.intersection(held):
            return Forbidden(self.told_why)
        return Forbidden(self.unrelated_why) if self.unrelated_why else NoRelation()


def _rule(role: Role, *allowed: Relation, told: Collection[Relation] = (), told_why: str = "",
          unrelated_why: str = "") -> Rule:
    return Rule(frozenset({role}), frozenset(allowed), frozenset(told), told_why, unrelated_why)


_T, _M, _O = Relation.TREATING, Relation.MONITORING, Relation.OFFERED
_CLINICIAN = Role.CLINICIAN
_MONITORING_ONLY = "only the organisation holding monitoring responsibility may "

# Keyed by "METHOD /path", the path as API Gateway's resource template.
ACCESS_RULES: Mapping[str, Rule] = MappingProxyType({
    "POST /v1/devices": _rule(Role.LOGISTICS, Relation.LOGISTICS),
    "DELETE /v1/devices/{device_id}": _rule(Role.LOGISTICS, Relation.REGISTRAR),
    "POST /v1/devices/me/credential": _rule(Role.DEVICE, Relation.OWN),
    "POST /v1/measurements": _rule(Role.DEVICE, Relation.OWN),
    "POST /v1/referrals": _rule(
        _CLINICIAN, _T, unrelated_why="only a clinician of the treating organisation may refer"),
    "GET /v1/episodes/{episode_id}": _rule(_CLINICIAN, _T, _M, _O),
    # The receiver of an offer reads whom it is offered, as it reads the episode, to decide.
    "GET /v1/episodes/{episode_id}/citizen": _rule(_CLINICIAN, _T, _M, _O),
    "PUT /v1/episodes/{episode_id}/thresholds": _rule(
        _CLINICIAN, _T, told=(_M,), told_why="only the treating organisation may change the thresholds"),
    "POST /v1/episodes/{episode_id}/handover": _rule(
        _CLINICIAN, _M, told=(_T,), told_why=_MONITORING_ONLY + "offer a handover"),
    "DELETE /v1/episodes/{episode_id}/handover": _rule(
        _CLINICIAN, _M, told=(_T,), told_why=_MONITORING_ONLY + "withdraw its offer"),
    "POST /v1/episodes/{episode_id}/handover/accept": _rule(
        _CLINICIAN, _O, Relation.ACCEPTED, told=(_T, _M),
        told_why="only the organisation offered the handover may accept it"),
    "POST /v1/episodes/{episode_id}/handover/decline": _rule(
        _CLINICIAN, _O, Relation.DECLINED, told=(_T, _M),
        told_why="only the organisation offered a pending handover may decline it"),
    "POST /v1/episodes/{episode_id}/end": _rule(
        _CLINICIAN, _T, told=(_M,), told_why="only the treating organisation may end the episode"),
    "GET /v1/worklist": _rule(_CLINICIAN, Relation.OWN),
    "POST /v1/worklist/acknowledge-green": _rule(_CLINICIAN, Relation.OWN),
    "GET /v1/episodes/{episode_id}/measurements": _rule(_CLINICIAN, _T, _M),
    "GET /v1/episodes/{episode_id}/alarms": _rule(_CLINICIAN, _T, _M),
    "GET /v1/episodes/{episode_id}/answers": _rule(_CLINICIAN, _T, _M),
    "POST /v1/alarms/{alarm_id}/acknowledge": _rule(
        _CLINICIAN, _M, told=(_T,), told_why=_MONITORING_ONLY + "acknowledge an alarm"),
    "POST /v1/episodes/{episode_id}/pauses": _rule(
        _CLINICIAN, _M, told=(_T,), told_why=_MONITORING_ONLY + "pause it"),
    "GET /v1/episodes/{episode_id}/pauses": _rule(_CLINICIAN, _T, _M),
    "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate": _rule(_CLINICIAN, _T, _M),
    "POST /v1/consents": _rule(_CLINICIAN, _T, _M),
    "POST /fhir/Observation/_search": _rule(_CLINICIAN, _T, _M),
    "GET /v1/me/access-log": _rule(Role.CITIZEN, Relation.OWN),
    "GET /v1/me/measurements": _rule(Role.CITIZEN, Relation.OWN),
    "GET /v1/episodes/{episode_id}/access-log": _rule(_CLINICIAN, _M),
    "GET /v1/episodes/{episode_id}/orders/{order_id}/contact": _rule(Role.LOGISTICS, Relation.ORDERED),
})


def refusal(route: str, held: Collection[Relation]) -> Forbidden | None:
    """None if a caller holding ``held`` may call ``route`` ("METHOD /path"); else the 403 to raise."""
    return ACCESS_RULES[route].refusal(held)


def nothing_found(route: str) -> Forbidden:
    """The 403 of ``route`` for a request naming nothing Telehub holds: a caller without relation's."""
    return refusal(route, ()) or NoRelation()


class AccessGuard:
    """Decides a request by its route's rule, and writes a refusal of a citizen Telehub knows to the access
    log as denied before raising it: a feature decides every relation through ``check``, so none can
    refuse unlogged."""

    def __init__(self, access_log: AccessLog, clock: Clock) -> None:
        self._access_log = access_log
        self._clock = clock

    def check(self, route: str, held: Collection[Relation], principal: Principal,
              about: Access | None) -> None:
        """Return if a caller holding ``held`` may call ``route`` about ``about`` (the citizen, the action,
        the episode or ""; None for a citizen Telehub does not know); else log ``about`` as denied
        (ServiceUnavailable if it cannot be written, so that nothing is answered unlogged) and raise the
        rule's 403."""
        refused = refusal(route, held)
        if refused is None:
            return
        if about is not None:
            self._access_log.record(about.patient_id, principal, about.action, about.episode_id,
                                    self._clock(), Outcome.DENIED)
        raise refused


def episode_relations(organisation: str | None, *, treating: str, monitoring: str,
                      offered: str | None = None, declined: str | None = None) -> frozenset[Relation]:
    """The relations ``organisation`` holds to an episode with these organisations (none without one)."""
    if not organisation:
        return frozenset()
    holders = {Relation.TREATING: treating, Relation.MONITORING: monitoring,
               Relation.OFFERED: offered, Relation.DECLINED: declined}
    return frozenset(relation for relation, holder in holders.items() if holder == organisation)
