"""(d) Latency from an upload's 202 to its alarm on the monitoring nurse's worklist, in the embedded mode.

The whole system runs in this process as ``telehub local`` runs it (a moto server, the gateway over
HTTP, the pollers standing in for the event source mappings). A GP refers a citizen for COPD, the
logistics centre registers an oximeter, and the device then sends UPLOADS uploads, each of one RED
SpO2 under its own upload id. After each 202 the nurse's client asks GET /v1/worklist every
POLL_SECONDS until the citizen's row shows an alarm it has not seen yet: the wall time from the 202 to
that reply is one sample. The nurse then acknowledges the alarm, so that the row is empty again before
the next upload (the acknowledgement is not timed).

Between the 202 and the alarm: the uploads table's stream poller finds the stored upload (it sleeps
between empty reads), the upload outbox sends it to the measurements queue, the queue's poller (a long
poll, answered as the message arrives) hands it to the evaluator, whose commit puts the alarm on the
worklist row. On a laptop with moto, the times mean something only next to each other and to the
pollers' intervals, which are printed with them.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, heading, show
from benchmarks.sample import RED_SPO2
from embedded.api_client import ApiReply, call
from embedded.local import LocalOptions, LocalSystem
from embedded.pollers import SqsPoller, StreamPoller

UPLOADS = 100
BUDGET_P99_SECONDS = 2.0
POLL_SECONDS = 0.1  # the nurse's client asks for the worklist this often while waiting (each ask is work
# for the same process, so asking much more often would slow down what it measures)
GIVE_UP_SECONDS = 30.0  # an alarm not seen by then is a failure, not a sample
CITIZEN = "2512489996"  # a test citizen (DESIGN §5)
GP, NURSES, CENTRE = "123456", "328081000016008", "265161000016009"


class Nurse:
    """The clinicians and the device, as HTTP clients of the running system."""

    def __init__(self, system: LocalSystem) -> None:
        self.system = system

    def as_org(self, method: str, path: str, organisation: str, body: Any = None,
               role: str = "clinician") -> ApiReply:
        assert self.system.issuer is not None
        token = self.system.issuer.mint(role, organisation=organisation)
        return call(method, f"{self.system.gateway_url}{path}", token, body)

    def monitored_citizen_with_oximeter(self) -> tuple[str, str]:
        """A COPD episode monitored by the nurses, and its citizen's device credential."""
        referral = {"referral_id": f"bench-latency-{uuid.uuid4().hex[:12]}",
                    "citizen": {"cpr": CITIZEN, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                    "disease_area": "copd", "treating_organisation": GP, "monitoring_organisation": NURSES,
                    "logistics_centre": CENTRE}
        referred = self.as_org("POST", "/v1/referrals", GP, referral)
        assert referred.status == 201, referred.body
        device = self.as_org("POST", "/v1/devices", CENTRE, {
            "cpr": CITIZEN, "vendor": "Nonin", "model": "3230", "serial": f"bench-{uuid.uuid4().hex[:12]}",
            "measurement_types": ["spo2"]}, role="logistics")
        assert device.status == 201, device.body
        return referred.body["episode_id"], device.body["credential"]

    def upload_red(self, credential: str, number: int) -> None:
        upload = {"upload_id": f"bench-latency-{number:04d}", "measurements": [
            {**RED_SPO2, "measured_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
             "method": "automatic"}]}
        sent = call("POST", f"{self.system.gateway_url}/v1/measurements", credential, upload)
        assert sent.status == 202, sent.body

    def new_alarm(self, episode_id: str, seen: set[str]) -> str | None:
        """The id of the alarm on the episode's worklist row, if it is one not ``seen`` before."""
        reply = self.as_org("GET", "/v1/worklist?limit=100", NURSES)
        assert reply.status == 200, reply.body
        for row in reply.body["rows"]:
            alarm = row["alarm"]
            if row["episode_id"] == episode_id and alarm is not None and alarm["alarm_id"] not in seen:
                alarm_id: str = alarm["alarm_id"]
                return alarm_id
        return None

    def acknowledge(self, alarm_id: str) -> None:
        reply = self.as_org("POST", f"/v1/alarms/{alarm_id}/acknowledge", NURSES,
                            {"note": "Called the citizen: the probe was on a cold finger."})
        assert reply.status == 200, reply.body


def seconds_to_worklist(nurse: Nurse, episode_id: str, credential: str, number: int, seen: set[str]) -> float:
    """Upload a RED SpO2; the seconds from its 202 until the nurse's worklist shows its alarm."""
    nurse.upload_red(credential, number)
    accepted = time.monotonic()
    while (alarm_id := nurse.new_alarm(episode_id, seen)) is None:
        assert time.monotonic() - accepted < GIVE_UP_SECONDS, f"upload {number}'s alarm did not show"
        time.sleep(POLL_SECONDS)
    latency = time.monotonic() - accepted
    seen.add(alarm_id)
    nurse.acknowledge(alarm_id)
    return latency


def _poller_intervals(system: LocalSystem) -> tuple[float, float]:
    """The uploads stream poller's sleep after an empty read, and the measurements queue's long poll."""
    stream = next(poller for poller in system.pollers
                  if isinstance(poller, StreamPoller) and poller.name.startswith("upload-outbox<-"))
    queue = next(poller for poller in system.pollers
                 if isinstance(poller, SqsPoller) and poller.name.startswith("alarm-evaluation<-"))
    return stream.idle_seconds, float(queue.wait_seconds)


def _samples(uploads: int) -> tuple[list[float], float, float]:
    """The latencies of ``uploads`` uploads after a warm-up one, and the pollers' intervals."""
    with tempfile.TemporaryDirectory(prefix="telehub-bench-") as state_dir, LocalSystem(LocalOptions(
            port=0, moto_port=0, state_dir=Path(state_dir))) as system:
        print(f"  the embedded system started in {system.started_in_seconds or 0:.1f} s")
        nurse = Nurse(system)
        episode_id, credential = nurse.monitored_citizen_with_oximeter()
        seen: set[str] = set()
        warm_up = seconds_to_worklist(nurse, episode_id, credential, 0, seen)  # functions start cold
        print(f"  warm-up upload (cold functions, not counted): {warm_up:.3f} s")
        samples = [seconds_to_worklist(nurse, episode_id, credential, number, seen)
                   for number in range(1, uploads + 1)]
        return (samples, *_poller_intervals(system))


def run(uploads: int = UPLOADS) -> list[Figure]:
    heading(f"(d) latency from an upload's 202 to its alarm on GET /v1/worklist, embedded mode, "
            f"{uploads} uploads")
    requests_log = logging.getLogger("werkzeug")  # the moto server's: a line per request
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    try:
        samples, stream_idle, queue_wait = _samples(uploads)
    finally:
        requests_log.setLevel(level)
    percentiles = statistics.quantiles(samples, n=100, method="inclusive")
    p50, p99 = statistics.median(samples), percentiles[98]
    print(f"  {len(samples)} alarms seen: min {min(samples):.3f} s, p50 {p50:.3f} s, p99 {p99:.3f} s, "
          f"max {max(samples):.3f} s")
    # On average a poll interval's wait is half of it; the queue's long poll answers as the message arrives.
    waiting = stream_idle / 2 + POLL_SECONDS / 2
    print(f"  the pollers' intervals: the uploads stream is read again {stream_idle:g} s after an empty "
          f"read; the measurements queue is long-polled for {queue_wait:g} s, answered as a message arrives; "
          f"the nurse's client asks every {POLL_SECONDS:g} s")
    verdict = ("is dominated by the polling" if waiting > p50 / 2 else "is not dominated by the polling; the "
               "rest is the functions' own work against moto, in one process with every poller")
    print(f"  waiting on them takes about {waiting:.3f} s on average, {waiting / p50:.0%} of the p50: the "
          f"figure {verdict}")
    return [show(Figure("latency 202 -> alarm on the worklist, p50", p50, " s")),
            show(Figure("latency 202 -> alarm on the worklist, p99", p99, " s", BUDGET_P99_SECONDS))]


if __name__ == "__main__":
    run()
