"""Logger and metrics shared by every function.

Health data never goes here: log identifiers (upload_id, device_id, patient_id), counts and
error codes; never a CPR number, a name, a measured value or a request body.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Telehub")
