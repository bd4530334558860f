"""Whose budget a request counts against: the API key the authorizer names to API Gateway as the caller's
``usageIdentifierKey``, by which a usage plan throttles it (docs/api.md#limits).

One bucket per organisation the stage config lists, one shared by every other organisation (and a system
of none), one shared by all citizens and one by all devices: a tablet flood then empties the devices'
bucket, never an organisation's. The key's value is derived from the stage and the bucket, so the
authorizer needs no lookup per request. It is no secret: with the API's key source AUTHORIZER, API Gateway
ignores any x-api-key a client sends and takes only what the authorizer names, after the caller's token
was verified. The stack (infrastructure/api.py) creates the same values, and the embedded gateway keys its
buckets by them.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.shared.principal import Principal, Role

DEVICES = "devices"
CITIZENS = "citizens"
OTHER_ORGANISATIONS = "other-organisations"


def organisation_bucket(organisation: str) -> str:
    return f"organisation-{organisation}"


def usage_key(stage: str, bucket: str) -> str:
    """The API key's value for ``bucket`` in ``stage``: at least the 20 characters API Gateway requires, and
    distinct per stage, as key values must be in an account's region."""
    return f"telehub-{stage}-usage-{bucket}"


@dataclass(frozen=True)
class UsageKeys:
    """The stage's buckets: ``organisations`` are those with a bucket of their own."""

    stage: str
    organisations: frozenset[str] = frozenset()

    def key_for(self, principal: Principal) -> str:
        return usage_key(self.stage, self.bucket_of(principal))

    def bucket_of(self, principal: Principal) -> str:
        if principal.role is Role.DEVICE:
            return DEVICES
        if principal.role is Role.CITIZEN:
            return CITIZENS
        if principal.organisation in self.organisations:
            return organisation_bucket(principal.organisation)
        return OTHER_ORGANISATIONS
