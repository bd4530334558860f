"""Faults injected into a running embedded system at run time, and taken out again: the load benchmark's
bad day (benchmarks/load.py) and its smoke test.

- **Throttling.** A fraction of the functions' DynamoDB and SQS calls is answered as AWS answers a throttled
  request (DynamoDB ``ProvisionedThroughputExceededException``, SQS ``RequestThrottled``, HTTP 400), without
  reaching moto, and each retry of a throttled attempt is throttled again with another probability (a hot
  partition stays hot for a while). The answer is given in botocore's ``before-send`` event of the
  functions' own clients (``functions.shared.aws``), so everything above the HTTP layer runs as against
  AWS: botocore's retries with their backoff, then the functions' handling of a throttle that outlasted
  them (a 503, a batch item failure, a stream batch retried). The event source mappings' own calls (the
  pollers') are never throttled.
- **Lost replies.** A fraction of the functions' DynamoDB writes (PutItem, UpdateItem, TransactWriteItems)
  reach the table and are applied, but their reply never comes back: the client sees a read timeout and
  botocore sends the same request again, as it does when a loaded service answers later than the client
  waits. The retry meets the first attempt's writes (DynamoDB would answer a retried transaction as the
  first by its ``ClientRequestToken``; moto cancels it on its conditions, and the functions' idempotent
  writes must make either come out the same).
- **A consumer crashing mid-batch.** The first batch a consumer receives, and every ``crash_every``-th after
  it, is processed for its first half only (rounded down), and the invocation then fails as a Lambda
  function that died there would: the event source mapping sees a function error and every record of the
  batch comes back, the processed ones included.

Faults hold from entering ``injected`` to leaving it; leaving restores the clients and the consumer.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from embedded.lambda_runtime import Invoke
from embedded.pollers import Poller, SqsPoller, StreamPoller
from functions.shared import aws

# What each throttled service answers: the error's code, as a JSON-protocol error names it.
THROTTLED_SERVICES: tuple[aws.ServiceName, ...] = ("dynamodb", "sqs")
LOST_REPLY_OPERATIONS = {"dynamodb": frozenset({"PutItem", "UpdateItem", "TransactWriteItems"})}
THROTTLE_ERRORS = {
    "dynamodb": ("com.amazonaws.dynamodb.v20120810", "ProvisionedThroughputExceededException"),
    "sqs": ("com.amazonaws.sqs", "RequestThrottled"),
}
MEASUREMENTS_CONSUMER = "alarm-evaluation<-sqs:measurements"  # the evaluator's poller (embedded.pollers)


class InjectedCrash(RuntimeError):
    """The function died part-way through its batch (a fault injected on purpose)."""


@dataclass(frozen=True)
class FaultPlan:
    throttled_fraction: float = 0.0  # of the functions' DynamoDB and SQS calls (their first attempts)
    throttled_again: float = 0.0  # the chance that a retry of a throttled attempt is throttled too
    lost_replies: float = 0.0  # of the functions' DynamoDB writes (their first attempts): applied, reply lost
    crash_every: int = 0  # the consumer's 1st batch and every crash_every-th after it crash; 0: none
    crashing_consumer: str = MEASUREMENTS_CONSUMER  # a poller's name
    seed: int = 2512

    @property
    def any(self) -> bool:
        return self.throttled_fraction > 0 or self.lost_replies > 0 or self.crash_every > 0

    def describe(self) -> str:
        if not self.any:
            return "no faults"
        parts = []
        if self.throttled_fraction:
            parts.append(f"{self.throttled_fraction:.0%} of the functions' DynamoDB and SQS calls throttled, "
                         f"{self.throttled_again:.0%} of their retries again")
        if self.lost_replies:
            parts.append(f"{self.lost_replies:.0%} of the functions' DynamoDB writes with their reply lost")
        if self.crash_every:
            every = "every batch" if self.crash_every == 1 else f"every {self.crash_every}th batch"
            parts.append(f"{self.crashing_consumer} crashing half-way through {every}")
        return "; ".join(parts)


@dataclass
class FaultCounts:
    """What was injected, for the report."""

    throttled: Counter[str] = field(default_factory=Counter)  # attempts answered, by "<service>.<operation>"
    lost_replies: Counter[str] = field(default_factory=Counter)  # writes applied, reply lost; by the same
    batches: int = 0  # the crashing consumer's batches while the fault held
    crashed_batches: int = 0
    records_before_crash: int = 0  # processed, then delivered again
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_throttle(self, call: str) -> None:
        with self._lock:
            self.throttled[call] += 1

    def count_lost_reply(self, call: str) -> None:
        with self._lock:
            self.lost_replies[call] += 1


@contextmanager
def injected(pollers: Sequence[Poller], plan: FaultPlan) -> Iterator[FaultCounts]:
    """The faults of ``plan`` while the block runs, in the running system whose ``pollers`` are given."""
    counts = FaultCounts()
    with ExitStack() as stack:
        if plan.throttled_fraction > 0 or plan.lost_replies > 0:
            faults = _ClientFaults(plan, random.Random(plan.seed), counts)
            for service in THROTTLED_SERVICES:
                stack.enter_context(faults.on(aws.client(service)))
        if plan.crash_every > 0:
            poller = _consumer(pollers, plan.crashing_consumer)
            stack.enter_context(consumer_wrapped(poller, lambda invoke: _CrashingConsumer(
                invoke, plan.crash_every, counts)))
        yield counts


@contextmanager
def consumer_wrapped(poller: SqsPoller | StreamPoller, wrap: Any) -> Iterator[None]:
    """The poller invokes ``wrap(its invoke)`` instead of its function while the block runs (the next batch
    on), then its function again."""
    original: Invoke = poller.invoke
    poller.invoke = wrap(original)
    try:
        yield
    finally:
        poller.invoke = original


def _consumer(pollers: Sequence[Poller], name: str) -> SqsPoller | StreamPoller:
    for poller in pollers:
        if poller.name == name and isinstance(poller, SqsPoller | StreamPoller):
            return poller
    raise ValueError(f"no queue or stream consumer named {name!r} is running")


class _ClientFaults:
    """Throttles and lost replies, answered in one ``before-send`` handler of a functions' client: botocore
    calls every handler of the event, and sends the request itself only if none answered."""

    def __init__(self, plan: FaultPlan, rng: random.Random, counts: FaultCounts) -> None:
        self._plan = plan
        self._rng = rng
        self._lock = threading.Lock()
        self._counts = counts
        self._throttled_calls: set[str] = set()  # invocation ids (botocore's) of calls throttled last attempt
        self._http = URLLib3Session()

    @contextmanager
    def on(self, client: Any) -> Iterator[None]:
        """Answer ``client``'s requests with the plan's faults, until the block ends."""
        service = client.meta.service_model.service_id.hyphenize()
        event, unique_id = f"before-send.{service}", f"telehub-injected-faults-{id(self)}"
        client.meta.events.register(event, self._answer, unique_id=unique_id)
        try:
            yield
        finally:
            client.meta.events.unregister(event, unique_id=unique_id)

    def _answer(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        call, first = _header(request, "amz-sdk-invocation-id"), _attempt(request) == 1
        plan = self._plan
        with self._lock:
            again = call in self._throttled_calls
            throttled = self._rng.random() < (plan.throttled_again if again else plan.throttled_fraction)
            if throttled:
                self._throttled_calls.add(call)
            else:
                self._throttled_calls.discard(call)
            lost = (not throttled and first and operation in LOST_REPLY_OPERATIONS.get(service, ())
                    and self._rng.random() < plan.lost_replies)
        if throttled:
            self._counts.count_throttle(f"{service}.{operation}")
            return throttled_reply(request, service)
        if lost:
            self._http.send(request)  # the service applies the write...
            self._counts.count_lost_reply(f"{service}.{operation}")
            raise ReadTimeoutError(endpoint_url=request.url)  # ...and the client stops waiting for its reply
        return None  # botocore sends the request


def throttled_reply(request: AWSPreparedRequest, service: str) -> AWSResponse:
    """The HTTP reply of a throttled JSON-protocol request to ``service`` (a key of THROTTLE_ERRORS)."""
    namespace, code = THROTTLE_ERRORS[service]
    body = json.dumps({"__type": f"{namespace}#{code}", "message": "Rate exceeded (injected)"}).encode()
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["Content-Length"] = str(len(body))
    # SQS's JSON protocol is query-compatible: the code a query client would see is in this header.
    headers["x-amzn-query-error"] = f"{code};Sender"
    return AWSResponse(request.url, 400, headers, _Body(body))


def _attempt(request: AWSPreparedRequest) -> int:
    """Which attempt of its call the request is (botocore's ``amz-sdk-request: attempt=N; max=M``)."""
    return int(_header(request, "amz-sdk-request", "attempt=1").split(";")[0].removeprefix("attempt="))


def _header(request: AWSPreparedRequest, name: str, default: str = "") -> str:
    value: str | bytes = request.headers.get(name, default)
    return value.decode() if isinstance(value, bytes) else value


class _Body:
    """The raw body AWSResponse reads its content from."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


class _CrashingConsumer:
    """A consumer function that dies half-way through its 1st batch and every ``every``-th batch after it."""

    def __init__(self, invoke: Invoke, every: int, counts: FaultCounts) -> None:
        self._invoke = invoke
        self._every = every
        self._counts = counts

    def __call__(self, event: dict[str, Any]) -> Any:
        records = event["Records"]
        batch = self._counts.batches
        self._counts.batches += 1
        if batch % self._every:
            return self._invoke(event)
        done = len(records) // 2
        if done:
            self._invoke({**event, "Records": records[:done]})
        self._counts.crashed_batches += 1
        self._counts.records_before_crash += done
        raise InjectedCrash(f"the function died after {done} of the batch's {len(records)} records")
