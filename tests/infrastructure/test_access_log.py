"""The access log in the synthesized template: append-only by IAM (no role of the application may update or
delete an entry), entries expiring after the stage's retention, and that retention at least two years."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from functions.shared.access_log import MINIMUM_RETENTION_DAYS
from infrastructure.config import load_stage_config
from infrastructure.resource_spec import ACCESS_LOG_RETENTION_ENV, ACCESS_LOG_TABLE, SPEC
from tests.support.cdk_templates import as_list, references, resources, tagged

APPEND = {"dynamodb:PutItem"}
READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}


def _statements(template) -> list[tuple[str, dict]]:
    """Every allowing statement of every IAM policy in the template, with the policy's logical id."""
    found = []
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in resources(template, resource_type).items():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            found += [(logical_id, statement) for statement in statements if statement["Effect"] == "Allow"]
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(logical_id, statement) for statement in inline["PolicyDocument"]["Statement"]]
    return found


def test_no_policy_grants_the_access_log_anything_but_appending_and_reading(stage):
    # Given the access-log table of a stage and every IAM policy statement that names it
    table, _ = tagged(stage.template, "AWS::DynamoDB::Table", "table")[ACCESS_LOG_TABLE]
    naming = [(policy, statement) for policy, statement in _statements(stage.template)
              if table in references(statement["Resource"])]
    # Then each allows putting new entries or reading them, nothing else: no UpdateItem, DeleteItem or
    # BatchWriteItem (whose puts overwrite), no wildcard
    for policy, statement in naming:
        assert set(as_list(statement["Action"])) <= APPEND | READ, policy
    # And the functions that may put are exactly those the spec lets append to it, none of them writing it
    putting = {policy for policy, statement in naming if APPEND & set(as_list(statement["Action"]))}
    appenders = [f for f in SPEC.functions if ACCESS_LOG_TABLE in f.appends_to_tables]
    assert len(putting) == len(appenders) >= 5
    assert not [f.id for f in SPEC.functions if ACCESS_LOG_TABLE in f.writes_tables]
    # And no statement on every resource ('*') reaches a table's items
    for policy, statement in _statements(stage.template):
        if "*" in as_list(statement["Resource"]):
            assert not [a for a in as_list(statement["Action"])
                        if a.startswith("dynamodb:") and a != "dynamodb:ListStreams"], policy


def test_access_log_entries_expire_after_the_stages_retention(stage):
    # Given the access-log table and the functions that append to it
    _, table = tagged(stage.template, "AWS::DynamoDB::Table", "table")[ACCESS_LOG_TABLE]
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    # Then DynamoDB deletes each entry once its expires_at has passed
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # And every function that appends an entry is told the stage's retention, to set expires_at with
    for function in SPEC.functions:
        variables = functions[function.id][1]["Properties"]["Environment"]["Variables"]
        expected = str(stage.config.access_log_retention_days) if function.appends_to_tables else None
        assert variables.get(ACCESS_LOG_RETENTION_ENV) == expected, function.id


def test_every_stage_keeps_the_access_log_two_years_at_least():
    # Given the repository's stages, Then each keeps access-log entries two years or more (prod ten, as the
    # patient records whose reads they log are kept)
    dev, prod = load_stage_config("dev"), load_stage_config("prod")
    assert dev.access_log_retention_days == MINIMUM_RETENTION_DAYS == 731
    assert prod.access_log_retention_days == 3653
    assert prod.platform_settings().access_log_retention_days == 3653


@pytest.mark.parametrize(("days", "accepted"), [(730, False), (0, False), (731, True), (3653, True)])
def test_a_retention_under_two_years_is_refused(tmp_path, days, accepted):
    # Given a stage's config with an access-log retention of ``days``
    settings = json.loads(load_stage_config("dev").model_dump_json(exclude={"stage"}))
    (tmp_path / "dev.json").write_text(json.dumps({**settings, "access_log_retention_days": days}))
    # When it is loaded, Then less than two years is refused, naming the setting
    if accepted:
        assert load_stage_config("dev", tmp_path).access_log_retention_days == days
    else:
        with pytest.raises(ValidationError, match="access_log_retention_days"):
            load_stage_config("dev", tmp_path)
