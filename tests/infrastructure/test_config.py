"""Stage configuration: config/<stage>.json, validated; the app picks the stage from context."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from infrastructure.config import available_stages, load_stage_config
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


def test_an_unknown_stage_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"choose one of \['dev', 'prod'"):
        load_stage_config("qa")


def test_the_stage_comes_from_context(prod):
    # Given the app built with -c stage=prod, Then it holds the prod stack in prod's region
    assert prod.stack.stack_name == "Telehub-prod"
    assert prod.stack.region == prod.config.region
    _, devices = tagged(prod.template, "AWS::DynamoDB::Table", "table")["devices"]
    assert {"Key": "stage", "Value": "prod"} in devices["Properties"]["Tags"]
