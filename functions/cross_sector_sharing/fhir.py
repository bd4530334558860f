"""One "upload evaluated" event as one FHIR R4 Bundle of plain dicts (docs/sharing.md, "The Bundle").

Pure: no boto3 and no FHIR library at run time (the tests validate every Bundle with one; loading it in the
Lambda would cost its cold start for nothing). The caller passes the event body as docs/messages.md gives
it, the citizen's CPR number (never in the event) and the id of the device that measured.

Every id is a UUID 5 of a Telehub id, so a redelivered event gives a byte-identical Bundle (``bundle_json``)
and the same measurement keeps its Observation id in every Bundle that shares it: the one that shares its
invalidation replaces the one that first shared it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from functions.shared.catalogue import BLOOD_PRESSURE, MeasurementType, catalogue

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
IEEE_SYSTEM = "urn:iso:std:iso:11073:10101"
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# FUT's (the national telemedicine infrastructure's) alarm-limit types, as its triage reads them.
ABSOLUTE_RANGE_SYSTEM = "urn:oid:1.2.208.184.100.1"
RELATIVE_RANGE_SYSTEM = "http://ehealth.sundhed.dk/cs/reference-range-type"
# Telehub's own identifiers and codes, where no national one exists.
EVENT_ID_SYSTEM = "urn:telehub:event-id"
DEVICE_ID_SYSTEM = "urn:telehub:device-id"
MEASUREMENT_ID_SYSTEM = "urn:telehub:measurement-id"
TRIAGE_COLOUR_SYSTEM = "urn:telehub:triage-colour"
METHOD_SYSTEM = "urn:telehub:measurement-method"
BUNDLE_PART_SYSTEM = "urn:telehub:bundle-part"
# Telehub's extensions (no StructureDefinition is published for them; R4 lets an extension's url be a URI):
# a measurement or answer that arrived late (measured more than 24 hours before Telehub received it), and
# an answer's triage colour (an answer has no interpretation element).
LATE_EXTENSION = "urn:telehub:extension:late"
TRIAGE_COLOUR_EXTENSION = "urn:telehub:extension:triage-colour"

# Not a namespace of any standard: a fixed one of Telehub's, so every id is reproducible from its source.
_ID_NAMESPACE = uuid.UUID("5b0f6f47-2a3c-4d7e-9c1a-8e2f4b6d0a13")
# The catalogue's note on pulse: a blood-pressure cuff's pulse has its own IEEE 11073 code.
CUFF_PULSE_IEEE = ("149546", "MDC_PULS_RATE_NON_INV")
BLOOD_PRESSURE_CODES = (
    {"system": LOINC_SYSTEM, "code": "85354-9", "display": "Blood pressure panel with all children optional"},
    {"system": IEEE_SYSTEM, "code": "150020", "display": "MDC_PRESS_BLD_NONINV"},
)
_CATEGORIES = {
    "vital-signs": ("spo2", "pulse", "systolic", "diastolic", "weight", "temperature", "respiration_rate"),
    "exam": ("fev1", "fev6", "fev1_fev6_ratio"),
    "survey": ("cat_score", "mrc_score"),
    "activity": ("sit_to_stand",),
    "laboratory": ("blood_glucose",),
}
_CATEGORY_OF = {measurement_type: category
                for category, types in _CATEGORIES.items() for measurement_type in types}
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "exam": "Exam", "survey": "Survey", "activity": "Activity",
                     "laboratory": "Laboratory"}
# The colour also as HL7's general interpretation, for a receiver that knows no Telehub code: GREEN within
# the limits (normal), YELLOW beyond the yellow ones (abnormal), RED beyond the red ones (critical).
_INTERPRETATION = {"GREEN": ("N", "Normal"), "YELLOW": ("A", "Abnormal"), "RED": ("AA", "Critical abnormal")}
_METHOD_TEXT = {"automatic": "Measured and sent by the device", "typed": "Typed in by the citizen"}
_RANGE_TYPES = {
    "red": {"system": ABSOLUTE_RANGE_SYSTEM, "code": "RAL", "display": "Red alarm limit"},
    "yellow": {"system": ABSOLUTE_RANGE_SYSTEM, "code": "GAL", "display": "Yellow alarm limit"},
    "relative_red": {"system": RELATIVE_RANGE_SYSTEM, "code": "RELRAL",
                     "display": "Relative red alarm limit"},
    "relative_yellow": {"system": RELATIVE_RANGE_SYSTEM, "code": "RELGAL",
                        "display": "Relative yellow alarm limit"},
}


def bundle_of(event: Mapping[str, Any], *, cpr: str, device_id: str | None) -> dict[str, Any]:
    """The "collection" Bundle of an evaluated event: the Patient, the Device (when a device measured), an
    Observation per measurement (a cuff's pulse its own), and one QuestionnaireResponse for the answers."""
    return _whole(event, *_resources(event, cpr, device_id))


def bundles_of(event: Mapping[str, Any], *, cpr: str, device_id: str | None,
               max_bytes: int) -> list[dict[str, Any]]:
    """The event's Bundle (``bundle_of``) if its JSON (``bundle_json``, UTF-8) fits in ``max_bytes``, else
    the same resources in parts that each fit: every part is a Bundle of its own with the Patient and the
    Device, then the measurements in the event's order, a blood pressure's panel and cuff pulse together.

    Deterministic: the same event splits the same way, and part n's id is a UUID 5 of the event id and n.
    Each part says which it is in ``meta.tag`` (system ``urn:telehub:bundle-part``, code ``<n>-of-<parts>``)
    and keeps the event id as its identifier."""
    common, groups = _resources(event, cpr, device_id)
    whole = _whole(event, common, groups)
    if _size(whole) <= max_bytes:
        return [whole]
    # The widest part there can be without its groups (most digits in its tag): each group adds its entries
    # and a comma before each, so every part the packing fills fits.
    header = _size(_part(event, len(groups), len(groups), common))
    packed: list[list[dict[str, Any]]] = [[]]
    room = max_bytes - header
    for group in groups:
        size = sum(_size(_entry(resource)) + 1 for resource in group)
        if packed[-1] and size > room:
            packed.append([])
            room = max_bytes - header
        packed[-1].extend(group)
        room -= size
    return [_part(event, number, len(packed), [*common, *resources])
            for number, resources in enumerate(packed, start=1)]


def bundle_json(bundle: Mapping[str, Any]) -> str:
    """The Bundle as compact JSON: the same Bundle is the same bytes."""
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)


