"""Contract tier: each port's suite runs against its in-memory fake and its real adapter under moto,
so a fake can promise neither less nor more than DynamoDB and SQS do.

A suite's fixture is parametrised over ``FAKE`` and ``REAL``; the real one asks for ``moto_resources``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from embedded.resources import create_resources
from functions.shared import aws
from infrastructure.resource_spec import SPEC, ResourceNames

FAKE, REAL = "fake", "moto"
# No port under contract uses KMS, and creating keys is the slowest part of moto's set-up.
_SPEC_WITHOUT_KEYS = dataclasses.replace(SPEC, keys=())


@pytest.fixture
def moto_resources() -> Iterator[ResourceNames]:
    """A fresh moto account with the spec's tables and queues."""
    with mock_aws():
        aws.reset()
        yield create_resources(boto3.Session(), stage="contract", spec=_SPEC_WITHOUT_KEYS)
        aws.reset()
    os.environ.pop("AWS_ENDPOINT_URL", None)
