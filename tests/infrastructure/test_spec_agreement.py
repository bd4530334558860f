"""The synthesized templates and the resource spec describe the same system."""

from __future__ import annotations

from dataclasses import replace

from infrastructure.resource_spec import SPEC
from tests.support.spec_agreement import differences
from tests.support.specs import VARIANT_SPEC


def test_each_stage_template_has_exactly_the_spec_resources(stage):
    # Given a stage synthesized from SPEC and its config's sharing subscribers
    spec = SPEC.with_sharing_subscribers(stage.config.sharing_subscribers())
    # When the template is compared with the spec
    # Then tables, queues, topics, subscriptions, keys, functions, event sources and routes all agree
    assert differences(stage.template, spec) == []


def test_a_spec_with_subscriptions_consumers_and_indexes_is_built_as_specified(variant):
    # Given a spec with an SNS->SQS subscription (filter policy), a queue consumer and an index
    # When it is synthesized (with dev's sharing subscribers) and compared
    spec = VARIANT_SPEC.with_sharing_subscribers(variant.config.sharing_subscribers())
    # Then the template agrees with it too
    assert differences(variant.template, spec) == []


def test_a_spec_that_drifted_from_the_template_is_reported(dev):
    # Given a spec that differs from what dev was built from: a queue retried more often, one
    # route fewer and a table keyed differently
    drifted = replace(
        SPEC.with_sharing_subscribers(dev.config.sharing_subscribers()),
        queues=tuple(replace(queue, max_receive_count=2) for queue in dev.stack.spec.queues),
        routes=SPEC.routes[1:],
        tables=tuple(replace(t, sort_key=None) if t.id == "uploads" else t for t in SPEC.tables),
    )
    # When it is compared with the dev template
    found = differences(dev.template, drifted)
    # Then each drift is named
    assert any("maxReceiveCount" in problem for problem in found)
    assert any(
        problem.startswith("route POST /v1/devices is in the template but not in the spec")
        for problem in found
    )
    assert any("table uploads: key schema" in problem for problem in found)


def test_the_variant_differs_from_the_spec_it_was_not_built_from(variant):
    # Given the variant template, When it is compared with SPEC, Then the extra resources show
    found = differences(variant.template, SPEC.with_sharing_subscribers(variant.config.sharing_subscribers()))
    assert "topic regional-feed is in the template but not in the spec" in found
    assert "subscription regional-feed->region-dk81 is in the template but not in the spec" in found


def test_a_subscriber_missing_from_the_spec_is_reported(dev):
    # Given dev (two subscribers), When it is compared with a spec that has only the first
    first, second = dev.config.sharing_subscribers()
    found = differences(dev.template, SPEC.with_sharing_subscribers((first,)))
    # Then the second's queue, dead-letter queue, subscription and key are each named
    queue = second.queue.id
    assert f"queue {queue} is in the template but not in the spec" in found
    assert f"queue {queue}-dlq is in the template but not in the spec" in found
    assert f"subscription sharing->{queue} is in the template but not in the spec" in found
    assert f"sharing key {second.organisation} is in the template but not in the spec" in found
