"""Disease areas are data: every template loads through the same code, COPD from the reference set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from functions.shared import disease_areas as module
from functions.shared.disease_areas import DiseaseArea, disease_area, disease_areas
from functions.shared.thresholds import thresholds_at  # noqa: F401  (the evaluation entry point exists)

DATA = Path(module.__file__).parent / "data"


def test_copd_and_heart_failure_load_through_the_same_code():
    # Given the shipped templates, When loaded, Then both areas are there, each with its own codes
    areas = disease_areas()
    assert {"copd", "heart_failure"} <= set(areas)
    assert (areas["copd"].condition_code.code, areas["copd"].condition_code.danish_sks) == ("J44", "DJ44")
    assert (areas["heart_failure"].condition_code.code,
            areas["heart_failure"].condition_code.danish_sks) == ("I50", "DI50")
    assert areas["copd"].xds_event_code == "ALAL21"


def test_heart_failure_alarms_on_a_weight_gain_of_2_kg_in_3_days():
    weight = disease_area("heart_failure").thresholds.relative["weight"]
    assert (weight.baseline, weight.window_days, weight.yellow_change) == ("window", 3, 2.0)


def test_copd_defaults_are_the_reference_set():
    # Given the product's reference COPD set (copied beside the templates)
    reference = json.loads((DATA / "copd_default_thresholds.json").read_text(encoding="utf-8"))
    copd = disease_area("copd")
    # Then every absolute limit, the schedule and the questionnaire's questions and severities are the
    # reference's, and each question can also be answered "no", which is GREEN (the reference lists only
    # the answers that alarm)
    assert copd.thresholds.model_dump(exclude_none=True)["absolute"] == reference["absolute"]
    assert copd.schedule.model_dump() == reference["schedule"]
    assert copd.questionnaire == {question: {**severities, "no": "GREEN"}
                                  for question, severities in reference["questionnaire"].items()}
    assert copd.xds_event_code == reference["xds_event_code"]
    # And the relative limits keep the reference's windows and changes (a loss: negative)
    weight = copd.thresholds.relative["weight"]
    assert (weight.window_days, weight.yellow_change, weight.red_change) == (30, -2.0, -4.0)
    cat = copd.thresholds.relative["cat_score"]
    assert (cat.baseline, cat.yellow_change, cat.red_change) == ("episode_start", 4, 8)


def test_an_unknown_area_is_a_key_error():
    # When an area no template has is asked for
    # Then it is a KeyError (the API's models never let such a code through)
    with pytest.raises(KeyError):
        disease_area("diabetes_type_9")


def test_a_new_area_is_a_file_not_code(tmp_path, monkeypatch):
    # Given a third area written as a file only (a copy of heart failure under another code)
    template = json.loads((DATA / "disease_areas" / "heart_failure.json").read_text(encoding="utf-8"))
    for name in ("copd.json", "heart_failure.json"):
        (tmp_path / name).write_text((DATA / "disease_areas" / name).read_text(encoding="utf-8"))
    (tmp_path / "pregnancy.json").write_text(json.dumps({**template, "code": "pregnancy"}))
    monkeypatch.setattr(module, "_TEMPLATES", tmp_path)
    disease_areas.cache_clear()
    try:
        # When the areas are loaded, Then it is there beside the others, through the same loader
        assert set(disease_areas()) == {"copd", "heart_failure", "pregnancy"}
    finally:
        disease_areas.cache_clear()


def test_a_file_must_be_named_by_its_code(tmp_path, monkeypatch):
    template = (DATA / "disease_areas" / "copd.json").read_text(encoding="utf-8")
    (tmp_path / "kol.json").write_text(template)
    monkeypatch.setattr(module, "_TEMPLATES", tmp_path)
    disease_areas.cache_clear()
    try:
        with pytest.raises(module.InvalidTemplate, match="kol.json"):
            disease_areas()
    finally:
        disease_areas.cache_clear()


def template(**changes) -> dict:
    data = json.loads((DATA / "disease_areas" / "heart_failure.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


def test_a_template_with_thresholds_out_of_order_is_refused():
    broken = template(thresholds={"absolute": {"spo2": {"red_low": 92, "yellow_low": 88}}})
    with pytest.raises(ValidationError, match="thresholds.absolute.spo2.yellow_low"):
        DiseaseArea.model_validate(broken)


def test_a_template_limiting_a_type_it_does_not_measure_is_refused():
    broken = template(thresholds={"absolute": {"temperature": {"red_high": 39}}})
    with pytest.raises(ValidationError, match="does not measure"):
        DiseaseArea.model_validate(broken)
