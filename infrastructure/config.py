"""A stage's configuration: ``config/<stage>.json``, validated before anything is synthesized.

Everything that differs between dev and prod lives in that file; the stack reads nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from functions.authorizer.usage import CITIZENS, DEVICES, OTHER_ORGANISATIONS, organisation_bucket
from functions.shared.access_log import MINIMUM_RETENTION_DAYS
from functions.shared.catalogue import BLOOD_PRESSURE, QUESTIONNAIRE, shareable_types
from functions.shared.identifiers import ORGANISATION_PATTERN
from infrastructure.edge import Throttle
from infrastructure.resource_spec import PlatformSettings, SharingSubscriber

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# The retention periods CloudWatch Logs accepts, by the name aws_logs.RetentionDays gives them.
LOG_RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
_HTTPS_URL = r"^https://[^\s/]+(/\S*)?$"
_CLIENT_ID = r"^[A-Za-z0-9._:/-]{1,255}$"
_HOST_NAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
# The COPD programme's measurement types and its questionnaire: the default of a stage's shared types (and
# the embedded mode's). The nationally agreed list is the stage owner's to set in its config file.
COPD_SHARED_MEASUREMENT_TYPES = (
    "spo2", "pulse", "weight", BLOOD_PRESSURE, "temperature", "fev1", "fev6", "fev1_fev6_ratio", "cat_score",
    QUESTIONNAIRE,
)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiThrottling(_Settings):
    """The REST API stage's limits for all clients together (API Gateway token bucket)."""

    rate_limit: float = Field(gt=0, description="steady-state requests per second")
    burst_limit: int = Field(gt=0, description="requests allowed in a burst above the rate")


class CredentialRateLimit(_Settings):
    """The web ACL's limit per credential (the bearer token as sent: one device, one person's or system's
    token): at most ``requests`` in any ``window_seconds`` (the evaluation windows WAF offers)."""

    requests: int = Field(ge=10, le=2_000_000_000)
    window_seconds: Literal[60, 120, 300, 600]


class BucketLimit(_Settings):
    """A usage plan's token bucket: ``burst`` requests at once, refilled at ``rate`` a second."""

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)

    def throttle(self) -> Throttle:
        return Throttle(rate=self.rate, burst=self.burst)


class OrganisationLimit(_Settings):
    """An organisation with a bucket of its own; a rate or burst it leaves out is the default's."""

    organisation: str = Field(pattern=ORGANISATION_PATTERN)  # its SOR code or ydernummer, as tokens name it
    rate: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)

    @property
    def has_own_limits(self) -> bool:
        return self.rate is not None or self.burst is not None


class OrganisationLimits(_Settings):
    """API Gateway usage plans, one API key per bucket (functions/authorizer/usage.py): each listed
    organisation's own, one for every other organisation, one for all citizens and one for all devices."""

    default: BucketLimit  # each listed organisation's, unless it names its own
    organisations: tuple[OrganisationLimit, ...] = ()
    other_organisations: BucketLimit  # every organisation not listed, and a system of none, together
    citizens: BucketLimit  # all citizens together
    devices: BucketLimit  # all devices together: a tablet flood empties this, never an organisation's

    @field_validator("organisations")
    @classmethod
    def _each_once(cls, organisations: tuple[OrganisationLimit, ...]) -> tuple[OrganisationLimit, ...]:
        codes = [limit.organisation for limit in organisations]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"organisation {', '.join(repeated)} is listed more than once")
        return organisations

    def throttle_of(self, limit: OrganisationLimit) -> Throttle:
        return Throttle(rate=limit.rate or self.default.rate, burst=limit.burst or self.default.burst)

    def buckets(self) -> dict[str, Throttle]:
        """Every bucket's throttle, by its name (functions.authorizer.usage)."""
        return {
            DEVICES: self.devices.throttle(),
            CITIZENS: self.citizens.throttle(),
            OTHER_ORGANISATIONS: self.other_organisations.throttle(),
            **{organisation_bucket(limit.organisation): self.throttle_of(limit)
               for limit in self.organisations},
        }


