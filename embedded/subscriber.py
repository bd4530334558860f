"""A subscribing organisation's client: read its sharing queue, print what arrived, delete what was printed.

The starting point for a region's own integration (docs/sharing.md): each message body is one FHIR R4
Bundle; delivery is at least once, so a Bundle id already handled is dropped; a message is deleted only
after it was handled, so a crash in between shows it again rather than losing it. The citizen's CPR number
is masked in everything printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from functions.cross_sector_sharing.fhir import CPR_SYSTEM, TRIAGE_COLOUR_SYSTEM

RECEIVE_LIMIT = 10
_RANGE_NAMES = {"RAL": "red", "GAL": "yellow", "RELRAL": "red change", "RELGAL": "yellow change"}


def masked_cpr(cpr: str) -> str:
    """The birth date part only (DDMMYY-****): enough to tell test citizens apart, not to identify one."""
    return f"{cpr[:6]}-****"


def summaries(bundle: Mapping[str, Any]) -> list[str]:
    """One readable line per Observation and per questionnaire response of a sharing Bundle."""
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    patients = [resource for resource in resources if resource["resourceType"] == "Patient"]
    citizen = next((masked_cpr(identifier["value"]) for patient in patients
                    for identifier in patient.get("identifier", []) if identifier["system"] == CPR_SYSTEM),
                   "unknown citizen")
    # A blood pressure's cuff pulse is judged with the blood pressure: the panel carries the colour.
    members = {member["reference"] for resource in resources for member in resource.get("hasMember", [])}
    lines = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            lines.append(f"{citizen}  {_observation(resource, entry.get('fullUrl') in members)}")
        elif resource["resourceType"] == "QuestionnaireResponse":
            answers = ", ".join(f"{item['linkId']}={item['answer'][0]['valueString']}"
                                for item in resource.get("item", []))
            lines.append(f"{citizen}  {_moment(resource['authored'])}  questionnaire  {answers}")
    return lines


def _observation(observation: Mapping[str, Any], member: bool) -> str:
    colour = next((coding["code"] for interpretation in observation.get("interpretation", [])
                   for coding in interpretation["coding"] if coding["system"] == TRIAGE_COLOUR_SYSTEM),
                  "judged with the blood pressure" if member else "unjudged")
    if observation["status"] == "entered-in-error":
        colour = "INVALIDATED"
    if "component" in observation:
        value = " / ".join(_quantity(component["valueQuantity"]) for component in observation["component"])
        limits = "; ".join(f"{component['code']['text']}: {_limits(component)}"
                           for component in observation["component"] if _limits(component))
    else:
        value, limits = _quantity(observation["valueQuantity"]), _limits(observation)
    return (f"{_moment(observation['effectiveDateTime'])}  {observation['code']['text']}  {value}  {colour}"
            + (f"  (limits: {limits})" if limits else ""))


def _quantity(quantity: Mapping[str, Any]) -> str:
    return f"{_number(quantity['value'])} {quantity['unit']}"


def _number(value: float) -> str:
    """86.0 as 86: a limit set as a whole number reads as one."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _limits(observed: Mapping[str, Any]) -> str:
    parts = []
    for reference_range in observed.get("referenceRange", []):
        code = reference_range["type"]["coding"][0]["code"]
        sides = [f"{'below' if side == 'low' else 'above'} {_number(reference_range[side]['value'])}"
                 for side in ("low", "high") if side in reference_range]
        parts.append(f"{_RANGE_NAMES.get(code, code)} {' or '.join(sides)}")
    return ", ".join(parts)


def _moment(instant: str) -> str:
    return instant.replace("T", " ").removesuffix(".000Z").removesuffix("Z") + " UTC"


def drain(sqs: Any, queue_url: str, show: Callable[[str], None], wait_seconds: int = 0) -> int:
    """Print every message on the queue until it is empty; return how many Bundles were printed.

    Waits up to ``wait_seconds`` for the first message only (SQS long polling), so a fresh Bundle still on
    its way is not missed and an empty queue does not keep the caller waiting on every call."""
    seen: set[str] = set()
    printed = 0
    for messages in _batches(sqs, queue_url, wait_seconds):
        handled = []
        for message in messages:
            bundle = _bundle(message["Body"])
            if bundle is None:  # left on the queue: after its last receive it moves to the dead-letter queue
                show(f"message {message['MessageId']} is not a FHIR Bundle; left for the dead-letter queue")
                continue
            if bundle["id"] not in seen:  # a duplicate delivery of a Bundle handled in this run
                seen.add(bundle["id"])
                printed += 1
                show(f"Bundle {bundle['id']} ({bundle.get('timestamp')})")
                for line in summaries(bundle):
                    show(f"  {line}")
            handled.append(message)
        if handled:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(handled)])
    return printed


def _bundle(body: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "Bundle" or "id" not in parsed:
        return None
    return parsed


def _batches(sqs: Any, queue_url: str, first_wait_seconds: int) -> Iterator[list[dict[str, Any]]]:
    wait_seconds = first_wait_seconds
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=RECEIVE_LIMIT,
                                       WaitTimeSeconds=wait_seconds, MessageAttributeNames=["All"])
        if not messages.get("Messages"):
            return
        yield messages["Messages"]
        wait_seconds = 0
