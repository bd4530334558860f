"""The REST API: the spec's routes behind a TOKEN authorizer, request validation, access and
execution logs, stage throttling, usage plans per organisation, X-Ray, and a web ACL in front.

Requests from the web app come through CloudFront (infrastructure/web.py), which adds ORIGIN_VERIFY_HEADER
with the stage's origin secret: the web ACL then knows the address it sees is an edge's, shared by every
clinician behind it, and limits such requests per credential rather than per address."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from functions.authorizer.usage import CITIZENS, DEVICES, OTHER_ORGANISATIONS, organisation_bucket, usage_key
from infrastructure.compliance import acknowledge, skip_checkov
from infrastructure.config import LOG_RETENTION_DAYS, StageConfig
from infrastructure.edge import (
    ADDRESS_RATE_EXCEEDED,
    BODY_METHODS,
    BODY_TOO_LARGE,
    CREDENTIAL_RATE_EXCEEDED,
    GATEWAY_HEADERS,
    GATEWAY_RESPONSES,
    LENGTH_REQUIRED,
    MAX_BODY_BYTES,
    WAF_RESPONSES,
    EdgeAnswer,
    Throttle,
    decimal_above,
)
from infrastructure.resource_spec import ResourceSpec

# What an access log line holds: who called what, the outcome and timings. Never a body, never
# the Authorization header; the principal is an opaque id (device id or the IdP's subject).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerError": "$context.authorizer.error",
    "principalId": "$context.authorizer.principalId",
    "role": "$context.authorizer.role",
    "wafStatus": "$context.waf.status",
    "errorType": "$context.error.responseType",
}
# A bearer JWT (three base64url parts); anything else is refused by API Gateway with a 401
# without invoking the authorizer.
BEARER_TOKEN = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
_PATH_PARAMETER = re.compile(r"{(\w+)}")
# checkov's "Secrets Manager secret encrypted with a customer-managed KMS key".
CHECKOV_SECRET_KEY = "CKV_AWS_149"
_ORIGIN_SECRET_KEY = (
    "Encrypted with Secrets Manager's AWS managed key: the value is no health data and no credential, and "
    "the data key's policy admits only the services that hold health data."
)
# Sent by CloudFront on every request to the API origin, with the origin secret as its value; CloudFront
# replaces a viewer's header of the same name.
ORIGIN_VERIFY_HEADER = "x-telehub-origin-verify"
_NOT_COGNITO = (
    "Callers are authorised by the TOKEN Lambda authorizer: people's and systems' JWTs come from the "
    "region's own OpenID provider (configured issuer, audience and JWKS) and home collection points hold "
    "device credentials Telehub signs with KMS and revokes per device. A Cognito user pool authorizer "
    "can verify neither."
)


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ResourceSpec,
        functions: dict[str, lambda_.IFunction],
        config: StageConfig,
        key: kms.IKey,
    ):
        super().__init__(scope, construct_id)
        self._config = config
        self._key = key
        self._removal = RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY
        access_logs = self._log_group("AccessLogs")
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"telehub-{config.stage}",
            description=f"Telehub {config.stage}: device registration and measurement uploads",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # The usage plans' API key is the one the authorizer names for the verified caller; an x-api-key
            # header a client sends is ignored.
            api_key_source_type=apigateway.ApiKeySourceType.AUTHORIZER,
            cloud_watch_role=True,
            # The role is the account's API Gateway setting, shared by every stage in the region:
            # deleting a dev stack must not take prod's execution logging with it.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=config.stage,
                throttling_rate_limit=config.api_throttling.rate_limit,
                throttling_burst_limit=config.api_throttling.burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                # Execution logs carry errors only; data tracing would log request and response
                # bodies, i.e. health data.
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        self.stage = self.rest_api.deployment_stage
        self._execution_log_group()
        self.authorizer = apigateway.TokenAuthorizer(
            self,
            "Authorizer",
            handler=functions[spec.authorizer],
            validation_regex=BEARER_TOKEN,
            # A revoked device must stop at once: no cached policy may outlive the revocation.
            results_cache_ttl=Duration.seconds(0),
        )
        validator = self.rest_api.add_request_validator(
            "RequestValidator",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        integrations = {
            function_id: apigateway.LambdaIntegration(function) for function_id, function in functions.items()
        }
        for route in spec.routes:
            resource = self.rest_api.root.resource_for_path(route.path)
            method = resource.add_method(
                route.method,
                integrations[route.function],
                authorizer=self.authorizer if route.authorized else None,
                authorization_type=apigateway.AuthorizationType.CUSTOM if route.authorized else None,
                # Required so that the usage plan of the key the authorizer names throttles the call.
                api_key_required=route.authorized,
                request_validator=validator,
                request_parameters={
                    f"method.request.path.{name}": True for name in _PATH_PARAMETER.findall(route.path)
                }
                or None,
            )
            if route.authorized:
                acknowledge(method, "AwsSolutions-COG4", _NOT_COGNITO)
        self._gateway_responses()
        self._usage_plans()
        self.origin_secret = self._origin_secret()
        self._web_acl()
        self._acknowledge_design_choices()

    def _log_group(self, construct_id: str, name: str | None = None) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[self._config.log_retention_days]],
            encryption_key=self._key,
            removal_policy=self._removal,
        )

    def _execution_log_group(self) -> None:
        """API Gateway would create the execution log group itself, unencrypted and kept forever;
        created here first, it is encrypted and expires like every other log."""
        self._log_group(
            "ExecutionLogs",
            f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{self._config.stage}",
        )

    def _gateway_responses(self) -> None:
        """Every answer API Gateway writes itself is problem+json (infrastructure/edge.py), each with its
        own status: a gateway response template is plain text, so the status in the body is fixed here too."""
        for response_type, answer in GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                response_type.title().replace("_", ""),
                type=apigateway.ResponseType.of(response_type),
                status_code=str(answer.status),
                response_headers={name: f"'{value}'" for name, value in GATEWAY_HEADERS.items()},
                # Keyed by the media type API Gateway picks a template by; the header names the one sent.
                templates={"application/json": answer.body()},
            )

    def _usage_plans(self) -> None:
        """A usage plan per throttle, an API key per bucket (functions/authorizer/usage.py): the listed
        organisations without limits of their own share one plan (each key its own bucket of the plan's
        size), every other bucket has a plan of its own. Two resources per listed organisation, three with
        limits of its own (docs/deployment.md#how-many-organisations-fit)."""
        limits = self._config.organisation_limits
        plans: dict[str, tuple[Throttle, list[str]]] = {
            "Devices": (limits.devices.throttle(), [DEVICES]),
            "Citizens": (limits.citizens.throttle(), [CITIZENS]),
            "OtherOrganisations": (limits.other_organisations.throttle(), [OTHER_ORGANISATIONS]),
        }
        shared = [organisation_bucket(limit.organisation) for limit in limits.organisations
                  if not limit.has_own_limits]
        if shared:
            plans["Organisations"] = (limits.default.throttle(), shared)
        for limit in limits.organisations:
            if limit.has_own_limits:
                plans[f"Organisation{limit.organisation}"] = (limits.throttle_of(limit),
                                                              [organisation_bucket(limit.organisation)])
        previous: apigateway.CfnUsagePlanKey | None = None
        for plan_id, (throttle, buckets) in plans.items():
            plan = self.rest_api.add_usage_plan(
                f"UsagePlan{plan_id}",
                name=f"telehub-{self._config.stage}-{plan_id}",
                throttle=apigateway.ThrottleSettings(rate_limit=throttle.rate, burst_limit=throttle.burst),
                api_stages=[apigateway.UsagePlanPerApiStage(api=self.rest_api, stage=self.stage)],
            )
            for bucket in buckets:
                key = apigateway.ApiKey(
                    self, f"UsageKey-{bucket}",
                    api_key_name=f"telehub-{self._config.stage}-{bucket}",
                    value=usage_key(self._config.stage, bucket),
                    description="Not a secret: the authorizer names it for a verified caller "
                                "(functions/authorizer/usage.py); a client's x-api-key is ignored.",
                )
                plan_key = apigateway.CfnUsagePlanKey(
                    self, f"UsagePlanKey-{bucket}", key_id=key.key_id, key_type="API_KEY",
                    usage_plan_id=plan.usage_plan_id,
                )
                # API Gateway adds one key to a plan at a time in a region: concurrent additions fail.
                if previous is not None:
                    plan_key.add_resource_dependency(previous)
                previous = plan_key

    def _origin_secret(self) -> secretsmanager.Secret:
        """A value only CloudFront and the web ACL know, generated by Secrets Manager per stage; both read it
        through a CloudFormation dynamic reference, so it is in no template."""
        secret = secretsmanager.Secret(
            self, "OriginSecret",
            description=f"Telehub {self._config.stage}: marks API requests as having come through the web "
                        "app's CloudFront distribution",
            # Letters and digits only: it travels as a header value and WAF compares it as text.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True, include_space=False,
            ),
        )
        acknowledge(
            secret, "AwsSolutions-SMG4",
            "The origin secret is no credential: it only tells the web ACL a request came through "
            "CloudFront, so that it is limited per credential rather than per shared edge address. Someone "
            "who learnt it escapes the per-address limit and the IP reputation list, not the authorizer, "
            "the per-credential limit, the usage plans or the stage throttle. CloudFormation reads it into "
            "the distribution and the web ACL only when it updates them, so a rotation would have to update "
            "both: it is replaced by a new secret in a deployment instead (docs/web.md).",
        )
        acknowledge(
            secret, "HIPAA.Security-SecretsManagerRotationEnabled",
            "Not rotated automatically: the value only marks requests that came through CloudFront, and "
            "CloudFormation copies it into the distribution and the web ACL only when it updates them, so a "
            "rotation must replace the secret in a deployment (AwsSolutions-SMG4 here, docs/web.md).",
        )
        acknowledge(secret, "HIPAA.Security-SecretsManagerUsingKMSKey", _ORIGIN_SECRET_KEY)
        skip_checkov(secret, CHECKOV_SECRET_KEY, _ORIGIN_SECRET_KEY)
        return secret

    def _web_acl(self) -> None:
        """The edge's limits (infrastructure/edge.py) and AWS managed rules in front of the stage, logged
        (without the Authorization header) to an encrypted log group. The limits come first: a request they
        refuse costs no managed rule, no authorizer and no function. Each refusal is the edge's problem."""

        def managed(
            priority: int, name: str, overrides: Sequence[str] = (),
            scope_down: wafv2.CfnWebACL.StatementProperty | None = None,
        ) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule,
                                action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                            )
                            for rule in overrides
                        ]
                        or None,
                        scope_down_statement=scope_down,
                    ),
                ),
                visibility_config=_visibility(name),
            )

        # The address WAF sees is the caller's only without the origin secret; with it, a CloudFront edge's.
        direct = wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(
                statement=wafv2.CfnWebACL.StatementProperty(
                    byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                            single_header={"Name": ORIGIN_VERIFY_HEADER}
                        ),
                        positional_constraint="EXACTLY",
                        search_string=self.origin_secret.secret_value.unsafe_unwrap(),
                        text_transformations=[_AS_SENT],
                    ),
                ),
            ),
        )
        per_credential = self._config.waf_requests_per_credential
        body_over_limit = wafv2.CfnWebACL.RuleProperty(
            name="BodyOverLimit",
            priority=0,
            action=_refuse(BODY_TOO_LARGE),
            # WAF inspects at most 64 KB of a body and cannot compare numbers: the declared length is
            # compared as text with a pattern of every number above the limit.
            statement=wafv2.CfnWebACL.StatementProperty(
                regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                    regex_string=decimal_above(MAX_BODY_BYTES),
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                        single_header={"Name": "content-length"}
                    ),
                    text_transformations=[_AS_SENT],
                ),
            ),
            visibility_config=_visibility("BodyOverLimit"),
        )
        # A body without a declared length (chunked) cannot be held to the limit above, so none is taken. WAF
        # matches no statement on a header the request lacks: NOT (its size > 0) is "no Content-Length".
        length_missing = wafv2.CfnWebACL.RuleProperty(
            name="LengthMissing",
            priority=1,
            action=_refuse(LENGTH_REQUIRED),
            statement=wafv2.CfnWebACL.StatementProperty(
                and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=[
                    wafv2.CfnWebACL.StatementProperty(
                        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                            regex_string=f"^({'|'.join(BODY_METHODS)})$",
                            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
                            text_transformations=[_AS_SENT],
                        ),
                    ),
                    wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(
                            statement=wafv2.CfnWebACL.StatementProperty(
                                size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                                    comparison_operator="GT",
                                    size=0,
                                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                        single_header={"Name": "content-length"}
                                    ),
                                    text_transformations=[_AS_SENT],
                                ),
                            ),
                        ),
                    ),
                ]),
            ),
            visibility_config=_visibility("LengthMissing"),
        )
        requests_per_credential = wafv2.CfnWebACL.RuleProperty(
            name="RequestsPerCredential",
            priority=2,
            action=_refuse(CREDENTIAL_RATE_EXCEEDED),
            # Keyed on the bearer token as sent: a device's credential, a person's or a system's token.
            # A request without one is left to the per-address limit (and is a 401 anyway).
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=per_credential.requests,
                    evaluation_window_sec=per_credential.window_seconds,
                    aggregate_key_type="CUSTOM_KEYS",
                    custom_keys=[
                        wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                            header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                name="authorization",
                                text_transformations=[_AS_SENT],
                            )
                        )
                    ],
                ),
            ),
            visibility_config=_visibility("RequestsPerCredential"),
        )
        requests_per_address = wafv2.CfnWebACL.RuleProperty(
            name="RequestsPerAddress",
            priority=3,
            action=_refuse(ADDRESS_RATE_EXCEEDED),
            # Direct callers only: behind one CloudFront edge address are many clinicians. No limit per
            # X-Forwarded-For address instead: WAF's rate rules key on its first address, which is whatever
            # the browser sent (CloudFront appends), and a hospital's clinicians share one address anyway.
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=self._config.waf_requests_per_5_minutes,
                    aggregate_key_type="IP",
                    scope_down_statement=direct,
                ),
            ),
            visibility_config=_visibility("RequestsPerAddress"),
        )
        web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"telehub-{self._config.stage}"),
            custom_response_bodies={
                key: wafv2.CfnWebACL.CustomResponseBodyProperty(content_type="APPLICATION_JSON",
                                                                content=answer.body())
                for key, answer in WAF_RESPONSES.items()
            },
            rules=[
                body_over_limit,
                length_missing,
                requests_per_credential,
                requests_per_address,
                # The reputation of the address WAF sees: CloudFront's own for the web app's requests.
                managed(4, "AWSManagedRulesAmazonIpReputationList", scope_down=direct),
                managed(5, "AWSManagedRulesKnownBadInputsRuleSet"),
                # An upload of 200 measurements is larger than this rule set's 8 KB body limit; BodyOverLimit
                # holds bodies to Telehub's own limit, and each function to its route's with a 413.
                managed(6, "AWSManagedRulesCommonRuleSet", overrides=["SizeRestrictions_BODY"]),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.stage.stage_arn,
            web_acl_arn=web_acl.attr_arn,
        )
        waf_logs = self._log_group("WebAclLogs", f"aws-waf-logs-telehub-{self._config.stage}")
        wafv2.CfnLoggingConfiguration(
            self,
            "WebAclLogging",
            resource_arn=web_acl.attr_arn,
            # WAF wants the log group's ARN without the ":*" CloudFormation's Arn attribute ends with.
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=waf_logs.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in ("authorization", ORIGIN_VERIFY_HEADER)
            ],
        )

    def _acknowledge_design_choices(self) -> None:
        acknowledge(
            self.rest_api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level role for writing execution and access logs (assumable by "
            "apigateway.amazonaws.com only). The account setting serves every API in the region, so the "
            "AWS-maintained policy for that purpose is used rather than one scoped to Telehub's log groups.",
        )
        acknowledge(
            self.stage,
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "Caching is deliberately off: every route is a write (POST, DELETE) whose response must not be "
            "replayed, and a cache would hold device credentials and health data outside the encrypted "
            "tables.",
        )
        acknowledge(
            self.stage,
            "HIPAA.Security-APIGWSSLEnabled",
            "A client certificate authenticates API Gateway to HTTP backends; every integration here is a "
            "Lambda proxy integration, invoked by API Gateway with its IAM service principal under a "
            "resource policy scoped to this API, so there is no HTTP backend to present it to.",
        )


_AS_SENT = wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")


def _refuse(answer: EdgeAnswer) -> wafv2.CfnWebACL.RuleActionProperty:
    """Block with the edge's problem for it (its body is one of the web ACL's custom response bodies)."""
    (key,) = [key for key, known in WAF_RESPONSES.items() if known is answer]
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=answer.status, custom_response_body_key=key,
                # Not to be stored, as every reply (WAF sets any header but the media type).
                response_headers=[wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                    name="Cache-Control", value=GATEWAY_HEADERS["Cache-Control"])],
            )
        )
    )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    # No sampled requests: WAF keeps them with all headers, the bearer token included.
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=False,
    )
