"""State: the KMS keys and DynamoDB tables of the resource spec, and their backups."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infrastructure.compliance import acknowledge
from infrastructure.config import StageConfig
from infrastructure.naming import pascal, tag_from_spec
from infrastructure.resource_spec import Key, KeySpec, ResourceSpec, TableSpec

DATA_KEY = "data"

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
        key = kms.Key(
            self, f"{pascal(spec.id)}Key",
            description=f"Telehub {self._config.stage}: {spec.purpose}",
            alias=f"alias/telehub/{self._config.stage}/{spec.id}",
            key_spec=_KEY_SPECS[spec.key_spec],
            key_usage=_KEY_USAGES[spec.usage],
            # KMS rotates symmetric encryption keys only. The RSA key's rotation is a new key plus
            # re-issued device credentials, the HMAC key's a new key plus recomputed pseudonyms:
            # planned migrations, not a timer.
            enable_key_rotation=spec.key_spec == "SYMMETRIC_DEFAULT",
            pending_window=Duration.days(30 if self._config.retains_data else 7),
            removal_policy=self._removal,
        )
        tag_from_spec(key, "key", spec.id)
        return key

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


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=dynamodb.AttributeType.STRING if key.type == "S"
                              else dynamodb.AttributeType.NUMBER)
