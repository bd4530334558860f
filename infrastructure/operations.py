"""Operations: an alarm on everything that can stall or fail without anyone noticing, and one CloudWatch
dashboard per stage (docs/deployment.md, "Operations: alarms and the dashboard").

Alarms, each notifying the encrypted operations topic when it fires and when it clears:
- every DynamoDB stream event source mapping: its function's iterator age, far below the stream's 24 hours;
- every queue: the age of its oldest message, with a limit that follows from who reads the queue (the
  sharing subscribers' own queues are alarmed by infrastructure/sharing.py, as their reader stopping);
- every function: errors and throttles;
- the API stage: any 5xx, and a spike of tokens the authorizer refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.shared.observability import STAGE_DIMENSION
from infrastructure.api import Api
from infrastructure.config import StageConfig
from infrastructure.function import TelehubFunction
from infrastructure.messaging import DEAD_LETTER_RETENTION, notify_operations
from infrastructure.naming import pascal
from infrastructure.resource_spec import ResourceSpec
from infrastructure.sharing import STOPPED_READING_AFTER

RUNBOOK = "docs/deployment.md, Operations: alarms and the dashboard"
PERIOD = Duration.minutes(5)
# A stream keeps a record 24 hours; an outbox that has not handed one on within this has stalled, and
# there is most of a day left to fix it before the record is gone (the table fallback of the recovery
# covers failed batches, not a mapping that stopped reading).
ITERATOR_AGE_LIMIT = Duration.minutes(15)
# A queue read by a Telehub function may hold a message as long as its retries take (every receive
# waits out the visibility timeout) before the message moves to the dead-letter queue; this much longer
# and the consumer is not keeping up.
CONSUMER_MARGIN = Duration.minutes(5)
# A dead letter is lost DEAD_LETTER_RETENTION after it was first sent; at this age it is time to redrive.
DEAD_LETTERS_UNREDRIVEN_AFTER = Duration.days(7)
# A spike of refused tokens: at least this many in a period, and at least this share of all tokens
# (a trickle of expired credentials pages nobody; a flood of forged tokens or a rotated identity
# provider key does).
REFUSAL_SPIKE_TOKENS = 20
REFUSAL_SPIKE_PERCENT = 10
# Powertools' EMF metrics: the functions' namespace; their dimensions are the service (function_environment)
# and the stage (functions.shared.observability).
METRICS_NAMESPACE = "Telehub"


class AlarmKind(StrEnum):
    """The last part of every alarm's name, ``telehub-<stage>-<subject>-<kind>`` (docs/deployment.md)."""

    ITERATOR_AGE = "iterator-age"
    OLDEST_MESSAGE = "oldest-message"
    ERRORS = "errors"
    THROTTLES = "throttles"
    SERVER_ERRORS = "5xx"
    REFUSAL_SPIKE = "refusal-spike"


@dataclass(frozen=True)
class AgeLimit:
    """How old a queue's oldest message may get, and what it means when one is older."""

    threshold: Duration
    means: str
    then: str


@dataclass(frozen=True)
class BusinessGraph:
    """A dashboard graph of metrics the functions emit, (function id, metric name) pairs, summed."""

    title: str
    metrics: tuple[tuple[str, str], ...]


