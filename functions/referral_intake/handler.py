"""Entry points: the referral and episode API, with the clinicians' read of whom an episode is for and the
logistics centre's read of an order's contact details (``handler``), the order outbox (``outbox_handler``)
and the recovery of the stream batches the outbox gave up on (``outbox_recovery_handler``)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.referral_intake.citizen_contact import CitizenContacts
from functions.referral_intake.logic import EpisodeService
from functions.referral_intake.models import (
    HISTORY_PAGE_SIZE,
    MAX_HISTORY_PAGE_SIZE,
    CitizenContact,
    EpisodeOutboxRecoverySettings,
    EpisodeOutboxSettings,
    EpisodeView,
    HandoverOffer,
    OrderContact,
    Referral,
    ReferralAccepted,
    ReferralIntakeSettings,
    ThresholdChange,
    ThresholdVersionView,
)
from functions.referral_intake.order_contact import ORDER_CONTACT_DAYS, OrderContacts
from functions.referral_intake.outbox import OrderRelay, order_outbox
from functions.referral_intake.publisher import SqsOrderPublisher
from functions.referral_intake.repository import DynamoEpisodeStore, DynamoOrdersByHour
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.citizen_store import DynamoCitizenStore, KmsCitizenPseudonyms
from functions.shared.clock import utc_now
from functions.shared.cursors import CURSOR_PATTERN
from functions.shared.episode_records import EPISODE_ID_PATTERN, ORDER_ID_PATTERN
from functions.shared.observability import COUNT, logger, metrics
from functions.shared.outbox import relay_stream_inserts
from functions.shared.profile_sealing import KmsProfileSealer
from functions.shared.stream_recovery import StreamBatchRecovery, recover_each
from functions.shared.stream_shards import DynamoDbStreamShards

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

app = build_resolver()
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
HistoryLimit = Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE_SIZE, description=(
    f"Threshold versions per page of `threshold_history` (default {HISTORY_PAGE_SIZE})."))]
HistoryCursor = Annotated[str | None, Query(
    pattern=CURSOR_PATTERN, description="The previous page's `threshold_history_next_cursor`; left out for "
    "the first page. Beyond the schema: only a cursor of this episode's history.")]

_EPISODE: OpenAPIResponse = {"content": {"application/json": {"model": EpisodeView}}}
_FORBIDDEN: dict[int, OpenAPIResponse] = {
    403: {"description": "No relation to the episode, or no such episode (one reply); or the caller's part "
          "in it does not allow this"},
}


@cache
def _service() -> EpisodeService:
    settings = ReferralIntakeSettings.from_environment()
    return EpisodeService(_store(), _citizens(), KmsCitizenPseudonyms(settings.citizen_pseudonym_key_id),
                          _access_log(), utc_now)


@cache
def _citizen_contacts() -> CitizenContacts:
    return CitizenContacts(_store(), _citizens(), _access_log(), utc_now)


@cache
def _contacts() -> OrderContacts:
    return OrderContacts(_store(), _citizens(), _access_log(), utc_now)


@cache
def _store() -> DynamoEpisodeStore:
    settings = ReferralIntakeSettings.from_environment()
    return DynamoEpisodeStore(settings.episodes_table_name, settings.devices_table_name, _citizens(),
                              evaluations_table=settings.evaluations_table_name)


@cache
def _citizens() -> DynamoCitizenStore:
    settings = ReferralIntakeSettings.from_environment()
    return DynamoCitizenStore(settings.citizens_table_name, KmsProfileSealer(settings.citizen_profile_key_id))


@cache
def _access_log() -> DynamoAccessLog:
    settings = ReferralIntakeSettings.from_environment()
    return DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                           current_request(app))


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=body)


@app.post(
    "/v1/referrals",
    summary="Refer a citizen to monitoring",
    description="A clinician of the treating organisation refers a citizen: Telehub creates an episode of "
    "care (status planned until a device is registered) with threshold version 1 (the disease area's "
    "defaults with the referral's overrides) and orders the monitoring package from the citizen's "
    "logistics centre. "
    "Retrying with the same referral_id and body returns the same 201; the same referral_id with another "
    "body is a 409. A citizen has at most one open episode per disease area and exactly one logistics "
    "centre (409 naming `disease_area` or `logistics_centre`; the open episode is named only to an "
    "organisation that treats or monitors it).",
    tags=["referrals"],
    responses={201: {"description": "Accepted (or a retry: the same reply)",
                     "content": {"application/json": {"model": ReferralAccepted}}},
               403: {"description": "The caller is not of the treating organisation"},
               409: {"description": "An open episode in the area (named only to its own organisations), "
                     "another logistics centre, or a reused referral_id"}},
)
def post_referral(referral: Annotated[Referral, Body()], principal: Caller) -> Response[ReferralAccepted]:
    reply, created = _service().accept_referral(referral, principal)
    metric = "ReferralsAccepted" if created else "ReferralsRepeated"
    metrics.add_metric(name=metric, unit=COUNT, value=1)
    logger.info("referral accepted", extra={"episode_id": reply.episode_id, "new_episode": created})
    return _json(201, reply)


@app.get(
    "/v1/episodes/<episode_id>",
    summary="Read an episode of care",
    description="The episode, the threshold version valid now and a page of the versions, oldest first "
    "(the next page with `history_cursor`). For the treating and the monitoring organisation, and the "
    "organisation offered a handover. Every read is written to the access log before the reply.",
    tags=["episodes"],
    responses={200: {**_EPISODE, "description": "The episode"}, **_FORBIDDEN},
)
def get_episode(episode_id: EpisodeId, principal: Caller, history_limit: HistoryLimit = HISTORY_PAGE_SIZE,
                history_cursor: HistoryCursor = None) -> Response[EpisodeView]:
    view = _service().read(episode_id, principal, history_limit, history_cursor)
    metrics.add_metric(name="EpisodesRead", unit=COUNT, value=1)
    logger.info("episode read", extra={"episode_id": episode_id})
    return _json(200, view)


@app.get(
    "/v1/episodes/<episode_id>/citizen",
    summary="Read whom an episode is for",
    description="The citizen's CPR number, name and phone, as the citizen's profile holds them now (null "
    "where it holds none): the episode, the worklist and the alarms name the citizen by patient id only. "
    "For the treating and the monitoring organisation, and the organisation offered a handover (to decide "
    "whether to take the citizen on). Every read is written to the access log before the reply, which is "
    "not to be cached (`Cache-Control: no-store`); an entry that cannot be written, or a profile that "
    "cannot be opened now, is a 503 with nothing of the citizen.",
    tags=["episodes"],
    responses={200: {"description": "The citizen",
                     "content": {"application/json": {"model": CitizenContact}}},
               403: {"description": "No relation to the episode, or no such episode: one reply for both"}},
)
def get_citizen(episode_id: EpisodeId, principal: Caller) -> Response[CitizenContact]:
    contact = _citizen_contacts().contact(episode_id, principal)
    metrics.add_metric(name="CitizenContactsRead", unit=COUNT, value=1)
    logger.info("citizen contact read", extra={"episode_id": episode_id})
    return _json(200, contact)


@app.put(
    "/v1/episodes/<episode_id>/thresholds",
    summary="Change the alarm thresholds",
    description="The treating organisation makes a new threshold version: the current one with the changes "
    "(a limit given replaces, null removes, left out keeps), valid from `valid_from` (default now; not "
    "before the latest version's, nor more than 5 minutes in the past). Measurements are judged by the "
    "version valid when they were taken.",
    tags=["episodes"],
    responses={200: {"description": "The new version (or the latest one, for a retry of the same change)",
                     "content": {"application/json": {"model": ThresholdVersionView}}},
               409: {"description": "The episode has ended, or a change from now comes before the latest "
                     "version's valid_from"}, **_FORBIDDEN},
)
def put_thresholds(episode_id: EpisodeId, change: Annotated[ThresholdChange, Body()],
                   principal: Caller) -> Response[ThresholdVersionView]:
    version = _service().change_thresholds(episode_id, change, principal)
    metrics.add_metric(name="ThresholdVersionsCreated", unit=COUNT, value=1)
    logger.info("thresholds changed", extra={"episode_id": episode_id, "version": version.version})
    return _json(200, ThresholdVersionView.of(version))


@app.post(
    "/v1/episodes/<episode_id>/handover",
    summary="Offer monitoring responsibility to another organisation",
    description="The organisation holding monitoring responsibility offers it; it keeps it until the "
    "receiver accepts. One offer at a time (repeating the same offer is harmless).",
    tags=["episodes"],
    responses={200: {**_EPISODE, "description": "The episode with the pending offer"},
               409: {"description": "Another offer is pending, or the episode has ended"}, **_FORBIDDEN},
)
def offer_handover(episode_id: EpisodeId, offer: Annotated[HandoverOffer, Body()],
                   principal: Caller) -> Response[EpisodeView]:
    view = _service().offer_handover(episode_id, offer.to_organisation, principal)
    metrics.add_metric(name="HandoversOffered", unit=COUNT, value=1)
    logger.info("handover offered", extra={"episode_id": episode_id})
    return _json(200, view)


@app.delete(
    "/v1/episodes/<episode_id>/handover",
    summary="Withdraw a handover offer",
    description="The organisation holding monitoring responsibility takes its pending offer back (to "
    "offer it to another organisation). Withdrawing with no offer pending changes nothing.",
    tags=["episodes"],
    responses={204: {"description": "No offer is pending"},
               409: {"description": "The offer was accepted meanwhile"}, **_FORBIDDEN},
)
def withdraw_handover(episode_id: EpisodeId, principal: Caller) -> Response[None]:
    _service().withdraw_handover(episode_id, principal)
    metrics.add_metric(name="HandoversWithdrawn", unit=COUNT, value=1)
    logger.info("handover withdrawn", extra={"episode_id": episode_id})
    return Response(status_code=204)


@app.post(
    "/v1/episodes/<episode_id>/handover/accept",
    summary="Accept monitoring responsibility",
    description="The organisation offered the handover takes over monitoring responsibility. Devices, "
    "credentials and history stay with the citizen.",
    tags=["episodes"],
    responses={200: {**_EPISODE, "description": "The episode, now monitored by the caller"},
               409: {"description": "The offer changed meanwhile, or the episode has ended"}, **_FORBIDDEN},
)
def accept_handover(episode_id: EpisodeId, principal: Caller) -> Response[EpisodeView]:
    view = _service().accept_handover(episode_id, principal)
    metrics.add_metric(name="HandoversAccepted", unit=COUNT, value=1)
    logger.info("handover accepted", extra={"episode_id": episode_id})
    return _json(200, view)


@app.post(
    "/v1/episodes/<episode_id>/handover/decline",
    summary="Decline monitoring responsibility",
    description="The organisation offered the handover declines; the offering organisation keeps it.",
    tags=["episodes"],
    responses={204: {"description": "Declined"},
               409: {"description": "The offer changed meanwhile, or the episode has ended"}, **_FORBIDDEN},
)
def decline_handover(episode_id: EpisodeId, principal: Caller) -> Response[None]:
    _service().decline_handover(episode_id, principal)
    metrics.add_metric(name="HandoversDeclined", unit=COUNT, value=1)
    logger.info("handover declined", extra={"episode_id": episode_id})
    return Response(status_code=204)


@app.post(
    "/v1/episodes/<episode_id>/end",
    summary="End an episode of care",
    description="The treating organisation ends the episode: its devices are revoked (their credentials are "
    "refused from the next upload) and the logistics centre is sent an order to collect them. A device "
    "another open episode of the citizen still uses (a scale shared by COPD and heart failure) is not "
    "revoked or collected, only unlinked from this episode. Ending an ended episode is a 204 again.",
    tags=["episodes"],
    responses={204: {"description": "Ended (now or before)"}, **_FORBIDDEN},
)
def end_episode(episode_id: EpisodeId, principal: Caller) -> Response[None]:
    _service().end(episode_id, principal)
    metrics.add_metric(name="EpisodesEnded", unit=COUNT, value=1)
    logger.info("episode ended", extra={"episode_id": episode_id})
    return Response(status_code=204)


@app.get(
    "/v1/episodes/<episode_id>/orders/<order_id>/contact",
    summary="Read whom an order is for",
    description="The logistics centre an order was sent to reads the citizen's CPR number (to register the "
    "devices), name and phone (to agree the visit), as the citizen's profile holds them now: the order "
    "message itself names the citizen by patient id only. Only while the order is current: a delivery "
    f"while its episode is open, a collection for {ORDER_CONTACT_DAYS} days after it was ordered. Every "
    "read is written to the access log before the reply, which is not to be cached (`Cache-Control: "
    "no-store`).",
    tags=["logistics"],
    responses={200: {"description": "The citizen's contact details",
                     "content": {"application/json": {"model": OrderContact}}},
               403: {"description": "No such episode or order, an order sent to another centre, or one no "
                     "longer current: one reply for all"}},
)
def get_order_contact(episode_id: EpisodeId, order_id: OrderId,
                      principal: Caller) -> Response[OrderContact]:
    contact = _contacts().contact(episode_id, order_id, principal)
    metrics.add_metric(name="OrderContactsRead", unit=COUNT, value=1)
    logger.info("order contact read", extra={"episode_id": episode_id, "order_id": order_id})
    return _json(200, contact)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)


@logger.inject_lambda_context
@metrics.log_metrics
def outbox_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay each ORDER item inserted into the episodes table; report the records not relayed."""
    return relay_stream_inserts(event, context, _order_relay().relay)


@logger.inject_lambda_context
@metrics.log_metrics
def outbox_recovery_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay again the orders of each stream batch named by an on-failure record (SQS message);
    report the messages whose batch was not (yet) fully relayed, for SQS to redeliver."""
    return recover_each(event, context, _outbox_recovery())


@cache
def _order_relay() -> OrderRelay:
    settings = EpisodeOutboxSettings.from_environment()
    return OrderRelay(SqsOrderPublisher(settings.logistics_orders_queue_url), metrics)


@cache
def _outbox_recovery() -> StreamBatchRecovery:
    table = EpisodeOutboxRecoverySettings.from_environment().episodes_table_name
    outbox = order_outbox(_order_relay(), DynamoOrdersByHour(table), table)
    return StreamBatchRecovery(DynamoDbStreamShards(), outbox, metrics)
