"""CloudFormation takes at most 500 resources in a stack: each configured stage stays clear of it, and
each organisation with a usage-plan bucket of its own costs what docs/deployment.md says."""

from __future__ import annotations

from tests.support.cdk_templates import resources

CLOUDFORMATION_LIMIT = 500
# Room kept for the next feature's resources: a stage that needs more must move something to a nested stack
# or list fewer organisations (docs/deployment.md#how-many-organisations-fit).
HEADROOM = 25
# An API key and its link to a plan; and a plan of its own for an organisation with limits of its own.
PER_ORGANISATION = 2


def test_each_configured_stage_stays_clear_of_cloudformations_resource_limit(stage):
    # Given a configured stage's template
    count = len(stage.template["Resources"])
    # Then it leaves the headroom below CloudFormation's limit
    room = CLOUDFORMATION_LIMIT - HEADROOM - count
    assert room >= 0, (
        f"{stage.config.stage}: {count} resources, {-room} over {CLOUDFORMATION_LIMIT - HEADROOM}: list "
        "fewer organisations in organisation_limits or move resources to a nested stack")


def test_an_organisation_costs_two_resources_and_three_with_limits_of_its_own(stage):
    # Given a stage's listed organisations and its usage-plan resources
    listed = stage.config.organisation_limits.organisations
    own = sum(limit.has_own_limits for limit in listed)
    counts = {kind: len(resources(stage.template, f"AWS::ApiGateway::{kind}"))
              for kind in ("ApiKey", "UsagePlanKey", "UsagePlan")}
    # Then beyond the three shared buckets (citizens, devices, other organisations: a plan, a key and a link
    # each) and one plan shared by the organisations without limits of their own, each organisation adds a
    # key and a link, and a plan if it has limits of its own
    shared_plan = int(own < len(listed))
    assert sum(counts.values()) == 3 * 3 + shared_plan + PER_ORGANISATION * len(listed) + own
