"""docs/scaling.md is held to what defines its numbers: every table and index of the resource spec has its
row in the partition-key table (so a new index cannot skip the hot-key review), the edge's limits are prod's
config, the prices are the requests benchmark's, and the schedule is the COPD template's."""

from __future__ import annotations

import re

import pytest

from benchmarks import requests_per_measurement as bench
from functions.shared.disease_areas import disease_area
from functions.shared.hour_shards import HOUR_SHARDS
from infrastructure.config import load_stage_config
from infrastructure.resource_spec import SPEC
from tests.support.docs import ROOT, table_after

PAGE = "docs/scaling.md"


def _dollars(cell: str) -> list[float]:
    return [float(amount.replace(",", "")) for amount in re.findall(r"\$([0-9][0-9,]*\.?[0-9]*)", cell)]


def test_every_table_and_index_of_the_spec_has_one_row_naming_its_partition_key():
    # Given the page's table of partition keys and hot keys
    rows = {row[0]: row[1] for row in table_after(PAGE, "### DynamoDB: partition keys and hot keys")}
    # Then each table and each of its indexes has exactly its row, which names its partition key first
    expected = {f"`{table.id}`": table.partition_key.name for table in SPEC.tables}
    expected |= {f"`{table.id}` index `{index.name}`": index.partition_key.name
                 for table in SPEC.tables for index in table.indexes}
    assert set(rows) == set(expected)
    for name, partition_key in expected.items():
        assert rows[name].startswith(f"`{partition_key}`"), name


def test_the_edge_limits_are_prods_config():
    # Given prod's config and the page's table of the edge
    prod = load_stage_config("prod")
    rows = {row[0]: row[1] for row in table_after(PAGE, "### The edge")}
    # Then each limit the page states is the configured one
    per_credential = prod.waf_requests_per_credential
    assert per_credential.window_seconds == 60
    assert rows["web ACL, per credential"].startswith(f"{per_credential.requests:,} requests a minute")
    assert rows["web ACL, per address"].startswith(f"{prod.waf_requests_per_5_minutes:,} in 5 minutes")
    throttle = prod.api_throttling
    assert rows["API Gateway stage throttle"].startswith(
        f"{throttle.rate_limit:,.0f} a second, burst {throttle.burst_limit:,}")


def test_the_prices_are_the_requests_benchmarks():
    # Given the page's table of the prices used
    rows = {row[0]: _dollars(row[1]) for row in table_after(PAGE, "| item | price used |")}
    # Then each is the benchmark's constant, per million requests or units (KMS per 10,000)
    expected = [
        ("API Gateway REST request", [bench.PRICE_API_GATEWAY_REST_REQUEST * 1e6]),
        ("Lambda request / arm64 duration", [bench.PRICE_LAMBDA_REQUEST * 1e6,
                                             bench.PRICE_LAMBDA_GB_SECOND_ARM]),
        ("DynamoDB on-demand write / read", [bench.PRICE_DYNAMODB_WRITE_UNIT * 1e6,
                                             bench.PRICE_DYNAMODB_READ_UNIT * 1e6]),
        ("SQS request (per 64 KB) / SNS publish (per 64 KB)", [bench.PRICE_SQS_REQUEST * 1e6,
                                                               bench.PRICE_SNS_PUBLISH * 1e6]),
        ("KMS request", [bench.PRICE_KMS_REQUEST * 1e4]),
    ]
    for item, prices in expected:
        assert rows[item] == pytest.approx(prices), item


def test_the_assumed_invocation_and_the_load_are_the_codes():
    # Given the page's prices and its table of Denmark's load
    prices = {row[0]: row[1] for row in table_after(PAGE, "| item | price used |")}
    load = {row[0]: row[1] for row in table_after(PAGE, "### The load")}
    # Then the assumed Lambda duration is the benchmark's, and the sessions a week are the COPD template's
    assert prices["Lambda duration per invocation"].startswith(f"{bench.ASSUMED_INVOCATION_MS} ms")
    assert load["sessions per week"] == str(disease_area("copd").schedule.per_week)


def test_the_hot_key_ceiling_is_the_shards_of_the_indexes_by_hour():
    # Given the page's section on the indexes by hour
    text = " ".join((ROOT / PAGE).read_text(encoding="utf-8").split())
    start, end = text.index("#### Hot keys: the indexes by hour"), text.index("#### The evaluator at a storm")
    section = text[start:end]
    # Then it names the shard count the code writes, the ceiling it gives at 1,000 writes per partition, and
    # what a recovery reads
    assert f"`HOUR_SHARDS` = {HOUR_SHARDS}" in section
    assert f"{HOUR_SHARDS} × 1,000 = {HOUR_SHARDS * 1000:,} uploads a second" in section
    assert f"{HOUR_SHARDS} Queries per hour of its window" in section


def test_the_consumer_concurrency_table_is_the_stages_config():
    # Given the page's table of how far the consumers scale, and both stages' configs
    rows = {row[0].split(":", 1)[0].strip("`"): row[1:3]
            for row in table_after(PAGE, "**How far the consumers scale is stage config**")}
    stages = [load_stage_config(stage).consumer_concurrency for stage in ("dev", "prod")]
    # Then each setting's dev and prod columns are the configured values ("none" for no reservation)
    assert set(rows) == set(type(stages[0]).model_fields)
    for setting, documented in rows.items():
        configured = [getattr(concurrency, setting) for concurrency in stages]
        assert documented == ["none" if value is None else str(value) for value in configured], setting
