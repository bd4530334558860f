"""Queues, dead-letter queues, the alarm topic and the alarms on everything that holds failures."""

from __future__ import annotations

from infrastructure.resource_spec import ALARM_TOPIC, SPEC
from tests.support.cdk_templates import as_list, logical_id_of, resources, tagged
from tests.support.specs import VARIANT_SPEC


def _denies_insecure_transport(template, policy_type: str, target: str) -> bool:
    for policy in resources(template, policy_type).values():
        attached = policy["Properties"].get("Queues", policy["Properties"].get("Topics", []))
        if {"Ref": target} not in attached:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                return True
    return False


def test_every_queue_is_encrypted_ssl_only_and_redrives_within_five_receives(stage):
    # Given a stage's queues (a sharing subscriber's on a key of its own: test_sharing.py)
    data_key, _ = tagged(stage.template, "AWS::KMS::Key", "key")["data"]
    sharing_keys = {key for key, _ in tagged(stage.template, "AWS::KMS::Key", "sharing-key").values()}
    queues = tagged(stage.template, "AWS::SQS::Queue", "queue")
    for queue_id, (logical_id, queue) in queues.items():
        properties = queue["Properties"]
        # Then each is encrypted with the data key or a sharing key, and refuses requests without TLS
        assert logical_id_of(properties["KmsMasterKeyId"]) in {data_key, *sharing_keys}, queue_id
        assert _denies_insecure_transport(stage.template, "AWS::SQS::QueuePolicy", logical_id), queue_id
        # And each queue that is not itself a dead-letter queue redrives after at most 5 receives
        if not queue_id.endswith("-dlq"):
            assert 1 <= properties["RedrivePolicy"]["maxReceiveCount"] <= 5, queue_id


def test_visibility_timeout_is_at_least_six_times_the_consumers_timeout(variant):
    # Given a spec where a function consumes a queue (the variant: region-sharing, 20 s)
    queues = tagged(variant.template, "AWS::SQS::Queue", "queue")
    for queue in VARIANT_SPEC.queues:
        consumer = VARIANT_SPEC.consumer_of(queue.id)
        visibility = queues[queue.id][1]["Properties"]["VisibilityTimeout"]
        # Then a message stays invisible for at least six of the consumer's timeouts
        assert visibility >= 6 * (consumer.timeout_seconds if consumer else 10), queue.id
    assert queues["region-dk81"][1]["Properties"]["VisibilityTimeout"] == 120


def test_every_dead_letter_and_failure_queue_raises_an_alarm_to_operations(stage):
    # Given the queues that hold failures: every DLQ and every stream's on-failure queue
    queues = tagged(stage.template, "AWS::SQS::Queue", "queue")
    failure_queues = {q.dlq_id for q in SPEC.queues} | {
        f.stream_source.on_failure_queue for f in SPEC.functions if f.stream_source
    }
    alarm_topic, _ = tagged(stage.template, "AWS::SNS::Topic", "topic")[ALARM_TOPIC]
    alarms = resources(stage.template, "AWS::CloudWatch::Alarm").values()
    for queue_id in failure_queues:
        logical_id = queues[queue_id][0]
        # Then an alarm fires on a single visible message and notifies the operations topic
        matching = [
            alarm["Properties"]
            for alarm in alarms
            if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and logical_id_of(alarm["Properties"]["Dimensions"][0]["Value"]) == logical_id
        ]
        assert len(matching) == 1, f"{queue_id} has {len(matching)} depth alarms"
        alarm = matching[0]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert [logical_id_of(action) for action in alarm["AlarmActions"]] == [alarm_topic]


def test_the_alarm_topic_is_encrypted_and_ssl_only(stage):
    # Given the operations topic
    logical_id, topic = tagged(stage.template, "AWS::SNS::Topic", "topic")[ALARM_TOPIC]
    data_key, _ = tagged(stage.template, "AWS::KMS::Key", "key")["data"]
    # Then it is encrypted with the data key and refuses publishing without TLS
    assert logical_id_of(topic["Properties"]["KmsMasterKeyId"]) == data_key
    assert _denies_insecure_transport(stage.template, "AWS::SNS::TopicPolicy", logical_id)


def test_prod_alarms_reach_the_operations_mailbox(prod, dev):
    # Given the stage configs, Then prod subscribes its alarm e-mail and dev (none configured) does not
    def emails(template):
        return [
            s["Properties"]["Endpoint"]
            for s in resources(template, "AWS::SNS::Subscription").values()
            if s["Properties"]["Protocol"] == "email"
        ]

    assert emails(prod.template) == [prod.config.alarm_email]
    assert emails(dev.template) == []


def test_sns_may_deliver_to_a_subscribed_queue_only_from_its_topic(variant):
    # Given the variant's subscription regional-feed -> region-dk81
    topic, _ = tagged(variant.template, "AWS::SNS::Topic", "topic")["regional-feed"]
    queue, _ = tagged(variant.template, "AWS::SQS::Queue", "queue")["region-dk81"]
    statements = [
        statement
        for policy in resources(variant.template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue} in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    # Then the only Allow on the queue is SNS sending, conditioned on that topic
    assert len(statements) == 1
    assert statements[0]["Principal"] == {"Service": "sns.amazonaws.com"}
    assert as_list(statements[0]["Action"]) == ["sqs:SendMessage"]
    assert logical_id_of(statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == topic


def test_the_clinical_alarms_topic_is_encrypted_and_ssl_only(stage):
    # Given the topic the monitoring organisations' systems subscribe to
    logical_id, topic = tagged(stage.template, "AWS::SNS::Topic", "topic")["clinical-alarms"]
    data_key, _ = tagged(stage.template, "AWS::KMS::Key", "key")["data"]
    # Then alarms are encrypted at rest with the data key, and nobody may publish without TLS
    assert logical_id_of(topic["Properties"]["KmsMasterKeyId"]) == data_key
    assert _denies_insecure_transport(stage.template, "AWS::SNS::TopicPolicy", logical_id)
