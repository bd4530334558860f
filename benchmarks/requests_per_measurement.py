"""(b) AWS requests per measurement from the upload to the stored alarm and on to the FHIR Bundle on a
subscribing organisation's queue, counted from botocore events under moto.

One upload of 20 measurements goes the whole way a deployed upload goes: the TOKEN authorizer for
the device credential, the upload API function, the outbox function run over the upload's DynamoDB
stream record, and the alarm-evaluation function run over the message the outbox sent to the
measurements queue (each as Lambda's event source mapping delivers it). The upload carries a RED
SpO2, so the evaluation stores an alarm. Beyond the stored alarm, the two outboxes of the evaluations
table's stream (the evaluated-uploads queue, the clinical-alarms topic) are counted apart.

Every API call the functions make through their shared boto3 session (functions.shared.aws) is
counted with a ``before-call`` hook registered on that session before any client exists, so every
client the functions create carries it. The harness itself (creating resources, reading streams and
queues, checking what was stored) uses a separate session and is not counted; neither are the
referrals and device registrations before.

moto answers the calls, so only the counts mean anything here, never the times.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
from moto import mock_aws

from benchmarks.episode_history import episode_with_history
from benchmarks.report import Figure, heading, show
from benchmarks.sample import COPD_SESSION, STAGE, api_event, copd_measurements
from embedded.environment import environment
from embedded.gateway import authorizer_context, method_arn
from embedded.lambda_runtime import FunctionRuntime, forget_warm_state
from embedded.pollers import sqs_record, stream_record
from embedded.resources import create_resources
from functions.alarm_evaluation.repository import reading_item
from functions.shared import aws
from functions.shared.evaluation_records import ALARM_PREFIX, episode_partition
from functions.shared.observability import logger, metrics
from functions.shared.principal import Principal, Role
from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES
from infrastructure.resource_spec import (
    SPEC,
    PlatformSettings,
    ResourceNames,
    SharingSubscriber,
    function_environment,
)

MEASUREMENTS = 20
INGEST_BUDGET = 0.2  # AWS requests per measurement, from the authorizer to the measurements queue
TO_ALARM_BUDGET = 0.4  # the same with the evaluation, up to the stored alarm (issue 7)
END_TO_END_BUDGET = 0.6  # from the device's upload to the Bundle on a subscriber's queue (issue 8)
END_TO_END_DOLLARS_BUDGET = 1.00  # per million measurements, the same path at list prices (issue 8)
HISTORY_DAYS = 365  # for the reads of an older episode's readings
NAIVE_REQUESTS_PER_MEASUREMENT = 6  # 1 API request + 5 writes (DESIGN §6)
NAIVE_DOLLARS_PER_MILLION = 17.0  # DESIGN §6
REGION = "eu-west-1"
LOGISTICS_CENTRE = "265161000016009"  # a SOR code
GP, NURSES = "123456", "328081000016008"  # a GP's provider number, the monitoring nurses' SOR code
COPD_CITIZEN = "2512489996"  # test citizens (DESIGN §5): one referred for COPD,
COPD_AND_HEART_FAILURE_CITIZEN = "2512489997"  # one for COPD and heart failure (a scale judged under both)
PLATFORM = PlatformSettings(
    stage=STAGE,
    token_issuer="https://idp.bench.telehub.dk/",
    token_audience="telehub-bench",
    jwks_uri="https://idp.bench.telehub.dk/.well-known/jwks.json",
    device_credential_issuer="https://telehub.bench/device-credentials",
    log_level="WARNING",
    shared_measurement_types=COPD_SHARED_MEASUREMENT_TYPES,
)

# US-East list prices in USD (2025); other regions differ by 10-20 %. Lambda duration assumes
# each invocation bills ASSUMED_INVOCATION_MS at the function's memory (arm64).
PRICE_API_GATEWAY_REST_REQUEST = 3.50e-6
PRICE_LAMBDA_REQUEST = 0.20e-6
PRICE_LAMBDA_GB_SECOND_ARM = 0.0000133334
PRICE_DYNAMODB_WRITE_UNIT = 0.625e-6  # on-demand, per 1 KB written (a transaction's item: two units)
PRICE_DYNAMODB_READ_UNIT = 0.125e-6  # on-demand, per 4 KB strongly consistent read
PRICE_SQS_REQUEST = 0.40e-6  # per 64 KB chunk of a request's payload
PRICE_SNS_PUBLISH = 0.50e-6  # per 64 KB chunk; delivery to an SQS subscription is free
PRICE_KMS_REQUEST = 0.03e-4
ASSUMED_INVOCATION_MS = 100
EVALUATION = "evaluation (alarm-evaluation on the queued message)"
# The functions one upload invokes, at most, up to its stored alarm, and on to a subscriber's queue.
INVOKED_FUNCTIONS = (SPEC.authorizer, "device-uploads", "upload-outbox", "alarm-evaluation")
SHARING_FUNCTIONS = ("evaluation-outbox", "sharing-publisher")
SUBSCRIBERS = (SharingSubscriber(GP), SharingSubscriber(NURSES))


@dataclass
class Tally:
    """API calls by (service, operation): how many, the DynamoDB write units and the bytes sent."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    write_units: Counter[tuple[str, str]] = field(default_factory=Counter)
    payload_bytes: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.calls + other.calls, self.write_units + other.write_units,
                     self.payload_bytes + other.payload_bytes)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.calls - other.calls, self.write_units - other.write_units,
                     self.payload_bytes - other.payload_bytes)

    def operations(self) -> str:
        return ", ".join(f"{count} x {service} {operation}"
                         for (service, operation), count in sorted(self.calls.items()))


