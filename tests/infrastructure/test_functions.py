"""Lambda functions: arm64, Python 3.12+, JSON logs into encrypted log groups that expire, and
least-privilege roles derived from the spec."""

from __future__ import annotations

import json
import re

import pytest

from infrastructure.permissions import Resource, code_permissions
from infrastructure.resource_spec import ROUTE_ROLES_ENV, SPEC, ResourceSpec, route_roles
from tests.support.cdk_templates import (
    as_list,
    logical_id_of,
    policy_statements,
    references,
    render,
    resources,
    tagged,
)
from tests.support.specs import VARIANT_SPEC

TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def _grants(template, function_id: str) -> dict[str, set[str]]:
    """One function's grants: each action its role allows -> the resources (logical ids) it may touch."""
    _, function = tagged(template, "AWS::Lambda::Function", "function")[function_id]
    role = logical_id_of(function["Properties"]["Role"])
    grants: dict[str, set[str]] = {}
    for statement in policy_statements(template, role):
        assert statement["Effect"] == "Allow"
        targets = {render(resource) for resource in as_list(statement["Resource"])}
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(targets)
    return grants


def test_functions_run_python_3_12_or_newer_on_arm64_with_json_logs(stage):
    # Given every function of a stage
    log_groups = resources(stage.template, "AWS::Logs::LogGroup")
    for function_id, (_, function) in tagged(stage.template, "AWS::Lambda::Function", "function").items():
        properties = function["Properties"]
        # Then it runs on Graviton with a current Python
        assert properties["Architectures"] == ["arm64"], function_id
        version = re.fullmatch(r"python3\.(\d+)", properties["Runtime"])
        assert version and int(version.group(1)) >= 12, function_id
        # And logs JSON into its own log group, which expires and is encrypted
        assert properties["LoggingConfig"]["LogFormat"] == "JSON", function_id
        log_group = log_groups[logical_id_of(properties["LoggingConfig"]["LogGroup"])]["Properties"]
        assert log_group["RetentionInDays"] == stage.config.log_retention_days, function_id
        assert "KmsKeyId" in log_group, function_id


def test_function_environment_names_the_resources_of_the_spec(dev):
    # Given the devices function
    _, function = tagged(dev.template, "AWS::Lambda::Function", "function")["devices"]
    variables = function["Properties"]["Environment"]["Variables"]
    tables = tagged(dev.template, "AWS::DynamoDB::Table", "table")
    keys = tagged(dev.template, "AWS::KMS::Key", "key")
    # Then its environment points at its tables and keys, and carries the stage's identity settings
    assert logical_id_of(variables["DEVICES_TABLE_NAME"]) == tables["devices"][0]
    assert logical_id_of(variables["CITIZENS_TABLE_NAME"]) == tables["citizens"][0]
    assert logical_id_of(variables["DEVICE_CREDENTIALS_KEY_ID"]) == keys["device-credentials"][0]
    assert logical_id_of(variables["CITIZEN_PSEUDONYM_KEY_ID"]) == keys["citizen-pseudonym"][0]
    assert variables["TOKEN_ISSUER"] == dev.config.identity_provider.issuer
    assert variables["DEVICE_CREDENTIAL_TTL_DAYS"] == str(dev.config.device_credentials.ttl_days)
    assert "UPLOADS_TABLE_NAME" not in variables


def test_the_upload_function_cannot_touch_devices_or_citizens(dev):
    # Given the device-uploads function's grants
    grants = _grants(dev.template, "device-uploads")
    tables = tagged(dev.template, "AWS::DynamoDB::Table", "table")
    touched = {target.split("/index/")[0] for action, targets in grants.items()
               if action.startswith("dynamodb:") for target in targets}
    written = {target.split("/index/")[0] for action, targets in grants.items()
               if action in TABLE_WRITES for target in targets}
    # Then it reaches the uploads table (and its index) and the episodes table (the citizen's open
    # episodes, whose questionnaires answers must fit), and no other; it writes the uploads table only
    assert touched == {tables["uploads"][0], tables["episodes"][0]}
    assert written == {tables["uploads"][0]}
    # And it cannot sign, MAC or send anything
    assert not {"kms:Sign", "kms:GenerateMac", "sqs:SendMessage", "sns:Publish"} & set(grants)