class IdentityProvider(_Settings):
    """The OpenID provider that issues people's and systems' JWTs."""

    issuer: str = Field(pattern=_HTTPS_URL)
    audience: str = Field(min_length=1)
    jwks_uri: str = Field(pattern=_HTTPS_URL)
    # The provider's clients (the clinicians' and citizens' apps, the logistics centres' and regions'
    # systems) whose tokens Telehub takes: a token whose azp names another client is refused.
    client_ids: tuple[Annotated[str, Field(pattern=_CLIENT_ID)], ...] = Field(min_length=1)


class ClinicianWeb(_Settings):
    """The clinician web app (docs/web.md): a public client of the identity provider (authorization code with
    PKCE) and where it is served. The endpoints reach config.json and the Content-Security-Policy."""

    client_id: str = Field(default="telehub-clinician-web", pattern=_CLIENT_ID)
    authorization_endpoint: str = Field(pattern=_HTTPS_URL)
    token_endpoint: str = Field(pattern=_HTTPS_URL)
    end_session_endpoint: str | None = Field(default=None, pattern=_HTTPS_URL)
    # The app's own host name, with an ACM certificate for it in us-east-1 (where CloudFront takes them from);
    # without both the app is at the distribution's cloudfront.net name.
    domain_name: str | None = Field(default=None, pattern=_HOST_NAME)
    certificate_arn: str | None = Field(
        default=None, pattern=r"^arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$"
    )

    @model_validator(mode="after")
    def _domain_with_its_certificate(self) -> ClinicianWeb:
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise ValueError("domain_name and certificate_arn go together: set both or neither")
        return self


class DeviceCredentials(_Settings):
    """The JWTs Telehub itself signs (KMS key ``device-credentials``) for home collection points."""

    issuer: str = Field(min_length=1)
    ttl_days: int = Field(ge=1, le=730)


class ConsumerConcurrency(_Settings):
    """How far the functions behind the queues and the streams scale (docs/scaling.md, "Lambda")."""

    # Concurrent batches of each SQS event source mapping (its ScalingConfig, Lambda's bounds 2 to 1,000): a
    # queue's backlog is worked off at most this fast, so it cannot flood DynamoDB, KMS or SNS behind.
    queue_maximum_concurrency: int = Field(ge=2, le=1000)
    # Concurrent batches per stream shard (each DynamoDB mapping's ParallelizationFactor, 1 to 10); the
    # records of one item still go in order.
    stream_parallelization_factor: int = Field(ge=1, le=10)
    # Concurrency reserved for each stream outbox, its floor and its ceiling, or none: a reservation fails
    # the deployment in an account with a low concurrency quota, as new accounts have.
    stream_reserved_concurrency: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_shard_at_least(self) -> ConsumerConcurrency:
        reserved = self.stream_reserved_concurrency
        if reserved is not None and reserved < self.stream_parallelization_factor:
            raise ValueError("stream_reserved_concurrency must take at least one shard's concurrent batches "
                             "(stream_parallelization_factor)")
        return self


class Subscriber(_Settings):
    """An organisation whose own queue receives the shared data of the citizens it has a relation to."""

    # A SOR code (11+ digits) or a GP's ydernummer (6 digits): what the referrals and tokens name it by.
    organisation: str = Field(pattern=ORGANISATION_PATTERN)
    # The AWS account that reads the queue (a region's own); absent: the stage's own account.
    account_id: str | None = Field(default=None, pattern=r"^[0-9]{12}$")

    def as_spec(self) -> SharingSubscriber:
        return SharingSubscriber(organisation=self.organisation, account_id=self.account_id)


class Sharing(_Settings):
    """Cross-sector sharing (docs/sharing.md): what is shared, and who subscribes."""

    measurement_types: tuple[str, ...] = COPD_SHARED_MEASUREMENT_TYPES
    subscribers: tuple[Subscriber, ...] = ()

    @field_validator("measurement_types")
    @classmethod
    def _shareable(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in types if t not in shareable_types()]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a catalogue type, {BLOOD_PRESSURE} or {QUESTIONNAIRE}"
            )
        if len(set(types)) != len(types):
            raise ValueError("each measurement type at most once")
        return types

    @field_validator("subscribers")
    @classmethod
    def _one_queue_per_organisation(cls, subscribers: tuple[Subscriber, ...]) -> tuple[Subscriber, ...]:
        organisations = [subscriber.organisation for subscriber in subscribers]
        repeated = sorted({o for o in organisations if organisations.count(o) > 1})
        if repeated:
            raise ValueError(f"organisation {', '.join(repeated)} subscribes more than once")
        return subscribers