class RequestCounter:
    """Counts botocore API calls (``before-call``) by service and operation while ``counting``."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.active = False

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.active:
            key = (model.service_model.service_id, model.name)
            self.tally.calls[key] += 1
            self.tally.write_units[key] += _write_units(key, params)
            self.tally.payload_bytes[key] += _payload_bytes(key, params)

    @contextmanager
    def counting(self) -> Iterator[Tally]:
        """The calls made inside the block, in a tally of their own."""
        self.tally = Tally()
        self.active = True
        try:
            yield self.tally
        finally:
            self.active = False


def _write_units(key: tuple[str, str], request: dict[str, Any]) -> int:
    """DynamoDB's write units of a call: per 1 KB of each item written, twice in a transaction.

    DynamoDB speaks JSON on the wire, so the serialised request body is read back. An Update is
    counted at the size of its key and the values it sets: a lower bound of the item it leaves."""
    service, operation = key
    if service != "DynamoDB" or operation not in ("PutItem", "TransactWriteItems"):
        return 0
    body = json.loads(request["body"])
    if operation == "PutItem":
        return _units(dynamodb_item_bytes(body["Item"]))
    units = 0
    for entry in body["TransactItems"]:
        if "Put" in entry:
            units += 2 * _units(dynamodb_item_bytes(entry["Put"]["Item"]))
        elif "Update" in entry:
            update = entry["Update"]
            units += 2 * _units(dynamodb_item_bytes({**update["Key"], **update["ExpressionAttributeValues"]}))
    return units


def _units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _payload_bytes(key: tuple[str, str], request: dict[str, Any]) -> int:
    """What a message call sends, for the cost estimate: SQS's and SNS's are billed by 64 KB chunks.

    SQS speaks JSON on the wire, SNS a form (botocore hands the hook its fields)."""
    _, operation = key
    if operation not in ("SendMessage", "SendMessageBatch", "Publish", "PublishBatch"):
        return 0
    body = request["body"]
    return len(urlencode(body) if isinstance(body, dict) else body)


def dynamodb_item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in wire format: names plus values, with its container overheads."""
    return sum(len(name.encode()) + _attribute_bytes(value) for name, value in item.items())


