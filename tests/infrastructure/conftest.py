"""One synthesis per stage (and one of a richer variant spec) for the whole test session."""

from __future__ import annotations

import pytest

from tests.support.cdk_templates import Synthesized, synthesize_spec, synthesize_stage
from tests.support.specs import VARIANT_SPEC


@pytest.fixture(scope="session")
def dev(tmp_path_factory) -> Synthesized:
    return synthesize_stage("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory) -> Synthesized:
    return synthesize_stage("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory) -> Synthesized:
    return synthesize_spec(VARIANT_SPEC, "dev", tmp_path_factory.mktemp("cdk-variant"))


@pytest.fixture(scope="session", params=["dev", "prod"])
def stage(request) -> Synthesized:
    return request.getfixturevalue(request.param)
