"""docs/messages.md's `telehub.logistics.order` is the message the referral logic makes: the documented
example and body table name exactly the fields of an order, at the version the code sends, and none of them
is the citizen's CPR number, name or phone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.referral_intake.logic import order_for
from functions.referral_intake.models import COLLECT, DELIVER, ORDER_MESSAGE_TYPE, ORDER_SCHEMA_VERSION
from tests.support.docs import json_block_after, table_after
from tests.support.episodes import new_episode

HEADING = "## `telehub.logistics.order`"
ORDERED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
KIND_FIELDS = {DELIVER: "package", COLLECT: "device_ids"}


def documented_fields() -> set[str]:
    """The body table's fields (a row may name two: `episode_id`, `patient_id`)."""
    return {name.strip(" `") for field, *_ in table_after("docs/messages.md", HEADING + " — the logistics")
            for name in field.split(",")}


@pytest.mark.parametrize("kind", [DELIVER, COLLECT])
def test_the_body_table_names_exactly_the_fields_of_an_order(kind):
    # Given an order of each kind as the referral logic makes it
    episode = new_episode("epi_" + "1" * 24, "pat_" + "2" * 24).episode
    body = order_for(kind, episode, ORDERED, package=[], device_ids=[]).body
    # Then the table documents its fields, the other kind's own field besides, and nothing of the citizen
    assert documented_fields() == set(body) | {KIND_FIELDS[COLLECT if kind == DELIVER else DELIVER]}
    assert not {"citizen", "cpr", "name", "phone"} & documented_fields()


def test_the_example_is_a_delivery_order_at_the_version_sent():
    example = json_block_after("docs/messages.md", HEADING)
    episode = new_episode(example["episode_id"], example["patient_id"]).episode
    body = order_for(DELIVER, episode, ORDERED, package=example["package"]).body
    assert set(example) == set(body)
    assert (example["message_type"], example["schema_version"]) == (ORDER_MESSAGE_TYPE, ORDER_SCHEMA_VERSION)
    assert example["kind"] == DELIVER
