"""Running handlers in-process: the Lambda context stand-in, one invocation at a time, cold starts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
import time
import types
from functools import cache

import pytest
from pydantic import ValidationError

from embedded.lambda_runtime import (
    FunctionEnvironments,
    FunctionRuntime,
    LambdaContext,
    forget_warm_state,
    set_function_logger,
)
from functions.devices.models import DevicesSettings
from functions.shared import observability
from infrastructure.resource_spec import SPEC, FunctionSpec, PlatformSettings, ResourceNames

HERE = __name__
_running = 0
_most_running = 0
_guard = threading.Lock()


def recording_handler(event, context):
    return {"event": event, "context": context}


def slow_handler(event, context):
    global _running, _most_running
    with _guard:
        _running += 1
        _most_running = max(_most_running, _running)
    time.sleep(0.05)
    with _guard:
        _running -= 1


def failing_handler(event, context):
    raise RuntimeError("bug")


def environment_handler(event, context):
    return dict(os.environ)


def devices_settings_handler(event, context):
    """Reads the devices function's settings as its handler does at first use."""
    return DevicesSettings.from_environment()


@cache
def _warm_factory() -> object:
    return object()


_warm_factory.__module__ = "functions.fake_warm"


def warm_state_handler(event, context):
    return _warm_factory()


def function(handler: str, **options) -> FunctionSpec:
    return FunctionSpec(id="worker", handler=f"{HERE}.{handler}", description="test", **options)


def test_the_handler_gets_the_event_and_a_context_like_lambdas():
    # Given a function of the spec with a timeout and memory size
    runtime = FunctionRuntime("local", "eu-west-1")
    # When it is invoked
    result = runtime.invoke(function("recording_handler", timeout_seconds=5, memory_mb=256), {"a": 1})
    # Then the handler got the event and a context naming the function as the stack does
    context = result["context"]
    assert result["event"] == {"a": 1}
    assert context.function_name == "telehub-local-worker"
    assert (
        context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:telehub-local-worker"
    )
    assert context.memory_limit_in_mb == 256 and context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 5000


def test_the_remaining_time_counts_down_to_zero():
    context = LambdaContext("f", 128, "arn", timeout_seconds=0)
    assert context.get_remaining_time_in_millis() == 0


def test_a_handler_exception_reaches_the_caller():
    with pytest.raises(RuntimeError):
        FunctionRuntime("local", "eu-west-1").invoke(function("failing_handler"), {})


def test_invocations_run_one_at_a_time():
    # Given four callers invoking at once
    runtime = FunctionRuntime("local", "eu-west-1")
    callers = [threading.Thread(target=runtime.invoke, args=(function("slow_handler"), {})) for _ in range(4)]
    # When they all run
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    # Then no two invocations overlapped
    assert _most_running == 1


def test_forgetting_warm_state_clears_the_caches_of_telehubs_functions_only(monkeypatch):
    # Given a functions module and another module, each with a cached factory that has been used
    calls = {"functions": 0, "other": 0}
    functions_module = types.ModuleType("functions.fake_feature")
    other_module = types.ModuleType("not_functions.fake")
    for module, key in ((functions_module, "functions"), (other_module, "other")):

        @cache
        def factory(key=key):
            calls[key] += 1
            return object()

        factory.__module__ = module.__name__
        module.factory = factory
        factory()
    monkeypatch.setitem(sys.modules, functions_module.__name__, functions_module)
    monkeypatch.setitem(sys.modules, other_module.__name__, other_module)
    # When the embedded mode forgets warm state
    forget_warm_state()
    functions_module.factory()
    other_module.factory()
    # Then only the function's factory runs again
    assert calls == {"functions": 2, "other": 1}


# --- isolated environments -------------------------------------------------------------------------

NAMES = ResourceNames(
    tables={table.id: f"telehub-local-{table.id}" for table in SPEC.tables},
    queue_urls={queue.id: f"http://moto/{queue.id}" for queue in SPEC.queues},
    topic_arns={topic.id: f"arn:aws:sns:eu-west-1:123456789012:{topic.id}" for topic in SPEC.topics},
    key_ids={key.id: f"key-{key.id}" for key in SPEC.keys},
)
PLATFORM = PlatformSettings(
    stage="local",
    token_issuer="https://issuer.test/",
    token_audience="telehub-local",
    jwks_uri="https://issuer.test/jwks.json",
    device_credential_issuer="https://telehub.test/device-credentials",
)
ENVIRONMENTS = FunctionEnvironments(NAMES, PLATFORM)


def isolated_runtime() -> FunctionRuntime:
    runtime = FunctionRuntime("local", "eu-west-1")
    runtime.isolate(ENVIRONMENTS)
    return runtime


def as_spec_function(function_id: str, handler: str, **changes) -> FunctionSpec:
    """The spec's function with this module's handler (and any grants changed)."""
    return dataclasses.replace(SPEC.function(function_id), handler=f"{HERE}.{handler}", **changes)


def test_an_isolated_function_sees_exactly_its_own_environment_and_the_shared_base(monkeypatch):
    # Given the union of every function's environment in the process, as the default mode sets it
    for function in SPEC.functions:
        for name, value in ENVIRONMENTS.of(function).items():
            monkeypatch.setenv(name, value)
    before = dict(os.environ)
    # When the upload API function runs isolated
    seen = isolated_runtime().invoke(as_spec_function("device-uploads", "environment_handler"), {})
    # Then it sees its own variables, none granted to another function, and the shared AWS settings
    own = ENVIRONMENTS.of(SPEC.function("device-uploads"))
    assert {name: seen[name] for name in own} == own
    assert not (ENVIRONMENTS.variables - own.keys()) & seen.keys()
    assert "CITIZENS_TABLE_NAME" not in seen and "ROUTE_ROLES" not in seen
    assert seen["AWS_REGION"] == os.environ["AWS_REGION"]
    # And afterwards the process's environment is as it was
    assert dict(os.environ) == before