def _size(value: Mapping[str, Any]) -> int:
    return len(bundle_json(value).encode())


def _resources(event: Mapping[str, Any], cpr: str,
               device_id: str | None) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The resources every Bundle of the event holds (Patient, Device), and the rest in groups that stay
    together: each measurement's Observations, then the answers' QuestionnaireResponse."""
    patient = patient_resource(event["patient_id"], cpr)
    device = device_resource(device_id) if device_id is not None else None
    versions = {version["version"]: version for version in event["threshold_versions"]}
    groups = [observations_of(measurement, _thresholds(measurement, versions), patient=patient, device=device,
                              issued=event["evaluated_at"])
              for measurement in event["measurements"]]
    if event.get("answers"):
        groups.append([_questionnaire_response(event, patient)])
    return [patient, *([device] if device else [])], groups


def _whole(event: Mapping[str, Any], common: list[dict[str, Any]],
           groups: list[list[dict[str, Any]]]) -> dict[str, Any]:
    resources = [*common, *(resource for group in groups for resource in group)]
    return _bundle(event, _id("bundle", event["event_id"]), resources)


def _bundle(event: Mapping[str, Any], bundle_id: str, resources: Sequence[dict[str, Any]],
            meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        **({"meta": meta} if meta else {}),
        "identifier": {"system": EVENT_ID_SYSTEM, "value": event["event_id"]},
        "type": "collection",
        "timestamp": event["evaluated_at"],
        "entry": [_entry(resource) for resource in resources],
    }


def _part(event: Mapping[str, Any], number: int, parts: int,
          resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    tag = {"system": BUNDLE_PART_SYSTEM, "code": f"{number}-of-{parts}",
           "display": f"Part {number} of {parts}"}
    return _bundle(event, part_bundle_id(event["event_id"], number), resources, {"tag": [tag]})


def part_bundle_id(event_id: str, number: int) -> str:
    """The id of part ``number`` (from 1) of a split event's Bundle."""
    return _id("bundle", f"{event_id}/part-{number}")


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": reference(resource), "resource": resource}


def _id(kind: str, source: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}/{source}"))


def reference(resource: Mapping[str, Any]) -> str:
    """A resource's reference (and fullUrl) in a Bundle: its urn:uuid."""
    return f"urn:uuid:{resource['id']}"


