"""Entry point of the sharing API (``handler``, function sharing-api): the citizen's consent to sharing
(POST /v1/consents) and the treating doctor's FHIR search."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths

from functions.cross_sector_sharing.api_models import ConsentRequest, ConsentView
from functions.cross_sector_sharing.consent_store import DynamoConsentStore
from functions.cross_sector_sharing.consents import ConsentService
from functions.cross_sector_sharing.repository import dynamo_citizen_relations
from functions.cross_sector_sharing.search_api import search_router
from functions.cross_sector_sharing.search_models import SEARCH_PATH
from functions.cross_sector_sharing.settings import sharing_api_settings
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.observability import COUNT, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

app = build_resolver()
app.include_router(search_router)
_RECORDED: OpenAPIResponse = {"description": "Recorded: the consent that holds now",
                              "content": {"application/json": {"model": ConsentView}}}
_UNCHANGED: OpenAPIResponse = {"description": "The consent that holds already (nothing changed)",
                               "content": {"application/json": {"model": ConsentView}}}


@cache
def _consents() -> ConsentService:
    settings = sharing_api_settings()
    return ConsentService(DynamoConsentStore(settings.citizens_table_name),
                          dynamo_citizen_relations(settings),
                          DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                                          current_request(app)), utc_now)


@app.post(
    "/v1/consents",
    summary="Record the citizen's consent to sharing",
    description="A clinician of the treating or the monitoring organisation of an open episode of the "
    "citizen records that the citizen withdraws or gives again the consent to cross-sector sharing. It holds "
    "from now: each Bundle is published only while the consent that holds when it is published is `granted`. "
    "Every consent is kept; the one recorded last holds. Recording the consent that holds already changes "
    "nothing (200, the consent that holds). Every request is written to the access log, under each open "
    "episode the caller's organisation treats or monitors, before the consent is read or changed. The CPR "
    "number is in the body, never in the URL, and is not in the reply.",
    tags=["consents"],
    responses={201: _RECORDED, 200: _UNCHANGED,
               403: {"description": "The caller's organisation neither treats nor monitors an open episode "
                     "of the citizen; the same reply whether the citizen is known or not"},
               409: {"description": "Another consent was recorded meanwhile and holds"}},
)
def post_consent(request: Annotated[ConsentRequest, Body()], principal: Caller) -> Response[ConsentView]:
    consent, recorded = _consents().record(request.cpr, request.status, principal)
    metrics.add_metric(name="ConsentsRecorded" if recorded else "ConsentsRepeated", unit=COUNT, value=1)
    logger.info("consent recorded", extra={"consent_id": consent.consent_id, "new_consent": recorded})
    return Response(status_code=201 if recorded else 200, content_type="application/json",
                    body=ConsentView.of(consent))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context, form_routes=frozenset({SEARCH_PATH}))
