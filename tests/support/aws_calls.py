"""What Telehub's functions call in AWS, recorded as IAM sees it, while they run under moto.

Every function's boto3 client comes from one shared session (functions/shared/aws.py). While ``recording``
runs, that session carries a botocore ``before-parameter-build`` handler, which sees each call's parameters
as the code passed them. Each call a function makes becomes the IAM permissions it needs
(``dynamodb:PutItem`` on table ``episodes``; a TransactWriteItems one permission per item, a BatchGetItem one
per table, a Query of an index one on that index), filed under the function that made it, known by the
service name the runtime gives each function's own environment (``POWERTOOLS_SERVICE_NAME``,
tests/support/runtime.py). Calls the tests make themselves are not the functions' and are not recorded.

A call outside the function's grants (infrastructure/permissions.py) fails at once with AccessDenied, as IAM
would refuse it in AWS, so a grant the spec forgot fails the test that runs the code, not a deployment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from functions.shared import aws
from infrastructure.permissions import Permission, Resource, code_permissions
from infrastructure.resource_spec import SPEC, ResourceNames

SERVICE_NAME_PREFIX = "telehub-"
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# The API operations whose IAM action has another name.
_IAM_ACTIONS = {
    ("dynamodbstreams", "GetShardIterator"): "dynamodb:GetShardIterator",
    ("dynamodbstreams", "GetRecords"): "dynamodb:GetRecords",
    ("dynamodbstreams", "DescribeStream"): "dynamodb:DescribeStream",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sns", "PublishBatch"): "sns:Publish",
}


@dataclass
class CallLog:
    """The permissions each function's calls needed, by function id."""

    names: ResourceNames
    calls: dict[str, set[Permission]] = field(default_factory=dict)
    _iterators: dict[str, str] = field(default_factory=dict)  # shard iterator -> table id of its stream

    def of(self, function_id: str) -> set[Permission]:
        return self.calls.get(function_id, set())

    def permissions(self, service: str, operation: str, params: dict[str, Any]) -> set[Permission]:
        """The IAM permissions one API call needs."""
        action = _IAM_ACTIONS.get((service, operation), f"{service}:{operation}")
        if operation == "TransactWriteItems":
            return {
                Permission(_TRANSACT_ITEM_ACTIONS[kind], self._table(body["TableName"]))
                for item in params["TransactItems"] for kind, body in item.items()
            }
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return {Permission(action, self._table(name)) for name in params["RequestItems"]}
        if "IndexName" in params:
            table = self._table(params["TableName"])
            return {Permission(action, Resource("index", table.id, params["IndexName"]))}
        if "TableName" in params:
            return {Permission(action, self._table(params["TableName"]))}
        if "StreamArn" in params:
            stream_table = self._table(_table_of_stream(params["StreamArn"]))
            return {Permission(action, Resource("stream", stream_table.id))}
        if "ShardIterator" in params:
            return {Permission(action, Resource("stream", self._iterators[params["ShardIterator"]]))}
        if "QueueUrl" in params:
            return {Permission(action, Resource("queue", _key_of(self.names.queue_urls, params["QueueUrl"])))}
        if "TopicArn" in params:
            return {Permission(action, Resource("topic", _key_of(self.names.topic_arns, params["TopicArn"])))}
        if "KeyId" in params:
            return {Permission(action, Resource("key", _key_of(self.names.key_ids, params["KeyId"])))}
        raise AssertionError(f"no resource known for {service}:{operation}")

    def _table(self, name: str) -> Resource:
        return Resource("table", _key_of(self.names.tables, name))

    def follow_iterators(self, parsed: dict[str, Any], stream_table: str) -> None:
        """Remember which stream a reply's iterators read (GetRecords names only the iterator)."""
        for name in ("ShardIterator", "NextShardIterator"):
            if iterator := parsed.get(name):
                self._iterators[iterator] = stream_table


def _key_of(names: dict[str, str], physical: str) -> str:
    """The spec id of a physical name (a queue's URL ends with its name; a key may be named by its ARN)."""
    return next(spec_id for spec_id, name in names.items()
                if physical in (name, name.rsplit("/", 1)[-1]) or physical.endswith(f"/{name}"))


def _table_of_stream(stream_arn: str) -> str:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    return stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]


def current_function() -> str | None:
    """The spec function whose environment is set (the runtime sets each one's own), if any."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "")
    function_id = service.removeprefix(SERVICE_NAME_PREFIX)
    return function_id if service.startswith(SERVICE_NAME_PREFIX) and function_id in _FUNCTION_IDS else None


_FUNCTION_IDS = frozenset(function.id for function in SPEC.functions)


@contextmanager
def recording(names: ResourceNames) -> Iterator[CallLog]:
    """Record (and hold to its grants) every call the spec's functions make while the block runs."""
    log = CallLog(names)
    granted = {function.id: code_permissions(function) for function in SPEC.functions}

    def before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        function_id = current_function()
        if function_id is None:
            return
        service = model.service_model.service_name
        needed = log.permissions(service, model.name, params)
        log.calls.setdefault(function_id, set()).update(needed)
        if "StreamArn" in params:
            context["telehub_stream_table"] = _key_of(names.tables, _table_of_stream(params["StreamArn"]))
        elif "ShardIterator" in params:
            context["telehub_stream_table"] = log._iterators[params["ShardIterator"]]
        if refused := sorted(str(p) for p in needed - granted[function_id]):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException",
                           "Message": f"{function_id} is not granted {', '.join(refused)}"}},
                model.name,
            )

    def after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if table := context.get("telehub_stream_table"):
            log.follow_iterators(parsed, table)

    @cache
    def recording_session() -> boto3.Session:
        session = boto3.Session()
        session.events.register("before-parameter-build.*.*", before_call)
        session.events.register("after-call.dynamodbstreams.*", after_call)
        return session

    original = aws.session
    aws.client.cache_clear()
    aws.session = recording_session
    try:
        yield log
    finally:
        aws.session = original
        aws.client.cache_clear()