def _attribute_bytes(value: dict[str, Any]) -> int:
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "BOOL" or kind == "NULL":
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + _attribute_bytes(item) for name, item in content.items())
    if kind == "L":
        return 3 + sum(1 + _attribute_bytes(item) for item in content)
    return len(str(content).encode())


# No real AWS account is reachable from the benchmark (as in tests/conftest.py).
ISOLATED_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_ENDPOINT_URL": None, "AWS_PROFILE": None,
    "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF documents on the console
}


def functions_environment(names: ResourceNames) -> dict[str, str | None]:
    """The union of every function's environment, as the embedded mode sets it by default."""
    variables: dict[str, str | None] = {}
    for function in SPEC.functions:
        variables.update(function_environment(function, names, PLATFORM))
    return variables


@dataclass(frozen=True)
class UploadRequests:
    """The calls of one upload: to the measurements queue, its evaluation, the evaluation outbox, the alarm
    outbox, and the sharing publisher."""

    ingest: Tally
    evaluation: Tally
    evaluation_outbox: Tally
    alarm_outbox: Tally
    sharing: Tally

    @property
    def to_alarm(self) -> Tally:
        return self.ingest + self.evaluation

    @property
    def end_to_end(self) -> Tally:
        """From the device's upload to the Bundle on the subscriber's queue."""
        return self.to_alarm + self.evaluation_outbox + self.sharing


