"""How constructs are named and tagged after the resource spec's ids."""

from __future__ import annotations

from aws_cdk import Tags
from constructs import IConstruct

# Every resource made from a spec entry carries this tag, value "<kind>/<spec id>", so operators
# (and the spec-vs-template test) can tell which entry of the spec a resource implements.
SPEC_TAG = "telehub:spec"


def pascal(resource_id: str) -> str:
    """``upload-outbox`` -> ``UploadOutbox``: readable construct ids and CloudFormation logical ids."""
    return "".join(part.capitalize() for part in resource_id.replace("_", "-").split("-"))


def tag_from_spec(resource: IConstruct, kind: str, resource_id: str) -> None:
    Tags.of(resource).add(SPEC_TAG, f"{kind}/{resource_id}")
