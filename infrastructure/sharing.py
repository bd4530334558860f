"""Cross-sector sharing's subscribers (docs/sharing.md, docs/deployment.md): per subscribing organisation
of the stage's config, its own queue and dead-letter queue on the sharing topic, filtered on the message's
``recipients``, encrypted with a key of its own that only SNS (from the sharing topic) and the subscriber's
account (through SQS) may use, and alarmed when messages die or the subscriber stops reading.

The queues live in the stage's account, so a region reads its queue across accounts with its own
credentials: the queue policy and the key policy name its account, and nothing else may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure.config import StageConfig
from infrastructure.data import administration_statement, via_service
from infrastructure.messaging import (
    alarm_on_messages,
    filter_policy_of,
    notify_operations,
    queue_with_dead_letters,
)
from infrastructure.naming import pascal, tag_from_spec
from infrastructure.resource_spec import ResourceSpec, SharingSubscriber

# What SNS needs of an encrypted queue's key to deliver to it (and to its dead-letter queue).
SNS_DELIVERY_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")
# Reading a queue: receive, delete what was handled, hold a message longer, see the depth and the URL.
SUBSCRIBER_QUEUE_ACTIONS = (
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
# A subscriber that stopped reading: the oldest message has waited this long (it is lost after 14 days).
STOPPED_READING_AFTER = Duration.days(1)


@dataclass(frozen=True)
class SubscriberDelivery:
    """What a subscriber reads: its queue, its dead-letter queue and the key both are encrypted with."""

    subscriber: SharingSubscriber
    queue: sqs.Queue
    dead_letter_queue: sqs.Queue
    key: kms.Key


class Sharing(Construct):
    """One ``SubscriberDelivery`` per sharing subscriber of the spec, by organisation."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        spec: ResourceSpec, config: StageConfig, topic: sns.ITopic, alarm_topic: sns.ITopic,
    ):
        super().__init__(scope, construct_id)
        self._spec, self._config, self._topic, self._alarm_topic = spec, config, topic, alarm_topic
        self._removal = RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY
        self.deliveries = {
            subscriber.organisation: self._delivery(subscriber) for subscriber in spec.sharing_subscribers
        }

    def _delivery(self, subscriber: SharingSubscriber) -> SubscriberDelivery:
        scope = Construct(self, f"Subscriber{pascal(subscriber.organisation)}")
        reader = iam.AccountPrincipal(subscriber.account_id or Stack.of(self).account)
        key = self._key(scope, subscriber, reader)
        queue, dead_letter_queue = queue_with_dead_letters(
            scope, self._spec.queue(subscriber.queue.id), self._spec, key=key, removal=self._removal,
        )
        queue.add_to_resource_policy(iam.PolicyStatement(
            sid="SnsDeliversFromTheSharingTopicOnly",
            principals=[iam.ServicePrincipal("sns.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": self._topic.topic_arn}},
        ))
        # The subscriber reads its dead letters the same way (its data; Telehub cannot decrypt them).
        for readable in (queue, dead_letter_queue):
            readable.add_to_resource_policy(iam.PolicyStatement(
                sid="TheSubscriberReads",
                principals=[reader],
                actions=list(SUBSCRIBER_QUEUE_ACTIONS),
                resources=[readable.queue_arn],
            ))
        subscription = subscriber.subscription
        # CDK adds the dead-letter queue's policy for SNS (SendMessage, from this topic only) itself.
        sns.Subscription(
            scope, "Subscription",
            topic=self._topic,
            endpoint=queue.queue_arn,
            protocol=sns.SubscriptionProtocol.SQS,
            raw_message_delivery=True,
            filter_policy=filter_policy_of(subscription),
            dead_letter_queue=dead_letter_queue,
        )
        alarm_on_messages(
            scope, self._spec.queue(subscription.queue).dlq_id, dead_letter_queue,
            f"shared data SNS could not deliver or {subscriber.organisation}'s reader failed on",
            self._alarm_topic,
            then=f"check the key and queue policies; {subscriber.organisation} reads its dead letters there",
        )
        self._alarm_on_stopped_reading(scope, subscription.queue, queue, subscriber)
        return SubscriberDelivery(subscriber, queue, dead_letter_queue, key)

    def _key(self, scope: Construct, subscriber: SharingSubscriber, reader: iam.IPrincipal) -> kms.Key:
        """A key only SNS (delivering from the sharing topic) and the subscriber (reading through SQS) use;
        the stage's account administers it and cannot use it (the stack's other keys' administration)."""
        policy = iam.PolicyDocument(statements=[
            administration_statement(),
            iam.PolicyStatement(
                sid="SnsDeliversFromTheSharingTopicOnly",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=list(SNS_DELIVERY_ACTIONS),
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": self._topic.topic_arn}},
            ),
            iam.PolicyStatement(
                sid="TheSubscriberDecryptsThroughSqsOnly",
                principals=[reader],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": via_service(self, "sqs")}},
            ),
        ])
        key = kms.Key(
            scope, "Key",
            description=f"Telehub {self._config.stage}: encrypts the shared data queued for "
                        f"{subscriber.organisation}",
            alias=f"alias/telehub/{self._config.stage}/{subscriber.queue.id}",
            enable_key_rotation=True,
            policy=policy,
            pending_window=Duration.days(30 if self._config.retains_data else 7),
            removal_policy=self._removal,
        )
        tag_from_spec(key, "sharing-key", subscriber.organisation)
        return key

    def _alarm_on_stopped_reading(
        self, scope: Construct, queue_id: str, queue: sqs.Queue, subscriber: SharingSubscriber,
    ) -> None:
        alarm = cloudwatch.Alarm(
            scope, f"{pascal(queue_id)}StoppedReadingAlarm",
            alarm_description=(
                f"Telehub queue {queue_id}: {subscriber.organisation} has read nothing for "
                f"{STOPPED_READING_AFTER.to_hours():.0f} hours; the messages are lost after 14 days. "
                "Tell the organisation; its reader has stopped."
            ),
            metric=queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM,
            ),
            threshold=STOPPED_READING_AFTER.to_seconds(),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        notify_operations(alarm, self._alarm_topic)