class Telehub:
    """Telehub's functions, in this process, against moto resources created from the spec; queues and
    streams are delivered to their functions as the event source mappings deliver them."""

    def __init__(self, harness: boto3.Session, names: ResourceNames) -> None:
        self.harness = harness
        self.names = names
        self.runtime = FunctionRuntime(STAGE, REGION)
        self._shard_iterators: dict[str, str] = {}  # per function: each mapping reads at its own place

    def refer(self, cpr: str, area: str) -> str:
        """A GP refers the citizen for ``area``, monitored by the nurses; returns the episode id."""
        gp = Principal(role=Role.CLINICIAN, subject="bench-gp", organisation=GP)
        event = api_event("POST", "/v1/referrals", {
            "referral_id": f"bench-{cpr}-{area}", "citizen": {"cpr": cpr, "name": "Karen Jensen",
                                                              "phone": "+45 20 30 40 50"},
            "disease_area": area, "treating_organisation": GP, "monitoring_organisation": NURSES,
            "logistics_centre": LOGISTICS_CENTRE, "sharing_consent": "granted",
        }, {**gp.context(), "principalId": gp.subject})
        reply = self.runtime.invoke(SPEC.function("referral-intake"), event)
        assert reply["statusCode"] == 201, reply
        episode_id: str = json.loads(reply["body"])["episode_id"]
        return episode_id

    def register_device(self, cpr: str) -> str:
        logistics = Principal(role=Role.LOGISTICS, subject="bench-logistics", organisation=LOGISTICS_CENTRE)
        event = api_event("POST", "/v1/devices", {
            "cpr": cpr, "vendor": "Nonin", "model": "3230", "serial": f"5020{cpr}",
            # The tablet uploads the COPD session: registered for each of its types.
            "measurement_types": sorted({reading["type"] for reading in COPD_SESSION}),
        }, {**logistics.context(), "principalId": logistics.subject})
        reply = self.runtime.invoke(SPEC.function("devices"), event)
        assert reply["statusCode"] == 201, reply
        credential: str = json.loads(reply["body"])["credential"]
        return credential

    def upload_to_alarm(self, counter: RequestCounter, credential: str, upload_id: str,
                        episode_ids: list[str]) -> UploadRequests:
        """One upload with a RED SpO2, all the way to an alarm stored under each episode, then relayed."""
        alarms_before = {episode_id: self.stored_alarms(episode_id) for episode_id in episode_ids}
        # Measured together, just now: after the referrals, so that every value is judged.
        measurements = copd_measurements(MEASUREMENTS, datetime.now(UTC), red=True, spacing=timedelta(0))
        with counter.counting() as ingest:
            self.upload(credential, {"upload_id": upload_id, "measurements": measurements})
            relayed = self.relay_stream("upload-outbox")
        assert relayed == 1, f"expected one upload on the uploads table's stream, got {relayed}"
        with counter.counting() as evaluation:
            evaluated = self.evaluate_queued()
        assert evaluated == 1, f"expected one message on the measurements queue, got {evaluated}"
        for episode_id, before in alarms_before.items():
            assert self.stored_alarms(episode_id) == before + 1, "the RED SpO2 should store one alarm"
        with counter.counting() as evaluation_outbox:
            events = self.relay_stream("evaluation-outbox")
        assert events == len(episode_ids), f"expected an event per episode, got {events}"
        with counter.counting() as alarm_outbox:
            self.relay_stream("alarm-outbox")
        with counter.counting() as sharing:
            shared = self.deliver_queued("evaluated-uploads", "sharing-publisher")
        assert shared == len(episode_ids), f"expected an evaluated event per episode, got {shared}"
        arrived = self.drain(SUBSCRIBERS[0])
        assert arrived == len(episode_ids), f"expected a Bundle per episode on the GP's queue, got {arrived}"
        return UploadRequests(ingest, evaluation, evaluation_outbox, alarm_outbox, sharing)

    def upload(self, credential: str, upload: dict[str, Any]) -> None:
        arn = method_arn(REGION, STAGE, "POST", "/v1/measurements")
        policy = self.runtime.invoke(
            SPEC.function(SPEC.authorizer),
            {"type": "TOKEN", "authorizationToken": f"Bearer {credential}", "methodArn": arn},
        )
        event = api_event("POST", "/v1/measurements", upload, authorizer_context(policy, arn))
        reply = self.runtime.invoke(SPEC.function("device-uploads"), event)
        assert reply["statusCode"] == 202, reply

    def relay_stream(self, function_id: str) -> int:
        """Deliver the function's new stream records, as its event source mapping does (INSERTs whose key
        has the mapping's prefix); return how many."""
        function = SPEC.function(function_id)
        source = function.stream_source
        assert source is not None, f"{function_id} reads no stream"
        streams = self.harness.client("dynamodbstreams")
        stream_arn = self.harness.client("dynamodb").describe_table(
            TableName=self.names.tables[source.table])["Table"]["LatestStreamArn"]
        if function_id not in self._shard_iterators:
            shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
            self._shard_iterators[function_id] = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        response = streams.get_records(ShardIterator=self._shard_iterators[function_id])
        self._shard_iterators[function_id] = response["NextShardIterator"]
        attribute, prefix = source.key_prefix or ("", "")
        records = [stream_record(record, stream_arn, REGION) for record in response["Records"]
                   if record["eventName"] in source.event_names
                   and record["dynamodb"]["Keys"].get(attribute, {}).get("S", "").startswith(prefix)]
        if records:
            result = self.runtime.invoke(function, {"Records": records})
            assert not (result or {}).get("batchItemFailures"), result
        return len(records)

    def evaluate_queued(self) -> int:
        """Deliver the measurements queue's messages to the evaluator, as its event source mapping does."""
        return self.deliver_queued("measurements", "alarm-evaluation")

    def deliver_queued(self, queue_id: str, function_id: str) -> int:
        """Deliver a queue's messages to its consumer, as its event source mapping does; return how many."""
        sqs = self.harness.client("sqs")
        queue_url = self.names.queue_urls[queue_id]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       MessageSystemAttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        result = self.runtime.invoke(SPEC.function(function_id),
                                     {"Records": [sqs_record(m, queue_arn, REGION) for m in messages]})
        assert result == {"batchItemFailures": []}, result
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(messages)])
        return len(messages)

    def drain(self, subscriber: SharingSubscriber) -> int:
        """Take what arrived on the subscriber's queue (the subscriber's reads, not Telehub's: uncounted)."""
        sqs = self.harness.client("sqs")
        queue_url = self.names.queue_urls[subscriber.queue.id]
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            assert json.loads(message["Body"])["resourceType"] == "Bundle"
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def stored_alarms(self, episode_id: str) -> int:
        return int(self.harness.client("dynamodb").query(
            TableName=self.names.tables["evaluations"], Select="COUNT", ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :alarms)",
            ExpressionAttributeValues={":pk": episode_partition(episode_id), ":alarms": {"S": ALARM_PREFIX}},
        )["Count"])


