"""State: the KMS keys and DynamoDB tables of the resource spec, and their backups."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infrastructure.compliance import acknowledge, skip_checkov
from infrastructure.config import StageConfig
from infrastructure.naming import pascal, tag_from_spec
from infrastructure.resource_spec import Key, KeySpec, ResourceSpec, TableSpec

DATA_KEY = "data"
# What the account's administrators do with a key: see and change its policy, rotation, description,
# aliases, tags and state, revoke grants, and schedule or cancel its deletion. Never encrypt, decrypt, sign,
# MAC or create a grant (a grant would hand use to anyone): use is only what the key policy's use statement
# delegates to IAM, under its conditions.
KEY_ADMINISTRATION_ACTIONS = (
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand", "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:UpdateAlias",
    "kms:DeleteAlias", "kms:ListAliases", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
    "kms:EnableKey", "kms:DisableKey", "kms:ListGrants", "kms:RevokeGrant", "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
# The services that keep Telehub's data encrypted with the data key and call KMS with their caller's
# credentials: the functions' tables, queues and topics, and AWS Backup's copies of the tables.
DATA_KEY_SERVICES = ("dynamodb", "sqs", "sns", "backup")
# What those services do with the key for a caller: data keys and the table key, and the grants DynamoDB
# and AWS Backup create for the resources they encrypt.
DATA_KEY_SERVICE_ACTIONS = (
    "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey",
    "kms:CreateGrant",
)
# How the code uses each other kind of key: the only algorithm Telehub uses is a condition of the use.
SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"  # functions/devices/keys.py (JWT RS256)
MAC_ALGORITHM = "HMAC_SHA_256"  # functions/shared/citizen_store.py
# Checkov's rule that a customer-managed key rotates (CKV_AWS_7); KMS rotates symmetric encryption keys only.
CHECKOV_KEY_ROTATION = "CKV_AWS_7"

_KEY_SPECS = {
    "SYMMETRIC_DEFAULT": kms.KeySpec.SYMMETRIC_DEFAULT,
    "RSA_2048": kms.KeySpec.RSA_2048,
    "HMAC_256": kms.KeySpec.HMAC_256,
}
_KEY_USAGES = {
    "ENCRYPT_DECRYPT": kms.KeyUsage.ENCRYPT_DECRYPT,
    "SIGN_VERIFY": kms.KeyUsage.SIGN_VERIFY,
    "GENERATE_VERIFY_MAC": kms.KeyUsage.GENERATE_VERIFY_MAC,
}
class Data(Construct):
    """KMS keys (``data`` encrypts tables, queues, topics and logs) and the tables, on-demand with
    point-in-time recovery, each encrypted with the ``data`` key."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: ResourceSpec, config: StageConfig):
        super().__init__(scope, construct_id)
        self._removal = RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY
        self._config = config
        self.keys = {key.id: self._key(key) for key in spec.keys}
        self.data_key = self.keys[DATA_KEY]
        self._allow_logs_and_alarms(self.data_key)
        self.tables = {table.id: self._table(table) for table in spec.tables}
        if config.backup_plan:
            self._backup_plan()
        else:
            for table in self.tables.values():
                acknowledge(
                    table, "HIPAA.Security-DynamoDBInBackupPlan",
                    f"Stage {config.stage} holds synthetic test data only and is torn down with its stack; "
                    "its tables keep 35 days of point-in-time recovery. Stages with real data set "
                    "backup_plan (config validation makes prod do so).",
                )

    def _key(self, spec: KeySpec) -> kms.Key:
        """A key whose policy separates administration (the account, no use) from use (delegated to IAM only
        for what the key is for, under conditions; the functions' policies then grant it one by one)."""
        rotates = spec.key_spec == "SYMMETRIC_DEFAULT"
        key = kms.Key(
            self, f"{pascal(spec.id)}Key",
            description=f"Telehub {self._config.stage}: {spec.purpose}",
            alias=f"alias/telehub/{self._config.stage}/{spec.id}",
            key_spec=_KEY_SPECS[spec.key_spec],
            key_usage=_KEY_USAGES[spec.usage],
            enable_key_rotation=rotates,
            policy=iam.PolicyDocument(statements=[administration_statement(), self._use_statement(spec)]),
            pending_window=Duration.days(30 if self._config.retains_data else 7),
            removal_policy=self._removal,
        )
        if not rotates:
            # KMS rotates symmetric encryption keys only. The RSA key's rotation is a new key plus re-issued
            # device credentials, the HMAC key's a new key plus recomputed pseudonyms: planned migrations
            # (docs/security.md#keys), not a timer.
            skip_checkov(
                key, CHECKOV_KEY_ROTATION,
                f"{spec.key_spec} keys cannot rotate automatically (KMS rotates symmetric encryption keys "
                "only); the key is replaced by a planned migration, docs/security.md#keys.",
            )
        tag_from_spec(key, "key", spec.id)
        return key

    def _use_statement(self, spec: KeySpec) -> iam.PolicyStatement:
        """What the account may let its principals do with the key through IAM: the data key only through
        its services, a signing key only sign (and read its public half), a MAC key only MAC, and a key the
        code encrypts with only under its encryption context."""
        account = iam.AccountRootPrincipal()
        if spec.id == DATA_KEY:
            return iam.PolicyStatement(
                sid="TheAccountUsesTheKeyThroughItsServicesOnly",
                principals=[account], actions=list(DATA_KEY_SERVICE_ACTIONS), resources=["*"],
                conditions={"StringEquals": {
                    "kms:ViaService": [via_service(self, service) for service in DATA_KEY_SERVICES],
                    "kms:CallerAccount": Aws.ACCOUNT_ID,
                }},
            )
        if spec.usage == "SIGN_VERIFY":
            return iam.PolicyStatement(
                sid="TheAccountSignsAndReadsThePublicKeyThroughIamOnly",
                principals=[account], actions=["kms:Sign", "kms:GetPublicKey"], resources=["*"],
                conditions={"StringEqualsIfExists": {"kms:SigningAlgorithm": SIGNING_ALGORITHM}},
            )
        if spec.usage == "GENERATE_VERIFY_MAC":
            return iam.PolicyStatement(
                sid="TheAccountMacsThroughIamOnly",
                principals=[account], actions=["kms:GenerateMac"], resources=["*"],
                conditions={"StringEquals": {"kms:MacAlgorithm": MAC_ALGORITHM}},
            )
        if not spec.encryption_context:
            raise ValueError(f"key {spec.id}: a key the code encrypts with needs an encryption context")
        return iam.PolicyStatement(
            sid="TheAccountEncryptsAndDecryptsUnderTheContextThroughIamOnly",
            principals=[account], actions=["kms:Encrypt", "kms:Decrypt"], resources=["*"],
            conditions=encryption_context_condition(spec.encryption_context),
        )

    def _allow_logs_and_alarms(self, key: kms.Key) -> None:
        """The services that encrypt with the data key on Telehub's behalf, each within its use."""
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
            ],
            resources=["*"],
            conditions={"ArnLike": {
                "kms:EncryptionContext:aws:logs:arn":
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*",
            }},
        ))
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self, f"{pascal(spec.id)}Table",
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.data_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
            ),
            stream=dynamodb.StreamViewType[spec.stream] if spec.stream else None,
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=self._config.retains_data,
            removal_policy=self._removal,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType[index.projection],
            )
        tag_from_spec(table, "table", spec.id)
        return table

    def _backup_plan(self) -> None:
        vault = backup.BackupVault(
            self, "BackupVault", encryption_key=self.data_key, removal_policy=RemovalPolicy.RETAIN,
        )
        plan = backup.BackupPlan.daily35_day_retention(self, "BackupPlan", vault)
        selection = plan.add_selection(
            "Tables",
            resources=[backup.BackupResource.from_dynamo_db_table(table) for table in self.tables.values()],
        )
        acknowledge(
            selection, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSBackupServiceRolePolicyForBackup]",
            "The role AWS Backup assumes (trusted by backup.amazonaws.com only) to snapshot the selected "
            "tables; AWS maintains this service-role policy as the documented permission set for it.",
        )


def via_service(scope: Construct, service: str) -> str:
    """The kms:ViaService value of an AWS service's requests in the region of ``scope``'s stack."""
    return f"{service}.{Stack.of(scope).region}.amazonaws.com"


def encryption_context_condition(context: dict[str, str]) -> dict[str, Any]:
    """The IAM condition that a KMS request's encryption context carries ``context``'s pairs."""
    return {"StringEquals": {f"kms:EncryptionContext:{name}": value for name, value in context.items()}}


def administration_statement() -> iam.PolicyStatement:
    """The account administers the key (through IAM: its administrators' policies) and cannot use it."""
    return iam.PolicyStatement(
        sid="TheAccountAdministersTheKey",
        principals=[iam.AccountRootPrincipal()],
        actions=list(KEY_ADMINISTRATION_ACTIONS),
        resources=["*"],
    )


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=dynamodb.AttributeType.STRING if key.type == "S"
                              else dynamodb.AttributeType.NUMBER)
