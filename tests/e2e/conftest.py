"""End-to-end tier: the embedded mode, started in this process the way `telehub local` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.core.base_backend import BackendDict

from embedded.local import LocalOptions, LocalSystem


@pytest.fixture(scope="package")
def local_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    """The whole system on free ports, once for the tier in each test process (`make test` runs one per
    core): moto, resources, gateway, pollers. (Once, not per module: moto's backends are global to the
    process, so a second system would find the first's resources; and stopped when the tier ends, so its
    environment never reaches the other tiers.) The modules a process runs share it, so each uses test
    citizens of its own. Each function runs with exactly its own environment, so a grant the spec forgot
    fails here. A process may come back to the tier after running others (pytest-xdist's worksteal hands
    a process tests in any order), and the first system's resources are still in moto's backends then:
    each system starts from an empty moto, as in a fresh process."""
    options = LocalOptions(
        port=0,
        moto_port=0,
        state_dir=tmp_path_factory.mktemp("telehub-state"),
        function_log_level="INFO",
        isolated_environments=True,
    )
    BackendDict.reset()
    with LocalSystem(options) as system:
        yield system


@pytest.fixture(scope="package")
def sqs(local_system: LocalSystem):
    """A client of the running system's moto server (the environment points at it while it runs)."""
    return boto3.Session().client("sqs")
