"""Cross-sector sharing's subscribers, as the stage config makes them: per subscriber a queue, its DLQ, a
key only SNS (from the sharing topic) and the subscriber's account (through SQS) may use, a filtered
subscription, alarms and an output; the stage's shared types; the publisher's grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES, load_stage_config
from infrastructure.data import KEY_ADMINISTRATION_ACTIONS
from infrastructure.resource_spec import ALARM_TOPIC, SHARED_TYPES_ENV, SHARING_TOPIC, SPEC
from infrastructure.sharing import SUBSCRIBER_QUEUE_ACTIONS
from tests.support.cdk_templates import (
    Synthesized,
    as_list,
    logical_id_of,
    policy_statements,
    references,
    render,
    resources,
    synthesize_spec,
    tagged,
)

CROSS_ACCOUNT = "111122223333"  # dev's example of a region reading from its own account
STAGE_ACCOUNT = "arn:aws:iam::AWS::AccountId:root"  # as rendered: the account the stack is deployed in


@pytest.fixture(scope="module")
def one_subscriber(tmp_path_factory) -> Synthesized:
    """dev with its first subscriber only."""
    dev = load_stage_config("dev")
    config = dev.model_copy(update={"sharing": dev.sharing.model_copy(
        update={"subscribers": dev.sharing.subscribers[:1]})})
    return synthesize_spec(
        SPEC, "dev", tmp_path_factory.mktemp("cdk-one-subscriber"), config=config, stack_name="Telehub-dev",
    )


def _subscribers(synthesized: Synthesized) -> dict[str, str | None]:
    return {s.organisation: s.account_id for s in synthesized.config.sharing.subscribers}


def _account(principal: dict[str, Any]) -> str:
    """The account an AWS principal names, as text."""
    return render(principal["AWS"])


def _reader(account_id: str | None) -> str:
    return f"arn:aws:iam::{account_id}:root" if account_id else STAGE_ACCOUNT


def _allows(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for statement in policy_document["Statement"] if statement["Effect"] == "Allow"]


def _queue_policy_allows(template: dict[str, Any], queue_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_logical_id} in policy["Properties"]["Queues"]
        for statement in _allows(policy["Properties"]["PolicyDocument"])
    ]


def test_dev_configures_a_same_account_and_a_cross_account_subscriber(dev):
    # Given dev's config, Then one subscriber reads in the stage's own account and one from another
    assert sorted(_subscribers(dev).values(), key=str) == [CROSS_ACCOUNT, None]


def test_each_subscriber_has_its_own_queue_dead_letter_queue_key_subscription_and_alarms(dev):
    # Given dev's subscribers
    queues = tagged(dev.template, "AWS::SQS::Queue", "queue")
    keys = tagged(dev.template, "AWS::KMS::Key", "sharing-key")
    topic, _ = tagged(dev.template, "AWS::SNS::Topic", "topic")[SHARING_TOPIC]
    alarm_topic, _ = tagged(dev.template, "AWS::SNS::Topic", "topic")[ALARM_TOPIC]
    assert set(keys) == set(_subscribers(dev))
    for organisation in _subscribers(dev):
        queue, dead_letters = queues[f"sharing-{organisation}"], queues[f"sharing-{organisation}-dlq"]
        key = keys[organisation][0]
        # Then its queue and DLQ are encrypted with its own rotating key, keep 14 days, and redrive after 5
        for _, resource in (queue, dead_letters):
            assert logical_id_of(resource["Properties"]["KmsMasterKeyId"]) == key
            assert resource["Properties"]["MessageRetentionPeriod"] == 14 * 86400
        assert keys[organisation][1]["Properties"]["EnableKeyRotation"] is True
        assert queue[1]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
        assert queue[1]["Properties"]["VisibilityTimeout"] == 60
        # And one raw subscription to the sharing topic takes only messages naming it among the recipients,
        # keeping what SNS cannot deliver in the DLQ
        [subscription] = [
            s["Properties"] for s in resources(dev.template, "AWS::SNS::Subscription").values()
            if logical_id_of(s["Properties"]["Endpoint"]) == queue[0]
        ]
        assert logical_id_of(subscription["TopicArn"]) == topic
        assert subscription["FilterPolicy"] == {"recipients": [organisation]}
        assert subscription["RawMessageDelivery"] is True
        assert logical_id_of(subscription["RedrivePolicy"]["deadLetterTargetArn"]) == dead_letters[0]
        # And operations hear of a dead letter at once, and of a message a day old (the reader stopped); the
        # age of its dead letters is one of the Operations construct's alarms (test_operations.py)
        alarms = {
            alarm["Properties"]["MetricName"]: alarm["Properties"]
            for logical_id, alarm in resources(dev.template, "AWS::CloudWatch::Alarm").items()
            if logical_id.startswith("Sharing")
            and logical_id_of(alarm["Properties"]["Dimensions"][0]["Value"]) in {queue[0], dead_letters[0]}
        }
        assert set(alarms) == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}
        not_empty = alarms["ApproximateNumberOfMessagesVisible"]
        stopped = alarms["ApproximateAgeOfOldestMessage"]
        assert logical_id_of(not_empty["Dimensions"][0]["Value"]) == dead_letters[0]
        assert (not_empty["Threshold"], not_empty["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert logical_id_of(stopped["Dimensions"][0]["Value"]) == queue[0]
        assert (stopped["Threshold"], stopped["ComparisonOperator"]) == (86400, "GreaterThanThreshold")
        for alarm in alarms.values():
            assert [logical_id_of(action) for action in alarm["AlarmActions"]] == [alarm_topic]


def test_the_key_lets_sns_deliver_from_the_sharing_topic_and_only_the_subscriber_decrypt_through_sqs(dev):
    # Given each subscriber's key policy
    topic, _ = tagged(dev.template, "AWS::SNS::Topic", "topic")[SHARING_TOPIC]
    keys = tagged(dev.template, "AWS::KMS::Key", "sharing-key")
    for organisation, account_id in _subscribers(dev).items():
        statements = {s["Sid"]: s for s in _allows(keys[organisation][1]["Properties"]["KeyPolicy"])}
        # Then the stage's account administers it without being able to use it
        administration = statements.pop("TheAccountAdministersTheKey")
        assert _account(administration["Principal"]) == STAGE_ACCOUNT
        assert sorted(as_list(administration["Action"])) == sorted(KEY_ADMINISTRATION_ACTIONS)
        # And SNS may use it to deliver, from the sharing topic only
        sns = statements.pop("SnsDeliversFromTheSharingTopicOnly")
        assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
        assert sorted(as_list(sns["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert logical_id_of(sns["Condition"]["ArnEquals"]["aws:SourceArn"]) == topic
        # And the subscriber's account (the stage's own if none is configured) may decrypt, through SQS only
        reader = statements.pop("TheSubscriberDecryptsThroughSqsOnly")
        assert _account(reader["Principal"]) == _reader(account_id)
        assert as_list(reader["Action"]) == ["kms:Decrypt"]
        via_sqs = f"sqs.{dev.config.region}.amazonaws.com"
        assert reader["Condition"] == {"StringEquals": {"kms:ViaService": via_sqs}}
        # And nothing else: no other principal, no other statement
        assert statements == {}


def test_the_queue_policies_let_sns_send_from_the_sharing_topic_and_the_subscriber_read(dev):
    # Given each subscriber's queue and dead-letter queue
    topic, _ = tagged(dev.template, "AWS::SNS::Topic", "topic")[SHARING_TOPIC]
    queues = tagged(dev.template, "AWS::SQS::Queue", "queue")
    for organisation, account_id in _subscribers(dev).items():
        for queue_id in (f"sharing-{organisation}", f"sharing-{organisation}-dlq"):
            allows = _queue_policy_allows(dev.template, queues[queue_id][0])
            # Then two principals are allowed: SNS sending from the sharing topic, the subscriber reading
            [sns] = [s for s in allows if s["Principal"] == {"Service": "sns.amazonaws.com"}]
            assert as_list(sns["Action"]) == ["sqs:SendMessage"]
            assert logical_id_of(sns["Condition"]["ArnEquals"]["aws:SourceArn"]) == topic
            [reader] = [s for s in allows if s is not sns]
            assert _account(reader["Principal"]) == _reader(account_id)
            assert sorted(as_list(reader["Action"])) == sorted(SUBSCRIBER_QUEUE_ACTIONS)
            assert logical_id_of(reader["Resource"]) == queues[queue_id][0]


def test_no_subscriber_queue_uses_the_data_key_and_no_function_uses_a_subscriber_key(dev):
    # Given the data key and the subscribers' keys
    data_key, _ = tagged(dev.template, "AWS::KMS::Key", "key")["data"]
    sharing_keys = {key for key, _ in tagged(dev.template, "AWS::KMS::Key", "sharing-key").values()}
    queues = tagged(dev.template, "AWS::SQS::Queue", "queue")
    # Then no subscriber's queue is on the data key
    for queue_id, (_, queue) in queues.items():
        if queue_id.startswith("sharing-"):
            assert logical_id_of(queue["Properties"]["KmsMasterKeyId"]) != data_key, queue_id
    # And no IAM policy of Telehub's (the functions', the API's) names a subscriber's key
    for policy in [*resources(dev.template, "AWS::IAM::ManagedPolicy").values(),
                   *resources(dev.template, "AWS::IAM::Policy").values()]:
        assert not references(policy["Properties"]["PolicyDocument"]) & sharing_keys


def test_each_subscriber_gets_one_output_with_what_its_account_reads_with(dev):
    # Given dev's outputs
    queues = tagged(dev.template, "AWS::SQS::Queue", "queue")
    keys = tagged(dev.template, "AWS::KMS::Key", "sharing-key")
    for organisation in _subscribers(dev):
        output = dev.template["Outputs"][f"SharingSubscriber{organisation}"]["Value"]
        # Then it is a JSON object of the queue's and the DLQ's URL and ARN and the key's ARN
        rendered = "".join(part if isinstance(part, str) else f"<{logical_id_of(part)}>"
                           for part in output["Fn::Join"][1])
        queue, dead_letters = queues[f"sharing-{organisation}"][0], queues[f"sharing-{organisation}-dlq"][0]
        assert json.loads(rendered) == {
            "queue_url": f"<{queue}>", "queue_arn": f"<{queue}>",
            "dead_letter_queue_url": f"<{dead_letters}>", "dead_letter_queue_arn": f"<{dead_letters}>",
            "key_arn": f"<{keys[organisation][0]}>",
        }


def test_adding_a_subscriber_adds_exactly_its_set_and_changes_nothing_else(dev, one_subscriber):
    # Given dev with its first subscriber only, and dev with both
    one, two = one_subscriber.template["Resources"], dev.template["Resources"]
    # When the second is added
    added = {logical_id: two[logical_id]["Type"] for logical_id in set(two) - set(one)}
    # Then nothing is removed, and exactly the second's queue, DLQ, their policies, key, alias, subscription
    # and three alarms (the third, on its DLQ's oldest message, is the Operations construct's) are added
    assert set(one) <= set(two)
    assert sorted(added.values()) == sorted([
        "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SQS::Queue", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
        "AWS::SQS::QueuePolicy", "AWS::SNS::Subscription", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Alarm",
    ])
    second = dev.config.sharing.subscribers[1].organisation
    assert all(logical_id.startswith((f"SharingSubscriber{second}", f"OperationsSharing{second}Dlq"))
               for logical_id in added)
    # And every resource the two share is the same but the dashboard, which shows the new queues and alarms;
    # and there is one output more
    changed = [logical_id for logical_id in one if one[logical_id] != two[logical_id]]
    assert [one[logical_id]["Type"] for logical_id in changed] == ["AWS::CloudWatch::Dashboard"]
    outputs_added = set(dev.template["Outputs"]) - set(one_subscriber.template["Outputs"])
    assert outputs_added == {f"SharingSubscriber{second}"}


def test_prod_has_no_subscriber_until_its_owner_adds_one(prod):
    # Given prod's config (no subscriber yet), Then it builds no subscriber's queue or key
    assert tagged(prod.template, "AWS::KMS::Key", "sharing-key") == {}
    queues = tagged(prod.template, "AWS::SQS::Queue", "queue")
    assert [queue_id for queue_id in queues if queue_id.startswith("sharing-")] == []


def _function(synthesized: Synthesized, function_id: str) -> dict[str, Any]:
    return tagged(synthesized.template, "AWS::Lambda::Function", "function")[function_id][1]["Properties"]


def test_the_sharing_functions_get_the_stages_shared_types(stage):
    # Given the stage's functions
    expected = ",".join(stage.config.sharing.measurement_types)
    for function in SPEC.functions:
        environment = _function(stage, function.id)["Environment"]["Variables"]
        # Then those that share data carry the stage's list, and no other function does
        assert environment.get(SHARED_TYPES_ENV) == (expected if function.shares_data else None), function.id
    assert stage.config.sharing.measurement_types == COPD_SHARED_MEASUREMENT_TYPES


def test_the_publisher_may_publish_to_the_sharing_topic_with_the_data_key(dev):
    # Given the sharing publisher's role
    topic, _ = tagged(dev.template, "AWS::SNS::Topic", "topic")[SHARING_TOPIC]
    data_key, _ = tagged(dev.template, "AWS::KMS::Key", "key")["data"]
    role = logical_id_of(_function(dev, "sharing-publisher")["Role"])
    statements = policy_statements(dev.template, role)
    # Then it publishes to the sharing topic and no other
    published = [logical_id_of(resource) for s in statements if "sns:Publish" in as_list(s["Action"])
                 for resource in as_list(s["Resource"])]
    assert published == [topic]
    # And it may encrypt with the data key the topic is encrypted with (SNS calls KMS as the publisher)
    key_actions = {
        action for s in statements if data_key in references(s["Resource"]) for action in as_list(s["Action"])
    }
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= key_actions


@pytest.mark.parametrize(
    ("sharing", "complaint"),
    [
        ({"measurement_types": ["spo2", "peak_flow"]}, "peak_flow: not a catalogue type"),
        ({"measurement_types": ["spo2", "pulse", "spo2"]}, "each measurement type at most once"),
        ({"subscribers": [{"organisation": "615171000016009"}, {"organisation": "615171000016009"}]},
         "organisation 615171000016009 subscribes more than once"),
        ({"subscribers": [{"organisation": "615171000016009", "account_id": "11112222333"}]},
         "account_id"),
        ({"subscribers": [{"organisation": "DK-81"}]}, "organisation"),
        ({"subscribers": [{"organisation": "12345"}]}, "organisation"),
        ({"subscribers": [{"organisation": "615171000016009", "queue": "mine"}]}, "queue"),
    ],
    ids=["unknown type", "repeated type", "repeated organisation", "account id of 11 digits",
         "a region code is no organisation", "5 digits is neither SOR nor ydernummer", "unknown setting"],
)
def test_a_bad_sharing_section_is_refused_naming_what_is_wrong(tmp_path, sharing, complaint):
    # Given dev's config with one bad entry in its sharing section
    settings = json.loads(load_stage_config("dev").model_dump_json(exclude={"stage"}))
    settings["sharing"].update(sharing)
    (tmp_path / "staging.json").write_text(json.dumps(settings))
    # When it is loaded, Then it is refused, and the error names the entry
    with pytest.raises(ValidationError, match=complaint):
        load_stage_config("staging", tmp_path)


def test_a_ydernummer_and_the_catalogue_types_are_accepted(tmp_path):
    # Given a GP by its ydernummer and a catalogue type outside the COPD programme
    settings = json.loads(load_stage_config("dev").model_dump_json(exclude={"stage"}))
    settings["sharing"] = {"measurement_types": ["blood_glucose", "blood_pressure", "questionnaire"],
                           "subscribers": [{"organisation": "123456"}]}
    (tmp_path / "staging.json").write_text(json.dumps(settings))
    # When it is loaded, Then the subscriber and the types are the platform's
    config = load_stage_config("staging", tmp_path)
    assert [s.organisation for s in config.sharing_subscribers()] == ["123456"]
    shared = config.platform_settings().shared_measurement_types
    assert shared == ("blood_glucose", "blood_pressure", "questionnaire")
