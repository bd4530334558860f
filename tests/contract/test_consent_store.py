"""The consent store's contract (functions.cross_sector_sharing.consents.ConsentStore), for the fake and for
DynamoConsentStore under moto: every consent kept, the one recorded last holding, whichever order the writes
of a race arrive in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from functions.cross_sector_sharing.consent_store import DynamoConsentStore
from functions.cross_sector_sharing.consents import ConsentStore
from functions.shared import aws
from functions.shared.citizen_records import (
    CONSENT_HISTORY_PREFIX,
    ConsentSource,
    ConsentStatus,
    SharingConsent,
    consent_from_item,
)
from tests.support.consents import FakeConsentStore
from tests.support.contract import FAKE, REAL
from tests.support.organisations import MONITORING, TREATING

PATIENT = "pat_000000000000000000000001"
OTHER_PATIENT = "pat_000000000000000000000002"


def consent(consent_id: str, status: ConsentStatus, recorded_at: str, organisation: str = TREATING,
            source: ConsentSource = ConsentSource.REQUEST) -> SharingConsent:
    return SharingConsent(consent_id, status, recorded_at, organisation, source)


GRANTED_AT_9 = consent("con_1", ConsentStatus.GRANTED, "2026-11-25T09:00:00.000Z",
                       source=ConsentSource.REFERRAL)
WITHDRAWN_AT_10 = consent("con_2", ConsentStatus.WITHDRAWN, "2026-11-25T10:00:00.000Z", MONITORING)
GRANTED_AT_11 = consent("con_3", ConsentStatus.GRANTED, "2026-11-25T11:00:00.000Z")


@dataclass
class Stores:
    """The consent store, and every consent it keeps for a patient (the history, oldest first)."""

    consents: ConsentStore
    history: Callable[[str], list[SharingConsent]]


@pytest.fixture(params=[FAKE, REAL])
def stores(request) -> Stores:
    if request.param == FAKE:
        fake = FakeConsentStore()
        return Stores(fake, lambda patient_id: sorted(fake.history.get(patient_id, []),
                                                      key=lambda c: c.recorded_at))
    table = request.getfixturevalue("moto_resources").tables["citizens"]

    def history(patient_id: str) -> list[SharingConsent]:
        items = aws.client("dynamodb").query(
            TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :history)",
            ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}"},
                                       ":history": {"S": CONSENT_HISTORY_PREFIX}})["Items"]
        return [consent_from_item(item) for item in items]

    return Stores(DynamoConsentStore(table), history)


def test_a_citizen_with_no_consent_recorded_has_none(stores):
    assert stores.consents.current(PATIENT) is None
    assert stores.history(PATIENT) == []


def test_each_consent_recorded_in_turn_holds_until_the_next_and_all_are_kept(stores):
    # When a consent is granted, withdrawn, and granted again
    for recorded in (GRANTED_AT_9, WITHDRAWN_AT_10, GRANTED_AT_11):
        assert stores.consents.record(PATIENT, recorded)
        # Then each holds once recorded
        assert stores.consents.current(PATIENT) == recorded
    # And every one is kept, oldest first, for this citizen only
    assert stores.history(PATIENT) == [GRANTED_AT_9, WITHDRAWN_AT_10, GRANTED_AT_11]
    assert stores.consents.current(OTHER_PATIENT) is None


def test_an_earlier_consent_written_after_a_later_one_is_refused_and_writes_nothing(stores):
    # Given a race's later consent written first
    assert stores.consents.record(PATIENT, WITHDRAWN_AT_10)
    # When the race's earlier consent is written after it
    refused = stores.consents.record(PATIENT, GRANTED_AT_9)
    # Then it is refused: the later one holds, and the earlier one is not kept
    assert refused is False
    assert stores.consents.current(PATIENT) == WITHDRAWN_AT_10
    assert stores.history(PATIENT) == [WITHDRAWN_AT_10]


def test_whatever_order_a_race_s_writes_arrive_in_the_latest_consent_holds(stores):
    # When three consents' writes arrive out of the order they were recorded in
    written = [stores.consents.record(PATIENT, c) for c in (WITHDRAWN_AT_10, GRANTED_AT_9, GRANTED_AT_11)]
    # Then only the one arriving after a later one is refused, and the latest holds
    assert written == [True, False, True]
    assert stores.consents.current(PATIENT) == GRANTED_AT_11
    assert stores.history(PATIENT) == [WITHDRAWN_AT_10, GRANTED_AT_11]


def test_the_same_consent_written_again_is_refused_and_kept_once(stores):
    # Given a consent recorded
    assert stores.consents.record(PATIENT, GRANTED_AT_9)
    # When the same consent is written again (a retried write)
    # Then it is refused, and kept once
    assert stores.consents.record(PATIENT, GRANTED_AT_9) is False
    assert stores.history(PATIENT) == [GRANTED_AT_9]
