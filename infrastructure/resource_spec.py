"""One description of Telehub's resources, read by the CDK stack and by the embedded mode.

Pure data, no CDK import: the embedded mode creates the same tables, queues, topics and routes
with boto3 from this module, and a test proves the synthesized template agrees with it.
Environment variable names for functions are derived here too, so code and infrastructure
cannot disagree on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from functions.shared.access_log import MINIMUM_RETENTION_DAYS
from functions.shared.access_rules import ACCESS_RULES
from functions.shared.citizen_records import PROFILE_CONTEXT

AttributeType = Literal["S", "N"]


@dataclass(frozen=True)
class Key:
    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: Key
    sort_key: Key | None = None
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True)
class TableSpec:
    id: str
    partition_key: Key
    sort_key: Key | None = None
    indexes: tuple[IndexSpec, ...] = ()
    stream: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = None
    ttl_attribute: str | None = None

    @property
    def env_name(self) -> str:
        return f"{self.id.upper().replace('-', '_')}_TABLE_NAME"


@dataclass(frozen=True)
class QueueSpec:
    """A queue and its dead-letter queue; ``visibility_timeout`` follows from the consumer."""

    id: str
    max_receive_count: int = 5
    retention_days: int = 14

    @property
    def dlq_id(self) -> str:
        return f"{self.id}-dlq"

    @property
    def env_name(self) -> str:
        return f"{self.id.upper().replace('-', '_')}_QUEUE_URL"


@dataclass(frozen=True)
class TopicSpec:
    id: str

    @property
    def env_name(self) -> str:
        return f"{self.id.upper().replace('-', '_')}_TOPIC_ARN"


@dataclass(frozen=True)
class SubscriptionSpec:
    """A queue subscribed to a topic, receiving only messages that match ``filter_policy``."""

    topic: str
    queue: str
    filter_policy: dict[str, list[Any]] = field(default_factory=dict)  # SNS's JSON conditions


@dataclass(frozen=True)
class KeySpec:
    """A KMS key. ``data`` encrypts tables, queues, topics and logs; the others are used by code."""

    id: str
    key_spec: Literal["SYMMETRIC_DEFAULT", "RSA_2048", "HMAC_256"]
    usage: Literal["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"]
    purpose: str
    # Pairs every encryption context used with the key carries: a function's kms:Encrypt and kms:Decrypt on
    # it are granted on condition of them, so the key seals and opens nothing but what they name.
    encryption_context: dict[str, str] = field(default_factory=dict)

    @property
    def env_name(self) -> str:
        return f"{self.id.upper().replace('-', '_')}_KEY_ID"


@dataclass(frozen=True)
class QueueSource:
    queue: str
    batch_size: int = 10
    max_batching_window_seconds: int = 0


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream feeding a function; failures after ``retry_attempts`` go to ``on_failure``."""

    table: str
    on_failure_queue: str
    event_names: tuple[str, ...] = ("INSERT",)
    batch_size: int = 100
    retry_attempts: int = 10
    # (key attribute, prefix): only records whose key attribute starts with the prefix reach the
    # function, for a single-table design whose stream carries more than the function relays.
    key_prefix: tuple[str, str] | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """A function invoked at a fixed rate: an EventBridge rule in AWS, a poller in the embedded mode."""

    rate_minutes: int

    @property
    def expression(self) -> str:
        return f"rate({self.rate_minutes} minutes)"


# DynamoDB's item actions as IAM names them. A TransactWriteItems is authorised item by item, as PutItem,
# UpdateItem, DeleteItem or ConditionCheckItem, so a function lists each kind its transactions hold.
TableAction = Literal[
    "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem",
]
TABLE_READ_ACTIONS: frozenset[TableAction] = frozenset({"GetItem", "BatchGetItem", "Query"})


@dataclass(frozen=True)
class TableAccess:
    """What a function's code does with one table: exactly the actions it calls on the table itself
    (``Query`` here is a query of the table) and the secondary indexes it queries, each granted by name."""

    table: str
    actions: tuple[TableAction, ...] = ()
    indexes: tuple[str, ...] = ()

    @property
    def reads(self) -> bool:
        return bool(self.indexes) or any(action in TABLE_READ_ACTIONS for action in self.actions)

    @property
    def writes(self) -> bool:
        return any(action not in TABLE_READ_ACTIONS for action in self.actions)


