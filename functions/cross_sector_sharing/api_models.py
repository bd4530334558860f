"""The consent route's request and reply (POST /v1/consents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from functions.shared.citizen_records import ConsentSource, ConsentStatus, SharingConsent
from functions.shared.identifiers import CprNumber


class ConsentRequest(BaseModel):
    """The citizen's consent to cross-sector sharing, withdrawn or given again. The CPR number is in the
    body, never in the URL."""

    model_config = ConfigDict(extra="forbid")

    cpr: CprNumber
    status: Annotated[ConsentStatus, Field(
        description="`granted`: the citizen's data is shared with the organisations related to the citizen "
        "from now on; `withdrawn`: nothing more is shared from now on.")]


class ConsentView(BaseModel):
    """The consent that holds now (the CPR number is not repeated)."""

    consent_id: str
    status: ConsentStatus
    recorded_at: datetime
    organisation: Annotated[str, Field(description="The organisation that recorded it.")]
    source: Annotated[ConsentSource, Field(
        description="`referral`: given with a referral; `consent_request`: recorded by POST /v1/consents.")]

    @classmethod
    def of(cls, consent: SharingConsent) -> ConsentView:
        return cls(consent_id=consent.consent_id, status=consent.status,
                   recorded_at=datetime.fromisoformat(consent.recorded_at), organisation=consent.organisation,
                   source=consent.source)
