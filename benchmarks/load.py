"""(e) Load and faults: simulated tablets against the embedded mode for a fixed time, with a reconnect storm
and client retries, without and with injected faults; uploads per second, latency to the 202, and lost and
duplicated uploads (both must be 0).

The whole system runs in this process as ``telehub local`` runs it. Each tablet is a COPD citizen's home
collection point (embedded.simulator.HomeTablet: six measurements and the COPD questionnaire per upload),
referred by the GP and registered by the logistics centre over the API before the clock starts. Then, for
``seconds``:

- the online tablets upload one after another, a pause between two;
- half-way through, the offline tablets come back all at once (a reconnect storm) and each sends its
  backlog of uploads back to back, measured over the past days (the older ones late);
- a tablet retries an upload whose request timed out, failed to connect, or was answered 429 or 5xx, with
  the same upload id and body (its idempotency key), backing off; a fraction of first attempts wait only
  a few milliseconds for the reply, so that retries of uploads that were in fact stored are certain.

Then the system drains: the run waits until every upload a tablet got a 202 for has its event delivered to
the sharing publisher, redriving a DLQ that holds messages once the system has gone quiet, and holds each to
the tables, their streams and the queues (benchmarks/load_ledger.py). With faults (embedded/faults.py), a
fraction of the functions' DynamoDB and SQS calls is throttled, a fraction of their DynamoDB writes is applied
with the reply lost (botocore sends them again), and the evaluator crashes half-way through some of its
batches, from the first upload until the system has drained.
"""

from __future__ import annotations

import http.client
import logging
import random
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from benchmarks.load_ledger import EVALUATED, Ledger, QueueTap, Upload, Verdict, tapped, verify
from benchmarks.report import Figure, heading, show
from embedded.api_client import ApiReply, call
from embedded.faults import FaultCounts, FaultPlan, injected
from embedded.local import LocalOptions, LocalSystem
from embedded.organisations import GP_YDERNUMMER, LOGISTICS_CENTRE_SOR, MUNICIPALITY_SOR
from embedded.redrive import redrive
from embedded.simulator import COPD_KIT_TYPES, HomeTablet
from infrastructure.resource_spec import SPEC

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})  # a tablet tries these again; any other 4xx is final
FIRST_BACKOFF_SECONDS, LONGEST_BACKOFF_SECONDS = 0.2, 2.0
QUIET_SECONDS = 5.0  # no progress for this long while draining: look in the DLQs
# Test citizens (DESIGN §5): born 17 April 1948, serial numbers 9000 on; each run takes its own.
CITIZEN_BIRTH, FIRST_SERIAL, CITIZENS = "170448", 9000, 1000


@dataclass(frozen=True)
class LoadPlan:
    tablets: int = 6  # online from the start
    seconds: float = 20.0
    pause_seconds: float = 1.0  # an online tablet's pause between two uploads
    storm_tablets: int = 8  # offline until half-way, then all back at once
    backlog: int = 4  # uploads each of them kept while offline, measured BACKLOG_EVERY apart
    backlog_every: timedelta = timedelta(hours=9)
    client_timeout: float = 30.0  # seconds a tablet waits for a reply (API Gateway gives up after 29)
    impatient_fraction: float = 0.05  # of first attempts, which wait impatient_timeout only
    impatient_timeout: float = 0.02
    give_up_seconds: float = 120.0  # a tablet stops retrying an upload after this long (kept for later)
    drain_seconds: float = 300.0  # the system must have drained within this long after the last upload
    faults: FaultPlan = FaultPlan()
    first_citizen: int = 0  # the first test citizen's number: runs on one system take their own
    seed: int = 2512

    @property
    def citizens(self) -> int:
        return self.tablets + self.storm_tablets