def patient_resource(patient_id: str, cpr: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": _id("patient", patient_id),
            "identifier": [{"system": CPR_SYSTEM, "value": cpr}]}


def device_resource(device_id: str) -> dict[str, Any]:
    return {"resourceType": "Device", "id": _id("device", device_id),
            "identifier": [{"system": DEVICE_ID_SYSTEM, "value": device_id}]}


def observations_of(measurement: Mapping[str, Any], thresholds: Mapping[str, Any], *,
                    patient: Mapping[str, Any], device: Mapping[str, Any] | None,
                    issued: str | None) -> list[dict[str, Any]]:
    """The measurement's Observation; a blood pressure's cuff pulse follows as one of its own.

    ``measurement`` has the shape of an evaluated event's measurement (docs/messages.md), which a stored
    reading is given too (the FHIR search); ``thresholds`` are those of the version that judged it (empty if
    none did). The ids depend on the measurement only, so a search returns the ids the shared Bundles carry.
    ``issued`` is when the evaluation shared was made (an event's evaluated_at; a stored reading has none).
    """
    measurement_id = measurement["measurement_id"]
    common = _common(measurement, issued, patient, device)
    if measurement["type"] != BLOOD_PRESSURE:
        entry = catalogue()[measurement["type"]]
        return [{**_head("observation", measurement_id, measurement, entry.type),
                 "code": _code(entry), **common, "valueQuantity": _quantity(measurement["value"], entry),
                 **_interpretation(measurement["colour"]),
                 **_reference_ranges(thresholds, entry)}]
    components = {component["type"]: component for component in measurement["components"]}
    observations = []
    cuff_pulse = components.get("pulse")
    if cuff_pulse is not None:
        pulse = catalogue()["pulse"]
        ieee_code, ieee_name = CUFF_PULSE_IEEE
        observations.append({
            **_head("cuff-pulse", measurement_id, measurement, "pulse"),
            "code": _code(pulse, ieee=(ieee_code, ieee_name)), **common,
            "valueQuantity": _quantity(cuff_pulse["value"], pulse), **_reference_ranges(thresholds, pulse)})
    panel = {
        **_head("observation", measurement_id, measurement, "systolic"),
        "code": {"coding": list(BLOOD_PRESSURE_CODES), "text": "Blood pressure"}, **common,
        **_interpretation(measurement["colour"]),
        **({"hasMember": [{"reference": reference(observations[0])}]} if observations else {}),
        "component": [
            {"code": _code(entry), "valueQuantity": _quantity(components[entry.type]["value"], entry),
             **_reference_ranges(thresholds, entry)}
            for entry in (catalogue()["systolic"], catalogue()["diastolic"])
        ],
    }
    return [panel, *observations]


def _head(kind: str, measurement_id: str, measurement: Mapping[str, Any],
          category_type: str) -> dict[str, Any]:
    """Id, identifier, status and category: an invalidated measurement is shared again as entered-in-error."""
    category = _CATEGORY_OF[category_type]
    return {
        "resourceType": "Observation",
        "id": _id(kind, measurement_id),
        "identifier": [{"system": MEASUREMENT_ID_SYSTEM,
                        "value": measurement_id if kind == "observation" else f"{measurement_id}/pulse"}],
        "status": "entered-in-error" if measurement["invalidated"] else "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category,
                                  "display": _CATEGORY_DISPLAY[category]}]}],
    }


def _common(measurement: Mapping[str, Any], issued: str | None, patient: Mapping[str, Any],
            device: Mapping[str, Any] | None) -> dict[str, Any]:
    """Subject, time, device, method, lateness and the invalidation's note: the same for a panel and its cuff
    pulse."""
    invalidated = measurement["invalidated"]
    method = measurement["method"]
    return {
        **_late(measurement["late"]),
        "subject": {"reference": reference(patient)},
        "effectiveDateTime": measurement["measured_at"],
        **({"issued": issued} if issued is not None else {}),
        **({"note": [{"time": invalidated["at"], "text": f"Invalidated: {invalidated['reason']}"}]}
           if invalidated else {}),
        "method": {"coding": [{"system": METHOD_SYSTEM, "code": method}], "text": _METHOD_TEXT[method]},
        **({"device": {"reference": reference(device)}} if device else {}),
    }