def test_a_table_the_spec_forgot_to_grant_fails_the_isolated_function():
    # Given the devices function as the spec has it, and a variant that lacks the episodes table
    devices = as_spec_function("devices", "devices_settings_handler")
    forgetful = dataclasses.replace(
        devices,
        tables=tuple(access for access in devices.tables if access.table != "episodes"),
    )
    runtime = isolated_runtime()
    # When each is invoked, Then the spec's reads its settings and the variant fails on the missing one
    assert runtime.invoke(devices, {}).episodes_table_name == "telehub-local-episodes"
    with pytest.raises(ValidationError, match="episodes_table_name"):
        runtime.invoke(forgetful, {})


def test_the_default_runtime_leaves_the_environment_to_the_process(monkeypatch):
    # Given a variable of another function in the process (the default mode's union)
    monkeypatch.setenv("EPISODES_TABLE_NAME", "episodes")
    # When a function that is not granted the table runs without isolation, Then it sees it
    uploads = as_spec_function("device-uploads", "environment_handler")
    seen = FunctionRuntime("local", "eu-west-1").invoke(uploads, {})
    assert seen["EPISODES_TABLE_NAME"] == "episodes"


def test_warm_state_is_forgotten_when_another_function_runs_and_kept_for_the_same(monkeypatch):
    # Given an isolated runtime and a cached factory of a functions module
    monkeypatch.setitem(sys.modules, "functions.fake_warm", types.ModuleType("functions.fake_warm"))
    vars(sys.modules["functions.fake_warm"])["_warm_factory"] = _warm_factory
    runtime = isolated_runtime()
    uploads = as_spec_function("device-uploads", "warm_state_handler")
    outbox = as_spec_function("upload-outbox", "warm_state_handler")
    # When one function runs twice, then another, then the first again
    first, again = runtime.invoke(uploads, {}), runtime.invoke(uploads, {})
    other, back = runtime.invoke(outbox, {}), runtime.invoke(uploads, {})
    # Then the same function stayed warm, and a switch always started cold
    assert first is again
    assert other is not again and back is not other


def nothing_handler(event, context):
    return None


def test_a_thread_walking_the_environment_while_isolated_functions_run_never_finds_a_variable_gone():
    # Given an isolated runtime, and another thread listing the environment over and over (as urllib and
    # botocore do for proxies on each request or client)
    runtime = isolated_runtime()
    functions = [as_spec_function(function_id, "nothing_handler")
                 for function_id in ("device-uploads", "upload-outbox", "referral-intake", "devices")]
    failures: list[BaseException] = []
    running = threading.Event()
    running.set()

    def walk() -> None:
        while running.is_set():
            try:
                dict(os.environ.items())
            except (KeyError, RuntimeError) as failure:
                failures.append(failure)

    walker = threading.Thread(target=walk)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as the interpreter lets them
    walker.start()
    # When the functions take turns many times
    try:
        for turn in range(2000):
            runtime.invoke(functions[turn % len(functions)], {})
    finally:
        running.clear()
        walker.join()
        sys.setswitchinterval(switch_interval)
    # Then the walker never saw the environment change under it
    assert failures == []


def nesting_handler(event, context):
    """Invokes another function while it runs, and reports its own environment before and after."""
    before = os.environ.get("UPLOADS_TABLE_NAME")
    inner = event["runtime"].invoke(as_spec_function("referral-intake", "environment_handler"), {})
    return before, inner, os.environ.get("UPLOADS_TABLE_NAME")


def test_a_function_invoked_inside_another_runs_with_its_own_environment_and_the_callers_comes_back():
    # Given an isolated runtime
    runtime = isolated_runtime()
    # When the upload function invokes the referral function while it runs (same thread)
    before, inner, after = runtime.invoke(as_spec_function("device-uploads", "nesting_handler"),
                                          {"runtime": runtime})
    # Then the inner function saw its own environment, and the outer one has its own again afterwards
    assert "EPISODES_TABLE_NAME" in inner and "UPLOADS_TABLE_NAME" not in inner
    assert before == after == "telehub-local-uploads"



class RecordingHandler(logging.Handler):
    """The functions' log lines as Powertools formats them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(observability.logger.registered_formatter.format(record)))


def logging_handler(event, context):
    observability.logger.info("routine")
    observability.logger.warning("worth a look")


def test_the_functions_log_at_the_level_and_as_the_service_set_whatever_the_logger_was_created_with():
    # Given the functions' logger as it is when imported before the embedded mode set the environment
    logger = observability.logger
    level, service = logger.log_level, logger.get_current_keys()["service"]
    logger.setLevel("INFO")
    logger.append_keys(service="service_undefined")
    recorder = RecordingHandler()
    logging.getLogger(logger.name).addHandler(recorder)
    try:
        # When the embedded mode sets it to WARNING and a function logs at INFO and at WARNING
        restore = set_function_logger("WARNING", "telehub-local")
        FunctionRuntime("local", "eu-west-1").invoke(function("logging_handler"), {})
        restore()
        # Then only the warning is logged, named by the service
        assert [(line["level"], line["message"], line["service"]) for line in recorder.lines] == [
            ("WARNING", "worth a look", "telehub-local")]
        # And once restored the logger is as it was
        assert logger.log_level == logging.INFO
        assert logger.get_current_keys()["service"] == "service_undefined"
    finally:
        logging.getLogger(logger.name).removeHandler(recorder)
        logger.setLevel(level)
        logger.append_keys(service=service)
