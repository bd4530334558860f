"""The orders' relay (outbox.py): each stored order becomes one message on the logistics-orders queue,
sent ten per request, and the relay counts what it did and did not relay; with in-memory fakes."""

from __future__ import annotations

from functions.referral_intake.outbox import OrderRelay
from tests.support.fakes import FakePublisher, RecordedMetrics
from tests.support.organisations import CENTRE


def order_item(n: int) -> dict:
    return {"order_id": f"ord_{n}", "message": "{}", "logistics_centre": CENTRE, "kind": "deliver"}


def test_the_relay_sends_ten_per_request_and_reports_what_it_did_not_send():
    # Given twelve order items and an item that is no order
    publisher, metrics = FakePublisher(), RecordedMetrics()
    inserted = [(str(n), order_item(n)) for n in range(12)] + [("x", {"pk": "META"})]
    # When relayed
    not_relayed = OrderRelay(publisher, metrics).relay(inserted)
    # Then the orders went ten per request, and the relay counted what it did and did not relay
    assert not_relayed == {"x"}
    assert [len(batch) for batch in publisher.batches] == [10, 2]
    assert metrics.values == {"OrdersRelayed": 12, "OrdersNotRelayed": 1}


def test_a_failed_send_stops_the_run_and_reports_the_rest():
    # Given a queue refusing the fourth order of the first request
    publisher, metrics = FakePublisher(refuse={3}), RecordedMetrics()
    # When twelve orders are relayed
    not_relayed = OrderRelay(publisher, metrics).relay([(str(n), order_item(n)) for n in range(12)])
    # Then that one and the twelve's unsent rest are reported, the second request never made
    assert not_relayed == {"3", "10", "11"} and len(publisher.batches) == 1
    assert metrics.values == {"OrdersRelayed": 9, "OrdersNotRelayed": 3}