class StageConfig(_Settings):
    stage: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    removal_policy: Literal["RETAIN", "DESTROY"]
    log_retention_days: int
    # Days each access-log entry is kept (the table's TTL): who looked at a citizen's data, for the citizen
    # to read; at least two years, whatever the stage.
    access_log_retention_days: int
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_throttling: ApiThrottling
    # Per client address and 5-minute window, enforced by the web ACL in front of the API.
    waf_requests_per_5_minutes: int = Field(ge=10, le=2_000_000_000)
    waf_requests_per_credential: CredentialRateLimit
    organisation_limits: OrganisationLimits
    identity_provider: IdentityProvider
    web: ClinicianWeb
    device_credentials: DeviceCredentials
    # AWS Backup copies of the tables (daily, kept 35 days) on top of point-in-time recovery.
    backup_plan: bool
    consumer_concurrency: ConsumerConcurrency
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    sharing: Sharing = Sharing()

    @field_validator("access_log_retention_days")
    @classmethod
    def _two_years_at_least(cls, days: int) -> int:
        if days < MINIMUM_RETENTION_DAYS:
            raise ValueError(f"the access log is kept two years at least ({MINIMUM_RETENTION_DAYS} days)")
        return days

    @model_validator(mode="after")
    def _checked(self) -> StageConfig:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {sorted(LOG_RETENTION_DAYS)}")
        if self.stage == "prod" and (self.removal_policy != "RETAIN" or not self.backup_plan):
            raise ValueError("prod keeps its data: removal_policy RETAIN and backup_plan true")
        self._buckets_under_the_stage_throttle()
        if self.web.client_id not in self.identity_provider.client_ids:
            raise ValueError(
                f"web.client_id {self.web.client_id} must be one of identity_provider.client_ids: "
                "the authorizer refuses tokens of any other client"
            )
        return self

    def _buckets_under_the_stage_throttle(self) -> None:
        """A bucket above the stage throttle never bites; the devices' at it would let a tablet flood take the
        whole stage from everyone else."""
        stage = self.api_throttling
        limits = self.organisation_limits
        for bucket, throttle in {**limits.buckets(), "default": limits.default.throttle()}.items():
            if throttle.rate > stage.rate_limit or throttle.burst > stage.burst_limit:
                raise ValueError(
                    f"organisation_limits: {bucket}'s rate and burst may not exceed api_throttling's")
        if limits.devices.rate >= stage.rate_limit:
            raise ValueError("organisation_limits: devices' rate must stay below api_throttling's "
                             "rate_limit, or a tablet flood takes the whole stage")

    @property
    def retains_data(self) -> bool:
        return self.removal_policy == "RETAIN"

    def platform_settings(self) -> PlatformSettings:
        return PlatformSettings(
            stage=self.stage,
            token_issuer=self.identity_provider.issuer,
            token_audience=self.identity_provider.audience,
            jwks_uri=self.identity_provider.jwks_uri,
            device_credential_issuer=self.device_credentials.issuer,
            device_credential_ttl_days=self.device_credentials.ttl_days,
            log_level=self.log_level,
            shared_measurement_types=self.sharing.measurement_types,
            access_log_retention_days=self.access_log_retention_days,
            token_client_ids=self.identity_provider.client_ids,
            usage_plan_organisations=tuple(
                limit.organisation for limit in self.organisation_limits.organisations),
        )

    def sharing_subscribers(self) -> tuple[SharingSubscriber, ...]:
        return tuple(subscriber.as_spec() for subscriber in self.sharing.subscribers)


def available_stages(directory: Path = CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.json"))


def load_stage_config(stage: str, directory: Path = CONFIG_DIR) -> StageConfig:
    """The stage's settings from ``<directory>/<stage>.json``; the file name is the stage."""
    path = directory / f"{stage}.json"
    if not path.is_file():
        raise ValueError(f"no configuration for stage {stage!r}; choose one of {available_stages(directory)}")
    return StageConfig.model_validate({**json.loads(path.read_text()), "stage": stage})
