"""Only adapters load boto3: a feature's models, logic and outbox, the alarm triage rules, the shared
table records (keys, statuses, transaction items) and the FHIR Bundle builder import without it, so rules
stay testable with fakes. No run-time module loads fhir.resources, which only the tests validate with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for pattern in ("functions/*/models.py", "functions/*/logic.py", "functions/*/outbox.py",
                    "functions/alarm_evaluation/triage.py", "functions/alarm_evaluation/questionnaire.py",
                    "functions/shared/*_records.py", "functions/shared/access_log.py",
                    "functions/cross_sector_sharing/fhir.py", "functions/cross_sector_sharing/consents.py",
                    "functions/cross_sector_sharing/api_models.py",
                    "functions/cross_sector_sharing/search.py", "functions/cross_sector_sharing/relations.py",
                    "functions/cross_sector_sharing/search_models.py", "functions/shared/cursors.py",
                    "functions/shared/citizens.py", "functions/shared/catalogue.py")
    for path in ROOT.glob(pattern)
)
_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
assert "boto3" not in sys.modules, "importing it loaded boto3"
assert "fhir" not in sys.modules, "importing it loaded fhir.resources"
"""


def test_the_pure_modules_are_found():
    assert {"functions.referral_intake.models", "functions.referral_intake.outbox",
            "functions.shared.episode_records", "functions.shared.device_records",
            "functions.alarm_evaluation.triage", "functions.cross_sector_sharing.fhir"} <= set(PURE_MODULES)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_module_imports_without_boto3(module):
    # Given a fresh interpreter
    # When the module is imported
    result = subprocess.run([sys.executable, "-c", _PROBE, module], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    # Then it loaded no boto3 nor fhir.resources (through no import of its own, nor of the modules it imports)
    assert result.returncode == 0, result.stderr[-2000:]
