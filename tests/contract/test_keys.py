"""The contracts of the KMS ports, for the fakes and for the KMS adapters under moto: the citizen
pseudonyms (functions.shared.citizens.CitizenPseudonyms), the credential signer
(functions.devices.logic.CredentialSigner) and the device credential key the authorizer verifies
with (functions.authorizer.logic.DeviceCredentialKey)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from functions.authorizer.keys import KmsDeviceCredentialKey
from functions.authorizer.logic import DeviceCredentialKey
from functions.devices.keys import KmsCredentialSigner
from functions.devices.logic import CredentialSigner
from functions.shared.citizen_store import KmsCitizenPseudonyms
from functions.shared.citizens import CitizenPseudonyms
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeDeviceKey, FakePseudonyms, FakeSigner

CPR, OTHER_CPR = "2512489996", "0101011235"
MESSAGE = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXZfMSJ9"  # a credential's signing input


@pytest.fixture(params=[FAKE, REAL])
def pseudonyms(request) -> CitizenPseudonyms:
    if request.param == FAKE:
        return FakePseudonyms()
    return KmsCitizenPseudonyms(request.getfixturevalue("moto_keys").key_ids["citizen-pseudonym"])


def test_a_cpr_number_has_one_pseudonym_and_another_number_another(pseudonyms):
    assert pseudonyms.pseudonym(CPR) == pseudonyms.pseudonym(CPR)
    assert pseudonyms.pseudonym(CPR) != pseudonyms.pseudonym(OTHER_CPR)


def test_a_pseudonym_is_hex_and_does_not_show_the_number(pseudonyms):
    pseudonym = pseudonyms.pseudonym(CPR)
    assert bytes.fromhex(pseudonym)
    assert CPR not in pseudonym


@dataclass
class CredentialKeys:
    signer: CredentialSigner
    public: DeviceCredentialKey


@pytest.fixture(params=[FAKE, REAL])
def keys(request) -> CredentialKeys:
    if request.param == FAKE:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return CredentialKeys(FakeSigner(private), FakeDeviceKey(private.public_key()))
    key_id = request.getfixturevalue("moto_keys").key_ids["device-credentials"]
    return CredentialKeys(KmsCredentialSigner(key_id), KmsDeviceCredentialKey(key_id))


def verify(keys: CredentialKeys, signature: bytes, message: bytes) -> None:
    """RS256's verification, as the authorizer's PyJWT does it; InvalidSignature if it fails."""
    keys.public.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_a_signature_is_verified_with_the_device_credential_key(keys):
    verify(keys, keys.signer.sign(MESSAGE), MESSAGE)


def test_a_signature_does_not_verify_another_message(keys):
    with pytest.raises(InvalidSignature):
        verify(keys, keys.signer.sign(MESSAGE), MESSAGE + b"x")
