"""What each function's code may call in AWS, derived from its spec: the IAM actions on the spec's
resources, by spec id. Pure data, no CDK import: the stack turns these into policy statements
(infrastructure/function.py), and tests/integration/test_least_privilege.py holds them to the calls a run
of each function makes (through its recording of botocore's calls, tests/support/aws_calls.py).

Only the code's own calls are here. What Lambda does with the role for an event source (read a stream or a
queue, send a record it gave up on to a failure queue), CloudWatch Logs, and the data key the services use
on the function's behalf are the stack's grants beside these (infrastructure/function.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infrastructure.resource_spec import FunctionSpec

ResourceKind = Literal["table", "index", "stream", "queue", "topic", "key"]


@dataclass(frozen=True, order=True)
class Resource:
    """A resource of the spec: a table (``index`` names one of its secondary indexes), a table's stream, a
    queue, a topic or a key."""

    kind: ResourceKind
    id: str
    index: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.id}{f'/index/{self.index}' if self.index else ''}"


@dataclass(frozen=True, order=True)
class Permission:
    action: str  # as IAM names it: dynamodb:PutItem, kms:Sign, ...
    resource: Resource

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


# What a function reading a stream by position itself does (it knows the stream's ARN from the record it
# handles, so it needs no ListStreams or DescribeStream).
STREAM_POSITION_READ_ACTIONS = ("dynamodb:GetShardIterator", "dynamodb:GetRecords")
# The key actions of each way the code uses a key.
KEY_USE_ACTIONS = {
    "signs_with_keys": ("kms:Sign",),
    "macs_with_keys": ("kms:GenerateMac",),
    "verifies_with_keys": ("kms:GetPublicKey",),
    "encrypts_with_keys": ("kms:Encrypt",),
    "decrypts_with_keys": ("kms:Decrypt",),
}


def code_permissions(function: FunctionSpec) -> frozenset[Permission]:
    """Every (action, resource) the function's code may call, and nothing else."""
    permissions: set[Permission] = set()
    for access in function.tables:
        table = Resource("table", access.table)
        permissions |= {Permission(f"dynamodb:{action}", table) for action in access.actions}
        permissions |= {
            Permission("dynamodb:Query", Resource("index", access.table, index)) for index in access.indexes
        }
    # Append only: a conditional put of a new item, alone or in a transaction (IAM authorises both as PutItem)
    permissions |= {Permission("dynamodb:PutItem", Resource("table", t)) for t in function.appends_to_tables}
    permissions |= {
        Permission(action, Resource("stream", table))
        for table in function.reads_streams for action in STREAM_POSITION_READ_ACTIONS
    }
    permissions |= {Permission("sqs:SendMessage", Resource("queue", q)) for q in function.sends_to_queues}
    permissions |= {Permission("sns:Publish", Resource("topic", t)) for t in function.publishes_to_topics}
    for field_name, actions in KEY_USE_ACTIONS.items():
        keys: tuple[str, ...] = getattr(function, field_name)
        permissions |= {Permission(action, Resource("key", key)) for key in keys for action in actions}
    return frozenset(permissions)
