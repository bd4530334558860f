"""DLQ replay: move the messages of a dead-letter queue back to the queue they came from.

What SQS's StartMessageMoveTask does in AWS (moto does not implement it): each message is sent to
the source queue with its body and attributes and then deleted from the DLQ. A message is deleted
only after it was sent, so a crash in between can duplicate it but never lose it; consumers are
idempotent.
"""

from __future__ import annotations

from typing import Any

RECEIVE_LIMIT = 10
IN_FLIGHT_SECONDS = 30  # how long a message being moved is hidden from other DLQ readers


def redrive(sqs: Any, dlq_url: str, queue_url: str) -> int:
    """Move every visible message of ``dlq_url`` to ``queue_url``; return how many moved."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=RECEIVE_LIMIT,
            WaitTimeSeconds=0,
            VisibilityTimeout=IN_FLIGHT_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return moved
        sent = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message["Body"],
                    **(
                        {"MessageAttributes": message["MessageAttributes"]}
                        if message.get("MessageAttributes")
                        else {}
                    ),
                }
                for index, message in enumerate(messages)
            ],
        )
        delivered = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if delivered:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(delivered)
                ],
            )
        moved += len(delivered)
        if sent.get("Failed"):
            codes = sorted({failure["Code"] for failure in sent["Failed"]})
            raise RuntimeError(
                f"{len(sent['Failed'])} message(s) could not be sent back ({', '.join(codes)}); "
                f"they stay in the DLQ ({moved} moved)"
            )
