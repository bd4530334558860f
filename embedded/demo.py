"""The demo: a scripted scenario against the running embedded system, over real HTTP.

A logistics centre registers a COPD kit for a test citizen; the citizen's tablet (the simulator)
uploads, retries, catches up on a backlog, sends a bad unit and reuses an upload id; the uploads
arrive on the measurements queue; the device is revoked and its tablet is locked out. Each step
says what it expected and whether that is what happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from embedded.api_client import ApiReply, call
from embedded.dev_issuer import DevIssuer
from embedded.simulator import COPD_KIT_TYPES, HomeTablet

TEST_CITIZEN_CPR = "2512489996"  # a test CPR number (DESIGN §5): no real person
LOGISTICS_CENTRE_SOR = "265161000016009"
QUEUE_WAIT_SECONDS = 15
MEASUREMENTS_QUEUE = "measurements"


class StepFailed(Exception):
    """The system did not behave as the step expected."""


def expect(reply: ApiReply, status: int, what: str) -> ApiReply:
    if reply.status != status:
        code = reply.body.get("code") if isinstance(reply.body, dict) else None
        raise StepFailed(
            f"{what}: expected HTTP {status}, got {reply.status}" + (f" ({code})" if code else "")
        )
    return reply


def masked(secret: str) -> str:
    return f"{secret[:10]}... ({len(secret)} characters, not shown)"


@dataclass
class Demo:
    api_url: str
    issuer: DevIssuer
    sqs: Any  # a boto3 SQS client of the running system's moto server
    measurements_queue_url: str
    say: Callable[[str], None] = print
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # What the steps learn and hand on to later ones.
    token: str = ""
    device_id: str = ""
    tablet: HomeTablet | None = None
    upload_ids: list[str] = field(default_factory=list)
    first_upload: dict[str, Any] = field(default_factory=dict)
    first_reply: Any = None
    backlog_upload_id: str = ""

    def run(self) -> bool:
        """Run every step in order, stopping at the first that does not behave as expected."""
        steps = [
            ("Mint a logistics token from the dev issuer", self.mint_token),
            ("Register a COPD device set for the test citizen", self.register_device),
            ("The tablet uploads this morning's measurements", self.upload),
            ("The tablet retries the same upload (a lost reply)", self.retry_upload),
            ("The tablet catches up on a backlog from 3 days ago", self.upload_backlog),
            ("The tablet sends a weight in an unknown unit", self.upload_bad_unit),
            ("The tablet reuses an upload id for a different body", self.reuse_upload_id),
            ("The uploads arrive on the measurements queue", self.read_queue),
            ("The logistics centre revokes the device", self.revoke_device),
            ("The revoked tablet tries to upload", self.upload_after_revocation),
        ]
        started = time.monotonic()
        self.say(f"\nDemo: {len(steps)} steps against {self.api_url}")
        for number, (title, step) in enumerate(steps, start=1):
            self.say(f"\n[{number:2}/{len(steps)}] {title}")
            try:
                for line in step():
                    self.say(f"        {line}")
            except StepFailed as failure:
                self.say(f"        FAILED: {failure}")
                elapsed = time.monotonic() - started
                self.say(f"\nDemo stopped: step {number} did not behave as expected ({elapsed:.1f} s).")
                return False
            self.say("        ok")
        elapsed = time.monotonic() - started
        self.say(f"\nDemo finished: all {len(steps)} steps behaved as expected in {elapsed:.1f} s.")
        return True

    def mint_token(self) -> list[str]:
        self.token = self.issuer.mint(
            "logistics", organisation=LOGISTICS_CENTRE_SOR, subject="demo-logistics"
        )
        return [
            f"role logistics, organisation {LOGISTICS_CENTRE_SOR}, valid 60 minutes: {masked(self.token)}"
        ]

    def register_device(self) -> list[str]:
        registration = {
            "cpr": TEST_CITIZEN_CPR,
            "vendor": "Telehub Demo",
            "model": "COPD home kit tablet",
            "serial": f"DEMO-{int(self.now().timestamp())}",
            "measurement_types": list(COPD_KIT_TYPES),
        }
        reply = expect(
            call("POST", f"{self.api_url}/v1/devices", self.token, registration), 201, "registration"
        )
        body = reply.body
        self.device_id = body["device_id"]
        self.tablet = HomeTablet(self.api_url, body["credential"])
        return [
            f"citizen {TEST_CITIZEN_CPR[:6]}-****: patient id {body['patient_id']}",
            f"device id {self.device_id}, measures {', '.join(body['measurement_types'])}",
            f"credential for the tablet: {masked(body['credential'])}",
        ]

    def upload(self) -> list[str]:
        self.first_upload = self._tablet().new_upload(self._tablet().morning_readings(self.now()))
        reply = expect(self._tablet().send(self.first_upload), 202, "upload")
        self.first_reply = reply.body
        self.upload_ids.append(self.first_upload["upload_id"])
        return [
            f"{len(self.first_upload['measurements'])} readings (weight in lb, CAT score typed) -> 202: "
            f"upload {reply.body['upload_id']}, {reply.body['accepted']} measurements accepted"
        ]

    def retry_upload(self) -> list[str]:
        reply = expect(self._tablet().send(self.first_upload), 202, "retry")
        if reply.body != self.first_reply:
            raise StepFailed("the retry got a different reply from the first attempt")
        return [f"-> 202 with the same reply (received_at {reply.body['received_at']}); nothing stored twice"]

    def upload_backlog(self) -> list[str]:
        upload = self._tablet().new_upload(self._tablet().morning_readings(self.now() - timedelta(days=3)))
        reply = expect(self._tablet().send(upload), 202, "backlog upload")
        self.upload_ids.append(upload["upload_id"])
        self.backlog_upload_id = upload["upload_id"]
        return [f"readings measured 3 days ago -> 202: {reply.body['accepted']} accepted, to be flagged late"]

    def upload_bad_unit(self) -> list[str]:
        measurements = self._tablet().morning_readings(self.now())
        weight = next(index for index, m in enumerate(measurements) if m["type"] == "weight")
        measurements[weight]["unit"] = "stone"
        reply = expect(self._tablet().send(self._tablet().new_upload(measurements)), 422, "bad unit")
        field_name = f"measurements[{weight}].unit"
        if field_name not in reply.error_fields():
            raise StepFailed(f"the 422 does not name {field_name} (it names {reply.error_fields()})")
        return [f"-> 422 naming the field {field_name}; nothing stored"]

    def reuse_upload_id(self) -> list[str]:
        different = self._tablet().new_upload(
            self._tablet().morning_readings(self.now()), upload_id=self.first_upload["upload_id"]
        )
        reply = expect(self._tablet().send(different), 409, "reused upload id")
        return [
            f"-> 409 ({reply.body.get('code', '')}): upload {different['upload_id']} already holds other data"
        ]

    def read_queue(self) -> list[str]:
        """Read (and put back) this run's messages; no consumer takes them yet."""
        messages = self._wait_for_messages(len(self.upload_ids))
        lines = [f"{len(messages)} message(s) for {len(self.upload_ids)} accepted upload(s), one each:"]
        for message in messages:
            body = json.loads(message["Body"])
            measurements = body.get("measurements", [])
            late = sum(1 for m in measurements if m.get("late"))
            expected_late = len(measurements) if body["upload_id"] == self.backlog_upload_id else 0
            if late != expected_late:
                raise StepFailed(f"upload {body['upload_id']}: {late} flagged late, expected {expected_late}")
            lines.append(
                f"upload {body['upload_id']}: {len(measurements)} measurements"
                + (", all flagged late" if late else ", none late")
            )
        return lines

    def revoke_device(self) -> list[str]:
        reply = call("DELETE", f"{self.api_url}/v1/devices/{self.device_id}", self.token)
        if reply.status not in (200, 204):
            raise StepFailed(f"revocation: expected HTTP 200 or 204, got {reply.status}")
        return [f"DELETE /v1/devices/{self.device_id} -> {reply.status}"]

    def upload_after_revocation(self) -> list[str]:
        upload = self._tablet().new_upload(self._tablet().morning_readings(self.now()))
        expect(self._tablet().send(upload), 401, "upload with a revoked credential")
        return ["-> 401: the credential stopped working at once"]

    def _tablet(self) -> HomeTablet:
        if self.tablet is None:
            raise StepFailed("no device was registered")
        return self.tablet

    def _wait_for_messages(self, expected: int) -> list[dict[str, Any]]:
        """This run's messages; the outbox hands uploads on asynchronously, so wait a little."""
        found: dict[str, dict[str, Any]] = {}
        mine: list[dict[str, Any]] = []
        complete = False
        deadline = time.monotonic() + QUEUE_WAIT_SECONDS
        try:
            while time.monotonic() < deadline:
                for message in self.sqs.receive_message(
                    QueueUrl=self.measurements_queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=QUEUE_WAIT_SECONDS + 5,
                ).get("Messages", []):
                    found[message["MessageId"]] = message
                mine = [
                    m for m in found.values() if json.loads(m["Body"]).get("upload_id") in self.upload_ids
                ]
                if complete:
                    break  # one more receive after the last expected message: a duplicate would show
                complete = len(mine) >= expected
        finally:
            for message in found.values():  # visible again for the consumers later issues add
                self.sqs.change_message_visibility(
                    QueueUrl=self.measurements_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
        if len(mine) != expected or len({json.loads(m["Body"])["upload_id"] for m in mine}) != expected:
            raise StepFailed(
                f"expected exactly one message for each of the {expected} uploads, found {len(mine)}"
            )
        return mine
