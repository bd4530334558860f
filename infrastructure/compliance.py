"""cdk-nag rule packs (AwsSolutions, HIPAA Security) and how Telehub acknowledges a finding.

A finding is fixed where it can be; the few that are acknowledged are acknowledged on the one
construct they concern, with the reason next to the code that causes them. Synthesize with
``-c telehub:report-all-findings=true`` to see every finding as if nothing were acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NagPack
from constructs import IConstruct

REPORT_ALL_FINDINGS = "telehub:report-all-findings"


@dataclass(frozen=True)
class Acknowledged:
    construct_path: str
    rule_id: str
    reason: str


def compliance_packs(scope: IConstruct | None = None) -> tuple[NagPack, ...]:
    return (AwsSolutionsChecks(scope), HIPAASecurityChecks(scope))


def apply_compliance_checks(app: App) -> None:
    """Synthesis fails on any unacknowledged finding, error or warning, of either pack."""
    Validations.of(app).add_plugins(*compliance_packs(app))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one cdk-nag finding (``AwsSolutions-IAM5[Resource::*]`` style ids) on ``scope`` and
    everything under it."""
    if not scope.node.try_get_context(REPORT_ALL_FINDINGS):
        Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Say in the template why checkov's ``check_id`` does not apply to the construct's resource: checkov
    reads a resource's Metadata ``checkov.skip`` and reports the finding as skipped with the reason."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    skips: list[dict[str, str]] = (resource.get_metadata("checkov") or {}).get("skip", [])
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": reason}]})


def acknowledgements(scope: IConstruct) -> list[Acknowledged]:
    """Every acknowledgement made under ``scope``: the register a security review reads."""
    register = []
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                register += [
                    Acknowledged(construct.node.path, rule_id.split("::", 1)[-1], reason)
                    for rule_id, reason in entry.data.items()
                ]
    return register
