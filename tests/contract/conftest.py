"""Contract tier: each port's suite runs against its in-memory fake and its real adapter under moto,
so a fake can promise neither less nor more than DynamoDB and SQS do.

A suite's fixture is parametrised over ``FAKE`` and ``REAL`` (tests.support.contract); the real one
asks for ``moto_resources``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infrastructure.resource_spec import ResourceNames
from tests.support.contract import SPEC_OF_KEYS, SPEC_OF_STORES, STAGE
from tests.support.moto_state import moto_account


@pytest.fixture
def moto_resources() -> Iterator[ResourceNames]:
    """A fresh moto account with the spec's tables and queues, and the key that seals citizens' profiles."""
    with moto_account(STAGE, SPEC_OF_STORES) as names:
        yield names


@pytest.fixture(scope="module")
def moto_keys() -> Iterator[ResourceNames]:
    """A moto account with the spec's keys, shared by a module's tests (none changes a key)."""
    with moto_account(STAGE, SPEC_OF_KEYS) as names:
        yield names