def _print_breakdown(title: str, tally: Tally, per: str = f"{MEASUREMENTS} measurements") -> None:
    print(f"  {title}: {tally.total} AWS requests for {per}")
    for (service, operation), count in sorted(tally.calls.items()):
        units = tally.write_units[(service, operation)]
        size = tally.payload_bytes[(service, operation)]
        detail = f"  ({units} write units)" if units else f"  ({size} bytes sent)" if size else ""
        print(f"      {count} x {service} {operation}{detail}")


def _over_by(figure: Figure, requests: int, reason: str) -> None:
    """Under an OVER figure: by how many requests per upload, and why."""
    if figure.verdict == "OVER" and figure.budget is not None:
        over = requests - figure.budget * MEASUREMENTS
        per_measurement = figure.value - figure.budget
        print(f"      over by {over:g} request(s) per upload ({per_measurement:.2f}/measurement): {reason}")


def upload_cost(tally: Tally, functions: tuple[str, ...] = INVOKED_FUNCTIONS) -> list[tuple[str, float]]:
    """The variable cost of one upload, item by item: the API request, the invocations of ``functions``
    and the counted calls (DynamoDB writes by write units, reads at one unit each; SQS and SNS by 64 KB
    chunks)."""
    lines = [("API Gateway REST request", PRICE_API_GATEWAY_REST_REQUEST)]
    for function_id in functions:
        gb_seconds = SPEC.function(function_id).memory_mb / 1024 * ASSUMED_INVOCATION_MS / 1000
        lines.append((f"Lambda {function_id}, {ASSUMED_INVOCATION_MS} ms assumed",
                      PRICE_LAMBDA_REQUEST + gb_seconds * PRICE_LAMBDA_GB_SECOND_ARM))
    for (service, operation), count in sorted(tally.calls.items()):
        name = f"{count} x {service} {operation}"
        chunks = max(count, math.ceil(tally.payload_bytes[(service, operation)] / 65536))
        if service == "DynamoDB" and (units := tally.write_units[(service, operation)]):
            lines.append((f"{name}, {units} WRU", units * PRICE_DYNAMODB_WRITE_UNIT))
        elif service == "DynamoDB":
            lines.append((f"{name}, 1 RRU each", count * PRICE_DYNAMODB_READ_UNIT))
        elif service == "SQS":
            lines.append((f"{name}, {chunks} billed", chunks * PRICE_SQS_REQUEST))
        elif service == "SNS":
            lines.append((f"{name}, {chunks} billed", chunks * PRICE_SNS_PUBLISH))
        elif service == "KMS":
            lines.append((name, count * PRICE_KMS_REQUEST))
        else:
            lines.append((f"{name} (not priced)", 0.0))
    return lines


