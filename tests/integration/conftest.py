"""Integration tier: handlers under moto, with resources created from the resource spec, each function
invoked with exactly its own environment (tests.support.runtime)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from embedded.lambda_runtime import FunctionRuntime
from embedded.resources import create_resources
from functions.shared import aws
from infrastructure.resource_spec import ResourceNames
from tests.support.runtime import STAGE, current, isolated_functions


@pytest.fixture
def resources() -> Iterator[ResourceNames]:
    """A fresh moto account with every table, queue, topic and key of the spec, and a runtime that
    gives each function the environment the stack would give it, and nothing else."""
    with mock_aws():
        aws.reset()
        names = create_resources(boto3.Session(), stage=STAGE)
        with isolated_functions(names):
            yield names
        aws.reset()
    os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture
def function_runtime(resources: ResourceNames) -> FunctionRuntime:
    """The runtime the test's functions run in, for the embedded mode's pollers."""
    return current().runtime
