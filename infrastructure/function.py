"""One Lambda function of the resource spec: its log group, its role with exactly the grants the
spec names, and its event source."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure.compliance import acknowledge, skip_checkov
from infrastructure.config import LOG_RETENTION_DAYS, StageConfig
from infrastructure.data import MAC_ALGORITHM, SIGNING_ALGORITHM, encryption_context_condition, via_service
from infrastructure.naming import tag_from_spec
from infrastructure.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME
from infrastructure.permissions import Resource, code_permissions
from infrastructure.resource_spec import FunctionSpec, ResourceSpec, StreamSource

# What Lambda's event source mappings do with the function's role.
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
QUEUE_CONSUME_ACTIONS = (
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
)
FAILURE_DESTINATION_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes")
# DynamoDB, SQS and SNS call KMS with the caller's credentials for what they keep encrypted with the data
# key: each only through that service (kms:ViaService), and only the actions that use needs. DynamoDB
# decrypts the table's key to read and also encrypts to write; SQS and SNS encrypt a message under a data
# key they generate, and decrypt it (or a cached one) to deliver or receive it.
DATA_KEY_TABLE_READ_ACTIONS = ("kms:Decrypt",)
DATA_KEY_TABLE_WRITE_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
DATA_KEY_SEND_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
DATA_KEY_RECEIVE_ACTIONS = ("kms:Decrypt",)
# Checkov's rule that a function's environment is encrypted with a customer-managed key.
CHECKOV_LAMBDA_ENVIRONMENT_KEY = "CKV_AWS_173"


@dataclass(frozen=True)
class PlatformResources:
    """What a function's grants and environment can name, by spec id."""

    tables: dict[str, dynamodb.Table]
    queues: dict[str, sqs.Queue]
    topics: dict[str, sns.Topic]
    keys: dict[str, kms.Key]
    data_key: kms.Key


