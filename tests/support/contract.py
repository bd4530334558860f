"""The contract tier's two implementations of every port: its in-memory fake, and its real adapter
against a moto account (the ``moto_resources`` fixture of tests/contract/conftest.py)."""

from __future__ import annotations

import dataclasses

from infrastructure.resource_spec import SPEC

FAKE, REAL = "fake", "moto"
STAGE = "contract"
# Only the key suite uses KMS, and creating keys is the slowest part of moto's set-up: the other
# suites get an account without keys, and the key suite one account of keys only per module.
SPEC_WITHOUT_KEYS = dataclasses.replace(SPEC, keys=())
SPEC_OF_KEYS = dataclasses.replace(SPEC, tables=(), queues=(), topics=(), subscriptions=())
