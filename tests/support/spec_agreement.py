"""Where a synthesized template and a resource spec disagree, as readable sentences.

Every table, queue (and its DLQ), topic, subscription, key, function, event source, schedule and route
of the spec must be in the template with the spec's settings, and the template must hold no such
resource the spec does not name.
"""

from __future__ import annotations

import json
from typing import Any

from infrastructure.resource_spec import Key, ResourceSpec
from tests.support.cdk_templates import logical_id_of, references, resources, route_path, tagged


def differences(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    return [
        *_tables(template, spec),
        *_queues(template, spec),
        *_topics_and_subscriptions(template, spec),
        *_keys(template, spec),
        *_sharing_keys(template, spec),
        *_functions(template, spec),
        *_event_sources(template, spec),
        *_schedules(template, spec),
        *_routes(template, spec),
    ]


def _extra_or_missing(kind: str, expected: set[str], found: set[str]) -> list[str]:
    problems = [f"{kind} {name} is in the spec but not in the template" for name in sorted(expected - found)]
    return problems + [
        f"{kind} {name} is in the template but not in the spec" for name in sorted(found - expected)
    ]


def _key_schema(partition_key: Key, sort_key: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key.name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": sort_key.name, "KeyType": "RANGE"}] if sort_key else [])


def _tables(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    found = tagged(template, "AWS::DynamoDB::Table", "table")
    problems = _extra_or_missing("table", {t.id for t in spec.tables}, set(found))
    problems += (
        [f"{len(resources(template, 'AWS::DynamoDB::Table')) - len(found)} table(s) not made from the spec"]
        if len(resources(template, "AWS::DynamoDB::Table")) != len(found)
        else []
    )
    for table in spec.tables:
        if table.id not in found:
            continue
        properties = found[table.id][1]["Properties"]
        if properties["KeySchema"] != _key_schema(table.partition_key, table.sort_key):
            problems.append(f"table {table.id}: key schema {properties['KeySchema']}")
        keys = [
            table.partition_key,
            table.sort_key,
            *(k for i in table.indexes for k in (i.partition_key, i.sort_key)),
        ]
        expected_attributes = {key.name: key.type for key in keys if key}
        actual_attributes = {
            a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]
        }
        if actual_attributes != expected_attributes:
            problems.append(f"table {table.id}: attribute definitions {actual_attributes}")
        stream = properties.get("StreamSpecification", {}).get("StreamViewType")
        if stream != table.stream:
            problems.append(f"table {table.id}: stream {stream}, spec says {table.stream}")
        indexes = {
            index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
            for index in properties.get("GlobalSecondaryIndexes", [])
        }
        expected_indexes = {
            index.name: (_key_schema(index.partition_key, index.sort_key), index.projection)
            for index in table.indexes
        }
        if indexes != expected_indexes:
            problems.append(f"table {table.id}: indexes {indexes}")
        ttl = properties.get("TimeToLiveSpecification", {}).get("AttributeName")
        if ttl != table.ttl_attribute:
            problems.append(f"table {table.id}: time to live on {ttl}, spec says {table.ttl_attribute}")
    return problems


def _queues(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    found = tagged(template, "AWS::SQS::Queue", "queue")
    expected = {q.id for q in spec.queues} | {q.dlq_id for q in spec.queues}
    problems = _extra_or_missing("queue", expected, set(found))
    for queue in spec.queues:
        if queue.id not in found or queue.dlq_id not in found:
            continue
        properties = found[queue.id][1]["Properties"]
        redrive = properties.get("RedrivePolicy", {})
        if logical_id_of(redrive.get("deadLetterTargetArn")) != found[queue.dlq_id][0]:
            problems.append(f"queue {queue.id}: does not redrive to {queue.dlq_id}")
        if redrive.get("maxReceiveCount") != queue.max_receive_count:
            problems.append(f"queue {queue.id}: maxReceiveCount {redrive.get('maxReceiveCount')}")
        if properties.get("VisibilityTimeout") != spec.visibility_timeout_seconds(queue.id):
            problems.append(f"queue {queue.id}: visibility timeout {properties.get('VisibilityTimeout')}")
        if properties.get("MessageRetentionPeriod") != queue.retention_days * 86400:
            problems.append(f"queue {queue.id}: retention {properties.get('MessageRetentionPeriod')}")
        if "RedrivePolicy" in found[queue.dlq_id][1]["Properties"]:
            problems.append(f"queue {queue.dlq_id}: a dead-letter queue must not redrive further")
    return problems


def _topics_and_subscriptions(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    topics = tagged(template, "AWS::SNS::Topic", "topic")
    queues = tagged(template, "AWS::SQS::Queue", "queue")
    problems = _extra_or_missing("topic", {t.id for t in spec.topics}, set(topics))
    topic_ids = {logical_id: topic_id for topic_id, (logical_id, _) in topics.items()}
    queue_ids = {logical_id: queue_id for queue_id, (logical_id, _) in queues.items()}
    found = {}
    for subscription in resources(template, "AWS::SNS::Subscription").values():
        properties = subscription["Properties"]
        if properties["Protocol"] != "sqs":
            continue
        key = (
            topic_ids.get(logical_id_of(properties["TopicArn"])),
            queue_ids.get(logical_id_of(properties["Endpoint"])),
        )
        found[key] = properties
    expected = {(s.topic, s.queue): s for s in spec.subscriptions}
    problems += _extra_or_missing(
        "subscription", {f"{t}->{q}" for t, q in expected}, {f"{t}->{q}" for t, q in found}
    )
    for key, subscription in expected.items():
        if key not in found:
            continue
        filter_policy = found[key].get("FilterPolicy")
        if (json.loads(filter_policy) if isinstance(filter_policy, str) else filter_policy) != (
            subscription.filter_policy or None
        ):
            problems.append(f"subscription {key[0]}->{key[1]}: filter policy {filter_policy}")
        if found[key].get("RawMessageDelivery") is not True:
            problems.append(f"subscription {key[0]}->{key[1]}: raw message delivery is off")
    return problems


def _keys(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    found = tagged(template, "AWS::KMS::Key", "key")
    problems = _extra_or_missing("key", {k.id for k in spec.keys}, set(found))
    for key in spec.keys:
        if key.id in found:
            properties = found[key.id][1]["Properties"]
            if (
                properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
                properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
            ) != (
                key.key_spec,
                key.usage,
            ):
                problems.append(f"key {key.id}: {properties.get('KeySpec')}/{properties.get('KeyUsage')}")
    return problems


def _sharing_keys(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    """Each sharing subscriber has a key of its own, encrypting its queue and dead-letter queue."""
    found = tagged(template, "AWS::KMS::Key", "sharing-key")
    queues = tagged(template, "AWS::SQS::Queue", "queue")
    subscribers = {s.organisation: s for s in spec.sharing_subscribers}
    problems = _extra_or_missing("sharing key", set(subscribers), set(found))
    for organisation in set(subscribers) & set(found):
        queue, key = spec.queue(subscribers[organisation].queue.id), found[organisation][0]
        for queue_id in (queue.id, queue.dlq_id):
            if queue_id not in queues:
                continue  # reported as missing by _queues
            if logical_id_of(queues[queue_id][1]["Properties"].get("KmsMasterKeyId")) != key:
                problems.append(f"queue {queue_id}: not encrypted with the sharing key of {organisation}")
    return problems


def _functions(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    found = tagged(template, "AWS::Lambda::Function", "function")
    problems = _extra_or_missing("function", {f.id for f in spec.functions}, set(found))
    # CDK's own custom resource handlers (the web app's deployment, emptying its buckets) are not Telehub's.
    handlers = {logical_id_of(resource["Properties"]["ServiceToken"])
                for resource in template["Resources"].values() if resource["Type"].startswith("Custom::")}
    if len(set(resources(template, "AWS::Lambda::Function")) - handlers) != len(found):
        problems.append("the template has Lambda functions the spec does not name")
    for function in spec.functions:
        if function.id not in found:
            continue
        properties = found[function.id][1]["Properties"]
        for name, expected in (
            ("Handler", function.handler),
            ("Timeout", function.timeout_seconds),
            ("MemorySize", function.memory_mb),
        ):
            if properties.get(name) != expected:
                problems.append(
                    f"function {function.id}: {name} {properties.get(name)}, spec says {expected}"
                )
    return problems


def _event_sources(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    functions = {
        logical_id: fid
        for fid, (logical_id, _) in tagged(template, "AWS::Lambda::Function", "function").items()
    }
    tables = {
        logical_id: tid for tid, (logical_id, _) in tagged(template, "AWS::DynamoDB::Table", "table").items()
    }
    queues = {
        logical_id: qid for qid, (logical_id, _) in tagged(template, "AWS::SQS::Queue", "queue").items()
    }
    found = {}
    for mapping in resources(template, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        source = logical_id_of(properties["EventSourceArn"])
        found[
            (
                functions.get(logical_id_of(properties["FunctionName"])),
                tables.get(source) or queues.get(source),
            )
        ] = properties
    expected = {}
    for function in spec.functions:
        if function.queue_source:
            expected[(function.id, function.queue_source.queue)] = function
        if function.stream_source:
            expected[(function.id, function.stream_source.table)] = function
    problems = _extra_or_missing(
        "event source", {f"{f}<-{s}" for f, s in expected}, {f"{f}<-{s}" for f, s in found}
    )
    for key, function in expected.items():
        properties = found.get(key)
        if properties is None:
            continue
        if properties.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"event source {key}: partial batch failures are not reported")
        if function.queue_source:
            source = function.queue_source
            if properties.get("BatchSize") != source.batch_size:
                problems.append(f"event source {key}: batch size {properties.get('BatchSize')}")
        if function.stream_source:
            source = function.stream_source
            failure_destination = (
                properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            )
            actual = {
                "batch size": properties.get("BatchSize"),
                "retry attempts": properties.get("MaximumRetryAttempts"),
                "bisect on error": properties.get("BisectBatchOnFunctionError"),
                "starting position": properties.get("StartingPosition"),
                "failure destination": queues.get(logical_id_of(failure_destination)),
                "filter": [
                    json.loads(f["Pattern"]) for f in properties.get("FilterCriteria", {}).get("Filters", [])
                ],
            }
            wanted = {
                "batch size": source.batch_size,
                "retry attempts": source.retry_attempts,
                "bisect on error": True,
                "starting position": "TRIM_HORIZON",
                "failure destination": source.on_failure_queue,
                "filter": [_stream_filter(source)],
            }
            problems += [
                f"event source {key}: {name} {actual[name]!r}, spec says {wanted[name]!r}"
                for name in wanted
                if actual[name] != wanted[name]
            ]
    return problems


def _schedules(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    """Each scheduled function has one enabled rule that invokes it at the spec's rate, and no other rule
    invokes a function."""
    functions = {
        logical_id: fid
        for fid, (logical_id, _) in tagged(template, "AWS::Lambda::Function", "function").items()
    }
    found: dict[str, list[str]] = {}
    for rule in resources(template, "AWS::Events::Rule").values():
        properties = rule["Properties"]
        state = "" if properties.get("State", "ENABLED") == "ENABLED" else " (disabled)"
        for target in properties.get("Targets", []):
            function_id = functions.get(logical_id_of(target["Arn"]), "an unknown function")
            found.setdefault(function_id, []).append(f"{properties.get('ScheduleExpression')}{state}")
    expected = {f.id: [f.schedule.expression] for f in spec.functions if f.schedule}
    problems = _extra_or_missing("schedule of", set(expected), set(found))
    return problems + [f"schedule of {function_id}: {found[function_id]}, spec says {rules}"
                       for function_id, rules in expected.items()
                       if function_id in found and found[function_id] != rules]


def _stream_filter(source) -> dict[str, Any]:
    pattern: dict[str, Any] = {"eventName": list(source.event_names)}
    if source.key_prefix:
        attribute, prefix = source.key_prefix
        pattern["dynamodb"] = {"Keys": {attribute: {"S": [{"prefix": prefix}]}}}
    return pattern


def _routes(template: dict[str, Any], spec: ResourceSpec) -> list[str]:
    functions = {
        logical_id: fid
        for fid, (logical_id, _) in tagged(template, "AWS::Lambda::Function", "function").items()
    }
    authorizers = resources(template, "AWS::ApiGateway::Authorizer")
    found = {}
    for method in resources(template, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        if properties["HttpMethod"] != "OPTIONS":
            found[(properties["HttpMethod"], route_path(template, properties["ResourceId"]))] = properties
    expected = {(route.method, route.path): route for route in spec.routes}
    problems = _extra_or_missing("route", {" ".join(k) for k in expected}, {" ".join(k) for k in found})
    for key, route in expected.items():
        properties = found.get(key)
        if properties is None:
            continue
        integrated = {functions.get(r) for r in references(properties["Integration"]["Uri"])} - {None}
        if integrated != {route.function} or properties["Integration"]["Type"] != "AWS_PROXY":
            problems.append(f"route {' '.join(key)}: integrates {integrated}, spec says {route.function}")
        authorizer = logical_id_of(properties.get("AuthorizerId"))
        if route.authorized:
            handler = authorizers.get(authorizer, {}).get("Properties", {}).get("AuthorizerUri")
            authorizing = {functions.get(r) for r in references(handler)}
            if properties.get("AuthorizationType") != "CUSTOM" or authorizing != {spec.authorizer}:
                problems.append(f"route {' '.join(key)}: not behind the {spec.authorizer} authorizer")
        elif properties.get("AuthorizationType", "NONE") != "NONE":
            problems.append(f"route {' '.join(key)}: authorized, spec says public")
    return problems
