"""The contract tier's two implementations of every port: its in-memory fake, and its real adapter
against a moto account (the ``moto_resources`` fixture of tests/contract/conftest.py)."""

from __future__ import annotations

import dataclasses

from infrastructure.resource_spec import SPEC

FAKE, REAL = "fake", "moto"
STAGE = "contract"
# Creating keys is the slowest part of moto's set-up (the RSA one above all): the store suites get an account
# with the one key a store uses itself (citizen-profile, which seals the profiles; symmetric, quick to make),
# and the key suite one account of keys only per module.
SPEC_OF_STORES = dataclasses.replace(SPEC, keys=(SPEC.key("citizen-profile"),))
SPEC_OF_KEYS = dataclasses.replace(SPEC, tables=(), queues=(), topics=(), subscriptions=())
