"""Referrals and episodes of care: the API's requests and replies, the stored episode, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from functions.shared.citizen_records import ConsentStatus, SharingConsent
from functions.shared.disease_areas import PackageItem, disease_areas
from functions.shared.episode_records import OPEN_STATUSES, EpisodeStatus
from functions.shared.identifiers import ORGANISATION_PATTERN, CprNumber
from functions.shared.settings import EnvironmentSettings
from functions.shared.thresholds import ThresholdOverrides, ThresholdVersion

DELIVER, COLLECT = "deliver", "collect"
ORDER_MESSAGE_TYPE = "telehub.logistics.order"
# 2: the order names the citizen by patient id only; the contact details are read through the API.
ORDER_SCHEMA_VERSION = 2
# An episode's threshold history is read a page at a time, as every list (limit and cursor).
HISTORY_PAGE_SIZE = 50
MAX_HISTORY_PAGE_SIZE = 100

Organisation = Annotated[
    str,
    StringConstraints(pattern=ORGANISATION_PATTERN),
    Field(description="A SOR code (11 to 18 digits) or a GP ydernummer (6 digits).",
          examples=["123456789012345"]),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Field(
    description="Beyond the schema: surrounding whitespace is removed first; 1 to 200 characters remain.")]


# The templates decide which areas exist (an enum in the OpenAPI document); nothing here names one.
if TYPE_CHECKING:  # a Literal made from the templates is beyond a type checker: a str to it
    _TemplateCode = str
else:
    _TemplateCode = Literal[tuple(sorted(disease_areas()))]
DiseaseAreaCode = Annotated[
    _TemplateCode,
    Field(description="A disease-area template: " + "; ".join(
        f"`{code}` ({area.display}: ICD-10 {area.condition_code.code}, SKS {area.condition_code.danish_sks})"
        for code, area in sorted(disease_areas().items())) + ".", examples=["copd"]),
]


class Citizen(BaseModel):
    """The citizen referred. All of it is kept on the citizen's profile, where the logistics centre reads it
    for an order it was sent (never in the order itself); none of it is a key or logged."""

    model_config = ConfigDict(extra="forbid")

    cpr: CprNumber
    name: Annotated[Text, Field(repr=False, examples=["Karen Jensen"])]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ]{6,18}[0-9]$"), Field(
        repr=False, description="A phone number the logistics centre can call.",
        examples=["+45 20 30 40 50"])]


class ScheduleChoice(BaseModel):
    """The measurement schedule; a field left out keeps the disease area's."""

    model_config = ConfigDict(extra="forbid")

    per_week: Annotated[int, Field(ge=1, le=70)] | None = None
    missed_after_hours: Annotated[int, Field(ge=1, le=24 * 31)] | None = None


class Referral(BaseModel):
    """A treating doctor's referral of a citizen to telemedical monitoring."""

    model_config = ConfigDict(extra="forbid")

    referral_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"), Field(
        description="The sender's id of the referral: retrying with the same id and body is safe.",
        examples=["ref-2025-000123"])]
    citizen: Citizen
    disease_area: DiseaseAreaCode
    treating_organisation: Organisation
    monitoring_organisation: Organisation
    logistics_centre: Organisation
    thresholds: Annotated[ThresholdOverrides | None, Field(
        description="Overrides of the area's default thresholds: a limit given replaces the default, a "
        "limit given as null removes it, a limit left out keeps it.")] = None
    schedule: ScheduleChoice | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    sharing_consent: Annotated[ConsentStatus | None, Field(
        description="The citizen's consent to cross-sector sharing, as given to the referring doctor: "
        "recorded with the episode. Left out, the referral says nothing and the consent recorded before "
        "(if any) holds; a citizen with none recorded shares nothing.")] = None


class ThresholdChange(BaseModel):
    """A new threshold version: changes to the current version, from ``valid_from`` (default now)."""

    model_config = ConfigDict(extra="forbid")

    thresholds: ThresholdOverrides
    valid_from: Annotated[AwareDatetime | None, Field(
        description="When the new version takes effect (default now). Beyond the schema: not more than 5 "
        "minutes in the past, at most 365 days ahead, and not before the latest version's valid_from."
    )] = None


class HandoverOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_organisation: Annotated[Organisation, Field(
        description="A SOR code (11 to 18 digits) or a GP ydernummer (6 digits). Beyond the schema: not the "
        "organisation that holds monitoring responsibility now.")]


class ReferralAccepted(BaseModel):
    episode_id: str
    patient_id: str
    disease_area: str
    status: EpisodeStatus
    threshold_version: int
    order_id: str
    sharing_consent: Annotated[ConsentStatus | None, Field(
        description="The consent to sharing this referral recorded; null if it said nothing.")] = None


class OrderContact(BaseModel):
    """Whom the logistics centre delivers an order to or collects it from: the citizen's profile as it is now
    (null where the profile holds nothing)."""

    order_id: str
    kind: Literal["deliver", "collect"]
    cpr: Annotated[str | None, Field(
        repr=False, description="The citizen's CPR number (10 digits), for registering the devices.",
        examples=["2512489996"])]
    name: Annotated[str | None, Field(repr=False, examples=["Karen Jensen"])]
    phone: Annotated[str | None, Field(
        repr=False, description="Where to call the citizen to agree the visit.",
        examples=["+45 20 30 40 50"])]


