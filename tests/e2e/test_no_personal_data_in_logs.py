"""No personal or health data in logs, metrics or traces (issue 9, item 6; DESIGN §6), end to end.

The flows of one test citizen run over real HTTP against the embedded mode with the functions' logger at
DEBUG and the EMF metric documents printed (POWERTOOLS_METRICS_DISABLED false): a referral, the delivery
order, a device registration, an upload with distinctive values and questionnaire answers (and refused
ones), the evaluation, the worklist, the episode's measurements and alarms, the sharing Bundles, the
consent, a FHIR search, a handover, the episode's access log, the citizen's own views, the end of the
episode and the collect order. Everything captured is then scanned (tests/support/log_scan.py). There are
no traces to scan: no function uses Powertools' Tracer or the X-Ray SDK, which a test here checks, so that
a function that starts tracing has this scan extended to its segments.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from embedded.api_client import ApiReply, call
from embedded.local import LocalSystem
from embedded.organisations import GP_YDERNUMMER, HOSPITAL_SOR, LOGISTICS_CENTRE_SOR, MUNICIPALITY_SOR
from functions.cross_sector_sharing.fhir import CPR_SYSTEM
from functions.shared.observability import logger
from infrastructure.resource_spec import SharingSubscriber
from tests.support.log_scan import PersonalDataScan, function_logs_at_debug

pytestmark = pytest.mark.e2e

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# A test citizen of this module only (DESIGN §5): born 17 March 1858 by the century rule, no one alive.
CPR = "1703585417"
NAME = "Ingeborg Quistgaard-Thybo"
PHONE = "+45 61 72 83 94"
# Values no id, count or timestamp holds, each sent as a decimal: SpO2 87.6 % (a RED; NPU's fraction
# 0.876), weight 83.417 kg, temperature 38.29 °C, blood pressure 163.7/97.3 mmHg with a pulse of 71.9.
MEASUREMENTS = (("spo2", 87.6, "%"), ("weight", 83.417, "kg"), ("temperature", 38.29, "Cel"))
PRESSURE = {"systolic": 163.7, "diastolic": 97.3, "pulse": 71.9}
MEASURED_VALUES = ("87.6", "0.876", "83.417", "38.29", "163.7", "97.3", "71.9")
ANSWERS = {"coloured_sputum": "yes", "more_breathless_than_usual": "yes", "more_cough_than_usual": "no",
           "more_breathless_and_more_cough": "no"}
SCAN = PersonalDataScan(name=NAME, phone=PHONE, measured_values=MEASURED_VALUES, question_ids=tuple(ANSWERS))
WAIT_SECONDS = 20  # how long the pollers behind a queue or stream may take (a bound, not a measurement)
QUIET_SECONDS = 1.0  # nothing more logged for this long: the pollers have finished the flows' work


def test_the_scan_finds_each_kind_of_data_and_leaves_ids_and_timestamps_alone() -> None:
    # Given lines that each hold one piece of the citizen's data, as a careless log call would write them
    leaking = [
        f'{{"message": "referral accepted", "cpr": "{CPR}"}}',
        "citizen 170358-5417 referred",
        '{"citizen": "ingeborg"}',
        "called Quistgaard about the device",
        "phone 61728394",
        "phone +45 6172 8394",
        '{"value": 83.417, "unit": "kg"}',
        "spo2=0.8760",
        '{"question": "coloured_sputum", "answer": "yes"}',
        "another citizen: 2512489996",
    ]
    # And lines with ids, codes and times only
    clean = [
        '{"timestamp": "2026-05-01T08:05:02.250+00:00", "episode_id": "epi_3f9a1c7e5b2d4a6c8e0f1a2b"}',
        '{"_aws": {"Timestamp": 1777622702250}, "patient_id": "pat_9a3e7c1d5b2f8e4a6c0d1b37"}',
        f'{{"organisation": "{MUNICIPALITY_SOR}", "xray_trace_id": "1-6634f0a1-1703585417ab"}}',
        '{"epoch_seconds": 1777622702, "ttl": 1999999999, "rows": 87, "elapsed": 83.4175}',
        "GET /v1/episodes/epi_3f9a1c7e5b2d4a6c8e0f1a2b/measurements?limit=50 -> 200 in 38 ms",
        '{"field": "answers[0].question_id", "status": 422}',
    ]
    # When they are scanned
    found = [SCAN.leaks(line) for line in leaking]
    # Then each leaking line is found, and none of the others
    assert [bool(leaks) for leaks in found] == [True] * len(leaking), found
    assert SCAN.leaks("\n".join(clean)) == []


def test_a_leak_through_the_functions_logger_is_captured_at_debug_and_found() -> None:
    # Given the capture of the functions' logger
    with function_logs_at_debug() as logs:
        # When a function logs the citizen's phone number at DEBUG, in an extra field
        logger.debug("citizen contacted", extra={"citizen_phone": PHONE})
    # Then the scan finds it in the line Powertools formatted
    assert [(leak.what, leak.found) for leak in SCAN.leaks(logs.text)] == [("phone number", "61 72 83 94")]


def test_no_function_traces() -> None:
    # Given the functions' sources
    sources = {path: path.read_text(encoding="utf-8") for path in FUNCTIONS.rglob("*.py")}
    # Then none traces (were one to, its segments' annotations and metadata would need scanning here too)
    assert sources
    assert [path for path, text in sources.items() if "Tracer" in text or "aws_xray_sdk" in text] == []


# With metrics on, Powertools warns of every invocation that recorded none, as it does in Lambda.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_flows_log_and_measure_no_cpr_name_phone_answer_or_measured_value(
        local_system: LocalSystem, sqs: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = _tokens(local_system)
    api = _Api(local_system.gateway_url, tokens)
    # Given the functions log at DEBUG and print their EMF metric documents
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()  # what earlier tests printed is theirs
    with function_logs_at_debug() as logs:
        # When the citizen is referred, with consent to sharing, and the delivery order goes out
        citizen = {"cpr": CPR, "name": NAME, "phone": PHONE}
        referral = {"referral_id": f"e2e-log-scan-{uuid.uuid4().hex[:12]}", "disease_area": "copd",
                    "citizen": citizen, "treating_organisation": GP_YDERNUMMER,
                    "monitoring_organisation": MUNICIPALITY_SOR, "logistics_centre": LOGISTICS_CENTRE_SOR,
                    "sharing_consent": "granted"}
        mistyped = {**referral, "citizen": {**citizen, "phone": "61 72 x3 94"}}
        assert api.send("POST", "/v1/referrals", "gp", mistyped).status == 422
        referred = api.expect(201, "POST", "/v1/referrals", "gp", referral)
        episode_id = referred["episode_id"]
        _take_orders(sqs, local_system, episode_id, "deliver")
        # And the logistics centre reads whom the order is for, and registers the citizen's device
        contact = f"/v1/episodes/{episode_id}/orders/{referred['order_id']}/contact"
        assert api.expect(200, "GET", contact, "logistics")["cpr"] == CPR
        registration = {"cpr": CPR, "vendor": "Telehub Test", "model": "Tablet", "serial": uuid.uuid4().hex,
                        "measurement_types": ["spo2", "weight", "temperature", "blood_pressure"]}
        tokens["device"] = api.expect(201, "POST", "/v1/devices", "logistics", registration)["credential"]
        api.expect(200, "GET", f"/v1/episodes/{episode_id}", "gp")
        # And the device uploads the distinctive values and the answers, and a weight in an unknown unit
        upload = _upload()
        api.expect(202, "POST", "/v1/measurements", "device", upload)
        bad_unit = _upload(measurements=[{**upload["measurements"][1], "unit": "stone"}], answers=[])
        assert api.send("POST", "/v1/measurements", "device", bad_unit).status == 422
        # And the evaluator raises a RED on the municipality's worklist, whose nurse reads the episode
        _eventually(lambda: _red_row(api, episode_id), "the RED row on the municipality's worklist")
        measured = api.expect(200, "GET", f"/v1/episodes/{episode_id}/measurements", "municipality")
        api.expect(200, "GET", f"/v1/episodes/{episode_id}/alarms", "municipality")
        # And the evaluated upload is shared with the GP
        _take_bundle(sqs, local_system, GP_YDERNUMMER)
        # And the GP records the consent again (withdrawn, then given) and searches the observations
        for status in ("withdrawn", "granted"):
            api.expect(201, "POST", "/v1/consents", "gp", {"cpr": CPR, "status": status})
        form = [("patient.identifier", f"{CPR_SYSTEM}|{CPR}"), ("code", "urn:oid:1.2.208.176.2.1|NPU03804")]
        search = f"{local_system.gateway_url}/fhir/Observation/_search"
        searched = call("POST", search, tokens["gp"], form=form)
        assert searched.status == 200, searched.body
        # And the municipality hands monitoring over to the hospital, which reads the episode's access log
        handover = f"/v1/episodes/{episode_id}/handover"
        api.expect(200, "POST", handover, "municipality", {"to_organisation": HOSPITAL_SOR})
        api.expect(200, "POST", f"{handover}/accept", "hospital")
        api.expect(200, "GET", f"/v1/episodes/{episode_id}/access-log", "hospital")
        # And the citizen reads who looked at their data, and their own measurements
        access_log = api.expect(200, "GET", "/v1/me/access-log", "citizen")
        own = api.expect(200, "GET", "/v1/me/measurements", "citizen")
        # And the GP ends the episode: the device is ordered collected and locked out
        api.expect(204, "POST", f"/v1/episodes/{episode_id}/end", "gp", {})
        _take_orders(sqs, local_system, episode_id, "collect")
        assert api.send("POST", "/v1/measurements", "device", _upload()).status == 401
        _until_quiet(lambda: len(logs.text))
    printed = capsys.readouterr()  # the EMF metric documents, and anything else written to stdout or stderr
    metric_documents = [line for line in printed.out.splitlines() if line.startswith('{"_aws"')]

    # Then the data went through Telehub: the values are stored, the reads logged
    stored = {measurement["type"] for measurement in measured["measurements"]}
    assert stored >= {"spo2", "weight", "temperature", "blood_pressure"}
    assert "83.417" in json.dumps(measured)
    assert access_log["entries"] and own["measurements"]
    # And the functions logged and measured it, each flow at least once
    for message in ("referral accepted", "device registered", "upload accepted", "upload evaluated",
                    "measurements read", "consent recorded", "observations searched", "handover accepted",
                    "own access log read", "order contact read", "episode ended", "request refused"):
        assert message in logs.text, f"nothing logged as {message!r}: is the capture still working?"
    assert metric_documents, "no EMF metric document was printed"
    # And none of it holds a CPR number, the citizen's name or phone, a measured value or an answer
    leaks = SCAN.leaks("\n".join((logs.text, printed.out, printed.err)))
    assert leaks == [], "\n".join(str(leak) for leak in leaks)


class _Api:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens

    def send(self, method: str, path: str, who: str, body: Any = None) -> ApiReply:
        return call(method, f"{self.url}{path}", self.tokens[who], body)

    def expect(self, status: int, method: str, path: str, who: str, body: Any = None) -> Any:
        reply = self.send(method, path, who, body)
        assert reply.status == status, (method, path, reply.status, reply.body)
        return reply.body


def _tokens(system: LocalSystem) -> dict[str, str]:
    issuer = system.issuer
    assert issuer is not None
    return {"gp": issuer.mint("clinician", organisation=GP_YDERNUMMER),
            "municipality": issuer.mint("clinician", organisation=MUNICIPALITY_SOR),
            "hospital": issuer.mint("clinician", organisation=HOSPITAL_SOR),
            "logistics": issuer.mint("logistics", organisation=LOGISTICS_CENTRE_SOR),
            "citizen": issuer.mint("citizen", cpr=CPR)}


def _upload(measurements: list[dict[str, Any]] | None = None,
            answers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    readings = [{"type": kind, "value": value, "unit": unit, "measured_at": now, "method": "automatic"}
                for kind, value, unit in MEASUREMENTS]
    readings.append({"type": "blood_pressure", **PRESSURE, "unit": "mmHg", "measured_at": now,
                     "method": "automatic"})
    answered = [{"question_id": question, "answer": answer, "answered_at": now}
                for question, answer in ANSWERS.items()]
    return {"upload_id": f"e2e-log-scan-{uuid.uuid4().hex}",
            "measurements": readings if measurements is None else measurements,
            "answers": answered if answers is None else answers}


def _red_row(api: _Api, episode_id: str) -> bool:
    rows = api.expect(200, "GET", "/v1/worklist", "municipality")["rows"]
    return any(row["episode_id"] == episode_id and (row["alarm"] or {}).get("colour") == "RED"
               for row in rows)


def _eventually(holds: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not holds():
        assert time.monotonic() < deadline, f"waited {WAIT_SECONDS} s for {what}"
        time.sleep(0.1)


def _take_messages(sqs: Any, queue_url: str, mine: Callable[[str], bool], what: str) -> None:
    """Wait for a message of this test's on a queue other tests' flows also use: delete it, leave theirs."""
    taken = False

    def take() -> bool:
        nonlocal taken
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            if mine(message["Body"]):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                taken = True
            else:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
        return taken

    _eventually(take, what)


def _take_orders(sqs: Any, system: LocalSystem, episode_id: str, kind: str) -> None:
    assert system.names is not None

    def mine(body: str) -> bool:
        order = json.loads(body)
        return (order.get("episode_id"), order.get("kind")) == (episode_id, kind)

    _take_messages(sqs, system.names.queue_urls["logistics-orders"], mine, f"the {kind} order")


def _take_bundle(sqs: Any, system: LocalSystem, organisation: str) -> None:
    assert system.names is not None
    queue_url = system.names.queue_urls[SharingSubscriber(organisation).queue.id]
    _take_messages(sqs, queue_url, lambda body: CPR in body, f"a Bundle on the queue of {organisation}")


def _until_quiet(size: Callable[[], int]) -> None:
    """Until nothing more has been captured for QUIET_SECONDS: the pollers' last work (the alarm outbox,
    the sharing publisher) is logged before the scan."""
    deadline = time.monotonic() + WAIT_SECONDS
    seen, quiet_since = size(), time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() < deadline:
        time.sleep(0.1)
        if size() != seen:
            seen, quiet_since = size(), time.monotonic()
