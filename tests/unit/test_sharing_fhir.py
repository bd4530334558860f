"""The FHIR Bundle of an evaluated upload (functions/cross_sector_sharing/fhir.py): codes with the Danish one
first, UCUM units, reference ranges from the threshold version that judged each measurement, the triage
colour, blood pressure as one panel, answers, invalidation, and byte-identical Bundles for a redelivery.

Every Bundle built here is validated with fhir.resources' R4B models: the library has no R4 package, and
R4B changed none of the elements these resources use (Bundle, Patient, Device, Observation,
QuestionnaireResponse)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from functions.cross_sector_sharing.fhir import bundle_json, bundle_of, bundles_of, part_bundle_id
from functions.shared.catalogue import catalogue
from tests.support.docs import json_block_after

CPR = "0101701234"
DEVICE_ID = "dev_5f0c2a9e41b7d3c8a6e1f042"
NPU, MEDCOM = "urn:oid:1.2.208.176.2.1", "urn:oid:1.2.208.184.100.8"
IEEE, LOINC, UCUM = "urn:iso:std:iso:11073:10101", "http://loinc.org", "http://unitsofmeasure.org"
ABSOLUTE, RELATIVE = "urn:oid:1.2.208.184.100.1", "http://ehealth.sundhed.dk/cs/reference-range-type"

# type: (Danish system, Danish code, IEEE 11073 code or None, LOINC or None, UCUM code, a plausible value)
CODES = {
    "spo2": (NPU, "NPU03011", "150456", "59408-5", "%", 94),
    "pulse": (NPU, "NPU21692", "149530", "8867-4", "/min", 71),
    "systolic": (NPU, "DNK05472", "150021", "8480-6", "mm[Hg]", 132),
    "diastolic": (NPU, "DNK05473", "150022", "8462-4", "mm[Hg]", 84),
    "weight": (NPU, "NPU03804", "188736", "29463-7", "kg", 69.989303),
    "temperature": (NPU, "NPU08676", "150364", "8310-5", "Cel", 37.2),
    "respiration_rate": (MEDCOM, "MCS88122", "151562", "9279-1", "/min", 16),
    "fev1": (MEDCOM, "MCS88015", None, "20150-9", "L", 2.1),
    "fev6": (MEDCOM, "MCS88100", None, None, "L", 3.0),
    "fev1_fev6_ratio": (MEDCOM, "MCS88099", None, None, "1", 0.7),
    "cat_score": (MEDCOM, "MCS88137", None, None, "{score}", 18),
    "mrc_score": (MEDCOM, "MCS88021", None, None, "{score}", 3),
    "sit_to_stand": (MEDCOM, "MCS88050", None, None, "{count}", 12),
    "blood_glucose": (NPU, "NPU22089", "160184", "15074-8", "mmol/L", 6.4),
}
VERSION_1 = {"version": 1, "valid_from": "2024-04-01T00:00:00.000Z",
             "thresholds": {"absolute": {"spo2": {"red_low": 88, "yellow_low": 92}}, "relative": {}}}
VERSION_2 = {"version": 2, "valid_from": "2024-04-20T00:00:00.000Z", "thresholds": {
    "absolute": {"spo2": {"red_low": 85, "yellow_low": 90}, "systolic": {"yellow_high": 150, "red_high": 180},
                 "diastolic": {"red_low": 40}, "pulse": {"yellow_low": 50, "yellow_high": 110}},
    "relative": {"weight": {"baseline": "window", "window_days": 3, "yellow_change": -1, "red_change": -2},
                 "spo2": {"baseline": "episode_start", "red_change": 5}}}}


def measurement(measurement_type: str, value: Any = None, **changes: Any) -> dict[str, Any]:
    entry = catalogue()[measurement_type]
    return {"measurement_id": f"msr_{measurement_type}", "type": measurement_type,
            "value": CODES[measurement_type][5] if value is None else value, "unit": entry.unit,
            "measured_at": "2024-05-01T08:00:00.000Z", "method": "automatic", "late": False,
            "colour": "GREEN", "threshold_version": 2, "invalidated": None, **changes}


def blood_pressure(with_pulse: bool = True, **changes: Any) -> dict[str, Any]:
    components = [{"type": "systolic", "value": 132, "unit": "mmHg"},
                  {"type": "diastolic", "value": 84, "unit": "mmHg"}]
    components += [{"type": "pulse", "value": 71, "unit": "/min"}] if with_pulse else []
    return {"measurement_id": "msr_bp", "type": "blood_pressure", "components": components,
            "measured_at": "2024-05-01T08:03:30.000Z", "method": "automatic", "late": False,
            "colour": "YELLOW", "threshold_version": 2, "invalidated": None, **changes}


def event(*measurements: dict[str, Any], answers: tuple[dict[str, Any], ...] = (),
          **changes: Any) -> dict[str, Any]:
    return {"message_type": "telehub.upload.evaluated", "schema_version": 1,
            "event_id": "evt_3b2cd663faae312a629661e2", "trigger": "upload",
            "episode_id": "epi_3f9a1c7e5b2d4a6c8e0f1a2b",
            "patient_id": "pat_9a3e7c1d5b2f8e4a6c0d1b37", "disease_area": "copd",
            "treating_organisation": "123456789012345", "monitoring_organisation": "234567890123456",
            "evaluated_at": "2024-05-01T08:05:02.250Z",
            "upload": {"device_id": DEVICE_ID, "upload_id": "u1", "dedupe_key": f"{DEVICE_ID}/u1",
                       "received_at": "2024-05-01T08:05:00.000Z"},
            "colour": "GREEN", "measurements": list(measurements), "re_evaluated": [],
            "threshold_versions": [VERSION_1, VERSION_2], "answers": list(answers), "alarms": [], **changes}


def validated_bundle(body: dict[str, Any], device_id: str | None = DEVICE_ID) -> dict[str, Any]:
    """The Bundle, after fhir.resources accepted it (a rejected one fails the test)."""
    bundle = bundle_of(body, cpr=CPR, device_id=device_id)
    Bundle.model_validate(bundle)
    return bundle


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]
            if entry["resource"]["resourceType"] == resource_type]


def codings(code: dict[str, Any]) -> list[tuple[str, str]]:
    return [(coding["system"], coding["code"]) for coding in code["coding"]]


def ranges(element: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each reference range by its type code, with low and high as bare values."""
    return {
        reference_range["type"]["coding"][0]["code"]: {
            **{side: reference_range[side]["value"] for side in ("low", "high") if side in reference_range},
            **({"text": reference_range["text"]} if "text" in reference_range else {}),
            "system": reference_range["type"]["coding"][0]["system"],
        }
        for reference_range in element.get("referenceRange", [])
    }