def test_the_authorizer_only_reads_devices_citizens_and_the_public_key(dev):
    # Given the authorizer's grants
    grants = _grants(dev.template, "authorizer")
    tables = tagged(dev.template, "AWS::DynamoDB::Table", "table")
    keys = tagged(dev.template, "AWS::KMS::Key", "key")
    # Then it writes nothing and only reads the devices table, the citizens table (a citizen's patient id by
    # the MAC of the CPR number) and the signing key's public half
    assert not TABLE_WRITES & set(grants)
    assert grants["dynamodb:GetItem"] == {tables["devices"][0], tables["citizens"][0]}
    assert grants["kms:GetPublicKey"] == {keys["device-credentials"][0]}
    assert grants["kms:GenerateMac"] == {keys["citizen-pseudonym"][0]}
    assert "kms:Sign" not in grants


def test_only_the_devices_function_signs_credentials_and_only_those_that_find_citizens_mac_cprs(dev):
    # Given every function's grants, Then kms:Sign belongs to the devices function alone, and
    # kms:GenerateMac to the functions that find a citizen by CPR (device registration, referral, the
    # sharing API's consent and FHIR search, and the authorizer for a citizen's own token)
    signers = {f.id for f in SPEC.functions if "kms:Sign" in _grants(dev.template, f.id)}
    maccers = {f.id for f in SPEC.functions if "kms:GenerateMac" in _grants(dev.template, f.id)}
    assert signers == {"devices"}
    assert maccers == {"authorizer", "devices", "referral-intake", "sharing-api"}


def _targets(template, spec: ResourceSpec) -> dict[Resource, str]:
    """Each resource a function's code may name (infrastructure/permissions.py), as the policy renders it."""
    tables = {tid: lid for tid, (lid, _) in tagged(template, "AWS::DynamoDB::Table", "table").items()}
    targets = {Resource("table", table_id): lid for table_id, lid in tables.items()}
    # A stream's ARN is an attribute of its table, so it renders as the table's logical id.
    targets |= {Resource("stream", table_id): lid for table_id, lid in tables.items()}
    targets |= {Resource("index", table.id, index.name): f"{tables[table.id]}/index/{index.name}"
                for table in spec.tables for index in table.indexes}
    for kind, resource_type in (("queue", "AWS::SQS::Queue"), ("topic", "AWS::SNS::Topic"),
                                ("key", "AWS::KMS::Key")):
        tagged_ids = tagged(template, resource_type, kind)
        targets |= {Resource(kind, rid): lid for rid, (lid, _) in tagged_ids.items()}  # type: ignore[arg-type]
    return targets


