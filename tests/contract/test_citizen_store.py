"""The citizen store's contract (functions.shared.citizens.CitizenStore and the profile port
``profile(patient_id)``), for the fake and for DynamoCitizenStore under moto; the profile sealer's contract
(functions.shared.profile_sealing.ProfileSealer), for the fake and for KMS; and what DynamoCitizenStore keeps
at rest: the CPR number, name and phone sealed with the citizen-profile key, each bound to its citizen."""

from __future__ import annotations

import boto3
import pytest

from functions.shared import aws
from functions.shared.citizen_records import SEALED_ATTRIBUTES, ProfilePart, citizen_key, profile_key
from functions.shared.citizen_store import DynamoCitizenStore
from functions.shared.dynamo import transact
from functions.shared.errors import ServiceUnavailable
from functions.shared.profile_sealing import KmsProfileSealer, ProfileSealer, UnreadableProfile
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeCitizenStore, RefusingClient
from tests.support.profiles import PROFILE_KEY, FakeProfileSealer, citizen_store, stored_profile

PATIENT, OTHER_PATIENT = "pat_000000000000000000000001", "pat_000000000000000000000002"
CPR, OTHER_CPR = "2512489996", "0101011235"  # test CPR numbers (DESIGN §5)
NAME, PHONE = "Karen Jensen", "+45 20 30 40 50"


# --- the citizen store --------------------------------------------------------------------------------


@pytest.fixture(params=[FAKE, REAL])
def citizens(request) -> FakeCitizenStore | DynamoCitizenStore:
    if request.param == FAKE:
        return FakeCitizenStore()
    return citizen_store(request.getfixturevalue("moto_resources"))


def test_a_citizen_is_found_by_pseudonym_and_their_profile_holds_the_cpr(citizens):
    assert citizens.find_patient("pseudonym-1") is None
    assert citizens.add_patient("pseudonym-1", PATIENT, CPR)
    assert citizens.find_patient("pseudonym-1") == PATIENT
    assert citizens.profile(PATIENT) == {"cpr": CPR}
    assert citizens.profile("pat_000000000000000000000999") is None


def test_a_pseudonym_with_a_patient_or_a_patient_id_in_use_is_refused_and_nothing_written(citizens):
    citizens.add_patient("pseudonym-1", PATIENT, CPR)
    assert not citizens.add_patient("pseudonym-1", OTHER_PATIENT, CPR)
    assert not citizens.add_patient("pseudonym-2", PATIENT, OTHER_CPR)
    assert citizens.find_patient("pseudonym-1") == PATIENT
    assert citizens.find_patient("pseudonym-2") is None
    assert citizens.profile(PATIENT) == {"cpr": CPR}
    assert citizens.profile(OTHER_PATIENT) is None


# --- the profile sealer -------------------------------------------------------------------------------


@pytest.fixture(params=[FAKE, REAL])
def sealer(request) -> ProfileSealer:
    if request.param == FAKE:
        return FakeProfileSealer()
    return KmsProfileSealer(request.getfixturevalue("moto_resources").key_ids[PROFILE_KEY])


def test_a_sealed_part_opens_for_its_citizen_and_part(sealer):
    sealed = sealer.seal(PATIENT, ProfilePart.CPR, CPR)
    assert CPR.encode() not in sealed
    assert sealer.unseal(PATIENT, ProfilePart.CPR, sealed) == CPR


@pytest.mark.parametrize("patient_id, part",
                         [(OTHER_PATIENT, ProfilePart.CPR), (PATIENT, ProfilePart.CONTACT)])
def test_a_sealed_part_does_not_open_for_another_citizen_or_part(sealer, patient_id, part):
    # Given a CPR number sealed for one citizen's profile
    sealed = sealer.seal(PATIENT, ProfilePart.CPR, CPR)
    # When it is opened as another citizen's, or as the contact part, Then it does not open (a 503)
    with pytest.raises(UnreadableProfile) as refused:
        sealer.unseal(patient_id, part, sealed)
    assert refused.value.status == 503
    assert CPR not in str(refused.value)


# --- DynamoCitizenStore: the profile at rest ----------------------------------------------------------


@pytest.fixture
def store(moto_resources) -> DynamoCitizenStore:
    return citizen_store(moto_resources)


def _profiled(store: DynamoCitizenStore, patient_id: str = PATIENT, cpr: str = CPR, name: str = NAME,
              phone: str = PHONE) -> None:
    """A citizen registered and given contact details, as a referral does it."""
    assert store.add_patient(f"pseudonym-{patient_id}", patient_id, cpr)
    assert transact([store.contact_update(patient_id, name, phone)])


