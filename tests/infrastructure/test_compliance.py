"""cdk-nag (AwsSolutions, HIPAA Security): no unacknowledged finding, and every acknowledgement is
needed, narrow and explained."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from infrastructure.application import build_app
from infrastructure.compliance import (
    REPORT_ALL_FINDINGS,
    acknowledgements,
    apply_compliance_checks,
    compliance_packs,
)
from tests.support.cdk_templates import SKIP_BUNDLING

# Words that make a reason a shrug rather than a justification.
NOT_REASONS = ("todo", "fixme", "not needed", "false positive", "n/a", "tbd", "ignore")


def _findings(scope) -> dict[str, set[str]]:
    """Every finding of both packs under ``scope``: rule id -> construct paths."""
    found: dict[str, set[str]] = {}
    for pack in compliance_packs():
        for violation in pack.validate_scope(scope).violations:
            found.setdefault(violation.rule_name, set()).update(
                resource.construct_path for resource in violation.violating_resources
            )
    return found


def test_both_packs_find_nothing_unacknowledged(stage):
    # Given a synthesized stage (synthesis itself fails on a finding; this names them instead)
    # When both packs check it again, Then there is no finding, error or warning
    assert _findings(stage.app) == {}


def _careless_app() -> App:
    """A queue neither encrypted, SSL-only nor dead-lettered; a log group kept forever, unencrypted."""
    app = App()
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    logs.LogGroup(stack, "Logs", retention=logs.RetentionDays.INFINITE)
    return app


def test_both_packs_catch_violations():
    # Given a careless stack, When both packs check it, Then each reports what it is about
    found = _findings(_careless_app())
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= set(found)
    assert {
        "HIPAA.Security-CloudWatchLogGroupEncrypted",
        "HIPAA.Security-CloudWatchLogGroupRetentionPeriod",
    } <= set(found)


def test_synthesis_fails_on_an_unacknowledged_finding():
    # Given a careless stack checked the way app.py checks Telehub's
    app = _careless_app()
    apply_compliance_checks(app)
    # When it is synthesized, Then synthesis fails and names the findings
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS4" in str(failure.value)
    assert "HIPAA.Security-CloudWatchLogGroupEncrypted" in str(failure.value)


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_every_acknowledgement_answers_a_finding_on_its_own_construct(stage_name, request):
    # Given the stage's acknowledgements, and the findings with acknowledgements switched off
    acknowledged = acknowledgements(request.getfixturevalue(stage_name).app)
    audit = build_app({**SKIP_BUNDLING, "stage": stage_name, REPORT_ALL_FINDINGS: True})
    findings = _findings(audit)
    # Then each acknowledgement covers a finding of its rule at or below its construct (none is spare)
    for ack in acknowledged:
        paths = findings.get(ack.rule_id, set())
        assert any(p == ack.construct_path or p.startswith(f"{ack.construct_path}/") for p in paths), ack
    # And each finding is covered by an acknowledgement (the stage synthesized, so this must hold)
    for rule_id, paths in findings.items():
        for path in paths:
            assert any(a.rule_id == rule_id and path.startswith(a.construct_path) for a in acknowledged), (
                rule_id,
                path,
            )


def test_every_acknowledgement_has_a_reason_a_reviewer_can_check(stage):
    # Given the stage's acknowledgements
    acknowledged = acknowledgements(stage.app)
    assert acknowledged, "the register is empty: the audit test would prove nothing"
    for ack in acknowledged:
        # Then each says why, in more than a phrase, and is no placeholder
        assert len(ack.reason) >= 120, ack
        assert not any(word in ack.reason.lower() for word in NOT_REASONS), ack
        # And none is acknowledged for a whole stack or construct group at once
        assert ack.construct_path.count("/") >= 2, ack


def test_wildcard_acknowledgements_name_the_exact_finding(stage):
    # Given the IAM acknowledgements, Then each names one finding ([Resource::...] or [Policy::...])
    for ack in acknowledgements(stage.app):
        if ack.rule_id.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5")):
            assert "[" in ack.rule_id and ack.rule_id.endswith("]"), ack