class CitizenContact(BaseModel):
    """Whom an episode is for, for its clinicians: the citizen's profile as it is now (null where the profile
    holds nothing). Small on purpose: a worklist reads it once per episode it shows."""

    cpr: Annotated[str | None, Field(repr=False, description="The citizen's CPR number (10 digits).",
                                     examples=["2512489996"])]
    name: Annotated[str | None, Field(repr=False, examples=["Karen Jensen"])]
    phone: Annotated[str | None, Field(repr=False, examples=["+45 20 30 40 50"])]


class ThresholdVersionView(BaseModel):
    version: int
    valid_from: datetime
    thresholds: dict[str, Any]
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, version: ThresholdVersion) -> ThresholdVersionView:
        return cls.model_validate(version.as_dict())


class HandoverView(BaseModel):
    to_organisation: str
    offered_by: str
    offered_at: datetime


class EpisodeView(BaseModel):
    episode_id: str
    patient_id: str
    disease_area: str
    status: EpisodeStatus
    treating_organisation: str
    monitoring_organisation: str
    logistics_centre: str
    schedule: dict[str, int]
    note: str | None
    created_at: datetime
    ended_at: datetime | None
    device_ids: list[str]
    handover: HandoverView | None
    thresholds: Annotated[ThresholdVersionView, Field(description="The version valid now.")]
    threshold_history: Annotated[list[ThresholdVersionView], Field(
        description=f"A page of the versions, oldest first: the first `history_limit` (default "
        f"{HISTORY_PAGE_SIZE}), or those after the page `history_cursor` continues.")]
    threshold_history_next_cursor: Annotated[str | None, Field(
        description="The next page's `history_cursor`; null on the last page.")]

    @classmethod
    def of(cls, episode: Episode, current: ThresholdVersion, history: list[ThresholdVersion],
           next_cursor: str | None) -> EpisodeView:
        """The episode as the API shows it, with the thresholds valid now and a page of the versions."""
        return cls(
            episode_id=episode.episode_id,
            patient_id=episode.patient_id,
            disease_area=episode.disease_area,
            status=episode.status,
            treating_organisation=episode.treating_organisation,
            monitoring_organisation=episode.monitoring_organisation,
            logistics_centre=episode.logistics_centre,
            schedule=episode.schedule,
            note=episode.note,
            created_at=episode.created_at,
            ended_at=episode.ended_at,
            device_ids=list(episode.device_ids),
            handover=HandoverView(**vars(episode.handover)) if episode.handover else None,
            thresholds=ThresholdVersionView.of(current),
            threshold_history=[ThresholdVersionView.of(version) for version in history],
            threshold_history_next_cursor=next_cursor,
        )


@dataclass(frozen=True)
class Handover:
    to_organisation: str
    offered_by: str
    offered_at: datetime


@dataclass(frozen=True)
class Episode:
    episode_id: str
    patient_id: str
    disease_area: str
    status: EpisodeStatus
    treating_organisation: str
    monitoring_organisation: str
    logistics_centre: str
    referral_id: str
    schedule: dict[str, int]
    created_at: datetime
    threshold_version: int
    note: str | None = None
    handover: Handover | None = None
    device_ids: tuple[str, ...] = ()
    ended_at: datetime | None = None
    declined_by: str | None = None  # the organisation that declined the last offer (a retry is a 204)
    declined_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Order:
    """A message for the logistics centre, stored with the episode and relayed by the outbox."""

    order_id: str
    kind: str  # DELIVER or COLLECT
    episode_id: str
    logistics_centre: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ordered_at(self) -> datetime:
        return datetime.fromisoformat(self.body["ordered_at"])


@dataclass(frozen=True)
class StoredReferral:
    referral_id: str
    body_hash: str
    reply: dict[str, Any]


@dataclass(frozen=True)
class NewEpisode:
    """Everything an accepted referral writes, in one transaction."""

    episode: Episode
    thresholds: ThresholdVersion
    order: Order
    referral: StoredReferral
    citizen_name: str
    citizen_phone: str
    consent: SharingConsent | None = None  # the referral's say on sharing, if it had one


def package_of(items: list[PackageItem]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


class ReferralIntakeSettings(EnvironmentSettings):
    citizens_table_name: str
    episodes_table_name: str
    devices_table_name: str
    evaluations_table_name: str  # an accepted handover moves the episode's worklist row
    access_log_table_name: str
    access_log_retention_days: int
    citizen_pseudonym_key_id: str
    citizen_profile_key_id: str  # seals and opens the profile's CPR number, name and phone


class EpisodeOutboxSettings(EnvironmentSettings):
    logistics_orders_queue_url: str


class EpisodeOutboxRecoverySettings(EnvironmentSettings):
    episodes_table_name: str  # the table whose stream failures it recovers, and its fallback source
