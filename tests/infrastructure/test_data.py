"""Tables and keys: on-demand, point-in-time recovery, the data key, kept in prod."""

from __future__ import annotations

from infrastructure.resource_spec import SPEC
from tests.support.cdk_templates import logical_id_of, resources, tagged


def test_tables_are_on_demand_recoverable_and_encrypted_with_the_data_key(stage):
    # Given a synthesized stage
    data_key, _ = tagged(stage.template, "AWS::KMS::Key", "key")["data"]
    # When its tables are read, Then every one is on-demand, has PITR and uses the data key
    tables = tagged(stage.template, "AWS::DynamoDB::Table", "table")
    assert set(tables) == {table.id for table in SPEC.tables}
    for table_id, (_, table) in tables.items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", table_id
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            table_id
        )
        assert properties["SSESpecification"]["SSEEnabled"] is True, table_id
        assert properties["SSESpecification"]["SSEType"] == "KMS", table_id
        assert logical_id_of(properties["SSESpecification"]["KMSMasterKeyId"]) == data_key, table_id


def test_the_uploads_table_streams_new_images_to_its_outbox(dev):
    # Given the uploads table, When its stream is read, Then new images are streamed (the outbox)
    _, uploads = tagged(dev.template, "AWS::DynamoDB::Table", "table")["uploads"]
    assert uploads["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert uploads["Properties"]["KeySchema"] == [
        {"AttributeName": "device_id", "KeyType": "HASH"},
        {"AttributeName": "upload_id", "KeyType": "RANGE"},
    ]


def test_prod_retains_and_protects_its_data_and_backs_it_up(prod):
    # Given prod, When its tables and keys are read
    tables = tagged(prod.template, "AWS::DynamoDB::Table", "table")
    keys = tagged(prod.template, "AWS::KMS::Key", "key")
    # Then nothing holding data is deleted with the stack, and tables cannot be deleted by accident
    for _, resource in [*tables.values(), *keys.values()]:
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    assert all(table["Properties"]["DeletionProtectionEnabled"] for _, table in tables.values())
    # And AWS Backup copies every table
    selection = next(iter(resources(prod.template, "AWS::Backup::BackupSelection").values()))
    selected = str(selection["Properties"]["BackupSelection"]["Resources"])
    assert all(logical_id in selected for logical_id, _ in tables.values())


def test_dev_tables_go_with_the_stack(dev):
    # Given dev (synthetic data only), Then its tables are deleted with the stack and not backed up
    for _, table in tagged(dev.template, "AWS::DynamoDB::Table", "table").values():
        assert table["DeletionPolicy"] == "Delete"
    assert resources(dev.template, "AWS::Backup::BackupPlan") == {}


def test_only_the_symmetric_data_key_rotates(dev):
    # Given the keys, Then the data key rotates yearly and the signing and MAC keys are what the spec says
    keys = {
        key_id: resource["Properties"]
        for key_id, (_, resource) in tagged(dev.template, "AWS::KMS::Key", "key").items()
    }
    assert keys["data"]["EnableKeyRotation"] is True
    assert keys["device-credentials"]["KeySpec"] == "RSA_2048"
    assert keys["device-credentials"]["KeyUsage"] == "SIGN_VERIFY"
    assert keys["citizen-pseudonym"]["KeySpec"] == "HMAC_256"
    assert keys["citizen-pseudonym"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