def _platform_grants(template, function, targets: dict[Resource, str]) -> set[tuple[str, str]]:
    """What the stack grants a function beside its code's calls: its logs, its event source, the data key."""
    _, resource = tagged(template, "AWS::Lambda::Function", "function")[function.id]
    log_group = logical_id_of(resource["Properties"]["LoggingConfig"]["LogGroup"])
    grants = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}
    if function.queue_source:
        queue = targets[Resource("queue", function.queue_source.queue)]
        grants |= {(action, queue) for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                  "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")}
    if function.stream_source:
        stream = targets[Resource("stream", function.stream_source.table)]
        failures = targets[Resource("queue", function.stream_source.on_failure_queue)]
        grants |= {(action, stream) for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords",
                                                   "dynamodb:GetShardIterator")}
        grants |= {("dynamodb:ListStreams", "*"), ("sqs:SendMessage", failures),
                   ("sqs:GetQueueAttributes", failures)}
    data_key = targets[Resource("key", "data")]
    return grants | {(action, data_key) for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")}


@pytest.mark.parametrize("spec_and_fixture", [(SPEC, "dev"), (SPEC, "prod"), (VARIANT_SPEC, "variant")])
def test_every_grant_is_the_code_permissions_of_the_spec_and_the_platforms_own(spec_and_fixture, request):
    # Given a synthesized spec
    spec, fixture = spec_and_fixture
    template = request.getfixturevalue(fixture).template
    targets = _targets(template, spec)
    for function in spec.functions:
        granted = {(action, target) for action, resources_ in _grants(template, function.id).items()
                   for target in resources_}
        code = {(permission.action, targets[permission.resource])
                for permission in code_permissions(function)}
        # Then the role may do everything its code calls (infrastructure/permissions.py, held to a recorded
        # run by tests/integration/test_least_privilege.py) on exactly those resources
        assert code <= granted, function.id
        # And beyond that only what Lambda, its logs and the data key's services need (the data key
        # through its services alone: tests/infrastructure/test_keys.py)
        assert granted - code <= _platform_grants(template, function, targets), function.id
        # And no action is a wildcard; '*' as a resource is only dynamodb:ListStreams; nothing deletes but
        # the functions whose code deletes, and nothing batch-writes or scans
        assert not [action for action, _ in granted if "*" in action], function.id
        assert {action for action, target in granted if target == "*"} <= {"dynamodb:ListStreams"}
        deletes = {a.table for a in function.tables if "DeleteItem" in a.actions}
        assert {t for a, t in granted if a == "dynamodb:DeleteItem"} == {targets[Resource("table", t)]
                                                                          for t in deletes}, function.id
        assert not {"dynamodb:BatchWriteItem", "dynamodb:Scan"} & {action for action, _ in granted}


def test_only_the_functions_that_release_claims_or_replace_items_may_delete():
    # Given the spec, Then DeleteItem belongs to the devices function (a revoked device's serial claim) and
    # referral intake (an ended episode's open-episode guard, its devices' claims): no other function
    deleters = {f.id: sorted(a.table for a in f.tables if "DeleteItem" in a.actions) for f in SPEC.functions}
    assert {f: tables for f, tables in deleters.items() if tables} == {
        "devices": ["citizens"], "referral-intake": ["citizens", "episodes"]}


def test_the_outbox_reads_its_stream_and_hands_failures_to_its_failure_queue(dev):
    # Given the upload-outbox function and its event source mapping
    grants = _grants(dev.template, "upload-outbox")
    uploads, _ = tagged(dev.template, "AWS::DynamoDB::Table", "table")["uploads"]
    failures, _ = tagged(dev.template, "AWS::SQS::Queue", "queue")["upload-outbox-failures"]
    # Then it may read the uploads stream (and nothing else's) and send to its failure queue
    assert grants["dynamodb:GetRecords"] == {uploads}
    assert failures in grants["sqs:SendMessage"]
    # And the function and its stream mapping are created only after its policy, as Lambda checks
    # a mapping's permissions when it creates it
    logical_id, function = tagged(dev.template, "AWS::Lambda::Function", "function")["upload-outbox"]
    policy = next(
        lid
        for lid, p in resources(dev.template, "AWS::IAM::ManagedPolicy").items()
        if logical_id_of(function["Properties"]["Role"]) in references(p["Properties"]["Roles"])
    )
    (mapping,) = [
        m for m in resources(dev.template, "AWS::Lambda::EventSourceMapping").values()
        if logical_id_of(m["Properties"]["FunctionName"]) == logical_id
    ]
    assert policy in function["DependsOn"]
    assert policy in mapping["DependsOn"]


def test_the_outbox_recovery_reads_the_uploads_stream_and_table_and_sends_only_to_measurements(dev):
    # Given the upload-outbox-recovery function's grants
    grants = _grants(dev.template, "upload-outbox-recovery")
    uploads, _ = tagged(dev.template, "AWS::DynamoDB::Table", "table")["uploads"]
    queues = {qid: lid for qid, (lid, _) in tagged(dev.template, "AWS::SQS::Queue", "queue").items()}
    # Then it reads the uploads stream by position, on that stream's ARN alone, without listing streams
    assert grants["dynamodb:GetShardIterator"] == grants["dynamodb:GetRecords"] == {uploads}
    assert not {"dynamodb:ListStreams", "dynamodb:DescribeStream"} & set(grants)
    # And reads the uploads by key and their arrival index (by name), writing nothing
    assert grants["dynamodb:BatchGetItem"] == {uploads}
    assert grants["dynamodb:Query"] == {f"{uploads}/index/by-received-hour"}
    assert not TABLE_WRITES & set(grants)
    # And consumes the outbox's failure queue and sends to the measurements queue only
    assert grants["sqs:ReceiveMessage"] == {queues["upload-outbox-failures"]}
    assert grants["sqs:SendMessage"] == {queues["measurements"]}


def test_no_role_has_an_inline_policy(stage):
    # Given the stage's IAM, Then permissions live in customer-managed policies (HIPAA IAMNoInlinePolicy)
    assert resources(stage.template, "AWS::IAM::Policy") == {}
    for role in resources(stage.template, "AWS::IAM::Role").values():
        assert "Policies" not in role["Properties"]


def test_only_the_authorizer_is_told_which_roles_may_call_which_route(dev):
    # Given the synthesized functions
    functions = tagged(dev.template, "AWS::Lambda::Function", "function")
    # Then the authorizer's environment carries the spec's routes and roles, and no other function's does
    for function_id, (_, function) in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        if function_id == SPEC.authorizer:
            assert variables[ROUTE_ROLES_ENV] == route_roles(SPEC.routes)
        else:
            assert ROUTE_ROLES_ENV not in variables, function_id


@pytest.mark.parametrize(("outbox", "failures"), [("evaluation-outbox", "evaluation-outbox-failures"),
                                                  ("alarm-outbox", "alarm-outbox-failures")])
def test_the_evaluations_outboxes_get_only_the_event_inserts_and_hand_failures_to_their_own_queue(
        dev, outbox, failures):
    # Given an outbox of the evaluations table and its stream mapping
    logical_id, _ = tagged(dev.template, "AWS::Lambda::Function", "function")[outbox]
    evaluations, _ = tagged(dev.template, "AWS::DynamoDB::Table", "table")["evaluations"]
    queues = {qid: lid for qid, (lid, _) in tagged(dev.template, "AWS::SQS::Queue", "queue").items()}
    (mapping,) = [
        m["Properties"] for m in resources(dev.template, "AWS::Lambda::EventSourceMapping").values()
        if logical_id_of(m["Properties"]["FunctionName"]) == logical_id
    ]
    # Then it reads the evaluations stream, and Lambda passes on only INSERTs of EVENT items
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [evaluations, "StreamArn"]}
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}}}
    # And a batch it gives up on goes to its own failure queue, records reported one by one
    assert logical_id_of(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == queues[failures]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True


def test_the_alarm_outbox_and_its_recovery_publish_to_the_clinical_alarms_topic_only(dev):
    # Given the alarm outbox and its recovery
    topics = {tid: lid for tid, (lid, _) in tagged(dev.template, "AWS::SNS::Topic", "topic").items()}
    queues = {qid: lid for qid, (lid, _) in tagged(dev.template, "AWS::SQS::Queue", "queue").items()}
    data_key, _ = tagged(dev.template, "AWS::KMS::Key", "key")["data"]
    for function_id in ("alarm-outbox", "alarm-outbox-recovery"):
        grants = _grants(dev.template, function_id)
        # Then each may publish to the clinical-alarms topic alone, and use the data key it is encrypted with
        assert grants["sns:Publish"] == {topics["clinical-alarms"]}, function_id
        assert data_key in grants["kms:GenerateDataKey"] and data_key in grants["kms:Decrypt"], function_id
        # And sends to no queue but, for the outbox, its failure queue, and writes no table
        assert grants.get("sqs:SendMessage", set()) <= {queues["alarm-outbox-failures"]}, function_id
        assert not TABLE_WRITES & set(grants), function_id


def test_the_evaluation_outbox_and_its_recovery_send_to_the_evaluated_uploads_queue_and_publish_nothing(dev):
    # Given the evaluation outbox and its recovery
    queues = {qid: lid for qid, (lid, _) in tagged(dev.template, "AWS::SQS::Queue", "queue").items()}
    evaluations, _ = tagged(dev.template, "AWS::DynamoDB::Table", "table")["evaluations"]
    outbox, recovery = (_grants(dev.template, f) for f in ("evaluation-outbox", "evaluation-outbox-recovery"))
    # Then the outbox sends to the queue (and its failure queue), the recovery to the queue alone
    assert outbox["sqs:SendMessage"] == {queues["evaluated-uploads"], queues["evaluation-outbox-failures"]}
    assert recovery["sqs:SendMessage"] == {queues["evaluated-uploads"]}
    assert "sns:Publish" not in outbox and "sns:Publish" not in recovery
    # And the recovery reads the evaluations stream by position and the events by their index, writing nothing
    assert recovery["dynamodb:GetShardIterator"] == recovery["dynamodb:GetRecords"] == {evaluations}
    assert recovery["dynamodb:Query"] == {f"{evaluations}/index/by-evaluated-hour"}
    assert not TABLE_WRITES & set(recovery)
