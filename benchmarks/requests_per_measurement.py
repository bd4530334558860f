"""(b) AWS requests per measurement on the ingest path, counted from botocore events under moto.

One upload of 20 measurements goes the whole way a deployed upload goes: the TOKEN authorizer for
the device credential, the upload API function, and the outbox function run over the upload's
DynamoDB stream record (as Lambda's event source mapping delivers it). Every API call the
functions make through their shared boto3 session (functions.shared.aws) is counted with a
``before-call`` hook registered on that session before any client exists, so every client the
functions create carries it. The harness itself (creating resources, reading the stream, checking
the queue) uses a separate session and is not counted; neither is the device registration before.

moto answers the calls, so only the counts mean anything here, never the times.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.report import Figure, heading, show
from benchmarks.sample import STAGE, api_event, upload_of
from embedded.gateway import authorizer_context, method_arn
from embedded.lambda_runtime import FunctionRuntime, forget_warm_state
from embedded.pollers import stream_record
from embedded.resources import create_resources
from functions.shared import aws
from functions.shared.observability import logger, metrics
from functions.shared.principal import Principal, Role
from infrastructure.resource_spec import SPEC, PlatformSettings, ResourceNames, function_environment

MEASUREMENTS = 20
BUDGET = 0.2  # AWS requests per measurement
NAIVE_REQUESTS_PER_MEASUREMENT = 6  # 1 API request + 5 writes (DESIGN §6)
NAIVE_DOLLARS_PER_MILLION = 17.0  # DESIGN §6
REGION = "eu-west-1"
LOGISTICS_CENTRE = "265161000016009"  # a SOR code
TEST_CPR = "2512489996"  # a test citizen (DESIGN §5)
PLATFORM = PlatformSettings(
    stage=STAGE,
    token_issuer="https://idp.bench.telehub.dk/",
    token_audience="telehub-bench",
    jwks_uri="https://idp.bench.telehub.dk/.well-known/jwks.json",
    device_credential_issuer="https://telehub.bench/device-credentials",
    log_level="WARNING",
)

# US-East list prices in USD (2025); other regions differ by 10-20 %. Lambda duration assumes
# each invocation bills ASSUMED_INVOCATION_MS at the function's memory (arm64).
PRICE_API_GATEWAY_REST_REQUEST = 3.50e-6
PRICE_LAMBDA_REQUEST = 0.20e-6
PRICE_LAMBDA_GB_SECOND_ARM = 0.0000133334
PRICE_DYNAMODB_WRITE_UNIT = 0.625e-6  # on-demand, per 1 KB written
PRICE_DYNAMODB_READ_UNIT = 0.125e-6  # on-demand, per 4 KB strongly consistent read
PRICE_SQS_REQUEST = 0.40e-6  # per 64 KB chunk of a request's payload
PRICE_KMS_REQUEST = 0.03e-4
ASSUMED_INVOCATION_MS = 100
INVOKED_FUNCTIONS = (SPEC.authorizer, "device-uploads", "upload-outbox")  # per upload, at most


class RequestCounter:
    """Counts botocore API calls (``before-call``) by service and operation while ``active``."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.payload_bytes: Counter[tuple[str, str]] = Counter()
        self.active = False

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.active:
            key = (model.service_model.service_id, model.name)
            self.calls[key] += 1
            self.payload_bytes[key] += _payload_bytes(key, params)

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def reset(self) -> None:
        self.calls.clear()
        self.payload_bytes.clear()


def _payload_bytes(key: tuple[str, str], request: dict[str, Any]) -> int:
    """What a call writes, for the cost estimate: the item (DynamoDB) or the messages (SQS).

    Both services speak JSON on the wire, so the serialised request body is read back."""
    service, operation = key
    if service == "DynamoDB" and operation == "PutItem":
        return dynamodb_item_bytes(json.loads(request["body"])["Item"])
    if service == "SQS" and operation in ("SendMessage", "SendMessageBatch"):
        return len(request["body"])
    return 0


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