@dataclass(frozen=True)
class FunctionSpec:
    id: str
    handler: str  # dotted path: module.function, inside the functions package
    description: str
    timeout_seconds: int = 10
    memory_mb: int = 512
    # The tables its code reaches, each with exactly what it calls there: the grants are these and no more,
    # and tests/integration/test_least_privilege.py holds them to the calls a run of each function makes.
    tables: tuple[TableAccess, ...] = ()
    # Append-only tables (the access log): the function may put new items, conditional on their absence,
    # and nothing else; no update, delete or batch write (whose puts would overwrite).
    appends_to_tables: tuple[str, ...] = ()
    sends_to_queues: tuple[str, ...] = ()
    publishes_to_topics: tuple[str, ...] = ()
    signs_with_keys: tuple[str, ...] = ()
    macs_with_keys: tuple[str, ...] = ()
    verifies_with_keys: tuple[str, ...] = ()
    # Symmetric keys used by code (kms:Encrypt, kms:Decrypt), each on its encryption_context's condition.
    encrypts_with_keys: tuple[str, ...] = ()
    decrypts_with_keys: tuple[str, ...] = ()
    queue_source: QueueSource | None = None
    stream_source: StreamSource | None = None
    reads_streams: tuple[str, ...] = ()  # tables whose stream it reads itself (no stream_source)
    schedule: ScheduleSpec | None = None
    # Shares a citizen's data across sectors: gets the stage's nationally agreed measurement types.
    shares_data: bool = False
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def reads_tables(self) -> tuple[str, ...]:
        return tuple(access.table for access in self.tables if access.reads)

    @property
    def writes_tables(self) -> tuple[str, ...]:
        return tuple(access.table for access in self.tables if access.writes)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class RouteSpec:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str  # API Gateway style, {param} for path parameters
    function: str
    # The roles the authorizer's policy lets call the route (a handler's requires(...) checks the same);
    # Telehub's routes take them from their access rule (_route).
    roles: tuple[str, ...] = ()
    authorized: bool = True


def _route(method: Literal["GET", "POST", "PUT", "DELETE"], path: str, function: str) -> RouteSpec:
    """A route of Telehub's API, open to the roles of its rule (functions/shared/access_rules.py)."""
    return RouteSpec(method, path, function, tuple(sorted(ACCESS_RULES[f"{method} {path}"].roles)))


SHARING_TOPIC = "sharing"


@dataclass(frozen=True)
class SharingSubscriber:
    """An organisation that receives the shared data of the citizens it has a relation to (docs/sharing.md):
    its own queue (with a dead-letter queue) on the sharing topic, filtered on the message's recipients."""

    organisation: str  # SOR code or ydernummer, as the tokens and the referrals name it
    account_id: str | None = None  # the AWS account that reads the queue; None: the stage's own account

    @property
    def queue(self) -> QueueSpec:
        return QueueSpec(id=f"sharing-{self.organisation}")

    @property
    def subscription(self) -> SubscriptionSpec:
        return SubscriptionSpec(topic=SHARING_TOPIC, queue=self.queue.id,
                                filter_policy={"recipients": [self.organisation]})


@dataclass(frozen=True)
class ResourceSpec:
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    topics: tuple[TopicSpec, ...]
    subscriptions: tuple[SubscriptionSpec, ...]
    keys: tuple[KeySpec, ...]
    functions: tuple[FunctionSpec, ...]
    routes: tuple[RouteSpec, ...]
    authorizer: str  # the function that authorizes every route with authorized=True
    # A stage's subscribers (its config): their queues and subscriptions are part of ``queues`` and
    # ``subscriptions`` once added with ``with_sharing_subscribers``.
    sharing_subscribers: tuple[SharingSubscriber, ...] = ()

    def with_sharing_subscribers(self, subscribers: tuple[SharingSubscriber, ...]) -> ResourceSpec:
        """This spec with a queue and a filtered subscription to the sharing topic per subscriber."""
        return replace(
            self,
            queues=self.queues + tuple(subscriber.queue for subscriber in subscribers),
            subscriptions=self.subscriptions + tuple(subscriber.subscription for subscriber in subscribers),
            sharing_subscribers=self.sharing_subscribers + subscribers,
        )

    def table(self, table_id: str) -> TableSpec:
        return next(t for t in self.tables if t.id == table_id)

    def queue(self, queue_id: str) -> QueueSpec:
        return next(q for q in self.queues if q.id == queue_id)

    def function(self, function_id: str) -> FunctionSpec:
        return next(f for f in self.functions if f.id == function_id)

    def key(self, key_id: str) -> KeySpec:
        return next(k for k in self.keys if k.id == key_id)

    def consumer_of(self, queue_id: str) -> FunctionSpec | None:
        return next((f for f in self.functions if f.queue_source and f.queue_source.queue == queue_id), None)

    def visibility_timeout_seconds(self, queue_id: str) -> int:
        """Six times the consumer's timeout (AWS's advice for event source mappings), at least 60 s."""
        consumer = self.consumer_of(queue_id)
        return max(60, 6 * consumer.timeout_seconds) if consumer else 60