def test_the_table_covers_every_catalogue_type():
    assert set(CODES) == set(catalogue())


@pytest.mark.parametrize("measurement_type", sorted(CODES))
def test_every_catalogue_type_is_coded_danish_first_with_its_ucum_unit(measurement_type):
    danish_system, danish_code, ieee, loinc, ucum, value = CODES[measurement_type]
    # Given an evaluated measurement of the type (systolic and diastolic arrive in a blood pressure)
    in_panel = measurement_type in ("systolic", "diastolic")
    body = event(blood_pressure(with_pulse=False) if in_panel else measurement(measurement_type))
    # When its Bundle is built
    [observation] = resources(validated_bundle(body), "Observation")
    element = next(c for c in observation["component"] if c["code"]["coding"][0]["code"] == danish_code) \
        if in_panel else observation
    # Then the Danish code comes first, then IEEE 11073 and LOINC where the catalogue has them
    expected = [(danish_system, danish_code), *([(IEEE, ieee)] if ieee else []),
                *([(LOINC, loinc)] if loinc else [])]
    assert codings(element["code"]) == expected
    # And the value is in its UCUM unit
    assert element["valueQuantity"]["system"] == UCUM
    assert element["valueQuantity"]["code"] == ucum
    assert element["valueQuantity"]["value"] == (132 if measurement_type == "systolic" else
                                                 84 if measurement_type == "diastolic" else value)


