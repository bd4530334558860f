"""Runs Telehub's Lambda handlers in this process, the way the Lambda service would call them.

Handlers are imported lazily by the dotted path in the resource spec, so the embedded mode starts
even when a function's module is broken (the error then shows on its first invocation). Every
invocation gets a small stand-in for Lambda's context object.

All in-process functions share one Python process, so they share one environment and Powertools'
module-level logger and metrics. Invocations therefore run one at a time, like one warm container
that every function shares; that is plenty for a laptop and keeps handler state consistent.

By default the shared environment is the union of every function's (fast: nothing changes between
invocations). A runtime told to ``isolate`` runs each function with exactly its own environment
from the spec instead, as Lambda does, so a table, queue, topic or key the spec forgot to give one
function (its variable is then missing) fails on a laptop and in tests rather than only in AWS.
moto enforces no IAM, though: a grant of the wrong kind (read where the function writes, say) or of
a stream the function reads itself still fails only in AWS.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from infrastructure.resource_spec import (
    SPEC,
    FunctionSpec,
    KeySpec,
    PlatformSettings,
    QueueSpec,
    ResourceNames,
    TableSpec,
    TopicSpec,
    function_environment,
)

ACCOUNT_ID = "123456789012"  # moto's default account

Handler = Callable[[dict[str, Any], Any], Any]
Invoke = Callable[[dict[str, Any]], Any]

log = logging.getLogger("telehub.functions")
_CLIENTS_MODULE = "functions.shared.aws"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "embedded"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(dotted_path: str) -> Handler:
    module_name, function_name = dotted_path.rsplit(".", 1)
    handler: Handler = getattr(importlib.import_module(module_name), function_name)
    return handler


def function_arn(function_name: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"


@dataclass(frozen=True)
class FunctionEnvironments:
    """Each function's own environment, as the stack sets it, for a runtime that isolates them."""

    names: ResourceNames
    platform: PlatformSettings

    def of(self, function: FunctionSpec) -> dict[str, str]:
        return function_environment(function, self.names, self.platform)

    @cached_property
    def variables(self) -> frozenset[str]:
        """Every variable the spec could give a function: none of them may reach another function."""
        granted = {name for function in SPEC.functions for name in self.of(function)}
        resources: list[TableSpec | QueueSpec | TopicSpec | KeySpec] = [
            *SPEC.tables, *SPEC.queues, *SPEC.topics, *SPEC.keys
        ]
        return frozenset({*granted, *(resource.env_name for resource in resources)})


class FunctionRuntime:
    """Invokes the spec's functions in-process, one invocation at a time.

    Only a handler's own thread may invoke while it runs (a test playing a concurrent request between
    a read and a write): that invocation runs nested, with its function's environment, and the
    caller's environment is back when it returns.
    """

    def __init__(self, stage: str, region: str) -> None:
        self._stage = stage
        self._region = region
        self._lock = threading.RLock()
        self._environments: FunctionEnvironments | None = None
        self._warm_environment: dict[str, str] | None = None

    def isolate(self, environments: FunctionEnvironments) -> None:
        """From the next invocation on, run each function with exactly its own environment.

        The process's environment minus every function variable is the base all of them share (AWS
        settings, the endpoint). Whenever an invocation's environment differs from the previous one's,
        the functions' warm state is forgotten first, so a service built under one function's
        environment never serves another; boto3 clients stay, they do not depend on it.
        """
        with self._lock:
            self._environments = environments

    def physical_name(self, function: FunctionSpec) -> str:
        return f"telehub-{self._stage}-{function.id}"

    def arn(self, function: FunctionSpec) -> str:
        return function_arn(self.physical_name(function), self._region)

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        """Call the function's handler; its exception propagates (Lambda's function error) for the
        caller, which knows how the event source treats it, to log and handle."""
        context = LambdaContext(
            function_name=self.physical_name(function),
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=self.arn(function),
            timeout_seconds=function.timeout_seconds,
        )
        with self._lock, self._own_environment(function):
            started = time.monotonic()
            try:
                return load_handler(function.handler)(event, context)
            finally:
                # Metrics are off here, and Powertools then never flushes (so never clears) them.
                # Imported here: the functions' modules must first see the environment set up.
                from functions.shared.observability import metrics

                metrics.clear_metrics()
                elapsed = time.monotonic() - started
                if elapsed > function.timeout_seconds:
                    log.warning(
                        "function %s ran %.1f s, longer than its %d s timeout (Lambda would stop it)",
                        function.id,
                        elapsed,
                        function.timeout_seconds,
                    )

    def invoker(self, function: FunctionSpec) -> Invoke:
        return lambda event: self.invoke(function, event)

    @contextmanager
    def _own_environment(self, function: FunctionSpec) -> Iterator[None]:
        """With isolation, the function's own environment while it runs; the process's again after."""
        if self._environments is None:
            yield
            return
        own = self._environments.of(function)
        if own != self._warm_environment:
            forget_warm_state(keep_clients=True)
            self._warm_environment = own
        # The process's mapping is swapped for the function's, never changed in place: another thread (a test
        # or a poller making an HTTP request or a boto3 client, which list the environment for proxies) that
        # is walking the old mapping would find a variable gone from under it (a KeyError). The handlers read
        # the environment in Python only (os.environ, os.getenv), so the C-level one may stay as it is.
        process = os.environ
        variables = self._environments.variables
        isolated = {name: value for name, value in process.items() if name not in variables} | own
        os.environ = isolated  # type: ignore[assignment]  # noqa: B003
        try:
            yield
        finally:
            os.environ = process  # noqa: B003


def set_function_logger(level: str, service: str) -> Callable[[], None]:
    """Give Powertools' logger, which every in-process function shares, the functions' log level and
    service name; returns what sets the previous ones again.

    The logger reads them from the environment once, when functions.shared.observability is first
    imported, and in this process that may be before the embedded mode sets the environment (the gateway
    imports infrastructure.edge, which imports functions.shared.api): the functions then logged at INFO
    as "service_undefined" whatever level the embedded mode asked for. Lambda sets the environment before
    anything is imported.
    """
    from functions.shared.observability import logger

    previous_level, previous_service = logger.log_level, logger.get_current_keys().get("service")
    logger.setLevel(level)
    logger.append_keys(service=service)

    def restore() -> None:
        logger.setLevel(previous_level)
        logger.append_keys(service=previous_service)

    return restore


def describe_failure(error: BaseException) -> str:
    """The error's type and stack, not its message: a message may quote a request's data."""
    frames = "".join(traceback.format_tb(error.__traceback__)).rstrip()
    return f"{type(error).__name__}\n{frames}" if frames else type(error).__name__


def forget_warm_state(*, keep_clients: bool = False) -> None:
    """Make every in-process function start cold, as a new Lambda container would.

    Telehub's functions build settings, clients and services in ``functools.cache``d factories at
    first use; clearing those caches makes them read the (new) environment again. ``keep_clients``
    leaves the boto3 clients of ``functions.shared.aws``, which depend on the endpoint only.
    """
    for name, module in list(sys.modules.items()):
        if not (name == "functions" or name.startswith("functions.")) or module is None:
            continue
        if keep_clients and name == _CLIENTS_MODULE:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()