ALARM_TOPIC = "operations-alarms"

SPEC = ResourceSpec(
    tables=(
        # Citizens by pseudonym (a KMS HMAC of the CPR number, never the CPR itself) and by
        # internal patient id: pk CITIZEN#<pseudonym> / PATIENT#<patient_id>.
        TableSpec(id="citizens", partition_key=Key("pk"), sort_key=Key("sk")),
        TableSpec(id="devices", partition_key=Key("device_id")),
        # One item per upload; the item is also the upload's idempotency record and, through the
        # stream, its outbox: whatever is stored is handed on to the measurements queue.
        TableSpec(
            id="uploads",
            partition_key=Key("device_id"),
            sort_key=Key("upload_id"),
            stream="NEW_IMAGE",
            # Uploads by arrival, for re-relaying a failed outbox batch the stream no longer holds
            # (records live 24 hours). Keys only: one small index write per upload, whatever its size.
            indexes=(IndexSpec("by-received-hour", Key("received_hour"), Key("received_at"), "KEYS_ONLY"),),
        ),
        # Episodes of care, single-table (pk, sk), no CPR in any key (functions.shared.episode_records):
        # EPISODE#<id> / META, THRESHOLDS#v0001.., ORDER#<order id>; PATIENT#<patient_id> / OPEN#<area>
        # (at most one open episode per area) and LOGISTICS (the citizen's one logistics centre);
        # REFERRAL#<organisation>#<referral_id> / REFERRAL (idempotency). The stream is the outbox of the
        # ORDER items.
        TableSpec(
            id="episodes",
            partition_key=Key("pk"),
            sort_key=Key("sk"),
            stream="NEW_IMAGE",
            # ORDER items by when they were ordered (only they carry ordered_hour: a sparse index), for
            # re-relaying a failed outbox batch the stream no longer holds. Keys only, as the uploads'.
            indexes=(
                IndexSpec("by-ordered-hour", Key("ordered_hour"), Key("ordered_at"), "KEYS_ONLY"),
                # Episodes by status (only META items carry one: a sparse index), for the missed-measurement
                # schedule, which reads the active ones every run without a Scan. Few partition values, but
                # an episode's status changes twice in its life and a run reads the partition once.
                IndexSpec("by-status", Key("status"), Key("episode_id")),
            ),
        ),
        # Who read a citizen's data (or was refused it), when and what: written before the reply, appended
        # only (functions/shared/access_log_store.py); each entry expires after the stage's retention.
        TableSpec(id="access-log", partition_key=Key("patient_id"), sort_key=Key("access_id"),
                  ttl_attribute="expires_at"),
        # Measurements as judged per episode, alarms, the worklist rows and the "upload evaluated" events,
        # one partition per episode (keys: functions.shared.evaluation_records). The stream is the outbox
        # of the EVENT items.
        TableSpec(
            id="evaluations",
            partition_key=Key("pk"),
            sort_key=Key("sk"),
            stream="NEW_IMAGE",
            ttl_attribute="expires_at",
            indexes=(
                # Each organisation's worklist, most severe first: heads with something to acknowledge.
                IndexSpec("worklist", Key("worklist_organisation"), Key("worklist_rank")),
                # An alarm found by its id alone (POST /v1/alarms/{alarm_id}/acknowledge).
                IndexSpec("by-alarm-id", Key("alarm_id"), None, "KEYS_ONLY"),
                # An episode's readings in time order, whatever their type.
                IndexSpec("readings-by-time", Key("reading_episode"), Key("measured_key")),
                # Events by when they were written, for re-relaying a batch the stream no longer holds.
                IndexSpec("by-evaluated-hour", Key("evaluated_hour"), Key("evaluated_at"), "KEYS_ONLY"),
            ),
        ),
    ),
    queues=(
        QueueSpec(id="measurements"),
        QueueSpec(id="upload-outbox-failures"),
        # Orders for the logistics centres (deliver or collect a monitoring package); docs/messages.md.
        QueueSpec(id="logistics-orders"),
        QueueSpec(id="episode-outbox-failures"),
        # "Upload evaluated" events for cross-sector sharing (docs/messages.md).
        QueueSpec(id="evaluated-uploads"),
        QueueSpec(id="evaluation-outbox-failures"),
        QueueSpec(id="alarm-outbox-failures"),
    ),
    # Clinical alarms (YELLOW, RED, BLUE) for the monitoring organisations' own systems, with the
    # attributes organisation and severity to filter on; not to be confused with ALARM_TOPIC, which
    # carries CloudWatch's operational alarms to the people who run Telehub.
    # Cross-sector sharing: one FHIR Bundle per evaluation, with the attribute recipients (the organisations
    # that may receive it), delivered to each subscriber's own queue (SharingSubscriber, docs/sharing.md).
    topics=(TopicSpec(id=ALARM_TOPIC), TopicSpec(id="clinical-alarms"), TopicSpec(id=SHARING_TOPIC)),
    subscriptions=(),
    keys=(
        KeySpec("data", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "encrypts tables, queues, topics and logs"),
        KeySpec(
            "device-credentials", "RSA_2048", "SIGN_VERIFY", "signs the device credentials Telehub issues",
        ),
        KeySpec(
            "citizen-pseudonym", "HMAC_256", "GENERATE_VERIFY_MAC", "turns a CPR number into a lookup key",
        ),
        KeySpec(
            "citizen-profile", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
            "seals the CPR number, name and phone on the citizen's profile",
            encryption_context=PROFILE_CONTEXT,
        ),
    ),
    functions=(
        FunctionSpec(
            id="authorizer",
            handler="functions.authorizer.handler.handler",
            description="Verifies bearer JWTs and device credentials; refuses revoked devices",
            timeout_seconds=5,
            # Citizens too, with the pseudonym key: a citizen's token names the CPR number, which becomes
            # the patient id here, so no function, context or log downstream ever holds it.
            tables=(TableAccess("devices", ("GetItem",)), TableAccess("citizens", ("GetItem",))),
            verifies_with_keys=("device-credentials",),
            macs_with_keys=("citizen-pseudonym",),
        ),
        FunctionSpec(
            id="devices",
            handler="functions.devices.handler.handler",
            description="Registers and revokes a citizen's devices (logistics centre)",
            # Episodes too: a device registered for a citizen with an open episode is linked to it; the
            # citizens table holds each device's serial claim, released (deleted) when it is revoked.
            tables=(
                TableAccess("citizens", ("GetItem", "PutItem", "DeleteItem")),
                TableAccess("devices", ("GetItem", "PutItem", "UpdateItem")),
                TableAccess("episodes", ("Query", "UpdateItem")),
            ),
            # A registration's reply names the citizen's patient id: it is access-logged, as a revocation is.
            appends_to_tables=("access-log",),
            signs_with_keys=("device-credentials",),
            macs_with_keys=("citizen-pseudonym",),
        ),
        FunctionSpec(
            id="device-uploads",
            handler="functions.device_uploads.handler.api_handler",
            description="Accepts measurement and questionnaire uploads from home collection points",
            # Reads too: a retry of an upload whose measurements have aged past the accepted
            # window is recognised by reading the stored upload; and the citizen's open episodes,
            # whose questionnaires an upload's answers must fit.
            tables=(TableAccess("uploads", ("GetItem", "PutItem")), TableAccess("episodes", ("Query",))),
        ),
        FunctionSpec(
            id="upload-outbox",
            handler="functions.device_uploads.handler.outbox_handler",
            description="Hands each stored upload on to the measurements queue (DynamoDB stream)",
            timeout_seconds=30,
            sends_to_queues=("measurements",),
            stream_source=StreamSource(table="uploads", on_failure_queue="upload-outbox-failures"),
        ),
        FunctionSpec(
            id="upload-outbox-recovery",
            handler="functions.device_uploads.handler.outbox_recovery_handler",
            description="Hands on the uploads of stream batches the outbox gave up on (its on-failure queue)",
            timeout_seconds=60,
            tables=(TableAccess("uploads", ("BatchGetItem",), indexes=("by-received-hour",)),),
            reads_streams=("uploads",),
            sends_to_queues=("measurements",),
            queue_source=QueueSource(queue="upload-outbox-failures"),
        ),
        FunctionSpec(
            id="referral-intake",
            handler="functions.referral_intake.handler.handler",
            description="Referrals, episodes of care, thresholds, handover and ending an episode",
            # Devices and citizens are written when an episode ends: its devices are revoked and their
            # serial claims released; the evaluations table when a handover is accepted: the episode's
            # worklist row moves to the new monitoring organisation.
            tables=(
                TableAccess("citizens", ("GetItem", "PutItem", "UpdateItem", "DeleteItem")),
                TableAccess("episodes", (
                    "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem",
                )),
                TableAccess("devices", ("GetItem", "UpdateItem")),
                TableAccess("evaluations", ("UpdateItem",)),
            ),
            appends_to_tables=("access-log",),
            macs_with_keys=("citizen-pseudonym",),
            # It registers citizens (their CPR number sealed) and stores each referral's contact details;
            # the logistics centre's contact endpoint and the clinicians' citizen endpoint open them.
            encrypts_with_keys=("citizen-profile",),
            decrypts_with_keys=("citizen-profile",),
        ),
        FunctionSpec(
            id="episode-outbox",
            handler="functions.referral_intake.handler.outbox_handler",
            description="Hands each logistics order stored with an episode on to the logistics-orders queue",
            timeout_seconds=30,
            sends_to_queues=("logistics-orders",),
            stream_source=StreamSource(
                table="episodes", on_failure_queue="episode-outbox-failures", key_prefix=("sk", "ORDER#"),
            ),
        ),
        FunctionSpec(
            id="episode-outbox-recovery",
            handler="functions.referral_intake.handler.outbox_recovery_handler",
            description="Hands on the orders of stream batches the episode outbox gave up on",
            timeout_seconds=60,
            tables=(TableAccess("episodes", ("BatchGetItem",), indexes=("by-ordered-hour",)),),
            reads_streams=("episodes",),
            sends_to_queues=("logistics-orders",),
            queue_source=QueueSource(queue="episode-outbox-failures"),
        ),
        # The evaluations table's stream carries two outboxes of its EVENT items, each with its own
        # retries, failure queue and recovery (functions/alarm_evaluation/outbox.py says why).
        FunctionSpec(
            id="evaluation-outbox",
            handler="functions.alarm_evaluation.handler.evaluation_outbox_handler",
            description="Hands each upload-evaluated event on to the evaluated-uploads queue (stream)",
            timeout_seconds=30,
            sends_to_queues=("evaluated-uploads",),
            stream_source=StreamSource(
                table="evaluations", on_failure_queue="evaluation-outbox-failures",
                key_prefix=("sk", "EVENT#"),
            ),
        ),
        FunctionSpec(
            id="evaluation-outbox-recovery",
            handler="functions.alarm_evaluation.handler.evaluation_outbox_recovery_handler",
            description="Hands on the events of stream batches the evaluation outbox gave up on",
            timeout_seconds=60,
            tables=(TableAccess("evaluations", ("BatchGetItem",), indexes=("by-evaluated-hour",)),),
            reads_streams=("evaluations",),
            sends_to_queues=("evaluated-uploads",),
            queue_source=QueueSource(queue="evaluation-outbox-failures"),
        ),
        FunctionSpec(
            id="alarm-outbox",
            handler="functions.alarm_evaluation.handler.alarm_outbox_handler",
            description="Publishes each alarm an evaluation raised to the clinical-alarms topic (stream)",
            timeout_seconds=30,
            publishes_to_topics=("clinical-alarms",),
            stream_source=StreamSource(
                table="evaluations", on_failure_queue="alarm-outbox-failures", key_prefix=("sk", "EVENT#"),
            ),
        ),
        FunctionSpec(
            id="alarm-outbox-recovery",
            handler="functions.alarm_evaluation.handler.alarm_outbox_recovery_handler",
            description="Publishes the raised alarms of stream batches the alarm outbox gave up on",
            timeout_seconds=60,
            tables=(TableAccess("evaluations", ("BatchGetItem",), indexes=("by-evaluated-hour",)),),
            reads_streams=("evaluations",),
            publishes_to_topics=("clinical-alarms",),
            queue_source=QueueSource(queue="alarm-outbox-failures"),
        ),
        FunctionSpec(
            id="worklist",
            handler="functions.worklist.handler.handler",
            description="The clinicians' worklist, an episode's measurements, answers and alarms, "
            "acknowledgement",
            # Acknowledging the GREEN uploads of a large organisation writes one head per episode.
            timeout_seconds=30,
            # The episodes table says who treats and monitors an episode; each read is access-logged.
            tables=(
                TableAccess("episodes", ("GetItem",)),
                TableAccess("evaluations", ("GetItem", "Query", "UpdateItem"),
                            indexes=("worklist", "by-alarm-id", "readings-by-time")),
            ),
            appends_to_tables=("access-log",),
        ),
        # The missed-measurement schedule and the pauses of it (functions/missed_measurements): active
        # episodes from the episodes table's index by status, heads, BLUE alarms and events in evaluations.
        FunctionSpec(
            id="missed-measurements",
            handler="functions.missed_measurements.handler.schedule_handler",
            description="Raises a BLUE alarm for each measurement an active episode's schedule missed",
            # A run reads every active episode's head in batches; one cut short is finished by the next.
            timeout_seconds=300,
            tables=(
                TableAccess("episodes", ("GetItem",), indexes=("by-status",)),
                TableAccess("evaluations", ("BatchGetItem", "PutItem", "UpdateItem")),
            ),
            schedule=ScheduleSpec(rate_minutes=15),
        ),
        FunctionSpec(
            id="monitoring-pauses",
            handler="functions.missed_measurements.api.pauses_handler",
            description="Pauses of an episode's missed-measurement schedule (a hospital stay, a holiday)",
            tables=(
                TableAccess("episodes", ("GetItem",)),
                TableAccess("evaluations", ("GetItem", "Query", "PutItem", "UpdateItem")),
            ),
            appends_to_tables=("access-log",),
        ),
        # The alarm evaluator (functions/alarm_evaluation): each accepted upload judged under the
        # citizen's open episodes; readings, alarms, the worklist's head and the "upload evaluated" event
        # in the evaluations table.
        FunctionSpec(
            id="alarm-evaluation",
            handler="functions.alarm_evaluation.handler.measurements_handler",
            description="Judges each accepted upload against its episodes' thresholds and raises alarms",
            # A late reading re-evaluates a year of readings of its type at most: well inside 30 s.
            timeout_seconds=30,
            tables=(
                TableAccess("episodes", ("Query",)),
                TableAccess("evaluations", ("GetItem", "Query", "PutItem", "UpdateItem")),
            ),
            queue_source=QueueSource(queue="measurements"),
        ),
        FunctionSpec(
            id="measurement-invalidation",
            handler="functions.alarm_evaluation.api.invalidation_handler",
            description="Invalidates a wrong reading: kept and marked, its alarm off the worklist",
            tables=(
                TableAccess("episodes", ("Query",)),
                TableAccess("evaluations", ("GetItem", "Query", "PutItem", "UpdateItem")),
            ),
            appends_to_tables=("access-log",),
        ),
        # Cross-sector sharing (functions/cross_sector_sharing): each "upload evaluated" event becomes a FHIR
        # Bundle published once to the sharing topic, to the organisations related to the citizen at publish
        # time while the citizen's consent holds; the citizen's CPR number and consent are in citizens.
        FunctionSpec(
            id="sharing-publisher",
            handler="functions.cross_sector_sharing.handler.publisher_handler",
            description="Publishes each evaluated upload as a FHIR Bundle to the sharing topic",
            timeout_seconds=30,
            tables=(TableAccess("citizens", ("BatchGetItem",)), TableAccess("episodes", ("BatchGetItem",))),
            publishes_to_topics=(SHARING_TOPIC,),
            queue_source=QueueSource(queue="evaluated-uploads"),
            decrypts_with_keys=("citizen-profile",),  # the CPR number the Bundle's Patient carries
            shares_data=True,
        ),
        FunctionSpec(
            id="sharing-api",
            handler="functions.cross_sector_sharing.api.handler",
            description="The citizen's sharing consent and the treating doctor's FHIR Observation search",
            tables=(
                TableAccess("citizens", ("GetItem", "PutItem")),
                TableAccess("episodes", ("Query", "BatchGetItem")),
                TableAccess("evaluations", indexes=("readings-by-time",)),
            ),
            appends_to_tables=("access-log",),
            macs_with_keys=("citizen-pseudonym",),
            shares_data=True,
        ),
        # The citizen's view (functions/citizen_view): who looked at the citizen's data and their own
        # measurements (the patient id the authorizer found by the CPR number), and an episode's access log
        # for its monitoring organisation; every view is itself logged.
        FunctionSpec(
            id="citizen-view",
            handler="functions.citizen_view.handler.handler",
            description="A citizen's access log and measurements, and an episode's access log",
            tables=(
                TableAccess("access-log", ("Query",)),
                TableAccess("episodes", ("GetItem", "Query", "BatchGetItem")),
                TableAccess("evaluations", indexes=("readings-by-time",)),
            ),
            appends_to_tables=("access-log",),
        ),
    ),
    routes=(
        _route("POST", "/v1/devices", "devices"),
        _route("DELETE", "/v1/devices/{device_id}", "devices"),
        _route("POST", "/v1/devices/me/credential", "devices"),
        _route("POST", "/v1/measurements", "device-uploads"),
        _route("POST", "/v1/referrals", "referral-intake"),
        _route("GET", "/v1/episodes/{episode_id}", "referral-intake"),
        _route("GET", "/v1/episodes/{episode_id}/citizen", "referral-intake"),
        _route("PUT", "/v1/episodes/{episode_id}/thresholds", "referral-intake"),
        _route("POST", "/v1/episodes/{episode_id}/handover", "referral-intake"),
        _route("DELETE", "/v1/episodes/{episode_id}/handover", "referral-intake"),
        _route("POST", "/v1/episodes/{episode_id}/handover/accept", "referral-intake"),
        _route("POST", "/v1/episodes/{episode_id}/handover/decline", "referral-intake"),
        _route("POST", "/v1/episodes/{episode_id}/end", "referral-intake"),
        _route("GET", "/v1/episodes/{episode_id}/orders/{order_id}/contact", "referral-intake"),
        _route("GET", "/v1/worklist", "worklist"),
        _route("POST", "/v1/worklist/acknowledge-green", "worklist"),
        _route("GET", "/v1/episodes/{episode_id}/measurements", "worklist"),
        _route("GET", "/v1/episodes/{episode_id}/alarms", "worklist"),
        _route("GET", "/v1/episodes/{episode_id}/answers", "worklist"),
        _route("POST", "/v1/alarms/{alarm_id}/acknowledge", "worklist"),
        _route("POST", "/v1/episodes/{episode_id}/pauses", "monitoring-pauses"),
        _route("GET", "/v1/episodes/{episode_id}/pauses", "monitoring-pauses"),
        _route("POST", "/v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate",
               "measurement-invalidation"),
        _route("POST", "/v1/consents", "sharing-api"),
        _route("POST", "/fhir/Observation/_search", "sharing-api"),
        _route("GET", "/v1/me/access-log", "citizen-view"),
        _route("GET", "/v1/me/measurements", "citizen-view"),
        _route("GET", "/v1/episodes/{episode_id}/access-log", "citizen-view"),
    ),
    authorizer="authorizer",
)