# The key business metrics (metrics.add_metric in functions/): what flows through Telehub, and what is
# refused, withheld or retried on the way.
BUSINESS_GRAPHS = (
    BusinessGraph("Uploads", (
        ("device-uploads", "UploadsAccepted"), ("device-uploads", "MeasurementsAccepted"),
        ("device-uploads", "LateMeasurementsAccepted"), ("device-uploads", "UploadDuplicates"),
        ("device-uploads", "UploadConflicts"),
    )),
    BusinessGraph("Evaluations", (
        ("alarm-evaluation", "UploadsEvaluated"), ("alarm-evaluation", "UploadsGreen"),
        ("alarm-evaluation", "UploadsYellow"), ("alarm-evaluation", "UploadsRed"),
        ("alarm-evaluation", "EvaluationConflicts"),
    )),
    BusinessGraph("Clinical alarms", (
        ("alarm-evaluation", "AlarmsRaised"), ("alarm-evaluation", "AlarmsEscalated"),
        ("alarm-evaluation", "AlarmsLowered"), ("missed-measurements", "MissedMeasurementsRaised"),
        ("worklist", "AlarmsAcknowledged"), ("missed-measurements", "EpisodesNotScheduled"),
    )),
    BusinessGraph("Outboxes: handed on, not handed on", (
        ("upload-outbox", "UploadsRelayed"), ("upload-outbox", "UploadsNotRelayed"),
        ("episode-outbox", "OrdersRelayed"), ("episode-outbox", "OrdersNotRelayed"),
        ("evaluation-outbox", "EvaluationEventsRelayed"), ("evaluation-outbox", "EvaluationEventsNotRelayed"),
        ("alarm-outbox", "AlarmEventsRelayed"), ("alarm-outbox", "AlarmEventsNotRelayed"),
    )),
    BusinessGraph("Outbox recoveries", (
        ("upload-outbox-recovery", "UploadOutboxBatchesRecovered"),
        ("episode-outbox-recovery", "OrderOutboxBatchesRecovered"),
        ("evaluation-outbox-recovery", "EvaluationOutboxBatchesRecovered"),
        ("alarm-outbox-recovery", "AlarmOutboxBatchesRecovered"),
    )),
    BusinessGraph("Episodes and devices", (
        ("referral-intake", "ReferralsAccepted"), ("referral-intake", "EpisodesEnded"),
        ("referral-intake", "HandoversAccepted"), ("devices", "DevicesRegistered"),
        ("devices", "DevicesRevoked"),
    )),
    BusinessGraph("Cross-sector sharing", (
        ("sharing-publisher", "BundlesPublished"), ("sharing-publisher", "ObservationsShared"),
        ("sharing-publisher", "BundlesNotPublished"), ("sharing-publisher", "BundlesWithheldNoConsent"),
        ("sharing-publisher", "BundlesWithheldConsentWithdrawn"), ("sharing-api", "ConsentsRecorded"),
        ("sharing-api", "ObservationsSearched"),
    )),
)


def service_of(function_id: str) -> str:
    """The service dimension Powertools gives a function's metrics (its POWERTOOLS_SERVICE_NAME)."""
    return f"telehub-{function_id}"


def business_metric(stage: str, function_id: str, name: str) -> cloudwatch.Metric:
    """A metric the function emits in ``stage``: CloudWatch matches every dimension, so the stage's own."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE, metric_name=name,
        dimensions_map={"service": service_of(function_id), STAGE_DIMENSION: stage},
        statistic=cloudwatch.Stats.SUM, period=PERIOD, label=f"{name} ({function_id})",
    )


def age_limits(spec: ResourceSpec) -> dict[str, AgeLimit]:
    """The oldest-message limit of every queue of ``spec`` by id, dead-letter queues included, but for the
    sharing subscribers' own queues (their reader stopping is alarmed in infrastructure/sharing.py)."""
    subscriber_queues = {subscriber.queue.id for subscriber in spec.sharing_subscribers}
    limits: dict[str, AgeLimit] = {}
    for queue in spec.queues:
        limits[queue.dlq_id] = AgeLimit(
            DEAD_LETTERS_UNREDRIVEN_AFTER,
            f"holds a dead letter of {queue.id} nobody redrove for "
            f"{DEAD_LETTERS_UNREDRIVEN_AFTER.to_days():.0f} days (it is lost "
            f"{DEAD_LETTER_RETENTION.to_days():.0f} days after it was sent)",
            "fix the cause and redrive it, or save it before it expires",
        )
        consumer = spec.consumer_of(queue.id)
        if consumer:
            retries = Duration.seconds(spec.visibility_timeout_seconds(queue.id) * queue.max_receive_count)
            limits[queue.id] = AgeLimit(
                Duration.seconds(retries.to_seconds() + CONSUMER_MARGIN.to_seconds()),
                f"has a message older than {consumer.id}'s retries of it take: its consumer has stopped or "
                "is not keeping up",
                f"look at {consumer.id}'s errors, throttles and event source mapping",
            )
        elif queue.id not in subscriber_queues:
            limits[queue.id] = AgeLimit(
                STOPPED_READING_AFTER,
                f"has a message older than {STOPPED_READING_AFTER.to_hours():.0f} hours: its reader outside "
                f"Telehub has stopped (messages are lost after {queue.retention_days} days)",
                "tell the organisation that reads it",
            )
    return limits


