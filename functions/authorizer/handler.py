"""API Gateway TOKEN authorizer: a verified bearer token becomes a policy allowing its role's routes.

Any refusal raises ``Exception("Unauthorized")``, which API Gateway answers with 401. Failures of
a dependency (the identity provider's keys while none were ever fetched, KMS, DynamoDB) propagate
instead: API Gateway answers 500, so a client retries rather than concluding that its credential is bad.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from functions.authorizer.keys import CachedIdentityProviderKeys, HttpJwks, KmsDeviceCredentialKey
from functions.authorizer.logic import Authenticator
from functions.authorizer.models import (
    AuthorizerSettings,
    NotAuthenticated,
    RouteRoles,
    TrustSettings,
    policy_for,
)
from functions.authorizer.repository import DynamoCitizenDirectory, DynamoDeviceDirectory
from functions.authorizer.usage import UsageKeys
from functions.shared.clock import utc_now
from functions.shared.observability import COUNT, logger, metrics


@cache
def _authenticator() -> Authenticator:
    settings = AuthorizerSettings.from_environment()
    trust = TrustSettings(
        token_issuer=settings.token_issuer,
        token_audience=settings.token_audience,
        device_credential_issuer=settings.device_credential_issuer,
        device_credentials_key_id=settings.device_credentials_key_id,
        client_ids=settings.token_client_ids,
    )
    return Authenticator(
        trust,
        CachedIdentityProviderKeys(HttpJwks(settings.jwks_uri), settings.jwks_refetch_interval_seconds,
                                   settings.jwks_max_age_seconds),
        KmsDeviceCredentialKey(settings.device_credentials_key_id),
        DynamoDeviceDirectory(settings.devices_table_name),
        DynamoCitizenDirectory(settings.citizens_table_name, settings.citizen_pseudonym_key_id),
        utc_now,
    )


@cache
def _route_roles() -> tuple[RouteRoles, ...]:
    return AuthorizerSettings.from_environment().route_roles


@cache
def _usage_keys() -> UsageKeys:
    return AuthorizerSettings.from_environment().usage_keys()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        principal = _authenticator().authenticate(event.get("authorizationToken"))
        policy = policy_for(principal, event.get("methodArn", ""), _route_roles(), _usage_keys())
    except NotAuthenticated as refusal:
        logger.info("token refused", extra={"reason": refusal.reason})
        metrics.add_metric(name="TokensRefused", unit=COUNT, value=1)
        raise Exception("Unauthorized") from None  # the exact message API Gateway turns into 401
    logger.info("token accepted", extra={"role": principal.role.value, "device_id": principal.device_id,
                                         "organisation": principal.organisation})
    metrics.add_metric(name="TokensAccepted", unit=COUNT, value=1)
    return policy
