"""Settings every test tier shares: no real AWS account is ever reachable from a test."""

from __future__ import annotations

import os

from tests.support.botocore_models import share_parsed_models
from tests.support.moto_kms import skip_unused_key_pairs

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_REGION="eu-west-1",
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    POWERTOOLS_METRICS_NAMESPACE="Telehub",
    POWERTOOLS_SERVICE_NAME="telehub-tests",
    TELEHUB_STAGE="test",  # the stage dimension of every metric (functions.shared.observability)
    POWERTOOLS_DEV="false",
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
share_parsed_models()
skip_unused_key_pairs()