@dataclass(frozen=True)
class PlatformSettings:
    """What differs between deployments (a stage's config file, or the embedded mode)."""

    stage: str
    token_issuer: str  # the identity provider that issues people's and systems' JWTs
    token_audience: str
    jwks_uri: str  # where that issuer publishes its public keys
    device_credential_issuer: str  # Telehub itself, for the device credentials it signs
    device_credential_ttl_days: int = 365
    log_level: str = "INFO"
    # The nationally agreed types shared across sectors (catalogue types, blood_pressure, and
    # "questionnaire" for the answers); nothing else leaves Telehub on the sharing path.
    shared_measurement_types: tuple[str, ...] = ()
    # How long each access-log entry is kept (its TTL); the embedded mode keeps the dev stage's two years.
    access_log_retention_days: int = MINIMUM_RETENTION_DAYS
    # The identity provider's clients (a token's azp) whose tokens the authorizer takes; none: a token
    # naming a client is refused (the embedded mode takes its web app's, telehub-clinician-web).
    token_client_ids: tuple[str, ...] = ()
    # The organisations with a usage-plan bucket of their own (functions/authorizer/usage.py).
    usage_plan_organisations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceNames:
    """Physical names of the resources a function reaches (CDK tokens or real values)."""

    tables: dict[str, str]
    queue_urls: dict[str, str]
    topic_arns: dict[str, str]
    key_ids: dict[str, str]