@dataclass
class TabletStats:
    """What the tablets saw, written from their threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"online": [], "storm": []})
    attempts: int = 0
    timeouts: int = 0  # requests a tablet stopped waiting for (or could not send)
    retried: Counter[int] = field(default_factory=Counter)  # replies a tablet tried again after, by status
    refused: Counter[int] = field(default_factory=Counter)  # final 4xx: the upload was not accepted
    gave_up: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def accepted(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.latencies[phase].append(seconds)

    def attempted(self, timed_out: bool) -> None:
        with self._lock:
            self.attempts += 1
            self.timeouts += timed_out

    def answered(self, status: int, retried: bool) -> None:
        with self._lock:
            (self.retried if retried else self.refused)[status] += 1

    def given_up(self) -> None:
        with self._lock:
            self.gave_up += 1


@dataclass(frozen=True)
class LoadResult:
    plan: LoadPlan
    seconds: float  # from the first upload to the last 202
    drained_seconds: float  # from the last 202 until every accepted upload had gone the whole way
    stats: TabletStats
    verdict: Verdict
    faults: FaultCounts
    redriven: dict[str, int]  # DLQ -> messages moved back to its queue while draining
    deliveries: dict[str, int]  # queue -> deliveries to its consumer
    failed_polls: dict[str, int]  # poller -> polls that raised (logged; it went on), where any did
    stopped_pollers: list[str]  # pollers whose thread ended during the run (none should)

    @property
    def uploads_per_second(self) -> float:
        return self.verdict.accepted / self.seconds


@dataclass(frozen=True)
class Tablet:
    """An enrolled home collection point: the simulator with its device's credential and episode."""

    device_id: str
    episode_id: str
    simulator: HomeTablet


