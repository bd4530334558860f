"""The ``telehub`` command: the embedded mode, dev tokens and DLQ replay.

telehub local [--demo] [--exit-after-demo] [--port 8080] [--moto-port 5055] [--state-dir .telehub]
              [--isolated-environments]
telehub token --role logistics|clinician|system|citizen [--org SOR|YDERNUMMER] [--cpr CPR] [--subject ...]
              [--ttl-minutes 60]
telehub redrive <queue-id>
telehub missed-measurements [--at 2026-11-25T09:30:00Z]
telehub subscriber --org SOR|YDERNUMMER [--wait-seconds 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from embedded.demo import ACCESS_LOG_TABLE, Demo
from embedded.dev_issuer import AUDIENCE, MINTABLE_ROLES, DevIssuer, issuer_url, jwks_url
from embedded.environment import environment
from embedded.lambda_runtime import FunctionRuntime, forget_warm_state
from embedded.local import DUMMY_CREDENTIALS, HOST, STAGE, LocalOptions, LocalSystem, PortInUse, RunningState
from embedded.pollers import schedule_rule_arn, scheduled_event
from embedded.redrive import redrive
from embedded.subscriber import drain
from embedded.web import index_page
from functions.shared import aws
from infrastructure.resource_spec import (
    SPEC,
    FunctionSpec,
    PlatformSettings,
    ResourceNames,
    SharingSubscriber,
    function_environment,
)

MISSED_MEASUREMENTS = "missed-measurements"

DEFAULT_STATE_DIR = Path(".telehub")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if getattr(arguments, "exit_after_demo", False) and not arguments.demo:
        parser.error("--exit-after-demo needs --demo")
    exit_code: int = arguments.run(arguments)
    return exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telehub", description="Telehub on a laptop: the embedded mode.")
    commands = parser.add_subparsers(required=True, metavar="command")

    local = commands.add_parser("local", help="run the whole system locally against a moto server")
    local.add_argument("--demo", action="store_true", help="run the demo scenario once the system is up")
    local.add_argument(
        "--exit-after-demo",
        action="store_true",
        help="stop after the demo; the exit status says whether every step behaved as expected",
    )
    local.add_argument(
        "--port", type=int, default=8080, help="API gateway port (default 8080; 0: any free port)"
    )
    local.add_argument(
        "--moto-port", type=int, default=5055, help="moto server port (default 5055; 0: any free port)"
    )
    local.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="WARNING",
        type=str.upper,
        help="log level of the in-process functions' JSON logs (default WARNING)",
    )
    local.add_argument(
        "--isolated-environments",
        action="store_true",
        help="run each function with exactly its own environment from the spec, as in AWS, instead of "
        "the union of all functions' (a table, queue or key the spec forgot to give a function then "
        "fails locally; a little slower)",
    )
    _state_dir_option(local)
    local.set_defaults(run=run_local)

    token = commands.add_parser("token", help="mint a JWT from the embedded mode's dev issuer")
    token.add_argument("--role", required=True, choices=[role.value for role in MINTABLE_ROLES])
    token.add_argument(
        "--org",
        help="the organisation's SOR code or a GP's 6-digit ydernummer (for logistics and clinician)",
    )
    token.add_argument("--cpr", help="the citizen's CPR number (for citizen; a test CPR number only)")
    token.add_argument("--subject", help="the sub claim (default dev-<role>)")
    token.add_argument("--ttl-minutes", type=int, default=60, help="lifetime in minutes (default 60)")
    _state_dir_option(token)
    token.set_defaults(run=run_token)

    redrive_command = commands.add_parser("redrive", help="move a queue's DLQ messages back to the queue")
    redrive_command.add_argument(
        "queue_id", metavar="queue-id", help=f"a queue of the spec: {', '.join(q.id for q in SPEC.queues)}"
    )
    _state_dir_option(redrive_command)
    redrive_command.set_defaults(run=run_redrive)

    missed = commands.add_parser(
        MISSED_MEASUREMENTS, help="run the missed-measurement schedule now, against the running system"
    )
    missed.add_argument(
        "--at",
        type=_instant,
        help="judge as of this instant (ISO 8601 with a zone; default now), as if the schedule ran then",
    )
    _state_dir_option(missed)
    missed.set_defaults(run=run_missed_measurements)

    subscriber = commands.add_parser(
        "subscriber", help="print and delete what arrived on a subscribing organisation's sharing queue"
    )
    subscriber.add_argument("--org", required=True, help="the subscriber's SOR code or ydernummer")
    subscriber.add_argument(
        "--wait-seconds", type=int, default=0, choices=range(0, 21), metavar="0..20",
        help="wait up to this long for the first message (SQS long polling; default 0)",
    )
    _state_dir_option(subscriber)
    subscriber.set_defaults(run=run_subscriber)
    return parser


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the zone too (e.g. {text}Z): {text!r}")
    return moment


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where the dev issuer's key and the running system's state live (default .telehub)",
    )


# --- telehub local -----------------------------------------------------------------------------


def run_local(arguments: argparse.Namespace) -> int:
    # Telehub's own lines (gateway requests, pollers, function failures); moto's and botocore's only
    # when something is wrong.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s", datefmt="%X"
    )
    logging.getLogger("telehub").setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Both stop the system the same way, even when started with SIGINT ignored (a background job).
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous_handlers = {signum: signal.signal(signum, _interrupt) for signum in stop_signals}
    system = LocalSystem(
        LocalOptions(
            port=arguments.port,
            moto_port=arguments.moto_port,
            state_dir=arguments.state_dir,
            function_log_level=arguments.log_level,
            isolated_environments=arguments.isolated_environments,
        )
    )
    try:
        try:
            system.start()
        except PortInUse as error:
            print(f"telehub local: {error}", file=sys.stderr)
            return 1
        print(banner(system), flush=True)
        if arguments.demo:
            demo = demo_for(system)
            succeeded = demo.run()
            if arguments.exit_after_demo:
                return 0 if succeeded else 1
            if succeeded:
                print(demo.browser_guide(), flush=True)
        print("\nRunning. Press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        while not stop.wait(1):
            pass  # signals arrive in the main thread while it waits
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
    finally:
        system.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    print("Stopped.", flush=True)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo_for(system: LocalSystem) -> Demo:
    assert system.issuer is not None and system.names is not None
    return Demo(
        api_url=system.gateway_url,
        issuer=system.issuer,
        sqs=boto3.Session().client("sqs"),  # the environment points at the moto server
        queue_urls=system.names.queue_urls,
        dynamodb=boto3.Session().client("dynamodb"),
        access_log_table=system.names.tables[ACCESS_LOG_TABLE],
        run_scheduled=system.run_scheduled,
    )


def banner(system: LocalSystem) -> str:
    assert system.names is not None
    url = system.gateway_url
    routes = "\n".join(f"    {r.method:6} {url}{r.path}  -> {r.function}" for r in SPEC.routes)
    pollers = "\n".join(f"    {poller.name}" for poller in system.pollers) or "    (none)"
    queues = "\n".join(
        f"    {queue_id:28} {queue_url}" for queue_id, queue_url in system.names.queue_urls.items()
    )
    state_option = "" if system.state_dir == DEFAULT_STATE_DIR else f" --state-dir {system.state_dir}"
    built = index_page(system.options.web_dist).is_file()
    web = ("the clinician web app: open it in a browser and sign in on the dev issuer's page" if built
           else "the clinician web app, not built: run make web")
    return f"""
