"""The authorizer's configuration, what it needs to know about a device, and the policy it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from functions.shared.principal import Principal
from functions.shared.settings import EnvironmentSettings

# arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>
_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+)/([A-Za-z0-9_-]+)/")


class AuthorizerSettings(EnvironmentSettings):
    token_issuer: str
    token_audience: str
    jwks_uri: str
    device_credential_issuer: str
    device_credentials_key_id: str
    devices_table_name: str


@dataclass(frozen=True)
class TrustSettings:
    """Whom the authorizer trusts: the identity provider and Telehub's own device credentials."""

    token_issuer: str
    token_audience: str
    device_credential_issuer: str
    device_credentials_key_id: str


@dataclass(frozen=True)
class DeviceStanding:
    """What the authorizer reads about a device: whether it may upload, and for which patient."""

    status: str
    patient_id: str

    @property
    def active(self) -> bool:
        return self.status == "active"


class NotAuthenticated(Exception):
    """The caller is refused with 401. ``reason`` is a short code for logs and metrics; it never
    quotes the token or its claims."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def allow_whole_api(principal: Principal, method_arn: str) -> dict[str, Any]:
    """An IAM policy allowing every method of the API's stage, so one result serves all routes.

    The routes decide by role (403); the authorizer decides only who is calling.
    """
    match = _METHOD_ARN.match(method_arn or "")
    if not match:
        raise NotAuthenticated("invalid_method_arn")
    api_arn, stage = match.groups()
    return {
        "principalId": principal.subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api_arn}/{stage}/*/*"}
            ],
        },
        "context": principal.context(),
    }
