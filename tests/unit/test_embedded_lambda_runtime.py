"""Running handlers in-process: the Lambda context stand-in, one invocation at a time, cold starts."""

from __future__ import annotations

import sys
import threading
import time
import types
from functools import cache

import pytest

from embedded.lambda_runtime import FunctionRuntime, LambdaContext, forget_warm_state
from infrastructure.resource_spec import FunctionSpec

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
