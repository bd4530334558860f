"""Repository errors: throttling is a 503, a cancelled transaction a lost race, the rest propagates."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from functions.devices.repository import DynamoDeviceRegistry
from functions.shared import aws
from functions.shared.citizen_store import DynamoCitizenStore
from functions.shared.errors import ServiceUnavailable
from tests.support.fakes import RefusingClient
from tests.support.profiles import FakeProfileSealer


@pytest.fixture
def refusing(monkeypatch):
    def install(code: str) -> None:
        monkeypatch.setattr(aws, "client", lambda _service: RefusingClient(code))

    return install


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_read_is_service_unavailable(refusing, code):
    refusing(code)
    with pytest.raises(ServiceUnavailable):
        DynamoDeviceRegistry("citizens", "devices", "episodes").find_patient("ps1")


def test_a_cancelled_transaction_is_reported_as_not_written(refusing):
    refusing("TransactionCanceledException")
    citizens = DynamoCitizenStore("citizens", FakeProfileSealer())
    assert citizens.add_patient("ps1", "pat_1", "2512489996") is False


def test_any_other_error_propagates_unchanged(refusing):
    refusing("ResourceNotFoundException")
    with pytest.raises(ClientError):
        DynamoDeviceRegistry("citizens", "devices", "episodes").find_patient("ps1")
