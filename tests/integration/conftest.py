"""Integration tier: handlers under moto, with resources created from the resource spec."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from embedded.resources import create_resources
from functions.shared import aws
from infrastructure.resource_spec import SPEC, PlatformSettings, ResourceNames, function_environment

PLATFORM = PlatformSettings(
    stage="test",
    token_issuer="https://idp.test.telehub.dk/",
    token_audience="telehub-test",
    jwks_uri="https://idp.test.telehub.dk/.well-known/jwks.json",
    device_credential_issuer="https://telehub.test/device-credentials",
)


@pytest.fixture
def resources(monkeypatch: pytest.MonkeyPatch) -> Iterator[ResourceNames]:
    """A fresh moto account with every table, queue, topic and key of the spec, and every
    function's environment variables set as the stack would set them."""
    with mock_aws():
        aws.reset()
        names = create_resources(boto3.Session(), stage="test")
        for function in SPEC.functions:
            for name, value in function_environment(function, names, PLATFORM).items():
                monkeypatch.setenv(name, value)
        yield names
        aws.reset()
    os.environ.pop("AWS_ENDPOINT_URL", None)
