"""Operations: an alarm on every queue's oldest message, every stream mapping's iterator age, every function's
errors and throttles, the API's 5xx and refused-token spikes, all on the encrypted operations topic; one
dashboard per stage that shows them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from functions.shared.observability import STAGE_DIMENSION
from infrastructure.messaging import DEAD_LETTER_RETENTION
from infrastructure.operations import BUSINESS_GRAPHS, RUNBOOK, AlarmKind
from infrastructure.resource_spec import ALARM_TOPIC, SPEC
from tests.support.cdk_templates import logical_id_of, references, resources, tagged
from tests.support.docs import ROOT, table_after

STREAM_RETENTION_MS = 24 * 60 * 60 * 1000
OPERATIONS_HEADING = "## Operations: alarms and the dashboard"


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical_id: alarm["Properties"]
            for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items()}


def _single_metric_alarms(
    template: dict[str, Any], metric_name: str, dimension: str,
) -> dict[str, list[dict[str, Any]]]:
    """Alarms on one metric by the logical id their dimension ``dimension`` points at."""
    found: dict[str, list[dict[str, Any]]] = {}
    for alarm in _alarms(template).values():
        if alarm.get("MetricName") != metric_name:
            continue
        for entry in alarm["Dimensions"]:
            if entry["Name"] == dimension:
                found.setdefault(logical_id_of(entry["Value"]) or entry["Value"], []).append(alarm)
    return found


def _math_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's metrics by id (the expression's names): the metric itself, or the expression."""
    return {entry["Id"]: entry.get("MetricStat", {}).get("Metric", entry)
            for entry in alarm.get("Metrics", [])}


def _dimension(metric: dict[str, Any], name: str) -> Any:
    values = [entry["Value"] for entry in metric.get("Dimensions", []) if entry["Name"] == name]
    return logical_id_of(values[0]) or values[0] if values else None


def test_every_queue_has_one_oldest_message_alarm(stage):
    # Given every queue of the stage (dead-letter, failure and sharing subscribers' queues included)
    queues = tagged(stage.template, "AWS::SQS::Queue", "queue")
    age_alarms = _single_metric_alarms(stage.template, "ApproximateAgeOfOldestMessage", "QueueName")
    for queue_id, (logical_id, _) in queues.items():
        # Then exactly one alarm watches the age of its oldest message
        assert len(age_alarms.get(logical_id, [])) == 1, queue_id
    assert set(age_alarms) == {logical_id for logical_id, _ in queues.values()}


def test_a_queues_age_limit_follows_from_who_reads_it(dev):
    # Given dev's queues and their age alarms
    queues = tagged(dev.template, "AWS::SQS::Queue", "queue")
    age_alarms = _single_metric_alarms(dev.template, "ApproximateAgeOfOldestMessage", "QueueName")

    def limit(queue_id: str) -> float:
        [alarm] = age_alarms[queues[queue_id][0]]
        return alarm["Threshold"]

    for queue in SPEC.queues:
        consumer = SPEC.consumer_of(queue.id)
        if consumer:
            # Then a queue a function reads pages after its retries of a message are over, not during them
            retries = SPEC.visibility_timeout_seconds(queue.id) * queue.max_receive_count
            assert retries < limit(queue.id) <= retries + 15 * 60, queue.id
        else:
            # And a queue read outside Telehub (the logistics centres') pages when its reader stopped a day
            assert limit(queue.id) == 24 * 60 * 60, queue.id
        # And a dead letter pages while there is time to redrive it
        assert limit(queue.dlq_id) < DEAD_LETTER_RETENTION.to_seconds(), queue.dlq_id