class Operations(Construct):
    """The alarms and the dashboard of a stage. ``queues``: every queue of the stack by spec id (dead-letter
    and sharing subscribers' queues included)."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        spec: ResourceSpec, config: StageConfig, functions: Mapping[str, TelehubFunction],
        queues: Mapping[str, sqs.IQueue], api: Api, alarm_topic: sns.ITopic,
    ):
        super().__init__(scope, construct_id)
        self._stage, self._alarm_topic = config.stage, alarm_topic
        self.stream_alarms = [
            self._iterator_age_alarm(function_id, construct.function)
            for function_id, construct in functions.items() if construct.spec.stream_source
        ]
        self.queue_alarms = [
            self._oldest_message_alarm(queue_id, queues[queue_id], limit)
            for queue_id, limit in age_limits(spec).items()
        ]
        self.function_alarms = [
            alarm
            for function_id, construct in functions.items()
            for alarm in (
                self._errors_alarm(function_id, construct.function,
                                   authorizer=function_id == spec.authorizer),
                self._throttles_alarm(function_id, construct.function),
            )
        ]
        self.api_alarms = [self._server_errors_alarm(api), self._refusal_spike_alarm(spec.authorizer)]
        self.dashboard = self._dashboard(spec, functions, queues, api)

    def _alarm(
        self, subject: str, kind: AlarmKind, description: str, metric: cloudwatch.IMetric, threshold: float,
        periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, f"{pascal(subject)}{pascal(kind.value)}Alarm",
            alarm_name=f"telehub-{self._stage}-{subject}-{kind.value}",
            alarm_description=f"Telehub {self._stage}: {description} ({RUNBOOK}).",
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # No data is no traffic (no records, no messages, no invocations), never a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        notify_operations(alarm, self._alarm_topic)
        return alarm

    def _iterator_age_alarm(self, function_id: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        return self._alarm(
            function_id, AlarmKind.ITERATOR_AGE,
            f"{function_id} is handing on stream records more than {ITERATOR_AGE_LIMIT.to_minutes():.0f} "
            "minutes old; the stream drops them after 24 hours. Look at its errors and throttles and at the "
            "event source mapping (enabled, not failing)",
            function.metric("IteratorAge", statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD),
            ITERATOR_AGE_LIMIT.to_milliseconds(),
        )

    def _oldest_message_alarm(self, queue_id: str, queue: sqs.IQueue, limit: AgeLimit) -> cloudwatch.Alarm:
        return self._alarm(
            queue_id, AlarmKind.OLDEST_MESSAGE, f"queue {queue_id} {limit.means}; {limit.then}",
            queue.metric_approximate_age_of_oldest_message(statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD),
            limit.threshold.to_seconds(),
        )

    def _errors_alarm(
        self, function_id: str, function: lambda_.IFunction, *, authorizer: bool,
    ) -> cloudwatch.Alarm:
        errors = function.metric_errors(statistic=cloudwatch.Stats.SUM, period=PERIOD)
        if not authorizer:
            return self._alarm(
                function_id, AlarmKind.ERRORS,
                f"{function_id} failed (an unhandled exception or a timeout; a record a consumer fails is "
                "reported back, not an error); read its log for the request id", errors, 0,
            )
        # The authorizer refuses a token by raising (API Gateway's contract for a 401), so its Errors count
        # refusals too; its own failures are what is left. Two periods in a row: a refusal near a period's
        # end may be counted by Lambda and by Powertools in neighbouring periods. A single failure is also
        # a 5xx of the API.
        failures = cloudwatch.MathExpression(
            expression="errors - FILL(refused, 0)",
            using_metrics={"errors": errors, "refused": self._tokens("TokensRefused", function_id)},
            label="authorizer failures (errors that are not refused tokens)",
            period=PERIOD,
        )
        return self._alarm(
            function_id, AlarmKind.ERRORS,
            "the authorizer failed, not refused (JWKS endpoint, KMS or DynamoDB unreachable): every caller "
            "gets a 500; read its log", failures, 0, periods=2,
        )

    def _throttles_alarm(self, function_id: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        return self._alarm(
            function_id, AlarmKind.THROTTLES,
            f"Lambda throttled {function_id}: the account's (or a reserved) concurrency is exhausted; API "
            "callers get errors, queue and stream consumers fall behind. Find what uses the concurrency, "
            "raise the quota if the load is real",
            function.metric_throttles(statistic=cloudwatch.Stats.SUM, period=PERIOD), 0,
        )

    def _server_errors_alarm(self, api: Api) -> cloudwatch.Alarm:
        return self._alarm(
            "api", AlarmKind.SERVER_ERRORS,
            "the API answered 5xx, which Telehub never should: a function or the authorizer failed, or an "
            "integration timed out. Find the request in the API's access log (errorType, integrationStatus)",
            api.stage.metric_server_error(statistic=cloudwatch.Stats.SUM, period=PERIOD), 0,
        )

    def _refusal_spike_alarm(self, authorizer_id: str) -> cloudwatch.Alarm:
        refused_percent = cloudwatch.MathExpression(
            expression=(
                f"IF(refused >= {REFUSAL_SPIKE_TOKENS}, 100 * refused / (refused + FILL(accepted, 0)), 0)"
            ),
            using_metrics={
                "refused": self._tokens("TokensRefused", authorizer_id),
                "accepted": self._tokens("TokensAccepted", authorizer_id),
            },
            label="refused tokens, % of all",
            period=PERIOD,
        )
        return self._alarm(
            "api", AlarmKind.REFUSAL_SPIKE,
            f"the authorizer refused more than {REFUSAL_SPIKE_PERCENT}% of the tokens (at least "
            f"{REFUSAL_SPIKE_TOKENS}) in {PERIOD.to_minutes():.0f} minutes: forged or stolen tokens, a "
            "misconfigured client, or the identity provider's keys changed. The authorizer's log names the "
            "reason of each refusal",
            refused_percent, REFUSAL_SPIKE_PERCENT,
        )

    def _tokens(self, name: str, authorizer_id: str) -> cloudwatch.Metric:
        return business_metric(self._stage, authorizer_id, name)

    def _dashboard(
        self, spec: ResourceSpec, functions: Mapping[str, TelehubFunction], queues: Mapping[str, sqs.IQueue],
        api: Api,
    ) -> cloudwatch.Dashboard:
        lambdas = {function_id: construct.function for function_id, construct in functions.items()}
        # The alarms other constructs made (dead-letter and failure queues, sharing subscribers) show with
        # the queues' own.
        own = {*self.stream_alarms, *self.queue_alarms, *self.function_alarms, *self.api_alarms}
        others = [alarm for alarm in Stack.of(self).node.find_all()
                  if isinstance(alarm, cloudwatch.Alarm) and alarm not in own]
        dead_letter_ids = {queue.dlq_id for queue in spec.queues}
        return cloudwatch.Dashboard(
            self, "Dashboard",
            dashboard_name=f"telehub-{self._stage}",
            default_interval=Duration.hours(3),
            widgets=[
                [cloudwatch.TextWidget(
                    markdown=f"# Telehub {self._stage}\nWhat each alarm means and what to do: {RUNBOOK}. "
                             "Business metrics are the functions' own (namespace Telehub, this stage's), "
                             "summed per "
                             f"{PERIOD.to_minutes():.0f} minutes.",
                    width=24, height=2,
                )],
                [
                    _alarm_status("API and streams", [*self.api_alarms, *self.stream_alarms]),
                    _alarm_status("Queues", [*self.queue_alarms, *others]),
                    _alarm_status("Functions", self.function_alarms),
                ],
                [
                    _graph("API requests and errors", [
                        api.stage.metric_count(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                        api.stage.metric_client_error(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                        api.stage.metric_server_error(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                    ]),
                    _graph("API latency (p50, p99)", [
                        api.stage.metric_latency(statistic=cloudwatch.Stats.p(50), period=PERIOD),
                        api.stage.metric_latency(statistic=cloudwatch.Stats.p(99), period=PERIOD),
                        api.stage.metric_integration_latency(statistic=cloudwatch.Stats.p(99), period=PERIOD),
                    ]),
                    _graph("Tokens accepted and refused", [
                        self._tokens("TokensAccepted", spec.authorizer),
                        self._tokens("TokensRefused", spec.authorizer),
                    ]),
                ],
                [
                    _graph(
                        "Stream iterator age (max, ms)",
                        [lambdas[f].metric("IteratorAge", statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD,
                                           label=f) for f in lambdas if functions[f].spec.stream_source],
                        limit=ITERATOR_AGE_LIMIT.to_milliseconds(),
                    ),
                    _graph("Oldest message (s), queues", [
                        _age(queue_id, queue) for queue_id, queue in queues.items()
                        if queue_id not in dead_letter_ids
                    ]),
                    _graph("Messages in dead-letter queues", [
                        queues[queue_id].metric_approximate_number_of_messages_visible(
                            statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD, label=queue_id,
                        )
                        for queue_id in queues if queue_id in dead_letter_ids
                    ]),
                ],
                [
                    _graph("Function errors", _per_function(lambdas, "Errors", cloudwatch.Stats.SUM)),
                    _graph("Function throttles", _per_function(lambdas, "Throttles", cloudwatch.Stats.SUM)),
                    _graph("Function duration (p99, ms)",
                           _per_function(lambdas, "Duration", cloudwatch.Stats.p(99))),
                ],
                *_rows([
                    _graph(graph.title, [business_metric(self._stage, f, name) for f, name in graph.metrics])
                    for graph in BUSINESS_GRAPHS
                ]),
            ],
        )


def _age(queue_id: str, queue: sqs.IQueue) -> cloudwatch.IMetric:
    return queue.metric_approximate_age_of_oldest_message(
        statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD, label=queue_id,
    )


def _per_function(
    lambdas: Mapping[str, lambda_.IFunction], name: str, statistic: str,
) -> list[cloudwatch.IMetric]:
    return [function.metric(name, statistic=statistic, period=PERIOD, label=function_id)
            for function_id, function in lambdas.items()]


def _graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], limit: float | None = None,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, left=list(metrics), width=8, height=6,
        left_annotations=[cloudwatch.HorizontalAnnotation(value=limit, label="alarm")] if limit else None,
    )


def _alarm_status(title: str, alarms: Iterable[cloudwatch.Alarm]) -> cloudwatch.AlarmStatusWidget:
    return cloudwatch.AlarmStatusWidget(
        title=title, alarms=list(alarms), width=8, height=6,
        sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
    )


def _rows(widgets: Sequence[cloudwatch.IWidget], per_row: int = 3) -> list[list[cloudwatch.IWidget]]:
    return [list(widgets[start:start + per_row]) for start in range(0, len(widgets), per_row)]