class TelehubFunction(Construct):
    """The permissions are one customer-managed policy written from the spec. The function sees its
    role as immutable, so nothing CDK would grant implicitly (event sources, failure destinations)
    slips in beside it; the policy states those grants explicitly instead."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        spec: FunctionSpec, resource_spec: ResourceSpec, resources: PlatformResources,
        environment: dict[str, str], code: lambda_.Code, layer: lambda_.ILayerVersion, config: StageConfig,
    ):
        super().__init__(scope, construct_id)
        self.spec = spec
        self._resource_spec = resource_spec
        self._resources = resources
        self.log_group = logs.LogGroup(
            self, "Logs",
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[config.log_retention_days]],
            encryption_key=resources.data_key,
            removal_policy=RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Telehub {config.stage} {spec.id}: {spec.description}",
        )
        self.policy = iam.ManagedPolicy(
            self, "Policy", roles=[self.role],
            description=f"Telehub {config.stage} {spec.id}: exactly what the resource spec grants it",
        )
        # Per service (dynamodb, sqs, sns), the data key actions the function's use of it needs.
        self._data_key_uses: dict[str, set[str]] = {}
        self.function = lambda_.Function(
            self, "Function",
            description=spec.description,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[layer],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            reserved_concurrent_executions=self._reserved_concurrency(config),
            environment=environment,
            role=self.role.without_policy_updates(),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        # The function and its event source mappings exist only once the policy is attached
        # (Lambda checks a mapping's permissions when it is created).
        self.function.node.add_dependency(self.policy)
        tag_from_spec(self.function, "function", spec.id)
        self._allow(("logs:CreateLogStream", "logs:PutLogEvents"), [self.log_group.log_group_arn])
        self._grant_spec_access()
        self._add_event_sources(config)
        self._add_schedule()
        self._allow_data_key()
        self._acknowledge_platform_choices(config)

    def _grant_spec_access(self) -> None:
        """One statement per resource the code calls, with exactly the actions it calls there
        (infrastructure/permissions.py); a key used under an encryption context only on its condition."""
        spec = self.spec
        by_resource: dict[Resource, list[str]] = {}
        for permission in sorted(code_permissions(spec)):
            by_resource.setdefault(permission.resource, []).append(permission.action)
        for resource, actions in by_resource.items():
            self._allow(actions, [self._arn(resource)],
                        self._key_condition(resource.id) if resource.kind == "key" else None)
        if spec.tables or spec.appends_to_tables or spec.reads_streams:
            writes = spec.writes_tables or spec.appends_to_tables
            self._use_data_key(
                "dynamodb", DATA_KEY_TABLE_WRITE_ACTIONS if writes else DATA_KEY_TABLE_READ_ACTIONS,
            )
        if spec.sends_to_queues:
            self._use_data_key("sqs", DATA_KEY_SEND_ACTIONS)
        if spec.publishes_to_topics:
            self._use_data_key("sns", DATA_KEY_SEND_ACTIONS)

    def _key_condition(self, key_id: str) -> dict[str, Any] | None:
        """A key used directly is used only as Telehub uses it: under its encryption context, or with the
        one signing or MAC algorithm the code asks for (KMS checks the request's)."""
        key = self._resource_spec.key(key_id)
        if key.encryption_context:
            return encryption_context_condition(key.encryption_context)
        if key.usage == "SIGN_VERIFY":
            # IfExists: GetPublicKey (the authorizer's verification) names no algorithm.
            return {"StringEqualsIfExists": {"kms:SigningAlgorithm": SIGNING_ALGORITHM}}
        if key.usage == "GENERATE_VERIFY_MAC":
            return {"StringEquals": {"kms:MacAlgorithm": MAC_ALGORITHM}}
        return None

    def _arn(self, resource: Resource) -> str:
        resources = self._resources
        match resource.kind:
            case "table":
                return resources.tables[resource.id].table_arn
            case "index":
                return f"{resources.tables[resource.id].table_arn}/index/{resource.index}"
            case "stream":
                return self._stream_arn(resource.id)
            case "queue":
                return resources.queues[resource.id].queue_arn
            case "topic":
                return resources.topics[resource.id].topic_arn
            case "key":
                return resources.keys[resource.id].key_arn

    def _use_data_key(self, service: str, actions: tuple[str, ...]) -> None:
        self._data_key_uses.setdefault(service, set()).update(actions)

    def _allow_data_key(self) -> None:
        """The data key, through each service the function uses it by and for what that use needs only."""
        for service, actions in sorted(self._data_key_uses.items()):
            self._allow(sorted(actions), [self._resources.data_key.key_arn],
                        {"StringEquals": {"kms:ViaService": via_service(self, service)}})

    def _stream_arn(self, table_id: str) -> str:
        arn = self._resources.tables[table_id].table_stream_arn
        if arn is None:
            raise ValueError(f"table {table_id} has no stream to read")
        return arn

    def _allow(self, actions: Iterable[str], resources: list[str],
               conditions: dict[str, Any] | None = None) -> None:
        if actions and resources:
            self.policy.add_statements(iam.PolicyStatement(actions=list(actions), resources=resources,
                                                           conditions=conditions))

    def _reserved_concurrency(self, config: StageConfig) -> int | None:
        """A stream outbox's reservation, where the stage makes one: its records expire after 24 hours, so
        an API storm must not take the concurrency it needs to hand them on. Nothing else reserves."""
        return config.consumer_concurrency.stream_reserved_concurrency if self.spec.stream_source else None

    def _add_event_sources(self, config: StageConfig) -> None:
        resources = self._resources
        concurrency = config.consumer_concurrency
        if self.spec.queue_source:
            source = self.spec.queue_source
            queue = resources.queues[source.queue]
            self.function.add_event_source(event_sources.SqsEventSource(
                queue,
                batch_size=source.batch_size,
                max_batching_window=(
                    Duration.seconds(source.max_batching_window_seconds) if source.max_batching_window_seconds
                    else None
                ),
                report_batch_item_failures=True,
                max_concurrency=concurrency.queue_maximum_concurrency,
            ))
            self._allow(QUEUE_CONSUME_ACTIONS, [queue.queue_arn])
            self._use_data_key("sqs", DATA_KEY_RECEIVE_ACTIONS)
        if self.spec.stream_source:
            stream = self.spec.stream_source
            table, failures = resources.tables[stream.table], resources.queues[stream.on_failure_queue]
            self.function.add_event_source(event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=stream.batch_size,
                bisect_batch_on_error=True,
                retry_attempts=stream.retry_attempts,
                parallelization_factor=concurrency.stream_parallelization_factor,
                report_batch_item_failures=True,
                on_failure=event_sources.SqsDlq(failures),
                filters=[lambda_.FilterCriteria.filter(stream_filter_pattern(stream))],
            ))
            self._allow(STREAM_READ_ACTIONS, [self._stream_arn(stream.table)])
            self._allow(("dynamodb:ListStreams",), ["*"])
            acknowledge(
                self.policy, "AwsSolutions-IAM5[Resource::*]",
                "dynamodb:ListStreams only: it has no resource-level permissions, so IAM accepts it only on "
                "'*'. It lists stream ARNs, no items; Lambda's DynamoDB event source mapping needs it. "
                "Reading records is granted on this table's stream ARN alone.",
            )
            self._allow(FAILURE_DESTINATION_ACTIONS, [failures.queue_arn])
            self._use_data_key("dynamodb", DATA_KEY_TABLE_READ_ACTIONS)
            self._use_data_key("sqs", DATA_KEY_SEND_ACTIONS)

    def _add_schedule(self) -> None:
        """An EventBridge rule that invokes the function at the spec's rate (asynchronously: Lambda retries
        a failed run twice, and the next run comes anyway)."""
        if self.spec.schedule is None:
            return
        rule = events.Rule(
            self, "Schedule",
            description=f"Runs {self.spec.id} {self.spec.schedule.expression}",
            schedule=events.Schedule.expression(self.spec.schedule.expression),
        )
        # A run older than the rate is superseded by the next one: not worth a late start.
        rule.add_target(events_targets.LambdaFunction(
            self.function, max_event_age=Duration.minutes(max(1, self.spec.schedule.rate_minutes)),
            retry_attempts=2,
        ))
        tag_from_spec(rule, "schedule", self.spec.id)

    def _acknowledge_platform_choices(self, config: StageConfig) -> None:
        skip_checkov(
            self.function, CHECKOV_LAMBDA_ENVIRONMENT_KEY,
            "The environment holds no secret and no personal data: resource names, queue URLs, topic ARNs "
            "and key ids, the identity provider's public URLs, log and retention settings and the route "
            "roles (tests/infrastructure/test_keys.py holds every variable to those kinds). Lambda encrypts "
            "it at rest with its AWS managed key; a customer-managed key would guard nothing secret and add "
            "a KMS dependency to every deployment and cold start.",
        )
        acknowledge(
            self.function, "AwsSolutions-L1",
            "Pinned to python3.12 on purpose: the asset ships bytecode compiled by CPython 3.12 and wheels "
            "resolved for cp312 (infrastructure/packaging.py). python3.12 is supported by Lambda; moving "
            "to a newer runtime means changing LAMBDA_RUNTIME and the build interpreter together.",
        )
        acknowledge(
            self.function, "HIPAA.Security-LambdaInsideVPC",
            "The function reaches only AWS regional APIs (DynamoDB, SQS, SNS, KMS) over TLS with IAM-signed "
            "requests, and no VPC resource exists; access is governed by IAM and the KMS key policy. A VPC "
            "would add NAT or interface endpoints and ENI cold starts without adding an isolation boundary.",
        )
        acknowledge(
            self.function, "HIPAA.Security-LambdaDLQ",
            "A function DLQ holds failed asynchronous invocations. API functions are invoked synchronously "
            "by API Gateway (the client gets the error), SQS consumers redrive to their queue's DLQ and "
            "stream consumers send failed records to an on-failure queue; each of those queues has an "
            "alarm. Only scheduled functions are invoked asynchronously, by their EventBridge rule: their "
            "event carries nothing but the time, a run works from the stored state, and the next run does "
            "what a failed one did not, so a failed event is not worth keeping.",
        )
        if self._reserved_concurrency(config) is None:
            acknowledge(self.function, "HIPAA.Security-LambdaConcurrency", self._unreserved_because())

    def _unreserved_because(self) -> str:
        """Why this function reserves no concurrency (cdk-nag's HIPAA.Security-LambdaConcurrency)."""
        if self.spec.stream_source:
            return ("A stream outbox runs at most stream_parallelization_factor batches per shard, so the "
                    "stream bounds its concurrency; this stage reserves none (no "
                    "stream_reserved_concurrency) because a reservation fails the deployment in an account "
                    "whose concurrency quota is low, as a new account's is: Lambda keeps 100 of an "
                    "account's concurrency unreserved.")
        if self.spec.queue_source:
            return ("A queue consumer's event source mapping caps its concurrent batches (ScalingConfig "
                    "MaximumConcurrency, queue_maximum_concurrency in the stage config), so a backlog cannot "
                    "take more; its messages wait in the queue for 14 days, so it needs no floor either.")
        if self.spec.schedule:
            return ("A scheduled function is invoked once per rate of its EventBridge rule, and its timeout "
                    "is shorter than the rate, so runs do not overlap and it never needs more than one or "
                    "two concurrent executions; a reservation would only take them from the account's pool.")
        return ("An API function (or the authorizer) is bounded upstream: the API stage throttles all "
                "clients (rate and burst from the stage config) and the web ACL limits each credential and "
                "address; a reservation would cap legitimate load and answer 502 where the stage throttle "
                "answers 429.")


def stream_filter_pattern(source: StreamSource) -> dict[str, Any]:
    """The event names, and the key prefix where the spec gives one (Lambda drops what does not match,
    before any invocation is paid for)."""
    pattern: dict[str, Any] = {"eventName": lambda_.FilterRule.or_(*source.event_names)}
    if source.key_prefix:
        attribute, prefix = source.key_prefix
        pattern["dynamodb"] = {"Keys": {attribute: {"S": lambda_.FilterRule.begins_with(prefix)}}}
    return pattern



