"""Integration tier: handlers under moto, with resources created from the resource spec, each function
invoked with exactly its own environment (tests.support.runtime)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embedded.lambda_runtime import FunctionRuntime
from infrastructure.resource_spec import ResourceNames
from tests.support.moto_state import moto_account
from tests.support.runtime import STAGE, current, isolated_functions


@pytest.fixture
def resources() -> Iterator[ResourceNames]:
    """A fresh moto account with every table, queue, topic and key of the spec, and a runtime that
    gives each function the environment the stack would give it, and nothing else."""
    with moto_account(STAGE) as names, isolated_functions(names):
        yield names


@pytest.fixture
def function_runtime(resources: ResourceNames) -> FunctionRuntime:
    """The runtime the test's functions run in, for the embedded mode's pollers."""
    return current().runtime
