"""Synthesis for the infrastructure tests and queries over a synthesized CloudFormation template.

Bundling is skipped (``aws:cdk:bundling-stacks`` = []), so no test runs pip or compiles code;
the cdk-nag packs and CDK's own template validation still run on every synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from infrastructure.application import build_app, feature_flags, stack_of
from infrastructure.compliance import apply_compliance_checks
from infrastructure.config import StageConfig, load_stage_config
from infrastructure.naming import SPEC_TAG
from infrastructure.resource_spec import ResourceSpec
from infrastructure.stack import TelehubStack

SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: TelehubStack
    config: StageConfig
    template: dict[str, Any]

    @property
    def assertions(self) -> Template:
        return Template.from_json(self.template)


def synthesize_stage(stage: str, outdir: Path) -> Synthesized:
    """The app exactly as app.py builds it, for one stage, without bundling."""
    app = build_app({**SKIP_BUNDLING, "stage": stage}, outdir=str(outdir))
    return _synthesized(app, stack_of(app))


def synthesize_spec(
    spec: ResourceSpec, stage: str, outdir: Path, config: StageConfig | None = None,
    stack_name: str = "Telehub-variant",
) -> Synthesized:
    """A stack built from another resource spec (or another config of the stage), with the app's checks.
    Named as the stage's (``Telehub-<stage>``), its logical ids are the stage's, for comparing templates."""
    config = config or load_stage_config(stage)
    app = App(context={**feature_flags(), **SKIP_BUNDLING}, outdir=str(outdir))
    stack = TelehubStack(
        app,
        stack_name,
        config=config,
        spec=spec,
        env=Environment(region=config.region),
    )
    apply_compliance_checks(app)
    return _synthesized(app, stack)


def _synthesized(app: App, stack: TelehubStack) -> Synthesized:
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(app, stack, stack.config, template)


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def spec_tag(resource: dict[str, Any]) -> str | None:
    tags = resource.get("Properties", {}).get("Tags", [])
    return next((tag["Value"] for tag in tags if tag["Key"] == SPEC_TAG), None)


def tagged(template: dict[str, Any], resource_type: str, kind: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Resources of a type made from spec entries of ``kind``, by spec id: (logical id, resource)."""
    found = {}
    for logical_id, resource in resources(template, resource_type).items():
        tag = spec_tag(resource)
        if tag and tag.startswith(f"{kind}/"):
            found[tag.split("/", 1)[1]] = (logical_id, resource)
    return found


def logical_id_of(value: Any) -> str | None:
    """The resource a Ref or Fn::GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def render(value: Any) -> str:
    """A resource reference as text: logical ids for Ref/Fn::GetAtt, Fn::Join joined."""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    return logical_id_of(value) or str(value)


def references(value: Any) -> set[str]:
    """Every logical id referenced anywhere inside ``value`` (Ref, Fn::GetAtt, nested in joins)."""
    found: set[str] = set()
    if isinstance(value, dict):
        target = logical_id_of(value)
        if target and not target.startswith("AWS::"):
            found.add(target)
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def route_path(template: dict[str, Any], resource_id: Any) -> str:
    """``/v1/devices/{device_id}`` for a method's ResourceId, walking the API resource tree."""
    if "Fn::GetAtt" in resource_id:  # the RestApi's root resource
        return ""
    resource = template["Resources"][resource_id["Ref"]]["Properties"]
    return f"{route_path(template, resource['ParentId'])}/{resource['PathPart']}"


def policy_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement that applies to a role, from inline and customer-managed policies."""
    statements = []
    for resource_type, attachment in (("AWS::IAM::Policy", "Roles"), ("AWS::IAM::ManagedPolicy", "Roles")):
        for resource in resources(template, resource_type).values():
            if {"Ref": role_logical_id} in resource["Properties"].get(attachment, []):
                statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
