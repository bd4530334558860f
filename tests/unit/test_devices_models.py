"""The registration body: strict, no extra fields, CPR per DESIGN §5, measurement types from the catalogue."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.devices.models import DeviceRegistration
from functions.shared.catalogue import catalogue

VALID = {"cpr": "251248-9996", "vendor": "A&D Medical", "model": "UA-651BLE", "serial": "5140900123",
         "measurement_types": ["blood_pressure"]}


def registered(**changes) -> DeviceRegistration:
    return DeviceRegistration.model_validate({**VALID, **changes})


def refused_fields(**changes) -> dict[str, str]:
    body = {name: value for name, value in {**VALID, **changes}.items() if value is not ...}
    with pytest.raises(ValidationError) as refused:
        DeviceRegistration.model_validate(body)
    return {".".join(str(part) for part in error["loc"]): error["msg"] for error in refused.value.errors()}


def test_a_valid_registration_normalises_the_cpr_and_keeps_the_rest():
    # Given a body with the CPR written with a dash and padded text
    registration = registered(vendor=" A&D Medical ", serial=" 5140900123")
    # Then the CPR is the ten digits and the text is trimmed
    assert registration.cpr == "2512489996"
    assert (registration.vendor, registration.serial) == ("A&D Medical", "5140900123")
    assert registration.medcom_instrument_code is None


def test_the_cpr_never_shows_in_the_model_repr():
    registration = registered()
    assert "2512489996" not in repr(registration) and "9996" not in str(registration)


@pytest.mark.parametrize("cpr", ["3212489996", "251248999", "25124899961", "2902001234"])
def test_a_bad_cpr_names_the_field_without_echoing_it(cpr):
    # Given a CPR with an impossible date, a wrong length or a leap day 1900 never had
    problems = refused_fields(cpr=cpr)
    # Then the field named is cpr, and the message does not repeat the number
    assert list(problems) == ["cpr"]
    assert cpr not in problems["cpr"]


def test_a_cpr_number_sent_as_a_json_number_is_refused():
    assert list(refused_fields(cpr=2512489996)) == ["cpr"]


def test_blood_pressure_is_stored_as_systolic_diastolic_and_pulse():
    registration = registered(measurement_types=["blood_pressure", "pulse"])
    assert registration.catalogue_types() == ("diastolic", "pulse", "systolic")


def test_every_catalogue_type_may_be_declared():
    registration = registered(measurement_types=sorted(catalogue()))
    assert registration.catalogue_types() == tuple(sorted(catalogue()))


@pytest.mark.parametrize(
    ("measurement_types", "field"),
    [
        (["spo2", "heart_sound"], "measurement_types.1"),
        ([], "measurement_types"),
        (["systolic"], "measurement_types"),
        (["diastolic", "pulse"], "measurement_types"),
        ("spo2", "measurement_types"),
    ],
)
def test_unknown_measurement_types_or_half_a_blood_pressure_are_refused(measurement_types, field):
    # Given an unknown type, no type, systolic without diastolic, or a string instead of a list
    # Then the refusal names the list, or the item that is wrong
    assert list(refused_fields(measurement_types=measurement_types)) == [field]


def test_systolic_and_diastolic_together_are_a_blood_pressure():
    registration = registered(measurement_types=["systolic", "diastolic"])
    assert registration.catalogue_types() == ("diastolic", "systolic")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"serial": ...}, "serial"),
        ({"serial": ""}, "serial"),
        ({"serial": "ABC#123"}, "serial"),
        ({"serial": 5140900123}, "serial"),
        ({"vendor": ...}, "vendor"),
        ({"vendor": "   "}, "vendor"),
        ({"model": "x" * 101}, "model"),
        ({"medcom_instrument_code": "bad code"}, "medcom_instrument_code"),
        ({"colour": "blue"}, "colour"),
        ({"patient_id": "pat_0"}, "patient_id"),
    ],
)
def test_a_missing_malformed_or_extra_field_is_named(changes, field):
    assert list(refused_fields(**changes)) == [field]