def test_spo2_is_shared_in_percent_with_its_observation_fields():
    # Given an SpO2 of 94 % typed in by the citizen
    body = event(measurement("spo2", 94, method="typed"))
    # When its Bundle is built
    bundle = validated_bundle(body)
    [patient], [device], [observation] = (resources(bundle, kind)
                                          for kind in ("Patient", "Device", "Observation"))
    # Then it is a final vital sign in percent, at its measuring time, of the CPR's patient and the device
    assert observation["valueQuantity"] == {"value": 94, "unit": "%", "system": UCUM, "code": "%"}
    assert observation["status"] == "final"
    assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
    assert observation["effectiveDateTime"] == "2024-05-01T08:00:00.000Z"
    assert patient["identifier"] == [{"system": "urn:oid:1.2.208.176.1.2", "value": CPR}]
    assert device["identifier"][0]["value"] == DEVICE_ID
    assert observation["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    assert observation["device"]["reference"] == f"urn:uuid:{device['id']}"
    assert observation["method"]["coding"][0]["code"] == "typed"
    assert bundle["type"] == "collection"


@pytest.mark.parametrize(("colour", "general"), [("GREEN", "N"), ("YELLOW", "A"), ("RED", "AA")])
def test_the_interpretation_carries_the_triage_colour(colour, general):
    # Given a measurement judged in a colour, When shared
    [observation] = resources(validated_bundle(event(measurement("spo2", colour=colour))), "Observation")
    # Then its interpretation is the colour, and HL7's general interpretation of it
    assert codings(observation["interpretation"][0]) == [
        ("urn:telehub:triage-colour", colour),
        ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", general)]


def test_a_measurement_taken_before_the_first_threshold_version_has_no_interpretation_nor_ranges():
    # Given a measurement not judged (measured before version 1 was valid)
    body = event(measurement("spo2", colour=None, threshold_version=None), threshold_versions=[])
    # When shared
    [observation] = resources(validated_bundle(body), "Observation")
    # Then it claims no colour and no limits
    assert "interpretation" not in observation
    assert "referenceRange" not in observation


def test_reference_ranges_come_from_the_version_that_judged_the_measurement():
    # Given two SpO2 measurements, judged under version 1 and version 2
    body = event(measurement("spo2", measurement_id="msr_old", threshold_version=1),
                 measurement("spo2", measurement_id="msr_new", threshold_version=2))
    # When shared
    old, new = resources(validated_bundle(body), "Observation")
    # Then each carries its own version's red (RAL) and yellow (GAL) limits, and version 2's relative one
    assert ranges(old) == {"RAL": {"low": 88, "system": ABSOLUTE}, "GAL": {"low": 92, "system": ABSOLUTE}}
    assert ranges(new) == {"RAL": {"low": 85, "system": ABSOLUTE}, "GAL": {"low": 90, "system": ABSOLUTE},
                           "RELRAL": {"high": 5, "text": "Change from the first value of the episode",
                                      "system": RELATIVE}}
    assert new["referenceRange"][0]["low"] == {"value": 85, "unit": "%", "system": UCUM, "code": "%"}


def test_a_relative_fall_is_a_low_limit_named_with_its_window():
    # Given a weight judged under a version with a relative fall of 1 kg (yellow) and 2 kg (red) over 3 days
    [observation] = resources(validated_bundle(event(measurement("weight"))), "Observation")
    # Then the ranges hold the changes as low limits, in kg
    window = "Change from the first value in the last 3 days"
    assert ranges(observation) == {"RELRAL": {"low": -2, "text": window, "system": RELATIVE},
                                   "RELGAL": {"low": -1, "text": window, "system": RELATIVE}}
    assert observation["referenceRange"][0]["low"]["code"] == "kg"


def test_blood_pressure_is_one_panel_and_its_cuff_pulse_an_observation_of_its_own():
    # Given a blood pressure with the cuff's pulse
    panel, pulse = resources(validated_bundle(event(blood_pressure())), "Observation")
    # Then the panel is coded as the blood pressure panel, with systolic and diastolic components
    assert codings(panel["code"])[0] == (LOINC, "85354-9")
    assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == ["DNK05472", "DNK05473"]
    assert [c["valueQuantity"]["code"] for c in panel["component"]] == ["mm[Hg]", "mm[Hg]"]
    assert panel["interpretation"][0]["text"] == "YELLOW"
    # And each component carries its own limits
    systolic, diastolic = panel["component"]
    assert ranges(systolic) == {"RAL": {"high": 180, "system": ABSOLUTE},
                                "GAL": {"high": 150, "system": ABSOLUTE}}
    assert ranges(diastolic) == {"RAL": {"low": 40, "system": ABSOLUTE}}
    # And the pulse is coded as a cuff's pulse, with the pulse limits, a member of the panel
    assert codings(pulse["code"]) == [(NPU, "NPU21692"), (IEEE, "149546"), (LOINC, "8867-4")]
    assert pulse["valueQuantity"]["value"] == 71
    assert ranges(pulse) == {"GAL": {"low": 50, "high": 110, "system": ABSOLUTE}}
    assert panel["hasMember"] == [{"reference": f"urn:uuid:{pulse['id']}"}]
    assert pulse["id"] != panel["id"]


def test_blood_pressure_without_a_pulse_is_the_panel_alone():
    [panel] = resources(validated_bundle(event(blood_pressure(with_pulse=False))), "Observation")
    assert "hasMember" not in panel
    assert len(panel["component"]) == 2


def test_an_invalidated_measurement_is_shared_again_as_entered_in_error_under_the_same_id():
    # Given a measurement shared valid, then invalidated by a clinician
    valid = measurement("spo2")
    invalidated = {**valid, "invalidated": {"by": "nurse-1", "organisation": "234567890123456",
                                            "at": "2024-05-02T09:00:00.000Z",
                                            "reason": "measured on a cold finger"}}
    [first] = resources(validated_bundle(event(valid)), "Observation")
    # When the invalidation's event is shared (no upload, so the caller names the reading's device)
    body = event(invalidated, trigger="invalidation", upload=None, event_id="evt_invalidation")
    [again] = resources(validated_bundle(body), "Observation")
    # Then the same Observation comes again, entered-in-error, with the reason
    assert (first["status"], again["status"]) == ("final", "entered-in-error")
    assert again["id"] == first["id"]
    assert again["note"] == [{"time": "2024-05-02T09:00:00.000Z",
                              "text": "Invalidated: measured on a cold finger"}]


def test_answers_are_one_questionnaire_response():
    # Given an upload's two answers to the episode's questionnaire, the second given late
    answers = ({"answer_id": "ans_1", "question_id": "more_cough_than_usual", "answer": "yes",
                "answered_at": "2024-05-01T08:03:00.000Z", "late": False, "colour": "YELLOW"},
               {"answer_id": "ans_2", "question_id": "coloured_sputum", "answer": "no",
                "answered_at": "2024-05-01T08:04:00.000Z", "late": True, "colour": "GREEN"})
    # When shared
    bundle = validated_bundle(event(answers=answers))
    [response] = resources(bundle, "QuestionnaireResponse")
    [patient] = resources(bundle, "Patient")
    # Then each answer is an item of one completed response, authored when the last was given
    assert response["status"] == "completed"
    assert response["authored"] == "2024-05-01T08:04:00.000Z"
    assert response["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    # And each answer carries its colour under the episode's template (an extension: an answer has no
    # interpretation), and the item answered late says so
    def coloured(answer: str, colour: str) -> dict[str, Any]:
        extension = {"url": "urn:telehub:extension:triage-colour",
                     "valueCoding": {"system": "urn:telehub:triage-colour", "code": colour}}
        return {"extension": [extension], "valueString": answer}

    late = [{"url": "urn:telehub:extension:late", "valueBoolean": True}]
    assert response["item"] == [
        {"linkId": "more_cough_than_usual", "answer": [coloured("yes", "YELLOW")]},
        {"linkId": "coloured_sputum", "extension": late, "answer": [coloured("no", "GREEN")]}]


def test_a_late_measurement_says_so_and_one_on_time_carries_no_flag():
    # Given a saturation measured more than 24 hours before it arrived, one on time, and a late blood pressure
    body = event(measurement("spo2", measurement_id="msr_late", late=True),
                 measurement("spo2", measurement_id="msr_on_time"), blood_pressure(late=True))
    # When shared
    late, on_time, panel, cuff_pulse = resources(validated_bundle(body), "Observation")
    # Then the late ones (the panel and its cuff pulse alike) carry Telehub's late extension, the other none
    flag = [{"url": "urn:telehub:extension:late", "valueBoolean": True}]
    assert late["extension"] == panel["extension"] == cuff_pulse["extension"] == flag
    assert "extension" not in on_time


def test_an_event_without_measurements_shares_the_patient_alone():
    # Given a missed-measurement event (no upload, no measurements, no device)
    body = event(trigger="missed_measurement", upload=None, colour=None, threshold_versions=[])
    # When shared
    bundle = validated_bundle(body, device_id=None)
    # Then the Bundle holds the patient and nothing else
    assert [entry["resource"]["resourceType"] for entry in bundle["entry"]] == ["Patient"]


def test_a_redelivered_event_gives_a_byte_identical_bundle():
    # Given an event with every kind of measurement, as sent and as read back from the queue
    body = event(*(measurement(t) for t in sorted(CODES) if t not in ("systolic", "diastolic")),
                 blood_pressure())
    redelivered = json.loads(json.dumps(body))
    # When both are shared
    first, second = bundle_json(validated_bundle(body)), bundle_json(validated_bundle(redelivered))
    # Then the bytes are the same, and every id in them is unique
    assert first == second
    ids = [entry["resource"]["id"] for entry in json.loads(first)["entry"]]
    assert len(ids) == len(set(ids))
    # And another event's Bundle has another id
    other = bundle_of({**body, "event_id": "evt_other"}, cpr=CPR, device_id=DEVICE_ID)
    assert other["id"] != json.loads(first)["id"]
    assert other["identifier"] == {"system": "urn:telehub:event-id", "value": "evt_other"}


def test_a_stored_decimal_value_is_shared_as_the_number_it_is():
    body = event(measurement("weight", Decimal("69.989303")))
    [observation] = resources(validated_bundle(body), "Observation")
    assert bundle_json(observation["valueQuantity"]).startswith('{"value":69.989303,')


def two_hundred_blood_pressures() -> dict[str, Any]:
    """An upload of 200 blood pressures with their cuff pulses: the largest upload the API accepts."""
    return event(*(blood_pressure(measurement_id=f"msr_{n:03d}", colour="RED") for n in range(200)))


def test_a_bundle_that_fits_is_not_split():
    # Given an ordinary upload, When its Bundles are built for a limit it fits in
    body = event(measurement("spo2"), blood_pressure())
    # Then there is one: the event's Bundle, as bundle_of gives it
    assert bundles_of(body, cpr=CPR, device_id=DEVICE_ID, max_bytes=250_000) == [
        bundle_of(body, cpr=CPR, device_id=DEVICE_ID)]


def test_an_oversized_bundle_is_split_into_valid_parts_that_each_fit():
    # Given an upload of 200 blood pressures, whose one Bundle is over SNS's 256 KiB
    body = two_hundred_blood_pressures()
    whole = bundle_of(body, cpr=CPR, device_id=DEVICE_ID)
    limit = 250_000
    assert len(bundle_json(whole).encode()) > 256 * 1024
    # When its Bundles are built for the limit
    parts = bundles_of(body, cpr=CPR, device_id=DEVICE_ID, max_bytes=limit)
    # Then each part is a valid Bundle within the limit, with the Patient and the Device first
    assert len(parts) > 1
    for number, part in enumerate(parts, start=1):
        Bundle.model_validate(part)
        assert len(bundle_json(part).encode()) <= limit
        assert [entry["resource"]["resourceType"] for entry in part["entry"][:2]] == ["Patient", "Device"]
        # And says which part of how many it is, keeping the event id as its identifier
        assert part["meta"]["tag"] == [{"system": "urn:telehub:bundle-part",
                                        "code": f"{number}-of-{len(parts)}",
                                        "display": f"Part {number} of {len(parts)}"}]
        assert part["identifier"] == whole["identifier"]
        assert part["id"] == part_bundle_id(body["event_id"], number)
    # And together the parts hold every Observation of the whole Bundle once, in order, each panel with its
    # cuff pulse (the member it references is in its own part)
    observations = [resource for part in parts for resource in resources(part, "Observation")]
    assert observations == resources(whole, "Observation")
    for part in parts:
        in_part = {f"urn:uuid:{resource['id']}" for resource in resources(part, "Observation")}
        members = {member["reference"] for resource in resources(part, "Observation")
                   for member in resource.get("hasMember", [])}
        assert members <= in_part
    # And the part ids are distinct from one another and from the whole Bundle's
    assert len({part["id"] for part in parts} | {whole["id"]}) == len(parts) + 1


def test_a_split_is_the_same_on_every_delivery():
    # Given the same oversized upload, as sent and as read back from the queue
    body = two_hundred_blood_pressures()
    redelivered = json.loads(json.dumps(body))
    # When both are split
    first = [bundle_json(part) for part in bundles_of(body, cpr=CPR, device_id=DEVICE_ID, max_bytes=250_000)]
    again = [bundle_json(part) for part in bundles_of(redelivered, cpr=CPR, device_id=DEVICE_ID,
                                                      max_bytes=250_000)]
    # Then the parts are the same bytes
    assert first == again


@pytest.mark.parametrize(("break_it", "how"), [
    (lambda observation: observation.pop("status"), "a required element missing"),
    (lambda observation: observation.__setitem__("valueQuantiti", {}), "an element R4 does not define"),
    (lambda observation: observation.__setitem__("effectiveDateTime", "yesterday"), "a malformed dateTime"),
    (lambda observation: observation.__setitem__("valueString", "94"), "two values of a choice"),
])
def test_the_validation_rejects_a_bundle_fhir_does_not_allow(break_it, how):
    # Given a Bundle whose observation is broken (the library checks structure, cardinality and types, not
    # code bindings nor invariants: the tests above assert the codes themselves)
    bundle = bundle_of(event(measurement("spo2")), cpr=CPR, device_id=DEVICE_ID)
    break_it(resources(bundle, "Observation")[0])
    # Then the validation used above refuses it, so it can fail
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)


def test_the_documented_example_is_what_the_builder_gives_for_the_documented_event():
    # Given the evaluated event docs/messages.md documents, narrowed to its first measurement
    documented_event = json_block_after("docs/messages.md", "## `telehub.upload.evaluated`")
    documented_event["measurements"] = documented_event["measurements"][:1]
    # When it is shared
    bundle = validated_bundle(documented_event, device_id=documented_event["upload"]["device_id"])
    # Then the Bundle is the example docs/sharing.md shows, and that example is valid FHIR
    example = json_block_after("docs/sharing.md", "### Example")
    Bundle.model_validate(example)
    assert bundle == example
