"""The treating doctor's FHIR search (POST /fhir/Observation/_search): a router the sharing API's resolver
includes (functions.cross_sector_sharing.api), whose ``resolve`` lets this route alone take a form body."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Form, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.cross_sector_sharing.fhir import bundle_json
from functions.cross_sector_sharing.repository import dynamo_citizen_relations
from functions.cross_sector_sharing.search import ObservationSearch
from functions.cross_sector_sharing.search_models import (
    CURSOR_PARAMETER,
    DEFAULT_COUNT,
    FHIR_JSON,
    MAX_COUNT,
    MAX_DATES,
    SEARCH_PATH,
    CodeParameter,
    DateParameter,
    ObservationQuery,
    PatientCpr,
)
from functions.cross_sector_sharing.search_store import DynamoReadingStore
from functions.cross_sector_sharing.settings import sharing_api_settings
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.cursors import CURSOR_PATTERN
from functions.shared.observability import COUNT, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

search_router = APIGatewayRouter()  # type: ignore[no-untyped-call]
_SEARCHSET: OpenAPIResponse = {
    "description": "A page of the search: a FHIR R4 Bundle of type searchset",
    "content": {FHIR_JSON: {"schema": {
        "type": "object", "description": "Bundle (FHIR R4), type searchset: the Observations (search.mode "
        "`match`), a blood pressure's cuff pulse, the Patient and the Devices (`include`); `link` self and, "
        "while more match, next."}}},
}


@cache
def _search() -> ObservationSearch:
    settings = sharing_api_settings()
    return ObservationSearch(
        DynamoReadingStore(settings.evaluations_table_name, settings.episodes_table_name),
        dynamo_citizen_relations(settings),
        DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                        current_request(search_router)),
        utc_now, settings.shared_measurement_types)


def search_url(event: APIGatewayProxyEvent) -> str:
    """The search's own URL as the client called it: API Gateway's default endpoint has the stage in its
    path, a custom domain (or the embedded gateway) has not; API Gateway always says the scheme."""
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    host = event.request_context.domain_name or headers.get("host", "")
    stage = f"/{event.request_context.stage}" if ".execute-api." in host else ""
    return f"{headers.get('x-forwarded-proto', 'http')}://{host}{stage}{SEARCH_PATH}"


@search_router.post(
    SEARCH_PATH,
    summary="Search a citizen's observations (FHIR)",
    description="FHIR R4 search by POST, form-encoded, so that the CPR number is in no URL and no log. "
    "`patient.identifier` (required, once): `urn:oid:1.2.208.176.1.2|<CPR>`. `code` (optional): "
    "`system|code` or a bare code; a comma list is one OR, repeated parameters AND; a code Telehub does not "
    "share matches nothing; a blood-pressure component's code finds the panel. `date` (optional, at most "
    "twice): `eq`, `ge`, `gt`, `le` or `lt` and a date (UTC periods) or a date-time with offset, on when "
    "it was measured. `_count`: matches per page (1-100, default 50). For a clinician of the treating or "
    "the current monitoring organisation of an open episode of the citizen: the observations of those "
    "episodes only, of the nationally agreed types, newest measured first, as the shared Bundles carry "
    "them (codes, UCUM, reference ranges of the thresholds valid when measured, colour, entered-in-error "
    "once invalidated). Every other caller gets the same 403, whether the citizen is known or not. Every "
    "page is written to the access log, under each episode it searches, before the reply. The next page: "
    "the same POST body to the Bundle's `next` link, whose URL carries only the opaque `_cursor`. Unknown "
    "parameters are ignored, as FHIR's default lenient handling has it. Read from an index updated a "
    "moment after each evaluation (eventually consistent).",
    tags=["fhir"],
    responses={200: _SEARCHSET,
               403: {"description": "The caller's organisation neither treats nor monitors an open episode "
                     "of the citizen; the same reply whether the citizen is known or not"}},
)
def search_observations(
    principal: Caller,
    patient: Annotated[list[PatientCpr], Form(alias="patient.identifier", min_length=1, max_length=1)],
    code: Annotated[list[CodeParameter] | None, Form(
        description="A token: `system|code` or a bare code; commas separate alternatives. Repeatable (AND).",
    )] = None,
    date: Annotated[list[DateParameter] | None, Form(
        max_length=MAX_DATES, description="`[eq|ge|gt|le|lt]` and YYYY, YYYY-MM, YYYY-MM-DD or a date-time "
        "with offset, on when the measurement was taken. At most twice (a range).")] = None,
    count: Annotated[int, Form(alias="_count", ge=1, le=MAX_COUNT,
                               description=f"Matches per page (default {DEFAULT_COUNT}).")] = DEFAULT_COUNT,
    cursor: Annotated[str | None, Query(
        alias=CURSOR_PARAMETER, pattern=CURSOR_PATTERN,
        description="Only in a `next` link the search gave; left out for the first page. Beyond the schema: "
        "only a cursor of the same caller's search with the same parameters.")] = None,
) -> Response[str]:
    query = ObservationQuery.of(patient[0], code or [], date or [], count)
    result = _search().search(query, principal, cursor, search_url(search_router.current_event))
    metrics.add_metric(name="ObservationsSearched", unit=COUNT, value=result.matches)
    logger.info("observations searched", extra={"matches": result.matches, "episodes": result.episodes})
    return Response(status_code=200, content_type=FHIR_JSON, body=bundle_json(result.bundle))