@contextmanager
def _environment(variables: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables, and put the old values back afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def functions_environment(names: ResourceNames) -> dict[str, str | None]:
    """The union of every function's environment, as the embedded mode sets it by default."""
    variables: dict[str, str | None] = {}
    for function in SPEC.functions:
        variables.update(function_environment(function, names, PLATFORM))
    return variables


class IngestPath:
    """Telehub's functions, in this process, against moto resources created from the spec."""

    def __init__(self, harness: boto3.Session, names: ResourceNames) -> None:
        self.harness = harness
        self.names = names
        self.runtime = FunctionRuntime(STAGE, REGION)
        self._shard_iterator: str | None = None

    def register_device(self) -> str:
        logistics = Principal(role=Role.LOGISTICS, subject="bench-logistics", organisation=LOGISTICS_CENTRE)
        event = api_event("POST", "/v1/devices", {
            "cpr": TEST_CPR, "vendor": "Nonin", "model": "3230", "serial": "502012345",
            "measurement_types": ["spo2", "pulse", "blood_pressure", "weight", "temperature"],
        }, {**logistics.context(), "principalId": logistics.subject})
        reply = self.runtime.invoke(SPEC.function("devices"), event)
        assert reply["statusCode"] == 201, reply
        credential: str = json.loads(reply["body"])["credential"]
        return credential

    def upload(self, credential: str, upload: dict[str, Any]) -> None:
        arn = method_arn(REGION, STAGE, "POST", "/v1/measurements")
        policy = self.runtime.invoke(
            SPEC.function(SPEC.authorizer),
            {"type": "TOKEN", "authorizationToken": f"Bearer {credential}", "methodArn": arn},
        )
        event = api_event("POST", "/v1/measurements", upload, authorizer_context(policy, arn))
        reply = self.runtime.invoke(SPEC.function("device-uploads"), event)
        assert reply["statusCode"] == 202, reply

    def relay_stream(self) -> int:
        """Deliver the new stream records to the outbox function, as the event source mapping does."""
        streams = self.harness.client("dynamodbstreams")
        stream_arn = self.harness.client("dynamodb").describe_table(
            TableName=self.names.tables["uploads"])["Table"]["LatestStreamArn"]
        if self._shard_iterator is None:
            shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
            self._shard_iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        response = streams.get_records(ShardIterator=self._shard_iterator)
        self._shard_iterator = response["NextShardIterator"]
        records = [stream_record(record, stream_arn, REGION) for record in response["Records"]
                   if record["eventName"] == "INSERT"]
        result = self.runtime.invoke(SPEC.function("upload-outbox"), {"Records": records})
        assert not (result or {}).get("batchItemFailures"), result
        return len(records)

    def queued_messages(self) -> int:
        attributes = self.harness.client("sqs").get_queue_attributes(
            QueueUrl=self.names.queue_urls["measurements"], AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _print_breakdown(title: str, counter: RequestCounter) -> None:
    print(f"  {title}: {sum(counter.calls.values())} AWS requests for {MEASUREMENTS} measurements")
    for (service, operation), count in sorted(counter.calls.items()):
        size = counter.payload_bytes[(service, operation)]
        print(f"      {count} x {service} {operation}" + (f"  ({size} bytes written)" if size else ""))


def upload_cost(counter: RequestCounter) -> list[tuple[str, float]]:
    """The variable cost of one upload, item by item: the API request, the three invocations and
    the counted calls (DynamoDB by capacity units, SQS by 64 KB chunks)."""
    lines = [("API Gateway REST request", PRICE_API_GATEWAY_REST_REQUEST)]
    for function_id in INVOKED_FUNCTIONS:
        gb_seconds = SPEC.function(function_id).memory_mb / 1024 * ASSUMED_INVOCATION_MS / 1000
        lines.append((f"Lambda {function_id}, {ASSUMED_INVOCATION_MS} ms assumed",
                      PRICE_LAMBDA_REQUEST + gb_seconds * PRICE_LAMBDA_GB_SECOND_ARM))
    for (service, operation), count in sorted(counter.calls.items()):
        size = counter.payload_bytes[(service, operation)]
        name = f"{count} x {service} {operation}"
        if service == "DynamoDB" and operation == "PutItem":
            units = max(1, math.ceil(size / 1024 / count))
            lines.append((f"{name}, {units} WRU each", count * units * PRICE_DYNAMODB_WRITE_UNIT))
        elif service == "DynamoDB":
            lines.append((f"{name}, 1 RRU each", count * PRICE_DYNAMODB_READ_UNIT))
        elif service == "SQS":
            chunks = max(count, math.ceil(size / 65536))
            lines.append((f"{name}, {chunks} billed", chunks * PRICE_SQS_REQUEST))
        elif service == "KMS":
            lines.append((name, count * PRICE_KMS_REQUEST))
        else:
            lines.append((f"{name} (not priced)", 0.0))
    return lines


def run() -> list[Figure]:
    heading(f"(b) AWS requests per measurement, one upload of {MEASUREMENTS} measurements (moto)")
    counter = RequestCounter()
    figures = []
    forget_warm_state()  # the first upload meets cold functions, as after a deployment
    logger.setLevel(PLATFORM.log_level)  # the shared logger read POWERTOOLS_LOG_LEVEL when it was imported
    with _environment(ISOLATED_AWS), mock_aws():
        aws.reset()
        aws.session().events.register("before-call", counter)  # before any client: all clients inherit it
        harness = boto3.Session()
        names = create_resources(harness, stage=STAGE)
        with _environment(functions_environment(names)):
            path = IngestPath(harness, names)
            credential = path.register_device()  # not counted
            requests = 0  # the last upload's (warm functions), for the billed figure below
            for label, upload_id in (("first upload, cold functions", "bench-upload-0001"),
                                     ("next upload, warm functions", "bench-upload-0002")):
                counter.reset()
                with counter.counting():
                    path.upload(credential, upload_of(MEASUREMENTS, upload_id))
                    relayed = path.relay_stream()
                assert relayed == 1, f"expected one stream record, got {relayed}"
                _print_breakdown(label, counter)
                requests = sum(counter.calls.values())
                figures.append(show(Figure(f"AWS requests/measurement, {label}", requests / MEASUREMENTS, "",
                                           BUDGET)))
            assert path.queued_messages() == 2, "each upload should be one message on the measurements queue"
            print("  each upload reached the measurements queue as one message")
        aws.reset()
    forget_warm_state()
    metrics.clear_metrics()  # disabled metrics are kept, not flushed; later runs must not print them
    billed = 1 + len(INVOKED_FUNCTIONS) + requests  # the API request and the invocations as well
    figures.append(show(Figure("  with the API request and 3 invocations, warm", billed / MEASUREMENTS, "")))
    print(f"  naive reference: {NAIVE_REQUESTS_PER_MEASUREMENT} requests/measurement (1 API request + 5 "
          f"writes), about ${NAIVE_DOLLARS_PER_MILLION:.0f} per million measurements (DESIGN §6)")
    print("  Telehub per million measurements, warm (list prices; DynamoDB stream reads by Lambda are free):")
    lines = upload_cost(counter)
    for name, dollars in lines:
        print(f"      {name:<48} ${dollars / MEASUREMENTS * 1e6:7.3f}")
    per_million = sum(dollars for _, dollars in lines) / MEASUREMENTS * 1e6
    figures.append(show(Figure("USD per million measurements (estimate)", per_million, "")))
    share = per_million / NAIVE_DOLLARS_PER_MILLION
    figures.append(show(Figure(f"  as a share of the naive ~${NAIVE_DOLLARS_PER_MILLION:.0f}", share, "")))
    return figures


if __name__ == "__main__":
    run()