def test_every_stream_mapping_has_an_iterator_age_alarm_far_below_the_streams_retention(stage):
    # Given every event source mapping that reads a DynamoDB stream
    every_mapping = resources(stage.template, "AWS::Lambda::EventSourceMapping").values()
    mappings = [mapping["Properties"] for mapping in every_mapping
                if mapping["Properties"]["EventSourceArn"].get("Fn::GetAtt", [None, None])[1] == "StreamArn"]
    assert len(mappings) == sum(1 for function in SPEC.functions if function.stream_source)
    iterator_age = _single_metric_alarms(stage.template, "IteratorAge", "FunctionName")
    for mapping in mappings:
        # Then its function's iterator age (the oldest record it handed on) pages within the first hour of 24
        [alarm] = iterator_age[logical_id_of(mapping["FunctionName"])]
        assert alarm["Statistic"] == "Maximum"
        assert 0 < alarm["Threshold"] <= STREAM_RETENTION_MS / 24


def test_every_function_has_an_errors_and_a_throttles_alarm(stage):
    # Given every function of the spec
    functions = tagged(stage.template, "AWS::Lambda::Function", "function")
    errors = _single_metric_alarms(stage.template, "Errors", "FunctionName")
    throttles = _single_metric_alarms(stage.template, "Throttles", "FunctionName")
    math_errors = {
        _dimension(metric, "FunctionName")
        for alarm in _alarms(stage.template).values()
        for metric in _math_metrics(alarm).values() if metric.get("MetricName") == "Errors"
    }
    assert set(functions) == {function.id for function in SPEC.functions}
    for function_id, (logical_id, _) in functions.items():
        # Then one alarm fires on any error (the authorizer's by metric math, below), one on any throttle
        assert len(errors.get(logical_id, [])) + (logical_id in math_errors) == 1, function_id
        [throttled] = throttles[logical_id]
        assert (throttled["Threshold"], throttled["Statistic"]) == (0, "Sum"), function_id


def test_the_authorizers_errors_alarm_leaves_out_the_tokens_it_refused(dev):
    # Given the authorizer (which raises to refuse a token) and its errors alarm
    authorizer_id, authorizer = tagged(dev.template, "AWS::Lambda::Function", "function")[SPEC.authorizer]
    environment = authorizer["Properties"]["Environment"]["Variables"]
    [metrics] = [metrics for metrics in map(_math_metrics, _alarms(dev.template).values())
                 if _dimension(metrics.get("errors", {}), "FunctionName") == authorizer_id]
    # Then it counts the authorizer's errors less the tokens it refused
    [expression] = [metric["Expression"] for metric in metrics.values() if "Expression" in metric]
    assert expression == "errors - FILL(refused, 0)"
    assert metrics["errors"]["MetricName"] == "Errors"
    # And the refusals are the ones the authorizer's Powertools metrics emit in this stage (namespace, service
    # and stage: CloudWatch matches every dimension, so another stage's refusals in the account are not these)
    refused = metrics["refused"]
    assert refused["MetricName"] == "TokensRefused"
    assert refused["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert sorted(refused["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]},
        {"Name": STAGE_DIMENSION, "Value": environment["TELEHUB_STAGE"]},
    ]


def test_the_dashboards_business_metrics_are_this_stages(stage):
    # Given the dashboard's body, as the text CloudWatch receives (the joined literal parts)
    [dashboard] = resources(stage.template, "AWS::CloudWatch::Dashboard").values()
    body = "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
                   if isinstance(part, str))
    graphed = re.findall(r'"Telehub","([A-Za-z0-9]+)",([^\[\]{}]*?),\{', body)
    assert len(graphed) == sum(len(graph.metrics) for graph in BUSINESS_GRAPHS) + 2  # and the tokens
    for name, dimensions in graphed:
        # Then each business metric is selected by its service and by this stage
        assert re.fullmatch(rf'"service","telehub-[a-z-]+","{STAGE_DIMENSION}","{stage.config.stage}"',
                            dimensions), (name, dimensions)


