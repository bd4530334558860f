"""Orders by reference, and the logistics centre's contact endpoint, through the referral-intake function
under moto: no ORDER item, stream record or logistics-orders message holds the citizen's CPR number, name or
phone; the centre an order was sent to reads them, access-logged before the reply and not to be cached; every
refusal is byte for byte the reply to an order that does not exist, logged as denied for a known citizen; an
entry that cannot be written is a 503 with nothing of the citizen; a collection order's contact expires."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.referral_intake.order_contact import ORDER_CONTACT_DAYS
from functions.shared import aws
from functions.shared.episode_records import order_key
from tests.support.docs import json_block_after
from tests.support.events import load_event
from tests.support.moto_state import table_items, table_stream
from tests.support.organisations import CENTRE, MONITORING, OTHER, TREATING
from tests.support.referrals_api import call, refer
from tests.support.runtime import invoke

CPR, NAME, PHONE = "2512489996", "Karen Jensen", "+45 20 30 40 50"  # the sample referral's citizen
UNKNOWN_EPISODE, UNKNOWN_ORDER = "epi_" + "0" * 24, "ord_" + "0" * 24
ROUTE = "/v1/episodes/{episode_id}/orders/{order_id}/contact"
REQUEST_ID = load_event("referral_intake/get_order_contact.json")["requestContext"]["requestId"]
REFUSAL = json_block_after("docs/api.md", "### No relation: one 403 that tells nothing")


def contact(episode_id: str, order_id: str, organisation: str = CENTRE,
            role: str = "logistics") -> dict[str, Any]:
    """The function's whole reply (status, headers, body) to GET .../contact by the organisation's system."""
    event = load_event("referral_intake/get_order_contact.json")
    event["path"] = ROUTE.format(episode_id=episode_id, order_id=order_id)
    event["pathParameters"] = {"episode_id": episode_id, "order_id": order_id}
    event["requestContext"]["authorizer"] = {"principalId": "centre-system", "role": role,
                                             "subject": "centre-system", "organisation": organisation}
    reply: dict[str, Any] = invoke("referral-intake", event)
    return reply


def _referred() -> dict[str, Any]:
    status, episode = refer()
    assert status == 201, episode
    return episode


def _ended(episode: dict[str, Any], resources) -> dict[str, Any]:
    """End the episode; its collection order as stored."""
    assert call("POST", f"/v1/episodes/{episode['episode_id']}/end", {})[0] == 204
    (collect,) = [item for item in table_items(resources, "episodes")
                  if item["sk"]["S"].startswith("ORDER#") and item["kind"]["S"] == "collect"]
    return collect


def _contact_reads(resources) -> list[tuple[str, ...]]:
    """The access log's order-contact entries: outcome, organisation, citizen, episode, endpoint, request."""
    entries = [{name: next(iter(value.values())) for name, value in item.items()}
               for item in table_items(resources, "access-log")]
    return [(e["outcome"], e["organisation"], e["patient_id"], e["episode_id"], e["endpoint"],
             e["request_id"])
            for e in sorted(entries, key=lambda e: e["access_id"]) if e["action"] == "read_order_contact"]


def _relayed_orders(resources) -> list[str]:
    """The episodes stream's ORDER inserts played to the outbox; the logistics-orders queue's bodies."""
    records = [record for record in table_stream(resources.tables["episodes"]).records
               if record["dynamodb"]["Keys"]["sk"]["S"].startswith("ORDER#")]
    assert invoke("episode-outbox", {"Records": records}) == {"batchItemFailures": []}
    sqs = boto3.Session().client("sqs")
    messages = sqs.receive_message(QueueUrl=resources.queue_urls["logistics-orders"],
                                   MaxNumberOfMessages=10)["Messages"]
    return [message["Body"] for message in messages]


def _personal(text: str) -> list[str]:
    return [value for value in (CPR, CPR[:6] + "-" + CPR[6:], NAME, PHONE) if value in text]


# --- orders by reference ----------------------------------------------------------------------------------


def test_no_order_item_stream_record_or_queue_message_holds_the_citizens_contact_details(resources):
    # Given a referral (a delivery order) and its ending (a collection order)
    episode = _referred()
    _ended(episode, resources)
    # Then no item of the episodes table, no record of its stream and no logistics-orders message holds the
    # CPR number, the name or the phone
    assert _personal(json.dumps(table_items(resources, "episodes"))) == []
    assert _personal(json.dumps(table_stream(resources.tables["episodes"]).records, default=str)) == []
    bodies = _relayed_orders(resources)
    assert len(bodies) == 2 and _personal(json.dumps(bodies)) == []
    # And each message is version 2, naming the citizen by patient id
    for body in map(json.loads, bodies):
        assert (body["schema_version"], body["patient_id"]) == (2, episode["patient_id"])
        assert "citizen" not in body


# --- the contact endpoint ---------------------------------------------------------------------------------


def test_the_centre_reads_the_contact_of_an_order_it_was_sent_logged_first_and_not_cached(resources):
    # Given a referral, whose delivery order went to the centre
    episode = _referred()
    # When the centre reads the order's contact details
    reply = contact(episode["episode_id"], episode["order_id"])
    # Then it gets the CPR number, name and phone with the order, in a reply no cache keeps
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"]) == {"order_id": episode["order_id"], "kind": "deliver", "cpr": CPR,
                                         "name": NAME, "phone": PHONE}
    assert reply["multiValueHeaders"]["Cache-Control"] == ["no-store"]
    # And the read is one allowed entry of the citizen, naming the endpoint's template and the request
    assert _contact_reads(resources) == [("allowed", CENTRE, episode["patient_id"], episode["episode_id"],
                                          f"GET {ROUTE}", REQUEST_ID)]