def run() -> list[Figure]:
    heading(f"(b) AWS requests per measurement, one upload of {MEASUREMENTS} measurements up to its stored "
            "alarm (moto)")
    counter = RequestCounter()
    forget_warm_state()  # the first upload meets cold functions, as after a deployment
    logger.setLevel(PLATFORM.log_level)  # the shared logger read POWERTOOLS_LOG_LEVEL when it was imported
    with environment(ISOLATED_AWS), mock_aws():
        aws.reset()
        aws.session().events.register("before-call", counter)  # before any client: all clients inherit it
        harness = boto3.Session()
        names = create_resources(harness, stage=STAGE, spec=SPEC.with_sharing_subscribers(SUBSCRIBERS))
        with environment(functions_environment(names)):
            figures, warm = _measure(Telehub(harness, names), counter)
        aws.reset()
    forget_warm_state()
    metrics.clear_metrics()  # disabled metrics are kept, not flushed; later runs must not print them
    return figures + _costs(warm) + _reads_of_a_year()


def _measure(telehub: Telehub, counter: RequestCounter) -> tuple[list[Figure], UploadRequests]:
    """The figures of a COPD citizen's first (cold) and next (warm) upload and of a COPD and heart-failure
    citizen's upload; and the warm upload's calls."""
    copd = telehub.refer(COPD_CITIZEN, "copd")  # not counted, nor the device
    credential = telehub.register_device(COPD_CITIZEN)
    figures: list[Figure] = []
    cold = telehub.upload_to_alarm(counter, credential, "bench-upload-0001", [copd])
    warm = telehub.upload_to_alarm(counter, credential, "bench-upload-0002", [copd])
    for label, title, upload in (("cold", "first upload, cold functions", cold),
                                 ("warm", "next upload, warm functions", warm)):
        print(f"  COPD citizen, {title}:")
        _print_breakdown("ingest (authorizer, upload API, upload outbox)", upload.ingest)
        figures.append(show(Figure(f"AWS requests/measurement, ingest, {label}",
                                   upload.ingest.total / MEASUREMENTS, "", INGEST_BUDGET)))
        _print_breakdown(EVALUATION, upload.evaluation, "the upload")
        figures.append(show(Figure(f"DynamoDB requests/upload, evaluation, COPD, {label}",
                                   upload.evaluation.total, "")))
        figure = show(Figure(f"AWS requests/measurement to the stored alarm, {label}",
                             upload.to_alarm.total / MEASUREMENTS, "", TO_ALARM_BUDGET))
        figures.append(figure)
        extra = (upload.to_alarm - warm.to_alarm).operations()
        _over_by(figure, upload.to_alarm.total, f"the cold functions' own {extra}, once per container"
                 if extra else "the evaluation's reads and its transaction (" + upload.evaluation.operations()
                 + ") on top of the ingest path's")

    both = [telehub.refer(COPD_AND_HEART_FAILURE_CITIZEN, area) for area in ("copd", "heart_failure")]
    two_areas = telehub.upload_to_alarm(counter, telehub.register_device(COPD_AND_HEART_FAILURE_CITIZEN),
                                        "bench-upload-0003", both)
    print("  COPD and heart-failure citizen, warm functions (weight, SpO2, pulse and blood pressure judged "
          "under both episodes):")
    _print_breakdown(EVALUATION, two_areas.evaluation, "the upload")
    figures.append(show(Figure("DynamoDB requests/upload, evaluation, COPD + heart failure",
                               two_areas.evaluation.total, "")))
    figure = show(Figure("AWS requests/measurement to the stored alarm, COPD + HF, warm",
                         two_areas.to_alarm.total / MEASUREMENTS, "", TO_ALARM_BUDGET))
    figures.append(figure)
    _over_by(figure, two_areas.to_alarm.total, "the second episode's own reads and transaction ("
             + (two_areas.evaluation - warm.evaluation).operations() + "): the evaluation reads and commits "
             "each episode of the citizen apart")

    _print_breakdown("the alarm outbox (clinical-alarms topic), COPD, warm: a branch off the data's path",
                     warm.alarm_outbox, "the upload")
    for label, upload in (("cold", cold), ("warm", warm)):
        _print_breakdown(f"on to the GP's queue, {label}: the evaluation outbox, then the sharing publisher",
                         upload.evaluation_outbox + upload.sharing, "the upload")
        figures.append(show(Figure(f"SNS publishes/upload, sharing, {label}",
                                   upload.sharing.calls[("SNS", "PublishBatch")]
                                   + upload.sharing.calls[("SNS", "Publish")], "", 1)))
        figure = show(Figure(f"AWS requests/measurement, upload to a subscriber's queue, {label}",
                             upload.end_to_end.total / MEASUREMENTS, "", END_TO_END_BUDGET))
        figures.append(figure)
        _over_by(figure, upload.end_to_end.total, "the sharing publisher's read of the sharing state, its "
                 "opening of the citizen's sealed CPR number and its publish, once per event at this "
                 "traffic (a batch of events shares the read and the publish, and opens each citizen's "
                 "CPR number once)")
    figures.append(show(Figure("  the same, COPD + HF (a Bundle per episode), warm",
                               two_areas.end_to_end.total / MEASUREMENTS, "", END_TO_END_BUDGET)))
    invocations = len(INVOKED_FUNCTIONS) + len(SHARING_FUNCTIONS)
    billed = 1 + invocations + warm.end_to_end.total
    figures.append(show(Figure(f"  with the API request and {invocations} invocations, warm",
                               billed / MEASUREMENTS, "")))
    print("  each upload became one queue message, an alarm stored under each of its episodes, an event "
          "relayed per episode and a Bundle per episode on the GP's queue")
    return figures, warm