def test_the_profile_opens_to_the_cpr_name_and_phone_a_referral_gave(store):
    # Given a citizen registered, then given contact details twice (the latest referral's count)
    _profiled(store, name="Karen J.", phone="+45 11 11 11 11")
    assert transact([store.contact_update(PATIENT, NAME, PHONE)])
    # When the profile is read, Then it holds the CPR number and the latest name and phone
    assert store.profile(PATIENT) == {"cpr": CPR, "name": NAME, "phone": PHONE}


def test_contact_details_are_stored_only_on_a_registered_citizen(store):
    # Given no citizen, When a referral's contact update runs, Then its transaction is refused
    assert not transact([store.contact_update(PATIENT, NAME, PHONE)])
    assert store.profile(PATIENT) is None


def test_the_stored_profile_holds_no_cpr_name_or_phone_in_any_form(store, moto_resources):
    # Given a citizen's profile
    _profiled(store)
    # When the item is read as it is at rest (and so in every backup and point-in-time recovery)
    item = stored_profile(moto_resources, PATIENT)
    assert item is not None
    # Then it holds the two sealed parts and ids only, and no trace of the CPR number, name or phone
    assert set(item) == {"pk", "sk", "patient_id", *SEALED_ATTRIBUTES.values()}
    at_rest = repr(item).encode() + b"".join(item[name]["B"] for name in SEALED_ATTRIBUTES.values())
    for secret in (CPR, CPR[:6], NAME, "Jensen", PHONE, PHONE.replace(" ", "")):
        assert secret.encode() not in at_rest, secret


def test_the_identity_item_holds_the_patient_id_only(store, moto_resources):
    store.add_patient("pseudonym-1", PATIENT, CPR)
    identity = boto3.Session().client("dynamodb").get_item(
        TableName=moto_resources.tables["citizens"], Key=citizen_key("pseudonym-1"))["Item"]
    assert identity == {**citizen_key("pseudonym-1"), "patient_id": {"S": PATIENT}}


@pytest.mark.parametrize("part", list(ProfilePart))
def test_a_sealed_part_copied_to_another_citizens_profile_fails_closed(store, moto_resources, part):
    # Given two citizens' profiles
    _profiled(store)
    _profiled(store, OTHER_PATIENT, OTHER_CPR, "Jens Hansen", "+45 60 70 80 90")
    # When one citizen's sealed part is copied onto the other's profile (by someone who may write the table)
    attribute = SEALED_ATTRIBUTES[part]
    copied = stored_profile(moto_resources, PATIENT)[attribute]
    boto3.Session().client("dynamodb").update_item(
        TableName=moto_resources.tables["citizens"], Key=profile_key(OTHER_PATIENT),
        UpdateExpression="SET #part = :copied", ExpressionAttributeNames={"#part": attribute},
        ExpressionAttributeValues={":copied": copied})
    # Then the other's profile does not open: a 503, no data (neither citizen's)
    with pytest.raises(UnreadableProfile) as refused:
        store.profile(OTHER_PATIENT)
    assert refused.value.status == 503
    # And the first citizen's profile still opens
    assert store.profile(PATIENT) == {"cpr": CPR, "name": NAME, "phone": PHONE}


@pytest.mark.parametrize("code", ["ThrottlingException", "DisabledException", "AccessDeniedException"])
def test_kms_refusing_is_a_503_and_nothing_read_or_written(store, moto_resources, monkeypatch, code):
    # Given a citizen's profile, and then KMS refusing (throttled, the key disabled, no grant)
    _profiled(store)
    dynamodb = aws.client("dynamodb")
    monkeypatch.setattr(aws, "client", lambda service: RefusingClient(code) if service == "kms" else dynamodb)
    # When the profile is read, a citizen registered or contact details stored, Then each is a 503
    for attempt in (lambda: store.profile(PATIENT),
                    lambda: store.add_patient("pseudonym-2", OTHER_PATIENT, CPR),
                    lambda: store.contact_update(PATIENT, "Other", "+45 99 99 99 99")):
        with pytest.raises(ServiceUnavailable) as refused:
            attempt()
        assert not isinstance(refused.value, UnreadableProfile)
    # And nothing was written
    assert store.find_patient("pseudonym-2") is None
    assert stored_profile(moto_resources, OTHER_PATIENT) is None
