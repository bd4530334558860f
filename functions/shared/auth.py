"""Who is calling: the principal the Lambda authorizer put into the request context, as a route dependency."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import APIGatewayProxyEvent
from pydantic import ValidationError

from functions.shared.errors import Forbidden, Unauthorized
from functions.shared.principal import Principal, Role

__all__ = ["Principal", "Role", "principal_of", "requires"]


def principal_of(request: Request) -> Principal:
    event = request.resolved_event
    # Every route is behind the REST API's authorizer; any other event carries no principal.
    context = event.request_context.authorizer.raw_event if isinstance(event, APIGatewayProxyEvent) else None
    try:
        return Principal.model_validate(context or {})
    except ValidationError:
        raise Unauthorized("the request carries no valid principal") from None


def requires(*roles: Role) -> Callable[[Request], Principal]:
    """A route dependency that returns the principal if it has one of ``roles``, else 403."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role.value} may not call this endpoint")
        return principal

    dependency.__name__ = "requires_" + "_or_".join(role.value for role in roles)
    return dependency
