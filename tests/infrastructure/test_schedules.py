"""Scheduled functions: an EventBridge rule invokes each at the spec's rate, allowed by the function's own
resource policy for that rule only; a schedule that drifted from the spec is named."""

from __future__ import annotations

from dataclasses import replace

from infrastructure.resource_spec import SPEC, ScheduleSpec
from tests.support.cdk_templates import logical_id_of, resources, tagged
from tests.support.spec_agreement import differences

SCHEDULED = [function for function in SPEC.functions if function.schedule]


def test_the_missed_measurement_schedule_is_in_the_spec():
    assert [function.id for function in SCHEDULED] == ["missed-measurements"]


def test_each_scheduled_function_is_invoked_by_its_rule_at_the_spec_rate(stage):
    # Given a stage's rules, functions and invoke permissions
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    rules = resources(stage.template, "AWS::Events::Rule")
    permissions = [p["Properties"] for p in resources(stage.template, "AWS::Lambda::Permission").values()]
    for function in SCHEDULED:
        assert function.schedule is not None
        function_logical_id = functions[function.id][0]
        # Then one rule targets the function at the spec's rate, retrying twice within one period
        (rule_id,) = [rule_id for rule_id, rule in rules.items() if any(
            logical_id_of(target["Arn"]) == function_logical_id for target in rule["Properties"]["Targets"])]
        properties = rules[rule_id]["Properties"]
        assert properties["ScheduleExpression"] == f"rate({function.schedule.rate_minutes} minutes)"
        assert properties.get("State", "ENABLED") == "ENABLED"
        (target,) = properties["Targets"]
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2,
                                         "MaximumEventAgeInSeconds": function.schedule.rate_minutes * 60}
        # And the function lets EventBridge invoke it for that rule alone
        assert any(logical_id_of(p["FunctionName"]) == function_logical_id
                   and p["Principal"] == "events.amazonaws.com" and logical_id_of(p["SourceArn"]) == rule_id
                   for p in permissions)


def test_a_schedule_that_drifted_from_the_template_is_named(dev):
    # Given a spec whose schedule runs every five minutes, and one that schedules the pauses API too
    faster = replace(SPEC, functions=tuple(
        replace(f, schedule=ScheduleSpec(5)) if f.schedule else f for f in SPEC.functions))
    extra = replace(SPEC, functions=tuple(
        replace(f, schedule=ScheduleSpec(60)) if f.id == "monitoring-pauses" else f for f in SPEC.functions))
    # When each is compared with the dev template, Then the difference is named
    assert ("schedule of missed-measurements: ['rate(15 minutes)'], spec says ['rate(5 minutes)']"
            in differences(dev.template, faster))
    assert ("schedule of monitoring-pauses is in the spec but not in the template"
            in differences(dev.template, extra))