def test_the_api_alarms_on_any_5xx_and_on_a_spike_of_refused_tokens(stage):
    # Given the API stage
    [stage_id] = resources(stage.template, "AWS::ApiGateway::Stage")
    alarms = _alarms(stage.template).values()
    # Then any 5xx of the stage pages
    [server_errors] = [alarm for alarm in alarms if alarm.get("MetricName") == "5XXError"]
    assert {"Name": "Stage", "Value": {"Ref": stage_id}} in server_errors["Dimensions"]
    assert (server_errors["Threshold"], server_errors["Statistic"]) == (0, "Sum")
    # And so does a share of refused tokens above the threshold, counted from the authorizer's own metrics
    [metrics] = [metrics for metrics in map(_math_metrics, alarms) if {"refused", "accepted"} <= set(metrics)]
    [spike] = [alarm for alarm in alarms if _math_metrics(alarm) == metrics]
    assert metrics["refused"]["MetricName"] == "TokensRefused"
    assert metrics["accepted"]["MetricName"] == "TokensAccepted"
    assert 0 < spike["Threshold"] < 100


def test_every_alarm_notifies_the_encrypted_operations_topic_when_it_fires_and_clears(stage):
    # Given the operations topic, encrypted with the data key
    topic, properties = tagged(stage.template, "AWS::SNS::Topic", "topic")[ALARM_TOPIC]
    assert "KmsMasterKeyId" in properties["Properties"]
    alarms = _alarms(stage.template)
    assert alarms
    for logical_id, alarm in alarms.items():
        # Then every alarm of the stack notifies it, and only it, on firing and on clearing
        assert [logical_id_of(action) for action in alarm["AlarmActions"]] == [topic], logical_id
        assert [logical_id_of(action) for action in alarm["OKActions"]] == [topic], logical_id
        assert alarm.get("ActionsEnabled", True), logical_id


def test_one_dashboard_per_stage_shows_every_alarm_function_and_queue(stage):
    # Given the stage's dashboard
    [dashboard] = resources(stage.template, "AWS::CloudWatch::Dashboard").values()
    properties = dashboard["Properties"]
    assert properties["DashboardName"] == f"telehub-{stage.config.stage}"
    shown = references(properties["DashboardBody"])
    # Then it shows the state of every alarm, and every function and queue
    assert set(_alarms(stage.template)) <= shown
    for resource_type, kind in (("AWS::Lambda::Function", "function"), ("AWS::SQS::Queue", "queue")):
        assert {logical_id for logical_id, _ in tagged(stage.template, resource_type, kind).values()} <= shown


def test_the_dashboards_business_metrics_are_ones_the_functions_emit():
    # Given the functions' code: metric names as literals, and the literal heads and tails of composed ones
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "functions").rglob("*.py"))
    literals = set(re.findall(r'"([A-Z][A-Za-z0-9]+)"', source))
    heads = set(re.findall(r'f"([A-Z][A-Za-z]+)\{', source))
    tails = set(re.findall(r'\}([A-Z][A-Za-z]+)"', source))
    function_ids = {function.id for function in SPEC.functions}
    for graph in BUSINESS_GRAPHS:
        for function_id, name in graph.metrics:
            # Then each graphed metric is of a function of the spec and a name its code can emit
            assert function_id in function_ids, (graph.title, function_id)
            assert (name in literals or any(name.startswith(head) for head in heads)
                    or any(name.endswith(tail) for tail in tails)), (graph.title, name)


def test_every_alarm_is_named_by_a_kind_the_deployment_docs_explain(stage):
    # Given the alarm kinds docs/deployment.md explains
    documented = {kind.strip("`") for kind, *_ in table_after("docs/deployment.md", OPERATIONS_HEADING)}
    assert {kind.value for kind in AlarmKind} <= documented
    assert OPERATIONS_HEADING.removeprefix("## ") in RUNBOOK
    assert OPERATIONS_HEADING in Path(ROOT / "docs/deployment.md").read_text(encoding="utf-8")
    # Then every named alarm of the stage ends in one of them
    prefix = f"telehub-{stage.config.stage}-"
    names = [alarm["AlarmName"] for alarm in _alarms(stage.template).values() if "AlarmName" in alarm]
    assert names
    for name in names:
        assert name.startswith(prefix) and any(name.endswith(f"-{kind.value}") for kind in AlarmKind), name
