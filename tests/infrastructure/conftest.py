"""One synthesis per stage (and one of a richer variant spec) for the whole test session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infrastructure.resource_spec import (
    SPEC,
    FunctionSpec,
    IndexSpec,
    Key,
    QueueSource,
    QueueSpec,
    ResourceSpec,
    SubscriptionSpec,
    TopicSpec,
)
from tests.infrastructure.helpers import Synthesized, synthesize_spec, synthesize_stage

# SPEC has no subscription yet, and only one queue consumer and one (keys-only) index; later
# issues add more. This variant has a subscription, a batching queue consumer and an index with
# every attribute projected, so those code paths are synthesized, checked by cdk-nag and compared
# with their spec today.
VARIANT_SPEC: ResourceSpec = replace(
    SPEC,
    tables=tuple(
        replace(table, indexes=(IndexSpec("by-patient", Key("patient_id"), Key("registered_at")),))
        if table.id == "devices"
        else table
        for table in SPEC.tables
    ),
    queues=(*SPEC.queues, QueueSpec(id="region-dk81", max_receive_count=3)),
    topics=(*SPEC.topics, TopicSpec(id="sharing")),
    subscriptions=(
        SubscriptionSpec(topic="sharing", queue="region-dk81", filter_policy={"region": ["DK-81"]}),
    ),
    functions=(
        *SPEC.functions,
        FunctionSpec(
            id="region-sharing",
            handler="functions.cross_sector_sharing.handler.handler",
            description="Shares measurements with region DK-81",
            timeout_seconds=20,
            reads_tables=("devices",),
            queue_source=QueueSource(queue="region-dk81", batch_size=5, max_batching_window_seconds=2),
        ),
    ),
)


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
