"""Hand-offs: the spec's queues (each with its dead-letter queue), topics, subscriptions, and an
alarm on every queue that holds failures. The sharing subscribers' queues and subscriptions are built
by infrastructure/sharing.py, each with a key of its own, from the same queue builder and alarm."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure.config import StageConfig
from infrastructure.naming import pascal, tag_from_spec
from infrastructure.resource_spec import ALARM_TOPIC, QueueSpec, ResourceSpec, SubscriptionSpec

# Lambda's advice for SQS sources; above it a poison message is retried needlessly long.
MAX_RECEIVE_COUNT = 5
# The longest SQS keeps a message: a dead letter keeps its original enqueue time, so its queue
# must keep messages at least as long as any source queue.
DEAD_LETTER_RETENTION = Duration.days(14)


class Messaging(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: ResourceSpec, config: StageConfig, key: kms.Key,
    ):
        super().__init__(scope, construct_id)
        self._spec = spec
        self._key = key
        self._removal = RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY
        self._sns_may_use_key = False
        self.topics = {topic.id: self._topic(topic.id) for topic in spec.topics}
        self.alarm_topic = self.topics[ALARM_TOPIC]
        if config.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        # The sharing subscribers' queues are built with their own keys (infrastructure/sharing.py).
        subscriber_queues = {subscriber.queue.id for subscriber in spec.sharing_subscribers}
        for queue_spec in spec.queues:
            if queue_spec.id not in subscriber_queues:
                self.queues[queue_spec.id], self.dead_letter_queues[queue_spec.id] = queue_with_dead_letters(
                    self, queue_spec, spec, key=key, removal=self._removal,
                )
        for subscription in spec.subscriptions:
            if subscription.queue not in subscriber_queues:
                self._subscribe(subscription)
        failure_destinations = {f.stream_source.on_failure_queue for f in spec.functions if f.stream_source}
        for queue_id, queue in self.queues.items():
            if queue_id in failure_destinations:
                alarm_on_messages(
                    self, queue_id, queue, "records a stream consumer gave up on", self.alarm_topic,
                )
        for queue_id, dead_letter_queue in self.dead_letter_queues.items():
            dlq_id = self._spec.queue(queue_id).dlq_id
            alarm_on_messages(
                self, dlq_id, dead_letter_queue, f"messages {queue_id} could not process", self.alarm_topic,
            )

    def _topic(self, topic_id: str) -> sns.Topic:
        topic = sns.Topic(self, f"{pascal(topic_id)}Topic", master_key=self._key, enforce_ssl=True)
        tag_from_spec(topic, "topic", topic_id)
        return topic

    def _subscribe(self, subscription: SubscriptionSpec) -> None:
        """An SQS subscription, with the queue policy and key policy SNS needs to deliver to an
        encrypted queue. Not SqsSubscription: it would scope the key policy to the topic's ARN, and
        as topic and queue share the data key, key and topic would then depend on each other."""
        topic, queue = self.topics[subscription.topic], self.queues[subscription.queue]
        sns.Subscription(
            self, f"{pascal(subscription.topic)}To{pascal(subscription.queue)}",
            topic=topic,
            endpoint=queue.queue_arn,
            protocol=sns.SubscriptionProtocol.SQS,
            raw_message_delivery=True,
            filter_policy=filter_policy_of(subscription),
        )
        queue.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("sns.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": topic.topic_arn}},
        ))
        if not self._sns_may_use_key:
            self._key.add_to_resource_policy(iam.PolicyStatement(
                sid="SnsDeliversToEncryptedQueuesOfThisAccount",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ))
            self._sns_may_use_key = True



def filter_policy_of(subscription: SubscriptionSpec) -> dict[str, sns.SubscriptionFilter] | None:
    return {
        name: sns.SubscriptionFilter(conditions=list(conditions))
        for name, conditions in subscription.filter_policy.items()
    } or None


def queue_with_dead_letters(
    scope: Construct, spec: QueueSpec, resource_spec: ResourceSpec, *, key: kms.IKey, removal: RemovalPolicy,
) -> tuple[sqs.Queue, sqs.Queue]:
    """A queue of the spec and its dead-letter queue, both encrypted with ``key`` and SSL only."""
    if not 1 <= spec.max_receive_count <= MAX_RECEIVE_COUNT:
        raise ValueError(f"queue {spec.id}: max_receive_count must be 1..{MAX_RECEIVE_COUNT}")
    dead_letter_queue = sqs.Queue(
        scope, f"{pascal(spec.dlq_id)}Queue",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
        removal_policy=removal,
    )
    queue = sqs.Queue(
        scope, f"{pascal(spec.id)}Queue",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        retention_period=Duration.days(spec.retention_days),
        visibility_timeout=Duration.seconds(resource_spec.visibility_timeout_seconds(spec.id)),
        dead_letter_queue=sqs.DeadLetterQueue(
            queue=dead_letter_queue, max_receive_count=spec.max_receive_count,
        ),
        removal_policy=removal,
    )
    tag_from_spec(dead_letter_queue, "queue", spec.dlq_id)
    tag_from_spec(queue, "queue", spec.id)
    return queue, dead_letter_queue


def alarm_on_messages(
    scope: Construct, queue_id: str, queue: sqs.IQueue, holds: str, alarm_topic: sns.ITopic,
    then: str = "inspect, fix and redrive them",
) -> cloudwatch.Alarm:
    """Any message visible at all: each one is a failure someone must look at (and redrive)."""
    alarm = cloudwatch.Alarm(
        scope, f"{pascal(queue_id)}NotEmptyAlarm",
        alarm_description=f"Telehub queue {queue_id} holds {holds}; {then}.",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM,
        ),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    notify_operations(alarm, alarm_topic)
    return alarm


def notify_operations(alarm: cloudwatch.Alarm, alarm_topic: sns.ITopic) -> None:
    """The operations topic hears when the alarm fires and when it clears."""
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
    alarm.add_ok_action(cloudwatch_actions.SnsAction(alarm_topic))
