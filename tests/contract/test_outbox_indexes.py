"""The contracts of the outboxes' indexes by hour (functions.device_uploads.outbox.UploadsByArrival,
functions.referral_intake.outbox.OrdersByHour, functions.alarm_evaluation.outbox.EventsByHour), for the
fakes and for the DynamoDB adapters under moto: the items of one hour written between two instants, both
included, as the stream's NEW_IMAGE gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.alarm_evaluation.repository import DynamoEventsByHour
from functions.device_uploads.models import StoredUpload
from functions.device_uploads.repository import DynamoDbUploadRepository
from functions.referral_intake.models import Order
from functions.referral_intake.repository import DynamoOrdersByHour, episode_item, order_item
from functions.shared.clock import iso_utc
from tests.support.contract import FAKE, REAL
from tests.support.episodes import new_episode
from tests.support.evaluation_events import event_item, other_items, serialised, upload_event
from tests.support.fakes import FakeArrivals, FakeEventsByHour, FakeOrdersByHour
from tests.support.organisations import CENTRE

HOUR = "2024-05-01T08"
PATIENT = "pat_000000000000000000000001"


def at(minute: int, second: int = 0, millisecond: int = 0, hour: int = 8) -> datetime:
    return datetime(2024, 5, 1, hour, minute, second, millisecond * 1000, tzinfo=UTC)


@dataclass
class Index:
    """An outbox's index by hour: its read (hour, since, until), how a test writes an item of the
    outbox named ``name`` at an instant, which returns the item as the table holds it, and the
    attribute that names an item."""

    read: Callable[[str, str, str], list[dict[str, Any]]]
    write: Callable[[str, datetime], dict[str, Any]]
    name: str


def upload(upload_id: str, received: datetime) -> StoredUpload:
    return StoredUpload(
        device_id="dev_1", upload_id=upload_id, patient_id=PATIENT, received_at=iso_utc(received),
        body_hash="0" * 64, accepted=1,
        measurements=[{"type": "weight", "value": Decimal("69.9"), "unit": "kg",
                       "measured_at": iso_utc(received), "method": "automatic", "late": False}],
    )


def order(order_id: str, ordered: datetime) -> dict[str, Any]:
    """The ORDER item (DynamoDB JSON) of a delivery ordered at that instant."""
    body = {"order_id": order_id, "ordered_at": ordered.isoformat()}
    return order_item(Order(order_id, "deliver", "epi_1", CENTRE, body))


def deserialised(item: dict[str, Any]) -> dict[str, Any]:
    return {name: TypeDeserializer().deserialize(value) for name, value in item.items()}


def uploads_index(implementation: str, request: pytest.FixtureRequest) -> Index:
    if implementation == FAKE:
        fake = FakeArrivals([])

        def write_fake(name: str, received: datetime) -> dict[str, Any]:
            fake.items.append(item := upload(name, received).item())
            return item

        return Index(fake.received_in_hour, write_fake, "upload_id")
    uploads = DynamoDbUploadRepository(request.getfixturevalue("moto_resources").tables["uploads"])

    def write_real(name: str, received: datetime) -> dict[str, Any]:
        assert uploads.put_new(upload(name, received)) is None
        return upload(name, received).item()

    return Index(uploads.received_in_hour, write_real, "upload_id")


@dataclass
class SparseIndex(Index):
    """An index of a table whose other items (written by ``write_other``) it does not hold."""

    write_other: Callable[[dict[str, Any]], None]  # a table item the index does not hold (DynamoDB JSON)


def orders_index(implementation: str, request: pytest.FixtureRequest) -> SparseIndex:
    if implementation == FAKE:
        fake = FakeOrdersByHour([])

        def write_fake(name: str, ordered: datetime) -> dict[str, Any]:
            fake.items.append(item := deserialised(order(name, ordered)))
            return item

        return SparseIndex(fake.ordered_in_hour, write_fake, "order_id",
                           lambda item: fake.items.append(deserialised(item)))
    table = request.getfixturevalue("moto_resources").tables["episodes"]
    dynamodb = boto3.Session().client("dynamodb")

    def write_real(name: str, ordered: datetime) -> dict[str, Any]:
        dynamodb.put_item(TableName=table, Item=order(name, ordered))
        return deserialised(order(name, ordered))

    return SparseIndex(DynamoOrdersByHour(table).ordered_in_hour, write_real, "order_id",
                       lambda item: dynamodb.put_item(TableName=table, Item=item))


def evaluation_event(name: str, evaluated: datetime) -> dict[str, Any]:
    """The EVENT item (as the stream gives it) of the event with id ``name``, evaluated at that instant."""
    body = upload_event("epi_1", "upload-1", ["RED"], evaluated_at=evaluated)
    return event_item({**body, "event_id": name})


def events_index(implementation: str, request: pytest.FixtureRequest) -> SparseIndex:
    if implementation == FAKE:
        fake = FakeEventsByHour([])

        def write_fake(name: str, evaluated: datetime) -> dict[str, Any]:
            fake.items.append(item := evaluation_event(name, evaluated))
            return item

        return SparseIndex(fake.evaluated_in_hour, write_fake, "event_id",
                           lambda item: fake.items.append(deserialised(item)))
    table = request.getfixturevalue("moto_resources").tables["evaluations"]
    dynamodb = boto3.Session().client("dynamodb")

    def write_real(name: str, evaluated: datetime) -> dict[str, Any]:
        dynamodb.put_item(TableName=table, Item=serialised(item := evaluation_event(name, evaluated)))
        return item

    return SparseIndex(DynamoEventsByHour(table).evaluated_in_hour, write_real, "event_id",
                       lambda item: dynamodb.put_item(TableName=table, Item=item))


INDEXES = {"uploads": uploads_index, "orders": orders_index, "events": events_index}


@pytest.fixture(params=[(implementation, outbox) for outbox in INDEXES for implementation in (FAKE, REAL)],
                ids=lambda param: "-".join(param))
def index(request) -> Index:
    implementation, outbox = request.param
    return INDEXES[outbox](implementation, request)


@pytest.fixture(params=[FAKE, REAL])
def orders(request) -> SparseIndex:
    return orders_index(request.param, request)


@pytest.fixture(params=[FAKE, REAL])
def events(request) -> SparseIndex:
    return events_index(request.param, request)


def by_name(index: Index, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item[index.name]: item for item in items}


def test_the_items_between_the_two_instants_are_read_both_included_as_written(index):
    # Given items written just before, at, between, at and just after the two instants
    written = {name: index.write(name, moment) for name, moment in [
        ("just-before", at(9, 59, 999)), ("at-since", at(10)), ("between", at(15)),
        ("at-until", at(20)), ("just-after", at(20, 0, 1)),
    ]}
    # When the hour is read from the first instant to the second
    read = index.read(HOUR, iso_utc(at(10)), iso_utc(at(20)))
    # Then the items at both instants and between are read, each as the table holds it
    assert by_name(index, read) == {name: written[name] for name in ("at-since", "between", "at-until")}


def test_only_the_hours_items_are_read_whatever_the_instants_span(index):
    # Given items at the end of the hour before, the start of the hour and the start of the hour after
    index.write("end-of-seven", at(59, 59, 999, hour=7))
    index.write("start-of-eight", at(0))
    index.write("start-of-nine", at(0, hour=9))
    # When eight o'clock is read with instants that span all three
    read = index.read(HOUR, iso_utc(at(0, hour=7)), iso_utc(at(59, 59, 999, hour=9)))
    # Then only eight o'clock's item is read
    assert list(by_name(index, read)) == ["start-of-eight"]


def test_an_episode_item_that_is_no_order_is_not_read(orders):
    # Given an episode item beside an order of the same hour
    orders.write_other(episode_item(new_episode("epi_1", PATIENT).episode))
    orders.write("ord_1", at(15))
    # When the hour is read, Then only the order is read
    assert list(by_name(orders, orders.read(HOUR, iso_utc(at(0)), iso_utc(at(59, 59, 999))))) == ["ord_1"]


def test_an_evaluation_item_that_is_no_event_is_not_read(events):
    # Given an episode's head and reading (written with its event) beside an event of the same hour
    for item in other_items("epi_1"):
        events.write_other(serialised(item))
    events.write("evt_1", at(15))
    # When the hour is read, Then only the event is read
    assert list(by_name(events, events.read(HOUR, iso_utc(at(0)), iso_utc(at(59, 59, 999))))) == ["evt_1"]