Telehub embedded mode is running (stage local, started in {system.started_in_seconds:.1f} s)

  Web app       {system.web_url}   ({web})
  API gateway   {url}   (API Gateway REST proxy events; the authorizer runs first)
{routes}
  Dev issuer    {url}  (JWKS at {url}/.well-known/jwks.json; OpenID configuration at
                {url}/.well-known/openid-configuration; sign-in page at {url}/oauth2/authorize)
  moto server   {system.moto_url}  (AWS_ENDPOINT_URL for the aws CLI and boto3)
  Pollers
{pollers}
  Queues
{queues}

Mint a token and register a device:
    TOKEN=$(telehub token --role logistics --org 265161000016009{state_option})
    curl -s -X POST {url}/v1/devices -H "Authorization: Bearer $TOKEN" \\
      -H 'Content-Type: application/json' \\
      -d '{{"cpr": "2512489996", "vendor": "Nonin", "model": "3230", "serial": "502012345",
           "measurement_types": ["spo2", "pulse"]}}'
Replay a dead-letter queue:  telehub redrive measurements{state_option}
Run the missed-measurement schedule now:  telehub missed-measurements{state_option}
State (dev issuer key, running ports): {system.state_dir}/"""


# --- telehub token -----------------------------------------------------------------------------


def run_token(arguments: argparse.Namespace) -> int:
    state = RunningState.load(arguments.state_dir)
    if state is None:
        issuer, audience = issuer_url(f"http://{HOST}:8080"), AUDIENCE
        print(
            f"telehub token: no running `telehub local` found in {arguments.state_dir}; "
            f"minting for issuer {issuer} (the default port)",
            file=sys.stderr,
        )
    else:
        issuer, audience = state.token_issuer, state.token_audience
    try:
        token = DevIssuer(arguments.state_dir, issuer, audience).mint(
            arguments.role,
            organisation=arguments.org,
            subject=arguments.subject,
            ttl_minutes=arguments.ttl_minutes,
            cpr=arguments.cpr,
        )
    except ValueError as error:
        print(f"telehub token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


# --- telehub redrive ---------------------------------------------------------------------------


def run_redrive(arguments: argparse.Namespace) -> int:
    state = RunningState.load(arguments.state_dir)
    if state is None:
        print(f"telehub redrive: no running `telehub local` found in {arguments.state_dir}", file=sys.stderr)
        return 1
    queue_id = arguments.queue_id
    dlq_id = f"{queue_id}-dlq"
    if queue_id not in state.queue_urls or dlq_id not in state.queue_urls:
        known = ", ".join(q.id for q in SPEC.queues)
        print(
            f"telehub redrive: {queue_id!r} is not a queue with a DLQ; choose one of {known}", file=sys.stderr
        )
        return 2
    sqs = boto3.Session(
        aws_access_key_id=DUMMY_CREDENTIALS, aws_secret_access_key=DUMMY_CREDENTIALS, region_name=state.region
    ).client("sqs", endpoint_url=state.moto_url)
    moved = redrive(sqs, state.queue_urls[dlq_id], state.queue_urls[queue_id])
    print(f"moved {moved} message(s) from {dlq_id} back to {queue_id}")
    return 0


# --- telehub subscriber ------------------------------------------------------------------------


def run_subscriber(arguments: argparse.Namespace) -> int:
    state = RunningState.load(arguments.state_dir)
    if state is None:
        print(f"telehub subscriber: no running `telehub local` found in {arguments.state_dir}",
              file=sys.stderr)
        return 1
    queue_id = SharingSubscriber(arguments.org).queue.id
    if queue_id not in state.queue_urls:
        known = ", ".join(sorted(url_id.removeprefix("sharing-") for url_id in state.queue_urls
                                 if url_id.startswith("sharing-") and not url_id.endswith("-dlq")))
        print(f"telehub subscriber: {arguments.org} subscribes to nothing here; "
              f"subscribers: {known or 'none'}", file=sys.stderr)
        return 2
    sqs = boto3.Session(
        aws_access_key_id=DUMMY_CREDENTIALS, aws_secret_access_key=DUMMY_CREDENTIALS, region_name=state.region
    ).client("sqs", endpoint_url=state.moto_url)
    printed = drain(sqs, state.queue_urls[queue_id], print, arguments.wait_seconds)
    print(f"{printed} Bundle(s) for {arguments.org}")
    return 0


# --- telehub missed-measurements ---------------------------------------------------------------


def run_missed_measurements(arguments: argparse.Namespace) -> int:
    """One run of the schedule, in this process, against the running system's moto server: what its
    EventBridge rule does every 15 minutes (in AWS: invoke the function with a scheduled event)."""
    state = RunningState.load(arguments.state_dir)
    if state is None or not state.tables:
        print(
            f"telehub missed-measurements: no running `telehub local` found in {arguments.state_dir}",
            file=sys.stderr,
        )
        return 1
    function = SPEC.function(MISSED_MEASUREMENTS)
    runtime = FunctionRuntime(STAGE, state.region)
    at = arguments.at or datetime.now(UTC)
    with _environment_of(function, state):
        summary = runtime.invoke(function, scheduled_event(
            at, schedule_rule_arn(runtime.physical_name(function), state.region), state.region))
    print(f"missed-measurements as of {at.astimezone(UTC).isoformat()}: {json.dumps(summary)}")
    return 0


@contextmanager
def _environment_of(function: FunctionSpec, state: RunningState) -> Iterator[None]:
    """The function's environment pointed at the running system's moto server; the process's again after."""
    names = ResourceNames(tables=state.tables, queue_urls=state.queue_urls, topic_arns={}, key_ids={})
    platform = PlatformSettings(
        stage=STAGE,
        token_issuer=state.token_issuer,
        token_audience=state.token_audience,
        jwks_uri=jwks_url(state.gateway_url),
        device_credential_issuer=f"{state.gateway_url}/device-credentials",
        log_level="WARNING",
    )
    variables = {
        **function_environment(function, names, platform),
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": state.region,
        "AWS_REGION": state.region,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_ENDPOINT_URL": state.moto_url,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with environment(variables):
        aws.reset()
        forget_warm_state()
        try:
            yield
        finally:
            aws.reset()
            forget_warm_state()


if __name__ == "__main__":
    sys.exit(main())
