"""The synthesized templates and the resource spec describe the same system."""

from __future__ import annotations

from dataclasses import replace

from infrastructure.resource_spec import SPEC
from tests.support.spec_agreement import differences
from tests.support.specs import VARIANT_SPEC


def test_each_stage_template_has_exactly_the_spec_resources(stage):
    # Given a stage synthesized from SPEC
    # When the template is compared with the spec
    # Then tables, queues, topics, keys, functions, event sources and routes all agree
    assert differences(stage.template, SPEC) == []


def test_a_spec_with_subscriptions_consumers_and_indexes_is_built_as_specified(variant):
    # Given a spec with an SNS->SQS subscription (filter policy), a queue consumer and an index
    # When it is synthesized and compared
    # Then the template agrees with it too
    assert differences(variant.template, VARIANT_SPEC) == []


def test_a_spec_that_drifted_from_the_template_is_reported(dev):
    # Given a spec that differs from what dev was built from: a queue retried more often, one
    # route fewer and a table keyed differently
    drifted = replace(
        SPEC,
        queues=tuple(replace(queue, max_receive_count=2) for queue in SPEC.queues),
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
    found = differences(variant.template, SPEC)
    assert "topic sharing is in the template but not in the spec" in found
    assert "subscription sharing->region-dk81 is in the template but not in the spec" in found