def _costs(warm: UploadRequests) -> list[Figure]:
    print(f"  naive reference: {NAIVE_REQUESTS_PER_MEASUREMENT} requests/measurement (1 API request + 5 "
          f"writes), about ${NAIVE_DOLLARS_PER_MILLION:.0f} per million measurements (DESIGN §6)")
    figures = []
    for title, tally, functions, budget in (
            ("to the stored alarm", warm.to_alarm, INVOKED_FUNCTIONS, None),
            ("to a subscriber's queue", warm.end_to_end, INVOKED_FUNCTIONS + SHARING_FUNCTIONS,
             END_TO_END_DOLLARS_BUDGET)):
        print(f"  Telehub per million measurements, warm, {title} (list prices; DynamoDB stream reads by "
              "Lambda and SNS deliveries to SQS are free):")
        lines = upload_cost(tally, functions)
        for name, dollars in lines:
            print(f"      {name:<52} ${dollars / MEASUREMENTS * 1e6:7.3f}")
        per_million = sum(dollars for _, dollars in lines) / MEASUREMENTS * 1e6
        figures.append(show(Figure(f"USD per million measurements {title} (estimate)", per_million, "",
                                   budget)))
        share = per_million / NAIVE_DOLLARS_PER_MILLION
        figures.append(show(Figure(f"  as a share of the naive ~${NAIVE_DOLLARS_PER_MILLION:.0f}", share,
                                   "")))
    return figures


def _reads_of_a_year() -> list[Figure]:
    """The read units above are one per read, true of a young episode only: the evaluation queries every
    reading of the episode on each upload. Their size after a year at the COPD schedule's rate (the cpu
    benchmark's history, stored as the repository stores it), at 4 KB per unit of a consistent read."""
    history = episode_with_history(HISTORY_DAYS)
    size = sum(dynamodb_item_bytes(reading_item(history.episode, reading)) for reading in history.readings)
    units, stored = math.ceil(size / 4096), len(history.readings)
    print(f"  after {HISTORY_DAYS} days at the COPD schedule's rate the episode holds {stored} readings, "
          f"{size / 1024:.0f} KB: the evaluation's Query of them reads {units} RRU per upload")
    per_million = units * PRICE_DYNAMODB_READ_UNIT / MEASUREMENTS * 1e6
    return [show(Figure(f"  + USD per million measurements reading {HISTORY_DAYS} days of history",
                        per_million, ""))]


if __name__ == "__main__":
    run()
