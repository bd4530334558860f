"""Stage configuration: config/<stage>.json, validated; the app picks the stage from context."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from infrastructure.config import OrganisationLimit, available_stages, load_stage_config
from infrastructure.edge import Throttle
from tests.support.cdk_templates import tagged


def _write(directory, stage: str, **changes):
    settings = json.loads(load_stage_config("prod").model_dump_json(exclude={"stage"}))
    settings.update(changes)
    (directory / f"{stage}.json").write_text(json.dumps(settings))


def test_dev_and_prod_are_configured():
    # Given the repository's config directory, Then dev and prod load and differ where they must
    assert {"dev", "prod"} <= set(available_stages())
    dev, prod = load_stage_config("dev"), load_stage_config("prod")
    assert (dev.removal_policy, prod.removal_policy) == ("DESTROY", "RETAIN")
    assert prod.backup_plan and not dev.backup_plan
    assert prod.log_retention_days >= dev.log_retention_days


def test_platform_settings_carry_the_identity_provider_and_device_credentials():
    # Given prod's config, When the platform settings for function environments are made
    config = load_stage_config("prod")
    platform = config.platform_settings()
    # Then they carry the stage, issuer, audience, JWKS and the device credentials' issuer and lifetime
    assert platform.stage == "prod"
    assert (platform.token_issuer, platform.token_audience, platform.jwks_uri) == (
        config.identity_provider.issuer,
        config.identity_provider.audience,
        config.identity_provider.jwks_uri,
    )
    assert platform.device_credential_issuer == config.device_credentials.issuer
    assert platform.device_credential_ttl_days == config.device_credentials.ttl_days
    # And the nationally agreed types the sharing functions may share
    assert platform.shared_measurement_types == config.sharing.measurement_types


def test_prod_cannot_be_configured_to_delete_its_data(tmp_path):
    # Given a prod config that would destroy tables with the stack, Then it is refused
    _write(tmp_path, "prod", removal_policy="DESTROY")
    with pytest.raises(ValidationError, match="prod keeps its data"):
        load_stage_config("prod", tmp_path)


@pytest.mark.parametrize(
    "changes",
    [
        {"log_retention_days": 42},
        {"api_throttling": {"rate_limit": 0, "burst_limit": 10}},
        {
            "identity_provider": {
                "issuer": "http://insecure.example",
                "audience": "a",
                "jwks_uri": "https://x/j",
            }
        },
        {"unknown_setting": True},
        {"account": "12345"},
    ],
)
def test_invalid_settings_are_refused(tmp_path, changes):
    # Given a config with one invalid setting, When it is loaded, Then validation names the problem
    _write(tmp_path, "staging", **changes)
    with pytest.raises(ValidationError):
        load_stage_config("staging", tmp_path)


def _limits(**changes) -> dict:
    limits = load_stage_config("prod").organisation_limits.model_dump(exclude_none=True)
    return {**limits, **changes}


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        (_limits(organisations=[{"organisation": "380431000016007"}, {"organisation": "380431000016007"}]),
         "organisation 380431000016007 is listed more than once"),
        (_limits(organisations=[{"organisation": "3804"}]), "organisations.0.organisation"),
        (_limits(organisations=[{"organisation": "380431000016007", "rate": 500}]),
         "organisation-380431000016007's rate and burst may not exceed api_throttling's"),
        (_limits(citizens={"rate": 10, "burst": 401}), "citizens's rate and burst may not exceed"),
        (_limits(devices={"rate": 200, "burst": 300}), "devices' rate must stay below api_throttling's"),
        (_limits(devices={"rate": 0, "burst": 300}), "devices.rate"),
        ({key: value for key, value in _limits().items() if key != "devices"}, "organisation_limits.devices"),
    ],
)
def test_organisation_limits_that_cannot_work_are_refused_naming_the_setting(tmp_path, limits, named):
    # Given prod's config (stage throttle 200/s, burst 400) with organisation limits that cannot work
    _write(tmp_path, "staging", organisation_limits=limits)
    # When it is loaded, Then validation refuses it and names the setting
    with pytest.raises(ValidationError, match=re.escape(named)):
        load_stage_config("staging", tmp_path)


def test_an_organisation_without_limits_of_its_own_has_the_default_and_one_may_override_either():
    # Given dev's organisation limits
    limits = load_stage_config("dev").organisation_limits
    municipality, hospital = limits.organisations
    # Then the one listed alone has the default bucket, the one naming a rate and burst its own, and every
    # bucket, the shared ones too, is known by the name the authorizer gives it
    buckets = limits.buckets()
    assert buckets[f"organisation-{municipality.organisation}"] == limits.default.throttle()
    assert buckets[f"organisation-{hospital.organisation}"] == Throttle(rate=8, burst=16)
    assert {"devices", "citizens", "other-organisations"} < set(buckets)
    # And an organisation naming only its rate keeps the default burst
    only_rate = OrganisationLimit(organisation="664141000016003", rate=1)
    assert limits.throttle_of(only_rate) == Throttle(rate=1, burst=limits.default.burst)
    # And the authorizer is told which organisations have a bucket of their own
    assert load_stage_config("dev").platform_settings().usage_plan_organisations == (
        municipality.organisation, hospital.organisation)


def test_an_unknown_stage_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"choose one of \['dev', 'prod'"):
        load_stage_config("qa")


def test_the_stage_comes_from_context(prod):
    # Given the app built with -c stage=prod, Then it holds the prod stack in prod's region
    assert prod.stack.stack_name == "Telehub-prod"
    assert prod.stack.region == prod.config.region
    _, devices = tagged(prod.template, "AWS::DynamoDB::Table", "table")["devices"]
    assert {"Key": "stage", "Value": "prod"} in devices["Properties"]["Tags"]
