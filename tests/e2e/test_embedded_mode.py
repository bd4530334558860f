"""The embedded mode end to end, over real HTTP: registration, upload, the queue and its evaluator,
revocation, the demo."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from embedded.api_client import ApiReply, call
from embedded.cli import main
from embedded.local import LocalSystem
from embedded.simulator import COPD_KIT_TYPES, HomeTablet
from infrastructure.edge import GATEWAY_RESPONSES
from tests.support.evaluator_inputs import evaluated_items

pytestmark = pytest.mark.e2e

TEST_CPR = "2512489996"
UPLOADING_CPR = "2512489993"  # a test citizen with an open COPD episode, whose uploads are evaluated
SOR = "265161000016009"
TREATING = "123456789012345"
SETTLE_SECONDS = 1.0  # four polls of the stream: long enough for a duplicate message to show


def telehub_command() -> list[str]:
    script = Path(sys.executable).with_name("telehub")
    return [str(script)] if script.exists() else [sys.executable, "-m", "embedded.cli"]


def logistics_token(system: LocalSystem) -> str:
    assert system.issuer is not None
    return system.issuer.mint("logistics", organisation=SOR)


def register_tablet(system: LocalSystem, cpr: str = UPLOADING_CPR) -> tuple[dict[str, Any], HomeTablet]:
    """A tablet of a citizen with an open COPD episode (the logistics centre's reason to register it)."""
    open_copd_episode(system, cpr)
    registration = {
        "cpr": cpr,
        "vendor": "Telehub Test",
        "model": "Tablet",
        "serial": uuid.uuid4().hex[:12],
        "measurement_types": list(COPD_KIT_TYPES),
    }
    reply = call("POST", f"{system.gateway_url}/v1/devices", logistics_token(system), registration)
    assert reply.status == 201, reply.body
    return reply.body, HomeTablet(system.gateway_url, reply.body["credential"])


def open_copd_episode(system: LocalSystem, cpr: str = UPLOADING_CPR) -> str:
    """The citizen's open COPD episode: referred now, or the one an earlier test referred."""
    assert system.issuer is not None
    referral = {"referral_id": f"e2e-uploads-{cpr}", "disease_area": "copd",
                "citizen": {"cpr": cpr, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "treating_organisation": TREATING, "monitoring_organisation": TREATING,
                "logistics_centre": SOR}
    doctor = system.issuer.mint("clinician", organisation=TREATING)
    reply = call("POST", f"{system.gateway_url}/v1/referrals", doctor, referral)
    assert reply.status == 201, reply.body  # a retry of the same referral gets the same 201
    episode_id: str = reply.body["episode_id"]
    return episode_id


def evaluation_events(system: LocalSystem, episode_id: str, upload_id: str) -> list[dict[str, Any]]:
    """The "upload evaluated" events the evaluator behind the measurements queue stored for the upload
    under the episode: waits for the first, then settles (a second message would make a second try)."""
    assert system.names is not None
    table = system.names.tables["evaluations"]

    def of_upload(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        events = [json.loads(item["event"]["S"]) for item in items if item["sk"]["S"].startswith("EVENT#")]
        return [event for event in events if (event["upload"] or {}).get("upload_id") == upload_id]

    evaluated_items(table, episode_id, lambda items: bool(of_upload(items)))
    time.sleep(SETTLE_SECONDS)
    return of_upload(evaluated_items(table, episode_id, lambda items: True))


def upload_now(tablet: HomeTablet) -> tuple[dict[str, Any], ApiReply]:
    upload = tablet.new_upload(tablet.morning_readings(datetime.now(UTC)))
    return upload, tablet.send(upload)


def test_a_registered_device_uploads_and_its_upload_reaches_the_evaluator_once(local_system):
    # Given a logistics centre registered a tablet for a citizen with an open COPD episode
    episode_id = open_copd_episode(local_system)
    registered, tablet = register_tablet(local_system, UPLOADING_CPR)
    assert registered["device_id"].startswith("dev_") and registered["patient_id"].startswith("pat_")
    # When the tablet uploads this morning's measurements
    upload, reply = upload_now(tablet)
    # Then the upload is accepted
    assert reply.status == 202, reply.body
    assert reply.body["upload_id"] == upload["upload_id"] and reply.body["accepted"] == 6
    # And its message reaches the evaluator behind the measurements queue, which evaluates it once under
    # the episode, for the device's citizen and without the CPR number
    [event] = evaluation_events(local_system, episode_id, upload["upload_id"])
    assert event["upload"]["device_id"] == registered["device_id"]
    assert event["patient_id"] == registered["patient_id"]
    assert UPLOADING_CPR not in json.dumps(event)


def test_a_retried_upload_gets_the_same_reply_and_is_evaluated_once(local_system):
    # Given an accepted upload
    episode_id = open_copd_episode(local_system)
    _, tablet = register_tablet(local_system, UPLOADING_CPR)
    upload, first = upload_now(tablet)
    assert first.status == 202
    # When the tablet sends it again (its first reply was lost)
    retry = tablet.send(upload)
    # Then the reply is the same and the upload is evaluated once
    assert (retry.status, retry.body) == (first.status, first.body)
    assert len(evaluation_events(local_system, episode_id, upload["upload_id"])) == 1


def test_a_revoked_device_is_refused_with_401(local_system):
    # Given a registered tablet that has uploaded
    registered, tablet = register_tablet(local_system)
    assert upload_now(tablet)[1].status == 202
    # When the logistics centre revokes the device
    revoked = call(
        "DELETE",
        f"{local_system.gateway_url}/v1/devices/{registered['device_id']}",
        logistics_token(local_system),
    )
    assert revoked.status in (200, 204)
    # Then the tablet's next upload is refused at once
    assert upload_now(tablet)[1].status == 401


def test_the_gateway_refuses_missing_tokens_wrong_roles_and_unknown_routes(local_system):
    _, tablet = register_tablet(local_system)
    url = local_system.gateway_url
    # No token: 401; a device calling the logistics centre's endpoint: 403; no such route: 403
    assert call("POST", f"{url}/v1/measurements", None, {"upload_id": "x"}).status == 401
    registration = {
        "cpr": TEST_CPR,
        "vendor": "V",
        "model": "M",
        "serial": "S1",
        "measurement_types": ["spo2"],
    }
    assert call("POST", f"{url}/v1/devices", tablet.credential, registration).status == 403
    unknown = call("GET", f"{url}/v1/nothing", logistics_token(local_system))
    no_such_route = GATEWAY_RESPONSES["MISSING_AUTHENTICATION_TOKEN"].problem()
    assert (unknown.status, unknown.body) == (403, no_such_route)


def test_a_wrong_role_with_an_invalid_body_is_refused_by_the_authorizers_policy_not_validated(local_system):
    # Given a logistics centre's token, whose role may not upload measurements
    url = local_system.gateway_url
    # When it posts a body that fails the upload's schema
    invalid = {"measurements": "nonsense"}
    reply = call("POST", f"{url}/v1/measurements", logistics_token(local_system), invalid)
    # Then API Gateway refuses it by the policy (403, its own problem), before the function could answer 422
    assert (reply.status, reply.body) == (403, GATEWAY_RESPONSES["ACCESS_DENIED"].problem())


def test_the_demo_runs_every_step_and_exits_0(tmp_path):
    # Given a fresh state directory and free ports
    # When `telehub local --demo --exit-after-demo` runs as a newcomer would run it
    finished = subprocess.run(
        [
            *telehub_command(),
            "local",
            "--demo",
            "--exit-after-demo",
            "--port",
            "0",
            "--moto-port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    # Then it exits 0 and the output shows each step behaving as expected
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "  Web app       http://127.0.0.1:" in finished.stdout  # the banner names the web app's address
    output = finished.stdout.split("\nDemo:", 1)[-1]
    for number in range(1, 27):
        assert f"[{number:2}/26]" in output
    assert output.count("        ok") == 26
    assert "Demo finished: all 26 steps behaved as expected" in output
    assert "POST /v1/referrals -> 201" in output and "status planned" in output
    assert "deliver to citizen 251248-****" in output and "1 x pulse oximeter" in output
    # the orders name the citizen by patient id only; the centre reads the contact through the API, logged
    assert output.count("no CPR number, name or phone on the queue") == 2
    assert "/contact (the centre's token) -> 200" in output and "the logistics centre: " in output
    assert "status active" in output and "access log: read_episode" in output
    assert "-> 422 naming the field measurements[3].unit" in output
    assert "6 measurements and 4 answers accepted" in output
    assert "-> 401" in output and "-> 409" in output
    # And the evaluator put the citizen on the municipality's worklist, the RED SpO2 on top, acknowledged
    # with a note (a second time: 409), the row moved with the handover, and the schedule raised a BLUE
    assert "most severe YELLOW (the answer 'more cough than usual: yes')" in output
    assert "municipality: first row, alarm alm_" in output and "RED raised" in output
    assert "hospital: 0 row(s)" in output
    assert "/acknowledge -> 200: acknowledged by demo-municipality" in output and "again -> 409" in output
    assert "the row now waits for YELLOW" in output
    assert "the hospital's worklist counts RED 0, YELLOW 1, BLUE 0, GREEN 0" in output
    assert "BLUE alarm alm_" in output and "BLUE 1" in output
    assert "version 2" in output and "municipality -> 403" in output
    assert "/handover/accept -> 200" in output and "collect device dev_" in output
    # the citizen's data on the queues of the organisations related to them, and no other's
    assert "sharing-123456 (the GP): 3 Bundle(s)" in output and "84 %  RED  (limits: red below 86" in output
    assert "sharing-615171000016009 (the hospital): 1 Bundle(s)" in output
    assert "-> 200: a searchset" in output and "another region's hospital -> 403, byte for byte" in output
    # the citizen reads who looked at their data: the GP, the municipality and the hospital
    assert "GET /v1/me/access-log (a citizen's token, the CPR number in it, none in the URL) -> 200" in output
    assert "the GP: " in output and "the municipality: " in output and "the hospital: " in output
    # And the demo printed no credential or token in full, nor the CPR number or the phone number
    # And last a second citizen's RED alarm is left open on the municipal nurses' worklist, for the browser
    assert "328081000016008's worklist: first row, alarm alm_" in output and "RED, not acknowledged" in output
    assert "not shown" in output and TEST_CPR not in output and "251248-9996" not in output
    assert "1507459995" not in output and "31 41 59" not in output
    assert "20 30 40" not in output
    assert not (tmp_path / "state" / "local.json").exists()  # the running state was cleaned up
    # And the functions logged nothing below the embedded mode's level (WARNING), and as its service
    assert '"level":"INFO"' not in finished.stdout and "service_undefined" not in finished.stdout


@pytest.mark.parametrize("option", ["--port", "--moto-port"])
def test_a_taken_port_fails_with_a_clear_message(tmp_path, capsys, option):
    # Given a port another program listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = "--moto-port" if option == "--port" else "--port"
        # When telehub local is asked to use it
        status = main(["local", option, str(port), other, "0", "--state-dir", str(tmp_path)])
    # Then it exits 1 naming the port and the option to change it
    assert status == 1
    message = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in message and option in message


def test_telehub_token_and_redrive_work_against_the_running_system(local_system, sqs, capsys):
    state_dir = str(local_system.state_dir)
    # Given a token minted by the command line for the running system
    assert main(["token", "--role", "logistics", "--org", SOR, "--state-dir", state_dir]) == 0
    token = capsys.readouterr().out.strip()
    # When it is used to register a device for a citizen with an open episode
    open_copd_episode(local_system)
    registration = {
        "cpr": UPLOADING_CPR,
        "vendor": "V",
        "model": "M",
        "serial": uuid.uuid4().hex[:12],
        "measurement_types": ["spo2"],
    }
    # Then the authorizer accepts it
    assert call("POST", f"{local_system.gateway_url}/v1/devices", token, registration).status == 201

    # Given a message in the dead-letter queue of a queue Telehub does not consume itself (the logistics
    # centres' systems read the orders), so it stays where redrive puts it
    queue_urls = local_system.names.queue_urls
    sqs.send_message(QueueUrl=queue_urls["logistics-orders-dlq"], MessageBody='{"replay": "me"}')
    # When the DLQ is replayed from the command line
    assert main(["redrive", "logistics-orders", "--state-dir", state_dir]) == 0
    # Then the message is back on its queue and the DLQ is empty
    assert "moved 1 message(s) from logistics-orders-dlq back to logistics-orders" in capsys.readouterr().out
    replayed = [m for m in _glance(sqs, queue_urls["logistics-orders"]) if m["Body"] == '{"replay": "me"}']
    assert len(replayed) == 1
    assert sqs.receive_message(QueueUrl=queue_urls["logistics-orders-dlq"]).get("Messages", []) == []
    sqs.delete_message(QueueUrl=queue_urls["logistics-orders"], ReceiptHandle=replayed[0]["ReceiptHandle"])


def _glance(sqs, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue other tests also use, each hidden for only a moment."""
    seen: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2).get(
        "Messages", []
    ):
        seen += batch
    return seen


def test_ctrl_c_stops_everything_cleanly(tmp_path):
    # Given `telehub local` running
    state_file = tmp_path / "state" / "local.json"
    running = subprocess.Popen(
        [
            *telehub_command(),
            "local",
            "--port",
            "0",
            "--moto-port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not state_file.exists() and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        gateway_url = json.loads(state_file.read_text())["gateway_url"]
        assert call("GET", f"{gateway_url}/.well-known/jwks.json").status == 200
        # When it gets Ctrl-C (SIGTERM takes the same path)
        running.send_signal(signal.SIGINT)
        stdout, _ = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
    # Then it stopped with status 0, said so, and left no running state behind
    assert running.returncode == 0
    assert "Stopping..." in stdout and "Stopped." in stdout
    assert not state_file.exists()


def test_a_second_telehub_local_on_the_same_ports_leaves_the_running_one_alone(local_system, capsys):
    # Given a running system
    state_file = local_system.state_dir / "local.json"
    port = urlsplit(local_system.gateway_url).port
    # When a second one is started with the same state directory and gateway port
    status = main(
        ["local", "--port", str(port), "--moto-port", "0", "--state-dir", str(local_system.state_dir)]
    )
    # Then it refuses, and the running one keeps its state file and keeps answering
    assert status == 1 and "is another `telehub local` running?" in capsys.readouterr().err
    assert state_file.exists()
    assert call("GET", f"{local_system.gateway_url}/.well-known/jwks.json").status == 200
