"""The embedded mode: the whole of Telehub in one process on a laptop.

A moto server stands in for AWS; the resources come from the resource spec; a local gateway turns
HTTP requests into API Gateway events and, on the same origin, serves the clinician web app and the dev
issuer's sign-in (embedded/web.py); pollers feed queues and streams to their functions. The
``telehub local`` command and the end-to-end tests start and stop it through ``LocalSystem``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from embedded.dev_issuer import AUDIENCE, DevIssuer, issuer_url, jwks_url
from embedded.gateway import BEARER_TOKEN, Gateway
from embedded.lambda_runtime import (
    FunctionEnvironments,
    FunctionRuntime,
    forget_warm_state,
    set_function_logger,
)
from embedded.oidc import WEB_CLIENT_ID, minted_by
from embedded.organisations import HOSPITAL_SOR, MUNICIPALITY_SOR, SUBSCRIBERS
from embedded.pollers import Poller, schedule_rule_arn, scheduled_event, spec_pollers
from embedded.resources import create_resources
from embedded.web import DEFAULT_DIST, WebFront
from functions.shared import aws
from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES
from infrastructure.edge import EdgeLimits
from infrastructure.resource_spec import SPEC, PlatformSettings, ResourceNames, function_environment

STAGE = "local"
FUNCTIONS_SERVICE = f"telehub-{STAGE}"  # the in-process functions share one logger, so one name
REGION = "eu-west-1"
HOST = "127.0.0.1"
STATE_FILE = "local.json"
DUMMY_CREDENTIALS = "telehub-local"
# The stack's resources with the embedded mode's sharing subscribers: their queues and filtered
# subscriptions, as `cdk deploy` makes them from a stage's config. Without their KMS keys: moto enforces no
# key policy, so a key would prove nothing here (tests/infrastructure/test_sharing.py checks the stack's).
EMBEDDED_SPEC = SPEC.with_sharing_subscribers(SUBSCRIBERS)


class PortInUse(Exception):
    pass


@dataclass(frozen=True)
class LocalOptions:
    port: int = 8080  # the API gateway; 0 picks a free port
    moto_port: int = 5055  # the moto server; 0 picks a free port
    state_dir: Path = Path(".telehub")
    function_log_level: str = "WARNING"  # Powertools log level of the in-process functions
    retry_visibility_seconds: int = 2  # how soon a failed SQS message is delivered again
    # Each function with exactly its own environment (as in AWS) instead of the union of all of them:
    # a table, queue, topic or key the spec forgot to give a function fails here (a wrong kind of
    # grant does not: moto enforces no IAM); a little slower, since a function switch starts it cold.
    isolated_environments: bool = False
    # The gateway's edge limits (infrastructure/edge.py). The body limit is always on; rates only if given:
    # everything local comes from one address, and the e2e tier sends thousands of requests with few tokens.
    edge_limits: EdgeLimits = field(default_factory=EdgeLimits)
    web_dist: Path = DEFAULT_DIST  # the built web app (`make web`), served at the gateway's /


@dataclass(frozen=True)
class RunningState:
    """What commands other than ``telehub local`` need to reach a running system (the state file)."""

    pid: int
    gateway_url: str
    moto_url: str
    region: str
    token_issuer: str
    token_audience: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # for functions a command runs itself

    @classmethod
    def load(cls, state_dir: Path) -> RunningState | None:
        path = Path(state_dir) / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None


class _MotoServer(ThreadedMotoServer):
    """moto's threaded server, except that a port it cannot bind is an error, not a wait for ever.

    (werkzeug reports a taken port by printing it and calling sys.exit in the server's thread.)
    """

    startup_failed = False

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except (OSError, SystemExit):
            if self._server_ready_event.is_set():
                raise  # it failed while serving, not while starting
            self.startup_failed = True
            self._server_ready_event.set()


class LocalSystem:
    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()
        self.names: ResourceNames | None = None
        self.issuer: DevIssuer | None = None
        self.pollers: list[Poller] = []
        self.started_in_seconds: float | None = None
        self._moto: _MotoServer | None = None
        self._gateway: Gateway | None = None
        self._runtime: FunctionRuntime | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._restore_function_logger: Callable[[], None] | None = None
        self._wrote_state = False

    def __enter__(self) -> LocalSystem:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def gateway_url(self) -> str:
        assert self._gateway is not None, "start() first"
        return self._gateway.url

    @property
    def web_url(self) -> str:
        """Where a browser opens the clinician web app: the gateway's origin, the sign-in's redirect URI."""
        return f"{self.gateway_url}/"

    @property
    def moto_url(self) -> str:
        assert self._moto is not None, "start() first"
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def state_dir(self) -> Path:
        return Path(self.options.state_dir)

    def start(self) -> None:
        started = time.monotonic()
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._start_moto()
            runtime = self._runtime = FunctionRuntime(STAGE, REGION)
            gateway = self._bind_gateway(runtime)
            self._point_aws_at_moto()
            session = boto3.Session()
            self.names = create_resources(session, stage=STAGE, spec=EMBEDDED_SPEC)
            platform = self.platform_settings()
            if self.options.isolated_environments:
                runtime.isolate(FunctionEnvironments(self.names, platform))
            else:
                self._set_function_environment(platform)
            self._set_environment("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF documents on the console
            self._restore_function_logger = set_function_logger(platform.log_level, FUNCTIONS_SERVICE)
            self.issuer = DevIssuer(self.state_dir, platform.token_issuer, platform.token_audience)
            self.issuer.jwks()  # creates the signing key on first use, before anyone asks for a token
            self._serve_web(gateway)
            self.pollers = spec_pollers(
                SPEC,
                self.names,
                runtime,
                session,
                REGION,
                retry_visibility_seconds=self.options.retry_visibility_seconds,
            )
            for poller in self.pollers:
                poller.start()
            gateway.start()
            self._write_state(platform)
        except BaseException:
            self.stop()
            raise
        self.started_in_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop taking requests, let the pollers finish their batch, then stop moto. Safe to repeat."""
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self._moto is not None:
            if not self._moto.startup_failed:
                self._moto.stop()
            self._moto = None
        if self._wrote_state:  # never another running system's
            (self.state_dir / STATE_FILE).unlink(missing_ok=True)
            self._wrote_state = False
        if self._restore_function_logger is not None:
            self._restore_function_logger()
            self._restore_function_logger = None
        self._restore_environment()

    def run_scheduled(self, function_id: str, at: datetime) -> Any:
        """Run a scheduled function once now, as its rule would at ``at`` (the demo's "four days on")."""
        assert self._runtime is not None, "start() first"
        function = SPEC.function(function_id)
        rule = schedule_rule_arn(self._runtime.physical_name(function), REGION)
        return self._runtime.invoke(function, scheduled_event(at, rule, REGION))

    def platform_settings(self) -> PlatformSettings:
        return PlatformSettings(
            stage=STAGE,
            token_issuer=issuer_url(self.gateway_url),
            token_audience=AUDIENCE,
            jwks_uri=jwks_url(self.gateway_url),
            device_credential_issuer=f"{self.gateway_url}/device-credentials",
            log_level=self.options.function_log_level,
            shared_measurement_types=COPD_SHARED_MEASUREMENT_TYPES,  # the default of a stage's config
            # Usage-plan buckets of their own, as dev's config gives them; the gateway throttles by them only
            # when its limits say so (EdgeLimits.per_usage_key).
            usage_plan_organisations=(MUNICIPALITY_SOR, HOSPITAL_SOR),
            token_client_ids=(WEB_CLIENT_ID,),  # the web app's tokens from the sign-in page name it (azp)
        )

    def _issuer(self) -> DevIssuer:
        assert self.issuer is not None, "the issuer is created during start()"
        return self.issuer

    @contextmanager
    def entrance(self, limits: EdgeLimits, clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
        """Another gateway in front of the same running system, on a free port, with other edge limits
        (a stage's rates, or small ones and a clock a test moves, which the sign-in's codes live by too):
        its URL, while the block runs."""
        assert self._runtime is not None, "start() first"
        gateway = self._new_gateway(self._runtime, 0, limits, clock)
        self._serve_web(gateway, clock)
        gateway.start()
        try:
            yield gateway.url
        finally:
            gateway.stop()

    def _new_gateway(self, runtime: FunctionRuntime, port: int, limits: EdgeLimits,
                     clock: Callable[[], float] = time.monotonic) -> Gateway:
        return Gateway(
            SPEC.routes,
            lambda function_id, event: runtime.invoke(SPEC.function(function_id), event),
            SPEC.authorizer,
            jwks=lambda: self._issuer().jwks(),
            port=port,
            host=HOST,
            stage=STAGE,
            region=REGION,
            token_pattern=BEARER_TOKEN,
            limits=limits,
            clock=clock,
        )

    def _serve_web(self, gateway: Gateway, clock: Callable[[], float] = time.monotonic) -> None:
        """The web app and the dev issuer's sign-in on the gateway's origin, for the system's issuer."""
        platform = self.platform_settings()
        gateway.pages = WebFront(gateway.url, platform.token_issuer, platform.jwks_uri,
                                 minted_by(self._issuer().mint), stage=STAGE, dist=self.options.web_dist,
                                 clock=clock).reply

    def _bind_gateway(self, runtime: FunctionRuntime) -> Gateway:
        """Bound now, serving once everything else runs: the issuer's URL is the gateway's."""
        try:
            self._gateway = self._new_gateway(runtime, self.options.port, self.options.edge_limits)
        except OSError as error:
            raise _port_in_use(
                "API gateway", "--port", self.options.port, error.strerror or str(error)
            ) from None
        return self._gateway

    def _start_moto(self) -> None:
        self._moto = _MotoServer(HOST, self.options.moto_port, verbose=False)
        self._moto.start()
        if self._moto.startup_failed:
            raise _port_in_use("moto server", "--moto-port", self.options.moto_port)

    def _point_aws_at_moto(self) -> None:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            self._set_environment(name, None)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            self._set_environment(name, DUMMY_CREDENTIALS)
        self._set_environment("AWS_DEFAULT_REGION", REGION)
        self._set_environment("AWS_REGION", REGION)
        self._set_environment("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        self._set_environment("AWS_ENDPOINT_URL", self.moto_url)
        aws.reset()
        forget_warm_state()

    def _set_function_environment(self, platform: PlatformSettings) -> None:
        """The union of every function's environment: in one process they share one."""
        assert self.names is not None
        for function in SPEC.functions:
            for name, value in function_environment(function, self.names, platform).items():
                self._set_environment(name, value)
        self._set_environment("POWERTOOLS_SERVICE_NAME", FUNCTIONS_SERVICE)

    def _set_environment(self, name: str, value: str | None) -> None:
        self._saved_environment.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}
        aws.reset()
        forget_warm_state()

    def _write_state(self, platform: PlatformSettings) -> None:
        assert self.names is not None
        state = RunningState(
            pid=os.getpid(),
            gateway_url=self.gateway_url,
            moto_url=self.moto_url,
            region=REGION,
            token_issuer=platform.token_issuer,
            token_audience=platform.token_audience,
            queue_urls=self.names.queue_urls,
            tables=self.names.tables,
        )
        (self.state_dir / STATE_FILE).write_text(json.dumps(state.__dict__, indent=2))
        self._wrote_state = True


def _port_in_use(what: str, option: str, port: int, reason: str = "the port is taken") -> PortInUse:
    return PortInUse(
        f"the {what} cannot listen on {HOST}:{port} ({reason}); "
        f"is another `telehub local` running? Choose another port with {option}."
    )
