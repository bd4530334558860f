"""Each function runs with exactly its own environment from the resource spec, as in Lambda: a grant
the spec forgot for one function fails in this tier, although another function has it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import ValidationError

from infrastructure.resource_spec import SPEC
from tests.support.devices_api import SAMPLE_BODY, principal_context, refer_citizen
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.runtime import invoke


def registration() -> dict:
    event = load_event("devices/register_device.json")
    event["body"] = json.dumps(SAMPLE_BODY)
    event["requestContext"]["authorizer"] = principal_context()
    return event


def test_a_function_the_spec_forgot_to_grant_a_table_fails_although_another_function_has_it(resources):
    # Given the devices function as the spec has it, and a variant without the episodes table, which
    # the referral-intake function is granted (so the union of all environments would hold its name)
    devices = SPEC.function("devices")
    forgetful = dataclasses.replace(
        devices,
        tables=tuple(access for access in devices.tables if access.table != "episodes"),
    )
    # When the variant registers a device for a referred citizen, Then it fails on the missing setting and
    # stores nothing
    refer_citizen()
    with pytest.raises(ValidationError, match="episodes_table_name"):
        invoke(forgetful, registration())
    assert table_items(resources, "devices") == []
    # And the spec's function registers it
    assert invoke(devices, registration())["statusCode"] == 201
