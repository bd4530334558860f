"""Resource specs beside the real one, for tests of code paths the real spec does not use yet."""

from __future__ import annotations

from dataclasses import replace

from infrastructure.resource_spec import (
    SPEC,
    FunctionSpec,
    IndexSpec,
    Key,
    QueueSource,
    QueueSpec,
    ResourceSpec,
    SubscriptionSpec,
    TableAccess,
    TopicSpec,
)

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
    topics=(*SPEC.topics, TopicSpec(id="regional-feed")),
    subscriptions=(
        SubscriptionSpec(topic="regional-feed", queue="region-dk81", filter_policy={"region": ["DK-81"]}),
    ),
    functions=(
        *SPEC.functions,
        FunctionSpec(
            id="region-sharing",
            handler="functions.cross_sector_sharing.handler.handler",
            description="Shares measurements with region DK-81",
            timeout_seconds=20,
            tables=(TableAccess("devices", ("GetItem",)),),
            queue_source=QueueSource(queue="region-dk81", batch_size=5, max_batching_window_seconds=2),
        ),
    ),
)