def test_the_centre_reads_a_collection_orders_contact_after_the_episode_ended(resources):
    # Given an ended episode, whose collection order went to the centre
    episode = _referred()
    collect = _ended(episode, resources)
    # When the centre reads that order's contact, Then it gets it
    reply = contact(episode["episode_id"], collect["order_id"]["S"])
    assert reply["statusCode"] == 200 and json.loads(reply["body"])["kind"] == "collect"


@pytest.mark.parametrize("refused", ["another centre", "another organisation's system",
                                     "no such order", "a delivery order of an ended episode",
                                     "a collection order past its days"])
def test_every_refusal_is_the_reply_to_an_order_that_does_not_exist_and_is_logged_as_denied(resources,
                                                                                            refused):
    # Given a referred citizen, and the reply the centre gets for an episode and order that do not exist
    episode = _referred()
    unknown = contact(UNKNOWN_EPISODE, UNKNOWN_ORDER)
    assert json.loads(unknown["body"]) == REFUSAL and _contact_reads(resources) == []
    episode_id, order_id, organisation = episode["episode_id"], episode["order_id"], CENTRE
    if refused == "another centre":
        organisation = OTHER
    elif refused == "another organisation's system":
        organisation = MONITORING
    elif refused == "no such order":
        order_id = UNKNOWN_ORDER
    elif refused == "a delivery order of an ended episode":
        _ended(episode, resources)
    else:
        order_id = _ended(episode, resources)["order_id"]["S"]
        _ordered_days_ago(resources, episode_id, order_id, ORDER_CONTACT_DAYS)
    # When the organisation's logistics system asks for that order's contact
    reply = contact(episode_id, order_id, organisation)
    # Then the reply is the unknown one, byte for byte, and the refusal one entry of the citizen, denied
    assert reply == unknown and reply["statusCode"] == 403
    assert _personal(json.dumps(reply)) == []
    assert _contact_reads(resources) == [("denied", organisation, episode["patient_id"], episode_id,
                                          f"GET {ROUTE}", REQUEST_ID)]


def test_a_clinician_may_not_read_an_orders_contact(resources):
    # Given a referral; When a clinician of its treating organisation asks for its order's contact
    episode = _referred()
    reply = contact(episode["episode_id"], episode["order_id"], TREATING, role="clinician")
    # Then the route refuses the role (API Gateway's policy refuses it first), and nothing is read or logged
    assert reply["statusCode"] == 403 and _personal(json.dumps(reply)) == []
    assert _contact_reads(resources) == []


@pytest.mark.parametrize(("episode_id", "order_id", "field"), [
    ("epi_1", UNKNOWN_ORDER, "episode_id"), (UNKNOWN_EPISODE, "ord_XYZ", "order_id")])
def test_a_malformed_id_is_a_422_naming_it(resources, episode_id, order_id, field):
    reply = contact(episode_id, order_id)
    assert reply["statusCode"] == 422 and json.loads(reply["body"])["errors"][0]["field"] == field


def test_nothing_of_the_citizen_is_returned_when_the_read_cannot_be_logged(resources, monkeypatch):
    # Given a referral, and an access log that cannot be written
    episode = _referred()
    client = aws.client("dynamodb")
    put_item = client.put_item

    def put(**request: Any) -> Any:
        if request["TableName"] == resources.tables["access-log"]:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "PutItem")
        return put_item(**request)

    monkeypatch.setattr(client, "put_item", put)
    # When the centre reads the order's contact
    reply = contact(episode["episode_id"], episode["order_id"])
    # Then the request fails closed: a retry-later with nothing of the citizen, and no entry
    assert reply["statusCode"] == 503 and _personal(json.dumps(reply)) == []
    assert _contact_reads(resources) == []


def _ordered_days_ago(resources, episode_id: str, order_id: str, days: int) -> None:
    """The stored order as if made ``days`` ago (the message's ordered_at; the index's attributes stay)."""
    dynamodb = boto3.Session().client("dynamodb")
    key = order_key(episode_id, order_id)
    item = dynamodb.get_item(TableName=resources.tables["episodes"], Key=key)["Item"]
    message = json.loads(item["message"]["S"])
    message["ordered_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    dynamodb.update_item(TableName=resources.tables["episodes"], Key=key, UpdateExpression="SET message = :m",
                         ExpressionAttributeValues={":m": {"S": json.dumps(message)}})


def test_a_collection_orders_contact_is_read_until_its_days_are_over(resources):
    # Given an ended episode whose collection order was made a day less than the days ago
    episode = _referred()
    order_id = _ended(episode, resources)["order_id"]["S"]
    _ordered_days_ago(resources, episode["episode_id"], order_id, ORDER_CONTACT_DAYS - 1)
    # When the centre reads its contact, Then it gets it
    assert contact(episode["episode_id"], order_id)["statusCode"] == 200
    # And once the days are over, it is refused
    _ordered_days_ago(resources, episode["episode_id"], order_id, ORDER_CONTACT_DAYS)
    assert contact(episode["episode_id"], order_id)["statusCode"] == 403
    assert [read[0] for read in _contact_reads(resources)] == ["allowed", "denied"]


def test_the_centre_reads_the_contact_of_the_order_message_it_received(resources):
    # Given a referral: its reply names the delivery order, which the centre got on its queue
    episode = _referred()
    (body,) = map(json.loads, _relayed_orders(resources))
    assert body["order_id"] == episode["order_id"] and body["episode_id"] == episode["episode_id"]
    # When the centre reads the order it received, Then the contact is the referral's citizen
    assert json.loads(contact(body["episode_id"], body["order_id"])["body"])["cpr"] == CPR
