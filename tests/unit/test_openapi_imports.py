"""Handler modules import with no environment and no AWS, as the OpenAPI generator and cold starts need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.resource_spec import SPEC

ROOT = Path(__file__).resolve().parents[2]
_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
from functions.shared import aws
assert aws.client.cache_info().currsize == 0, "a boto3 client was created at import time"
assert aws.session.cache_info().currsize == 0, "a boto3 session was created at import time"
"""


def _bare_environment() -> dict[str, str]:
    """The process environment without AWS settings, Powertools settings or function variables."""
    function_variables = {"TOKEN_ISSUER", "TOKEN_AUDIENCE", "JWKS_URI", "TELEHUB_STAGE"}
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_"))
        and not name.endswith(("_TABLE_NAME", "_QUEUE_URL", "_TOPIC_ARN", "_KEY_ID"))
        and not name.startswith("DEVICE_CREDENTIAL_")
        and name not in function_variables
    }


@pytest.mark.parametrize("module", sorted({function.module for function in SPEC.functions}))
def test_handler_module_imports_without_environment_or_aws_clients(module):
    # Given a fresh interpreter with no AWS or function configuration in its environment
    # When the handler module is imported
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        cwd=ROOT, env=_bare_environment(), capture_output=True, text=True, timeout=60,
    )
    # Then the import succeeds and created no boto3 session or client
    assert result.returncode == 0, result.stderr[-2000:]
