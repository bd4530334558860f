"""The citizen-profile key: a symmetric KMS key of its own that rotates, whose key policy is the stack's
others', and which only the functions that seal or open citizens' profiles may use, each for what it does
(referral intake seals and opens, the sharing publisher only opens), and only for a profile's encryption
context."""

from __future__ import annotations

from typing import Any

from functions.shared.citizen_records import PROFILE_CONTEXT
from infrastructure.resource_spec import SPEC
from tests.support.cdk_templates import as_list, logical_id_of, policy_statements, tagged

PROFILE_KEY = "citizen-profile"
SEALERS = {"referral-intake"}
OPENERS = {"referral-intake", "sharing-publisher"}


def _key_statements(template: dict[str, Any], function_id: str, key_logical_id: str) -> list[dict[str, Any]]:
    """The statements of a function's role that name the key."""
    _, function = tagged(template, "AWS::Lambda::Function", "function")[function_id]
    role = logical_id_of(function["Properties"]["Role"])
    return [statement for statement in policy_statements(template, role)
            if key_logical_id in {logical_id_of(resource) for resource in as_list(statement["Resource"])}]


def test_the_profile_key_is_symmetric_rotates_and_has_the_stacks_key_policy(stage):
    # Given a stage's keys
    keys = tagged(stage.template, "AWS::KMS::Key", "key")
    _, profile_key = keys[PROFILE_KEY]
    _, pseudonym_key = keys["citizen-pseudonym"]
    properties = profile_key["Properties"]
    # Then the profile key encrypts and decrypts, and KMS rotates it yearly
    assert properties.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert properties.get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    assert properties["EnableKeyRotation"] is True
    # And its key policy administers it as every other key (the account, no use) and lets IAM grant only
    # encryption and decryption under a profile's context (tests/infrastructure/test_keys.py)
    statements = properties["KeyPolicy"]["Statement"]
    administration = [s for s in statements if s["Sid"] == "TheAccountAdministersTheKey"]
    assert administration == [s for s in pseudonym_key["Properties"]["KeyPolicy"]["Statement"]
                              if s["Sid"] == "TheAccountAdministersTheKey"]
    [use] = [s for s in statements if s["Sid"] != "TheAccountAdministersTheKey"]
    assert use["Condition"] == {"StringEquals": {
        f"kms:EncryptionContext:{name}": value for name, value in PROFILE_CONTEXT.items()}}


def test_only_referral_intake_seals_profiles_and_only_it_and_the_sharing_publisher_open_them(dev):
    # Given every function's statements on the profile key
    key_logical_id, _ = tagged(dev.template, "AWS::KMS::Key", "key")[PROFILE_KEY]
    actions = {function.id: {action
                             for statement in _key_statements(dev.template, function.id, key_logical_id)
                             for action in as_list(statement["Action"])}
               for function in SPEC.functions}
    # Then referral intake may encrypt and decrypt, the sharing publisher decrypt only, and no other function
    # may use the key at all
    assert {function_id for function_id, granted in actions.items() if "kms:Encrypt" in granted} == SEALERS
    assert {function_id for function_id, granted in actions.items() if "kms:Decrypt" in granted} == OPENERS
    assert {function_id for function_id, granted in actions.items() if granted} == OPENERS | SEALERS
    assert all(granted <= {"kms:Encrypt", "kms:Decrypt"} for granted in actions.values())


def test_each_use_of_the_profile_key_is_conditioned_on_a_profiles_encryption_context(dev):
    # Given the statements that grant the profile key
    key_logical_id, _ = tagged(dev.template, "AWS::KMS::Key", "key")[PROFILE_KEY]
    statements = [statement for function_id in OPENERS | SEALERS
                  for statement in _key_statements(dev.template, function_id, key_logical_id)]
    assert statements
    # Then each holds only for a request whose encryption context names the citizens table's PROFILE item
    expected = {f"kms:EncryptionContext:{name}": value for name, value in PROFILE_CONTEXT.items()}
    assert expected == {"kms:EncryptionContext:table": "citizens", "kms:EncryptionContext:item": "PROFILE"}
    for statement in statements:
        assert statement["Condition"] == {"StringEquals": expected}, statement


def test_the_functions_that_use_the_profile_key_and_no_others_are_told_its_id(dev):
    # Given every function's environment
    key_logical_id, _ = tagged(dev.template, "AWS::KMS::Key", "key")[PROFILE_KEY]
    told = {function_id for function_id, (_, function) in
            tagged(dev.template, "AWS::Lambda::Function", "function").items()
            if "CITIZEN_PROFILE_KEY_ID" in function["Properties"]["Environment"]["Variables"]}
    # Then exactly those that seal or open profiles get CITIZEN_PROFILE_KEY_ID, naming the key
    assert told == OPENERS | SEALERS
    _, intake = tagged(dev.template, "AWS::Lambda::Function", "function")["referral-intake"]
    assert logical_id_of(intake["Properties"]["Environment"]["Variables"]["CITIZEN_PROFILE_KEY_ID"]) == (
        key_logical_id)
