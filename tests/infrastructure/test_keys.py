"""KMS keys and their use: key policies that separate administration from use, rotation where KMS can
rotate, every grant of a key conditioned (the data key through its services only, a key the code uses under
its context or algorithm only), and the functions' environments, which are not worth a key of their own."""

from __future__ import annotations

from typing import Any

from infrastructure.data import DATA_KEY_SERVICE_ACTIONS, KEY_ADMINISTRATION_ACTIONS
from infrastructure.function import CHECKOV_LAMBDA_ENVIRONMENT_KEY
from infrastructure.resource_spec import SPEC
from tests.support.cdk_templates import as_list, logical_id_of, policy_statements, render, resources, tagged

# Actions that use a key (rather than administer it): none may reach an administrator.
KEY_USE_ACTIONS = {
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair", "kms:Sign", "kms:Verify",
    "kms:GenerateMac", "kms:VerifyMac", "kms:CreateGrant", "kms:GetPublicKey",
}
# The kinds of variable a function's environment may hold: none is a secret or personal data.
RESOURCE_NAME_SUFFIXES = ("_TABLE_NAME", "_QUEUE_URL", "_TOPIC_ARN", "_KEY_ID")
SETTING_PREFIXES = ("POWERTOOLS_", "TOKEN_", "DEVICE_CREDENTIAL_", "ACCESS_LOG_RETENTION_")
SETTINGS = {"TELEHUB_STAGE", "JWKS_URI", "ROUTE_ROLES", "SHARED_MEASUREMENT_TYPES",
            "USAGE_PLAN_ORGANISATIONS"}


def _key_policies(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every key of the stack (the spec's and the sharing subscribers'), by logical id: its statements."""
    return {logical_id: key["Properties"]["KeyPolicy"]["Statement"]
            for logical_id, key in resources(template, "AWS::KMS::Key").items()}


def _is_account(principal: dict[str, Any]) -> bool:
    return "AWS" in principal and render(principal["AWS"]).endswith(":root")


def test_administrators_administer_every_key_and_cannot_use_it(stage):
    # Given every key policy of a stage
    for logical_id, statements in _key_policies(stage.template).items():
        [administration] = [s for s in statements if s["Sid"] == "TheAccountAdministersTheKey"]
        # Then the account administers it, with administration actions only: no use, no grant, no wildcard
        assert _is_account(administration["Principal"]), logical_id
        actions = set(as_list(administration["Action"]))
        assert actions == set(KEY_ADMINISTRATION_ACTIONS), logical_id
        assert not actions & KEY_USE_ACTIONS and not [a for a in actions if "*" in a], logical_id
        # And no statement lets any principal do everything
        assert not [s for s in statements if "kms:*" in as_list(s["Action"])], logical_id


def test_the_account_may_use_each_key_only_under_conditions(stage):
    # Given the spec's keys and their policies
    keys = tagged(stage.template, "AWS::KMS::Key", "key")
    for key_id, (_, key) in keys.items():
        account_uses = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                        if _is_account(s["Principal"]) and s["Sid"] != "TheAccountAdministersTheKey"]
        # Then the account delegates exactly one use to IAM, and only under a condition
        [use] = account_uses
        assert use["Condition"], key_id
        if key_id == "data":
            # The data key: only through the services that keep Telehub's data, for this account's callers
            assert sorted(as_list(use["Action"])) == sorted(DATA_KEY_SERVICE_ACTIONS)
            region = stage.config.region
            assert sorted(use["Condition"]["StringEquals"]["kms:ViaService"]) == sorted(
                f"{service}.{region}.amazonaws.com" for service in ("dynamodb", "sqs", "sns", "backup"))
            assert "kms:CallerAccount" in use["Condition"]["StringEquals"]
        elif key_id == "device-credentials":
            assert sorted(as_list(use["Action"])) == ["kms:GetPublicKey", "kms:Sign"]
            assert use["Condition"] == {"StringEqualsIfExists": {
                "kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}}
        elif key_id == "citizen-pseudonym":
            assert as_list(use["Action"]) == ["kms:GenerateMac"]
            assert use["Condition"] == {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}
        else:
            context = SPEC.key(key_id).encryption_context
            assert context, key_id
            assert sorted(as_list(use["Action"])) == ["kms:Decrypt", "kms:Encrypt"]
            assert use["Condition"] == {"StringEquals": {
                f"kms:EncryptionContext:{name}": value for name, value in context.items()}}


def test_every_key_kms_can_rotate_rotates_and_each_other_says_why_not(stage):
    # Given every key of a stage (the sharing subscribers' too)
    for logical_id, key in resources(stage.template, "AWS::KMS::Key").items():
        properties = key["Properties"]
        if properties.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            # Then a symmetric encryption key rotates (yearly, by KMS)
            assert properties["EnableKeyRotation"] is True, logical_id
        else:
            # And a key KMS cannot rotate says so to checkov, with the reason, in the template
            assert not properties.get("EnableKeyRotation"), logical_id
            [skip] = [s for s in key["Metadata"]["checkov"]["skip"] if s["id"] == "CKV_AWS_7"]
            assert "cannot rotate automatically" in skip["comment"], logical_id


def test_every_grant_of_a_key_to_a_function_is_conditioned(stage):
    # Given the spec's keys and every function's statements on them
    keys = {logical_id: key_id
            for key_id, (logical_id, _) in tagged(stage.template, "AWS::KMS::Key", "key").items()}
    via = {f"{service}.{stage.config.region}.amazonaws.com" for service in ("dynamodb", "sqs", "sns")}
    for function_id, (_, function) in tagged(stage.template, "AWS::Lambda::Function", "function").items():
        role = logical_id_of(function["Properties"]["Role"])
        for statement in policy_statements(stage.template, role):
            named = {keys[lid] for lid in map(logical_id_of, as_list(statement["Resource"])) if lid in keys}
            if not named:
                continue
            # Then each names one key, under a condition
            assert len(named) == 1 and statement.get("Condition"), (function_id, statement)
            if named == {"data"}:
                # And the data key only through one service the function uses it by, never to sign or MAC
                assert statement["Condition"]["StringEquals"]["kms:ViaService"] in via, function_id
                assert set(as_list(statement["Action"])) <= {
                    "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, function_id


def test_function_environments_hold_no_secret_so_lambdas_own_key_encrypts_them(stage):
    # Given every function of a stage
    for function_id, (_, function) in tagged(stage.template, "AWS::Lambda::Function", "function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        # Then each variable names a resource or is a setting of a known kind: nothing a key would guard
        unknown = [name for name in variables if not (
            name.endswith(RESOURCE_NAME_SUFFIXES) or name.startswith(SETTING_PREFIXES) or name in SETTINGS)]
        assert unknown == [], function_id
        # And the template tells checkov why the environment has no customer-managed key
        assert "KmsKeyArn" not in function["Properties"]
        skips = function["Metadata"]["checkov"]["skip"]
        [skip] = [s for s in skips if s["id"] == CHECKOV_LAMBDA_ENVIRONMENT_KEY]
        assert "no secret and no personal data" in skip["comment"], function_id