class Fleet:
    """The tablets of one run, enrolled over the API, and their uploads."""

    def __init__(self, system: LocalSystem, plan: LoadPlan) -> None:
        self.system = system
        self.plan = plan
        self.url = f"{system.gateway_url}/v1/measurements"
        self.ledger = Ledger()
        self.stats = TabletStats()
        self._random = random.Random(plan.seed)
        self._random_lock = threading.Lock()

    def enrol(self) -> list[Tablet]:
        assert self.system.issuer is not None, "start() first"
        gp = self.system.issuer.mint("clinician", organisation=GP_YDERNUMMER)
        centre = self.system.issuer.mint("logistics", organisation=LOGISTICS_CENTRE_SOR)
        tablets = []
        for number in range(self.plan.first_citizen, self.plan.first_citizen + self.plan.citizens):
            if not 0 <= number < CITIZENS:
                raise ValueError(f"test citizen {number} is outside 0..{CITIZENS - 1}")
            cpr = f"{CITIZEN_BIRTH}{FIRST_SERIAL + number}"
            referred = _settled(self.system.gateway_url + "/v1/referrals", gp, {
                "referral_id": f"load-{uuid.uuid4().hex[:12]}",
                "citizen": {"cpr": cpr, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "disease_area": "copd", "treating_organisation": GP_YDERNUMMER,
                "monitoring_organisation": MUNICIPALITY_SOR, "logistics_centre": LOGISTICS_CENTRE_SOR},
                self.plan.client_timeout)
            registered = _settled(self.system.gateway_url + "/v1/devices", centre, {
                "cpr": cpr, "vendor": "Nonin", "model": "3230", "serial": f"load-{uuid.uuid4().hex[:12]}",
                "measurement_types": list(COPD_KIT_TYPES)}, self.plan.client_timeout)
            tablets.append(Tablet(registered.body["device_id"], referred.body["episode_id"],
                                  HomeTablet(self.system.gateway_url, registered.body["credential"],
                                             seed=self.plan.seed + number)))
        return tablets

    def stay_online(self, tablet: Tablet, until: float) -> None:
        """Upload this morning's readings one after another until ``until`` (monotonic)."""
        while time.monotonic() < until:
            self.deliver(tablet, datetime.now(UTC), "online")
            time.sleep(self.plan.pause_seconds)

    def reconnect(self, tablet: Tablet, back: threading.Event) -> None:
        """Offline until ``back`` is set, then the backlog, oldest first, back to back."""
        back.wait()
        now = datetime.now(UTC)
        for age in range(self.plan.backlog, 0, -1):
            self.deliver(tablet, now - age * self.plan.backlog_every, "storm")

    def deliver(self, tablet: Tablet, finished_at: datetime, phase: str) -> None:
        """One upload, tried until a 202 (or a final refusal, or give_up_seconds): one latency sample."""
        readings = tablet.simulator.morning_readings(finished_at)
        upload = tablet.simulator.new_upload(readings, answers=HomeTablet.morning_answers(finished_at))
        started = time.monotonic()
        for attempt in range(1, 1_000):
            reply = self._attempt(tablet, upload, first=attempt == 1)
            if reply is not None and reply.status == 202:
                self.ledger.accept(Upload(tablet.device_id, upload["upload_id"], tablet.episode_id,
                                          measurements=len(readings)))
                self.stats.accepted(phase, time.monotonic() - started)
                return
            if reply is not None:
                self.stats.answered(reply.status, retried=reply.status in RETRIED_STATUSES)
                if reply.status not in RETRIED_STATUSES:
                    return
            if time.monotonic() - started > self.plan.give_up_seconds:
                self.stats.given_up()
                return
            backoff = min(LONGEST_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
            time.sleep(backoff * self._jitter())

    def _attempt(self, tablet: Tablet, upload: dict[str, Any], first: bool) -> ApiReply | None:
        """The reply, or None if the request timed out or the connection failed."""
        impatient = first and self._jitter() < self.plan.impatient_fraction
        try:
            reply = call("POST", self.url, token=tablet.simulator.credential, body=upload,
                         timeout=self.plan.impatient_timeout if impatient else self.plan.client_timeout)
        except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException):
            self.stats.attempted(timed_out=True)
            return None
        self.stats.attempted(timed_out=False)
        return reply

    def _jitter(self) -> float:
        with self._random_lock:
            return self._random.random()


def _settled(url: str, token: str, body: dict[str, Any], timeout: float) -> ApiReply:
    """A set-up request (a referral, a registration), sent again with the same body (both are idempotent)
    while it times out or the gateway limits or refuses it. A registration sent again answers 200 with a
    fresh credential, the one to use."""
    for attempt in range(10):
        try:
            reply: ApiReply | None = call("POST", url, token=token, body=body, timeout=timeout)
        except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException):
            reply = None  # a cold system on a loaded machine can take longer than the timeout
        if reply is not None and reply.status not in RETRIED_STATUSES:
            assert reply.status in (200, 201), f"{url} answered {reply.status}: {reply.body}"
            return reply
        time.sleep(FIRST_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError(f"{url} kept timing out or answering 429 or 5xx")


def run_load(system: LocalSystem, plan: LoadPlan) -> LoadResult:
    """One run against a started system: enrol, load, drain, verify (faults, if any, from the first upload
    until the system has drained)."""
    fleet = Fleet(system, plan)
    tablets = fleet.enrol()
    online, offline = tablets[: plan.tablets], tablets[plan.tablets :]
    faults = injected(system.pollers, plan.faults) if plan.faults.any else nullcontext(FaultCounts())
    with tapped(system) as taps, faults as counts:
        started = time.monotonic()
        back = threading.Event()
        threads = [threading.Thread(target=fleet.stay_online, args=(tablet, started + plan.seconds))
                   for tablet in online]
        threads += [threading.Thread(target=fleet.reconnect, args=(tablet, back)) for tablet in offline]
        for thread in threads:
            thread.start()
        time.sleep(plan.seconds / 2)
        back.set()
        for thread in threads:
            thread.join()
        loaded = time.monotonic()
        redriven = _drain(system, fleet.ledger, taps[EVALUATED], loaded + plan.drain_seconds)
        drained = time.monotonic()
    devices = {tablet.device_id for tablet in tablets}
    return LoadResult(plan, loaded - started, drained - loaded, fleet.stats,
                      verify(system, fleet.ledger, taps, devices), counts, redriven,
                      {queue: sum(tap.delivered.values()) for queue, tap in taps.items()},
                      {poller.name: poller.failed_polls for poller in system.pollers if poller.failed_polls},
                      [poller.name for poller in system.pollers if not poller.is_alive()])


def _drain(system: LocalSystem, ledger: Ledger, evaluated: QueueTap, deadline: float) -> dict[str, int]:
    """Wait until every accepted upload's event reached the sharing publisher (or ``deadline``); a DLQ holding
    messages once nothing moved for QUIET_SECONDS is redriven, as an operator would after the fault."""
    assert system.names is not None
    sqs = boto3.Session().client("sqs")
    redriven: Counter[str] = Counter()
    waiting, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        left = sum(1 for upload in ledger.uploads() if evaluated.delivered[upload.event_id] == 0)
        if left == 0:
            break
        if left != waiting:
            waiting, quiet_since = left, time.monotonic()
        elif time.monotonic() - quiet_since > QUIET_SECONDS:
            for queue in SPEC.queues:
                dlq_url = system.names.queue_urls.get(f"{queue.id}-dlq")
                if dlq_url and _visible(sqs, dlq_url):
                    redriven[f"{queue.id}-dlq"] += redrive(sqs, dlq_url, system.names.queue_urls[queue.id])
            quiet_since = time.monotonic()
        time.sleep(0.5)
    return dict(redriven)


def _visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


# --- the report --------------------------------------------------------------------------------------


def report(label: str, result: LoadResult) -> list[Figure]:
    plan, stats, verdict = result.plan, result.stats, result.verdict
    samples = stats.latencies["online"] + stats.latencies["storm"]
    print(f"  {label}: {plan.faults.describe()}")
    print(f"  {verdict.accepted} uploads accepted in {result.seconds:.1f} s ({stats.attempts} requests: "
          f"{stats.timeouts} timed out or failed to connect, retried "
          f"{_statuses(stats.retried) or 'none'}; refused {_statuses(stats.refused) or 'none'}; "
          f"{stats.gave_up} given up)")
    for phase, latencies in stats.latencies.items():
        if len(latencies) > 1:
            p50, p99 = _percentiles(latencies)
            print(f"    {phase:<7} {len(latencies):>5} uploads: 202 after p50 {p50:.3f} s, p99 {p99:.3f} s, "
                  f"max {max(latencies):.3f} s (from the first attempt, retries included)")
    print(f"  drained {result.drained_seconds:.1f} s after the last upload; deliveries to the consumers "
          f"{_counts(result.deliveries)}, of them again (crashes, failed records, redrives): "
          f"{_counts(verdict.redelivered)}")
    if plan.faults.any:
        faults = result.faults
        throttled = ", ".join(f"{call} {count}" for call, count in faults.throttled.most_common())
        lost = ", ".join(f"{call} {count}" for call, count in faults.lost_replies.most_common())
        print(f"  injected: {sum(faults.throttled.values())} throttled attempts ({throttled or 'none'}); "
              f"{sum(faults.lost_replies.values())} writes applied with their reply lost ({lost or 'none'}); "
              f"{faults.crashed_batches} of {faults.batches} evaluator batches crashed after "
              f"{faults.records_before_crash} records in all")
        print(f"  redriven from DLQs: {_counts(result.redriven) or 'none'}")
    print(f"  pollers stopped: {', '.join(result.stopped_pollers) or 'none'}; failed polls "
          f"{_counts(result.failed_polls) or 'none'} (each logged, and the poller went on)")
    for where, keys in {**verdict.lost, **verdict.duplicated}.items():
        kind = "LOST" if where in verdict.lost else "DUPLICATED"
        print(f"  {kind} {len(keys)}: {where} (e.g. {keys[0]})")
    if verdict.stored_without_202:
        print(f"  {verdict.stored_without_202} stored uploads no tablet got a 202 for (kept to retry later)")
    p50, p99 = _percentiles(samples)
    return [show(Figure(f"{label}: uploads accepted per second", result.uploads_per_second, "/s")),
            show(Figure(f"{label}: latency to the 202, p50", p50, " s")),
            show(Figure(f"{label}: latency to the 202, p99", p99, " s")),
            show(Figure(f"{label}: lost uploads", verdict.lost_uploads, "", 0)),
            show(Figure(f"{label}: duplicated uploads", verdict.duplicated_uploads, "", 0))]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        return (samples[0], samples[0]) if samples else (0.0, 0.0)
    return statistics.median(samples), statistics.quantiles(samples, n=100, method="inclusive")[98]


def _statuses(counts: Counter[int]) -> str:
    return ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


@contextmanager
def _quiet() -> Iterator[None]:
    """The moto server's line per request, the pollers' and the gateway's error per failed batch or request
    and the functions' own logs stay off the report (the report counts what matters of them)."""
    from functions.shared.observability import logger as functions_logger

    loggers = [logging.getLogger(name) for name in ("werkzeug", "telehub.pollers", "telehub.gateway")]
    loggers.append(logging.getLogger(functions_logger.name))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


FAULTS = FaultPlan(throttled_fraction=0.03, throttled_again=0.5, lost_replies=0.03, crash_every=4)


def run(plan: LoadPlan | None = None) -> list[Figure]:
    plan = plan or LoadPlan()
    heading(f"(e) load and faults, embedded mode: {plan.tablets} tablets online for {plan.seconds:g} s, "
            f"{plan.storm_tablets} reconnecting half-way with {plan.backlog} uploads each")
    figures: list[Figure] = []
    with _quiet():
        for label, faults in (("without faults", FaultPlan()), ("with faults", FAULTS)):
            with _fresh_system() as system:
                figures += report(label, run_load(system, replace(plan, faults=faults)))
    return figures


@contextmanager
def _fresh_system() -> Iterator[LocalSystem]:
    """An embedded system of its own for each run, so that neither meets the other's data: moto's state is
    the process's, so it is reset before the system stops."""
    with tempfile.TemporaryDirectory(prefix="telehub-bench-") as state_dir, LocalSystem(
            LocalOptions(port=0, moto_port=0, state_dir=Path(state_dir))) as system:
        print(f"  the embedded system started in {system.started_in_seconds or 0:.1f} s")
        try:
            yield system
        finally:
            reset = urllib.request.Request(f"{system.moto_url}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset).close()


if __name__ == "__main__":
    run()
