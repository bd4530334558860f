"""The authorizer's configuration, why it refuses a caller, and the policy it returns (what it reads
of a device: functions.shared.device_records.DeviceStanding)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Json

from functions.authorizer.usage import UsageKeys
from functions.shared.principal import Principal, Role
from functions.shared.settings import EnvironmentSettings

# arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>
_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+)/([A-Za-z0-9_-]+)/")
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")

# One authorized route: method, API Gateway path ({param} for parameters), the roles that may call it.
RouteRoles = tuple[str, str, frozenset[Role]]


def _comma_separated(text: object) -> object:
    if not isinstance(text, str):
        return text
    return frozenset(item.strip() for item in text.split(",") if item.strip())


class AuthorizerSettings(EnvironmentSettings):
    token_issuer: str
    token_audience: str
    # TOKEN_CLIENT_IDS, comma-separated: the identity provider's clients (``azp``) whose tokens Telehub takes
    token_client_ids: Annotated[frozenset[str], BeforeValidator(_comma_separated)] = frozenset()
    jwks_uri: str
    # A token naming a kid the key set lacks fetches the set again, but at most once per interval.
    jwks_refetch_interval_seconds: int = Field(default=60, ge=1)
    # The set is fetched again once this old, so a key the provider withdrew stops verifying.
    jwks_max_age_seconds: int = Field(default=300, ge=1)
    device_credential_issuer: str
    device_credentials_key_id: str
    devices_table_name: str
    citizens_table_name: str  # a citizen's patient id, by the pseudonym of their CPR number
    citizen_pseudonym_key_id: str
    route_roles: Json[tuple[RouteRoles, ...]]  # ROUTE_ROLES, from the resource spec
    telehub_stage: str
    # USAGE_PLAN_ORGANISATIONS, comma-separated: the organisations with a usage-plan bucket of their own
    usage_plan_organisations: Annotated[frozenset[str], BeforeValidator(_comma_separated)] = frozenset()

    def usage_keys(self) -> UsageKeys:
        return UsageKeys(self.telehub_stage, self.usage_plan_organisations)


@dataclass(frozen=True)
class TrustSettings:
    """Whom the authorizer trusts: the identity provider and Telehub's own device credentials."""

    token_issuer: str
    token_audience: str
    device_credential_issuer: str
    device_credentials_key_id: str
    # The identity provider's clients (``azp``) whose tokens are taken; a token naming another is refused.
    client_ids: frozenset[str] = frozenset()


class NotAuthenticated(Exception):
    """The caller is refused with 401. ``reason`` is a short code for logs and metrics; it never
    quotes the token or its claims."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def policy_for(principal: Principal, method_arn: str, routes: tuple[RouteRoles, ...],
               usage: UsageKeys) -> dict[str, Any]:
    """An IAM policy allowing exactly the routes the principal's role may call, on the API's stage, and
    the API key of the usage-plan bucket the principal's requests count against.

    API Gateway then answers 403 for any other route before a function runs (and before its body
    is validated). The policy does not depend on the route called, so one result serves all routes.
    A path parameter becomes '*', which in execute-api ARNs matches across '/': so another role's route
    under an allowed one (GET /v1/episodes/{episode_id}/orders/{order_id}/contact under
    GET /v1/episodes/{episode_id}) gets an explicit Deny, which wins over the Allow.
    A role with no routes gets an explicit Deny on the whole API.
    """
    match = _METHOD_ARN.match(method_arn or "")
    if not match:
        raise NotAuthenticated("invalid_method_arn")
    api_arn, stage = match.groups()
    patterns = {(method, path): f"{method}/{_PATH_PARAMETER.sub('*', path).lstrip('/')}"
                for method, path, _ in routes}
    allowed = [patterns[method, path] for method, path, roles in routes if principal.role in roles]
    statements: list[dict[str, Any]]
    if not allowed:
        statements = [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{api_arn}/*"}]
    else:
        covered = re.compile("|".join(re.escape(pattern).replace(r"\*", ".*") for pattern in allowed))
        denied = [patterns[method, path] for method, path, roles in routes
                  if principal.role not in roles and covered.fullmatch(patterns[method, path])]
        statements = [{"Action": "execute-api:Invoke", "Effect": "Allow",
                       "Resource": [f"{api_arn}/{stage}/{pattern}" for pattern in allowed]}]
        if denied:
            statements.append({"Action": "execute-api:Invoke", "Effect": "Deny",
                               "Resource": [f"{api_arn}/{stage}/{pattern}" for pattern in denied]})
    return {
        "principalId": principal.subject,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": principal.context(),
        "usageIdentifierKey": usage.key_for(principal),
    }
