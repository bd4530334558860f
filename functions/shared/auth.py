"""Who is calling: the principal the Lambda authorizer put into the request context, as a route dependency."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import APIGatewayProxyEvent
from pydantic import ValidationError

from functions.shared.access_rules import ACCESS_RULES
from functions.shared.errors import Forbidden, Unauthorized
from functions.shared.principal import Principal, Role

__all__ = ["Caller", "Principal", "Role", "caller", "principal_of"]


def principal_of(request: Request) -> Principal:
    event = request.resolved_event
    # Every route is behind the REST API's authorizer; any other event carries no principal.
    context = event.request_context.authorizer.raw_event if isinstance(event, APIGatewayProxyEvent) else None
    try:
        return Principal.model_validate(context or {})
    except ValidationError:
        raise Unauthorized("the request carries no valid principal") from None


def caller(request: Request) -> Principal:
    """The principal, if its role is one the access rule of the route the request matched names (the rule
    the authorizer's policy is built from: checked again here, in depth); else 403."""
    principal = principal_of(request)
    if principal.role not in ACCESS_RULES[f"{request.method} {request.route}"].roles:
        raise Forbidden(f"role {principal.role.value} may not call this endpoint")
    return principal


# Every route's principal: a caller of a role the route's rule (functions.shared.access_rules) names.
Caller = Annotated[Principal, Depends(caller)]
