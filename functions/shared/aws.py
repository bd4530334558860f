"""boto3 clients from one shared session, created at first use (never at import time).

Only repositories and adapters import this module. Clients honour AWS_ENDPOINT_URL, which is how
the embedded mode points every function at its moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import boto3
from botocore.config import Config

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)


@cache
def session() -> boto3.Session:
    return boto3.Session()


# The services Telehub's functions call.
ServiceName = Literal["dynamodb", "dynamodbstreams", "kms", "sns", "sqs"]


@cache
def client(service_name: ServiceName) -> Any:
    # Any: repositories read the replies as the JSON they are; the item shapes are theirs to check.
    return session().client(service_name, config=_CLIENT_CONFIG)


def reset() -> None:
    """Forget cached clients; tests and the embedded mode call this after changing endpoints."""
    client.cache_clear()
    session.cache_clear()