def function_environment(
    function: FunctionSpec, names: ResourceNames, platform: PlatformSettings
) -> dict[str, str]:
    """The environment of one function: the same in the CDK stack and in the embedded mode."""
    environment = {
        "POWERTOOLS_SERVICE_NAME": f"telehub-{function.id}",
        "POWERTOOLS_METRICS_NAMESPACE": "Telehub",
        "POWERTOOLS_LOG_LEVEL": platform.log_level,
        "TELEHUB_STAGE": platform.stage,
        "TOKEN_ISSUER": platform.token_issuer,
        "TOKEN_AUDIENCE": platform.token_audience,
        "JWKS_URI": platform.jwks_uri,
        "DEVICE_CREDENTIAL_ISSUER": platform.device_credential_issuer,
        "DEVICE_CREDENTIAL_TTL_DAYS": str(platform.device_credential_ttl_days),
    }
    for table_id in {*function.reads_tables, *function.writes_tables, *function.appends_to_tables}:
        environment[SPEC.table(table_id).env_name] = names.tables[table_id]
    if ACCESS_LOG_TABLE in function.appends_to_tables:
        environment[ACCESS_LOG_RETENTION_ENV] = str(platform.access_log_retention_days)
    for queue_id in function.sends_to_queues:
        environment[SPEC.queue(queue_id).env_name] = names.queue_urls[queue_id]
    for topic_id in function.publishes_to_topics:
        environment[TopicSpec(topic_id).env_name] = names.topic_arns[topic_id]
    for key_id in {*function.signs_with_keys, *function.macs_with_keys, *function.verifies_with_keys,
                   *function.encrypts_with_keys, *function.decrypts_with_keys}:
        environment[SPEC.key(key_id).env_name] = names.key_ids[key_id]
    if function.id == SPEC.authorizer:
        environment[ROUTE_ROLES_ENV] = route_roles(SPEC.routes)
        environment[TOKEN_CLIENT_IDS_ENV] = ",".join(platform.token_client_ids)
        environment[USAGE_PLAN_ORGANISATIONS_ENV] = ",".join(platform.usage_plan_organisations)
    if function.shares_data:
        environment[SHARED_TYPES_ENV] = ",".join(platform.shared_measurement_types)
    environment.update(function.environment)
    return environment


ROUTE_ROLES_ENV = "ROUTE_ROLES"
TOKEN_CLIENT_IDS_ENV = "TOKEN_CLIENT_IDS"
USAGE_PLAN_ORGANISATIONS_ENV = "USAGE_PLAN_ORGANISATIONS"
SHARED_TYPES_ENV = "SHARED_MEASUREMENT_TYPES"
ACCESS_LOG_TABLE = "access-log"
ACCESS_LOG_RETENTION_ENV = "ACCESS_LOG_RETENTION_DAYS"


def route_roles(routes: tuple[RouteSpec, ...]) -> str:
    """Compact JSON ``[[method, path, [roles]], ...]`` of the authorized routes, for the authorizer's policy.

    Lambda allows 4 KB of environment in all, so no spaces and one entry per route.
    """
    entries = [[route.method, route.path, list(route.roles)] for route in routes if route.authorized]
    return json.dumps(entries, separators=(",", ":"))
