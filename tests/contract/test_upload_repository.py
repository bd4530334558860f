"""The upload repository's contract: one upload per device and upload id, written once."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from functions.device_uploads.logic import UploadRepository
from functions.device_uploads.models import StoredUpload
from functions.device_uploads.repository import DynamoDbUploadRepository
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeUploadRepository

UPLOAD = StoredUpload(
    device_id="dev_5f0c2a9e41b7d3c8a6e1f042", upload_id="upload-0001",
    patient_id="pat_9a3e7c1d5b2f8e4a6c0d1b37",
    received_at="2024-05-01T08:05:00.000Z", body_hash="0" * 64, accepted=1,
    measurements=[{"type": "weight", "value": Decimal("69.9"), "unit": "kg",
                   "measured_at": "2024-05-01T08:00:00.000Z", "method": "automatic", "late": False}],
    answers=[{"question_id": "coloured_sputum", "answer": "no", "answered_at": "2024-05-01T08:01:00.000Z",
              "late": False}],
)


@pytest.fixture(params=[FAKE, REAL])
def uploads(request) -> UploadRepository:
    if request.param == FAKE:
        return FakeUploadRepository()
    return DynamoDbUploadRepository(request.getfixturevalue("moto_resources").tables["uploads"])


def test_a_new_upload_is_stored_and_read_back_as_stored(uploads):
    assert uploads.put_new(UPLOAD) is None
    assert uploads.get(UPLOAD.device_id, UPLOAD.upload_id) == UPLOAD


def test_an_upload_with_a_stored_key_is_refused_with_the_stored_one_which_stays(uploads):
    # Given a stored upload
    uploads.put_new(UPLOAD)
    # When another body comes with the same device and upload id
    other = replace(UPLOAD, body_hash="1" * 64, received_at="2024-05-01T09:00:00.000Z")
    # Then the stored one is returned and nothing is overwritten
    assert uploads.put_new(other) == UPLOAD
    assert uploads.get(UPLOAD.device_id, UPLOAD.upload_id) == UPLOAD


def test_the_key_is_the_device_and_the_upload_id_together(uploads):
    uploads.put_new(UPLOAD)
    other_device = replace(UPLOAD, device_id="dev_000000000000000000000000")
    assert uploads.put_new(other_device) is None
    assert uploads.get(other_device.device_id, UPLOAD.upload_id) == other_device
    assert uploads.get(UPLOAD.device_id, "upload-9999") is None