def _code(entry: MeasurementType, ieee: tuple[str, str] | None = None) -> dict[str, Any]:
    """The Danish code (NPU or MedCom) first, then IEEE 11073 and LOINC where the catalogue has them."""
    ieee_code, ieee_name = ieee or (entry.ieee_code, entry.ieee_name)
    coding: list[dict[str, str | None]] = [
        {"system": entry.code_system, "code": entry.code, "display": entry.display}]
    if ieee_code:
        coding.append({"system": IEEE_SYSTEM, "code": ieee_code, "display": ieee_name})
    if entry.loinc_code:
        coding.append({"system": LOINC_SYSTEM, "code": entry.loinc_code})
    return {"coding": coding, "text": entry.display}


def _quantity(value: int | float | Decimal, entry: MeasurementType) -> dict[str, Any]:
    return {"value": _number(value), "unit": entry.unit, "system": UCUM_SYSTEM, "code": entry.ucum_unit}


def _number(value: int | float | Decimal) -> int | float:
    """A JSON number as measured: a Decimal (a stored reading) becomes the int or float it prints as."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _interpretation(colour: str | None) -> dict[str, Any]:
    """The triage colour; nothing for a measurement taken before the episode's first threshold version."""
    if colour is None:
        return {}
    code, display = _INTERPRETATION[colour]
    coding = [{"system": TRIAGE_COLOUR_SYSTEM, "code": colour},
              {"system": INTERPRETATION_SYSTEM, "code": code, "display": display}]
    return {"interpretation": [{"coding": coding, "text": colour}]}


def _thresholds(measurement: Mapping[str, Any],
                versions: Mapping[int, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The thresholds of the version that judged the measurement; none if it was not judged."""
    version = measurement["threshold_version"]
    return versions[version]["thresholds"] if version is not None else {}


def _reference_ranges(thresholds: Mapping[str, Any], entry: MeasurementType) -> dict[str, Any]:
    """The type's alarm limits: absolute red (RAL), yellow (GAL), relative red (RELRAL), yellow (RELGAL).

    A relative limit is a change from a baseline, so its range holds the change (low for a fall, high for a
    rise) in the type's unit, and its text names the baseline.
    """
    ranges: list[dict[str, Any]] = []
    absolute = thresholds.get("absolute", {}).get(entry.type, {})
    for colour in ("red", "yellow"):
        limits = {side: absolute.get(f"{colour}_{side}") for side in ("low", "high")}
        if any(value is not None for value in limits.values()):
            ranges.append({**_sides(limits, entry), "type": {"coding": [_RANGE_TYPES[colour]]}})
    relative = thresholds.get("relative", {}).get(entry.type)
    if relative:
        baseline = ("the first value of the episode" if relative.get("baseline") == "episode_start"
                    else f"the first value in the last {relative.get('window_days')} days")
        for colour in ("red", "yellow"):
            change = relative.get(f"{colour}_change")
            if change is not None:
                side = "low" if change < 0 else "high"
                ranges.append({**_sides({side: change}, entry),
                               "type": {"coding": [_RANGE_TYPES[f"relative_{colour}"]]},
                               "text": f"Change from {baseline}"})
    return {"referenceRange": ranges} if ranges else {}


def _sides(limits: Mapping[str, Any], entry: MeasurementType) -> dict[str, Any]:
    return {side: _quantity(value, entry) for side, value in limits.items() if value is not None}


def _questionnaire_response(event: Mapping[str, Any], patient: Mapping[str, Any]) -> dict[str, Any]:
    """The upload's answers to the episode's questionnaire, authored when the last of them was given; each
    answer carries the colour the episode's template gives it, and an item answered late says so."""
    answers: Sequence[Mapping[str, Any]] = event["answers"]
    return {
        "resourceType": "QuestionnaireResponse",
        "id": _id("answers", event["event_id"]),
        "status": "completed",
        "subject": {"reference": reference(patient)},
        "authored": max(answer["answered_at"] for answer in answers),
        "item": [{"linkId": answer["question_id"], **_late(answer["late"]),
                  "answer": [{"extension": [_triage_colour(answer["colour"])],
                              "valueString": answer["answer"]}]}
                 for answer in answers],
    }


def _late(late: bool) -> dict[str, Any]:
    """The late flag, only where it is set (a receiver reads its absence as on time)."""
    return {"extension": [{"url": LATE_EXTENSION, "valueBoolean": True}]} if late else {}


def _triage_colour(colour: str) -> dict[str, Any]:
    return {"url": TRIAGE_COLOUR_EXTENSION, "valueCoding": {"system": TRIAGE_COLOUR_SYSTEM, "code": colour}}
