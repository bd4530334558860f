"""How far the consumers scale (config consumer_concurrency): every queue's event source mapping caps its
concurrent batches, every stream mapping runs the configured batches per shard, and only the stream outboxes
reserve concurrency, where the stage says so (prod); cdk-nag's concurrency rule is acknowledged on exactly the
functions without a reservation (tests/infrastructure/test_compliance.py holds that none is spare)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from infrastructure.compliance import acknowledgements
from infrastructure.config import load_stage_config
from infrastructure.function import TelehubFunction
from infrastructure.resource_spec import SPEC
from tests.support.cdk_templates import logical_id_of, resources, tagged

CONCURRENCY_RULE = "HIPAA.Security-LambdaConcurrency"


def _mappings(template, function_logical_id: str) -> list[dict]:
    mappings = resources(template, "AWS::Lambda::EventSourceMapping").values()
    return [mapping["Properties"] for mapping in mappings
            if logical_id_of(mapping["Properties"]["FunctionName"]) == function_logical_id]


def test_each_queue_consumer_takes_at_most_the_stages_concurrent_batches(stage):
    # Given the stage's queue consumers and their configured ceiling (at least Lambda's minimum of 2)
    ceiling = stage.config.consumer_concurrency.queue_maximum_concurrency
    assert ceiling >= 2
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    consumers = [function for function in SPEC.functions if function.queue_source]
    assert consumers
    for function in consumers:
        # Then its one mapping caps the concurrent batches at it
        [mapping] = _mappings(stage.template, functions[function.id][0])
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": ceiling}, function.id


def test_each_stream_outbox_runs_the_stages_batches_per_shard_and_reserves_what_the_stage_says(stage):
    # Given the stage's settings for the stream outboxes
    concurrency = stage.config.consumer_concurrency
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    outboxes = [function for function in SPEC.functions if function.stream_source]
    assert outboxes
    for function in outboxes:
        logical_id, resource = functions[function.id]
        # Then its stream mapping runs that many batches per shard
        [mapping] = _mappings(stage.template, logical_id)
        assert mapping["ParallelizationFactor"] == concurrency.stream_parallelization_factor, function.id
        # And it reserves the stage's reservation, if any
        reserved = resource["Properties"].get("ReservedConcurrentExecutions")
        assert reserved == concurrency.stream_reserved_concurrency, function.id


def test_prod_reserves_for_the_stream_outboxes_and_dev_reserves_nothing(dev, prod):
    # Given both stages' functions
    for synthesized, outbox_reservation in ((dev, None), (prod, 10)):
        for function_id, (_, resource) in tagged(synthesized.template, "AWS::Lambda::Function",
                                                 "function").items():
            reserved = resource["Properties"].get("ReservedConcurrentExecutions")
            # Then prod reserves for each stream outbox and for nothing else; dev (a new account's low
            # concurrency quota would refuse any reservation) for nothing
            expected = outbox_reservation if SPEC.function(function_id).stream_source else None
            assert reserved == expected, (synthesized.config.stage, function_id)


def test_the_concurrency_rule_is_acknowledged_on_the_functions_without_a_reservation_only(stage):
    # Given the acknowledgements of cdk-nag's rule that functions reserve concurrency, by the function's path
    acknowledged = {ack.construct_path: ack.reason for ack in acknowledgements(stage.app)
                    if ack.rule_id == CONCURRENCY_RULE}
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    path_of = {construct.spec.id: construct.function.node.path for construct in stage.app.node.find_all()
               if isinstance(construct, TelehubFunction)}
    # Then exactly the functions that reserve nothing are acknowledged
    unreserved = {function_id for function_id, (_, resource) in functions.items()
                  if "ReservedConcurrentExecutions" not in resource["Properties"]}
    assert set(acknowledged) & set(path_of.values()) == {path_of[function_id] for function_id in unreserved}
    # And each with the reason of its kind: what bounds it instead
    for function_id in unreserved:
        function, reason = SPEC.function(function_id), acknowledged[path_of[function_id]]
        bound = ("stream_parallelization_factor" if function.stream_source
                 else "MaximumConcurrency" if function.queue_source
                 else "rate of its EventBridge rule" if function.schedule else "stage throttles")
        assert bound in reason, function_id


def _write(directory, stage: str, **changes) -> None:
    settings = json.loads(load_stage_config("prod").model_dump_json(exclude={"stage"}))
    (directory / f"{stage}.json").write_text(json.dumps({**settings, **changes}))


@pytest.mark.parametrize(("concurrency", "field"), [
    ({"queue_maximum_concurrency": 1, "stream_parallelization_factor": 1}, "queue_maximum_concurrency"),
    ({"queue_maximum_concurrency": 1001, "stream_parallelization_factor": 1}, "queue_maximum_concurrency"),
    ({"queue_maximum_concurrency": 2, "stream_parallelization_factor": 11}, "stream_parallelization_factor"),
    ({"queue_maximum_concurrency": 2, "stream_parallelization_factor": 4, "stream_reserved_concurrency": 3},
     "at least one shard"),
])
def test_concurrency_outside_what_lambda_takes_is_refused_naming_the_setting(tmp_path, concurrency, field):
    # Given a stage config whose consumer concurrency Lambda would refuse, or that starves a shard
    _write(tmp_path, "staging", consumer_concurrency=concurrency)
    # When it is loaded, Then it is refused naming the setting
    with pytest.raises(ValidationError, match=field):
        load_stage_config("staging", tmp_path)
