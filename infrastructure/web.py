"""The clinician web app in AWS (docs/web.md): its build in a private S3 bucket behind CloudFront, on the same
origin as the API, so the browser needs no CORS and the API keeps its regional endpoint and web ACL.

CloudFront reads the bucket through origin access control (the bucket policy names this distribution only);
``/v1/*`` and ``/fhir/*`` go to the API stage uncached, with the viewer's headers (the bearer token included)
but not its Host, and with the stage's origin secret in a header of CloudFront's own (infrastructure/api.py:
the web ACL limits such requests per credential, not per edge address); every reply carries the security
headers of infrastructure/web_headers.py, the same the embedded gateway sends. ``config.json`` (the stage and
its identity provider's endpoints) is written from the stage config on each deployment.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, cast

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infrastructure.api import ORIGIN_VERIFY_HEADER
from infrastructure.compliance import acknowledge
from infrastructure.config import LOG_RETENTION_DAYS, StageConfig
from infrastructure.web_headers import (
    STRICT_TRANSPORT_SECURITY,
    STRICT_TRANSPORT_SECURITY_SECONDS,
    cache_control,
    security_headers,
)

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
CONFIG_FILE = "config.json"
# What changes with each deployment; the assets' names change instead.
INVALIDATED_PATHS = ("/", "/index.html", f"/{CONFIG_FILE}")
API_PATHS = ("/v1/*", "/fhir/*")
ASSETS_PATH = "/assets/*"
# The response headers policy has fields of its own for these (HSTS and nosniff as settings, not text); every
# other header of web_headers.py is a custom header.
_SECURITY_HEADER_FIELDS = frozenset({
    "Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
    "Referrer-Policy",
})


class WebAppNotBuilt(RuntimeError):
    """Synthesis for a deployment needs the app's production build."""


def web_config(config: StageConfig) -> dict[str, Any]:
    """``config.json``: what the app reads at start (the stage, its sign-in, its languages)."""
    web = config.web
    return {
        "stage": config.stage,
        "oidc": {
            "authorization_endpoint": web.authorization_endpoint,
            "token_endpoint": web.token_endpoint,
            "client_id": web.client_id,
            "scope": "openid",
            "end_session_endpoint": web.end_session_endpoint,
        },
        "languages": ["da", "en"],
    }


def identity_provider_urls(config: StageConfig) -> tuple[str, ...]:
    """Where the app sends the browser to sign in and fetches its tokens: the CSP allows their origins."""
    return (config.web.authorization_endpoint, config.web.token_endpoint)


class WebApp(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *,
        config: StageConfig, rest_api: apigateway.RestApi, origin_secret: secretsmanager.ISecret,
        key: kms.IKey, dist: Path = WEB_DIST,
    ):
        super().__init__(scope, construct_id)
        self._config = config
        removal = RemovalPolicy.RETAIN if config.retains_data else RemovalPolicy.DESTROY
        self.log_bucket = self._bucket(
            "LogBucket", removal,
            # CloudFront's standard logs are delivered with an ACL grant, which needs ACLs on this bucket.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(
                expiration=Duration.days(config.log_retention_days),
                noncurrent_version_expiration=Duration.days(1),
            )],
        )
        self.bucket = self._bucket(
            "AppBucket", removal,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="app-bucket/",
            # Each deployment replaces the build; earlier ones are kept a while to roll back by hand.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
        )
        self.distribution = self._distribution(rest_api, origin_secret)
        self.url = f"https://{config.web.domain_name or self.distribution.distribution_domain_name}/"
        self._deploy(dist, key)
        self._acknowledge_design_choices()

    def _bucket(self, construct_id: str, removal: RemovalPolicy, **properties: Any) -> s3.Bucket:
        return s3.Bucket(
            self, construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=removal,
            auto_delete_objects=removal == RemovalPolicy.DESTROY,
            **properties,
        )

    def _distribution(
        self, rest_api: apigateway.RestApi, origin_secret: secretsmanager.ISecret
    ) -> cloudfront.Distribution:
        web = self._config.web
        pages = self._headers_policy("PageHeaders", cache_control("index.html"))
        api = cloudfront.BehaviorOptions(
            # A dynamic reference CloudFormation resolves: the value is in no template.
            origin=origins.RestApiOrigin(rest_api, custom_headers={
                ORIGIN_VERIFY_HEADER: origin_secret.secret_value.unsafe_unwrap(),
            }),
            # The API is not cached, so the viewer's headers may all go to it, Authorization included
            # (legal with caching disabled); its Host would not match the API's domain.
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            # A bearer token sent over http is already exposed: refuse rather than redirect it.
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            response_headers_policy=pages,
        )
        app_origin = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", web.certificate_arn)
            if web.certificate_arn else None
        )
        return cloudfront.Distribution(
            self, "Distribution",
            comment=f"Telehub {self._config.stage}: the clinician web app and its API",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=app_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=pages,
            ),
            additional_behaviors={
                ASSETS_PATH: cloudfront.BehaviorOptions(
                    origin=app_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    response_headers_policy=self._headers_policy(
                        "AssetHeaders", cache_control(ASSETS_PATH.lstrip("/"))
                    ),
                ),
                **{path: api for path in API_PATHS},
            },
            domain_names=[web.domain_name] if web.domain_name else None,
            certificate=certificate,
            # The default certificate's policy is fixed (TLSv1 and up); with a certificate of its own the
            # distribution takes TLS 1.2 and up only.
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # Europe and North America: the clinicians work in Denmark.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )

    def _headers_policy(self, construct_id: str, cache: str) -> cloudfront.ResponseHeadersPolicy:
        """web_headers.py's headers for https and this stage's identity provider, and ``cache`` as
        Cache-Control; each overrides whatever the origin sent."""
        headers = security_headers(https=True, identity_provider_urls=identity_provider_urls(self._config))
        custom = {name: value for name, value in headers.items() if name not in _SECURITY_HEADER_FIELDS}
        return cloudfront.ResponseHeadersPolicy(
            self, construct_id,
            comment=f"Telehub {self._config.stage}: web app security headers, Cache-Control {cache}",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=headers["Content-Security-Policy"], override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(STRICT_TRANSPORT_SECURITY_SECONDS),
                    include_subdomains="includeSubDomains" in STRICT_TRANSPORT_SECURITY,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption[headers["X-Frame-Options"]], override=True,
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy[
                        headers["Referrer-Policy"].upper().replace("-", "_")
                    ],
                    override=True,
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(custom_headers=[
                cloudfront.ResponseCustomHeader(header=name, value=value, override=True)
                for name, value in {**custom, "Cache-Control": cache}.items()
            ]),
        )

    def _deploy(self, dist: Path, key: kms.IKey) -> None:
        """The build and config.json into the bucket on every deployment (files no longer built are removed),
        then the pages that change invalidated at the edge. CDK's deployment function runs as a role of its
        own whose one managed policy allows just that; BucketDeployment's wider grants are not used."""
        log_group = logs.LogGroup(
            self, "DeploymentLogs",
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[self._config.log_retention_days]],
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN if self._config.retains_data else RemovalPolicy.DESTROY,
        )
        assets = (
            self._app_build(dist),
            self._generated("Config", {CONFIG_FILE: json.dumps(web_config(self._config), indent=2)}),
        )
        role = iam.Role(
            self, "DeploymentRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Telehub {self._config.stage}: copies the web app into its bucket on deployment",
        )
        policy = iam.ManagedPolicy(
            self, "DeploymentPolicy", roles=[role],
            description=f"Telehub {self._config.stage}: the web app's deployment, and nothing else",
            statements=[
                _allow(["logs:CreateLogStream", "logs:PutLogEvents"], log_group.log_group_arn),
                _allow(["s3:GetObject"], *(a.bucket.arn_for_objects(a.s3_object_key) for a in assets)),
                _allow(["s3:ListBucket", "s3:GetBucketLocation"], self.bucket.bucket_arn),
                _allow(
                    ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    self.bucket.arn_for_objects("*"),
                ),
                _allow(["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
                       self.distribution.distribution_arn),
            ],
        )
        self.deployment = s3_deployment.BucketDeployment(
            self, "Deployment",
            destination_bucket=self.bucket,
            sources=[s3_deployment.Source.bucket(asset.bucket, asset.s3_object_key) for asset in assets],
            distribution=self.distribution,
            distribution_paths=list(INVALIDATED_PATHS),
            role=role.without_policy_updates(),
            log_group=log_group,
        )
        # The copy runs once the policy is attached.
        self.deployment.node.add_dependency(policy)
        self.deployment_policy = policy

    def _app_build(self, dist: Path) -> s3_assets.Asset:
        if not Stack.of(self).bundling_required:
            # Bundling is skipped (the tests): nothing is deployed, so the app need not be built; a stand-in
            # page keeps its place in the template.
            return self._generated("Build", {"index.html": "<!doctype html><title>Telehub</title>"})
        if not (dist / "index.html").is_file():
            raise WebAppNotBuilt(
                f"{dist} holds no build of the web app: run `make web` (npm ci and the production build "
                "in web/) before synthesizing or deploying"
            )
        return s3_assets.Asset(self, "Build", path=str(dist))

    def _generated(self, construct_id: str, files: dict[str, str]) -> s3_assets.Asset:
        """An asset of files written at synthesis: CDK stages its copy in the cloud assembly at once."""
        with tempfile.TemporaryDirectory(prefix="telehub-web-") as directory:
            for name, text in files.items():
                (Path(directory) / name).write_text(text, encoding="utf-8")
            return s3_assets.Asset(self, construct_id, path=directory)

    def _acknowledge_design_choices(self) -> None:
        self._acknowledge_buckets()
        self._acknowledge_distribution()
        self._acknowledge_deployment()

    def _acknowledge_buckets(self) -> None:
        for bucket in (self.bucket, self.log_bucket):
            acknowledge(
                bucket, "HIPAA.Security-S3BucketReplicationEnabled",
                "Nothing here is the only copy of anything that matters: the web app is built from the "
                "repository and deployed again by cdk deploy, and the access logs are operational records "
                "kept for the stage's log retention. Replication would double storage for no recovery need.",
            )
        acknowledge(
            self.bucket, "HIPAA.Security-S3DefaultEncryptionKMS",
            "The bucket holds the web app's build and config.json, which CloudFront serves to any browser "
            "before sign-in: code and public endpoints, never health data. A KMS key would protect nothing "
            "a visitor cannot read, so the objects are encrypted with S3-managed keys.",
        )
        acknowledge(
            self.log_bucket, "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 delivers server access logs only to a bucket whose default encryption is S3-managed "
            "(SSE-S3). The logs hold request lines: API paths carry ids, never a CPR number, name or value "
            "(those travel in bodies, which are not logged).",
        )

    def _acknowledge_distribution(self) -> None:
        acknowledge(
            self.distribution, "AwsSolutions-CFR1",
            "No geo restriction: the app is only code until a clinician signs in with the identity "
            "provider, and the authorizer and each route's relation check guard every API request. "
            "Clinicians on call sign in from abroad too; a country block would stop them, not a VPN.",
        )
        acknowledge(
            self.distribution, "AwsSolutions-CFR2",
            "A web ACL for CloudFront must live in us-east-1, this stack in the stage's region. The API "
            "paths go on to the API stage, whose regional web ACL (api.py: body size, requests per "
            "credential, managed rules) checks every such request, told by the origin secret that the "
            "address it sees is CloudFront's; the rest is the public static build (docs/web.md).",
        )
        if self._config.web.certificate_arn is None:
            acknowledge(
                self.distribution, "AwsSolutions-CFR4",
                "Without a domain of its own the distribution serves *.cloudfront.net with CloudFront's "
                "default certificate, whose security policy AWS fixes at TLSv1. A stage that sets "
                "web.domain_name and web.certificate_arn gets TLSv1.2_2021 (docs/deployment.md).",
            )

    def _acknowledge_deployment(self) -> None:
        """CDK's BucketDeployment function runs only while CloudFormation deploys the stack."""
        stack = Stack.of(self)
        for handler in (c for c in stack.node.children if c.node.id.startswith(_DEPLOYMENT_HANDLER)):
            for rule_id, reason in _DEPLOYMENT_HANDLER_CHOICES.items():
                acknowledge(cast(CfnResource, handler.node.default_child), rule_id, reason)
        bucket = stack.get_logical_id(cast(CfnResource, self.bucket.node.default_child))
        acknowledge(
            self.deployment_policy, f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]",
            "The deployment writes the app's files into its own bucket and removes those a new build no "
            "longer has; their names change with every build (content hashes). Only the deployment "
            "handler assumes the role, while CloudFormation deploys the stack.",
        )


def _allow(actions: list[str], *resources: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=actions, resources=list(resources))


_DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment"
_DEPLOYMENT_HANDLER_CHOICES = {
    "AwsSolutions-L1":
        "CDK's BucketDeployment handler is aws-cdk-lib's code, which picks its Python runtime with the "
        "AWS CLI layer it is tested with; it runs only during deployments, never on a request, and is "
        "upgraded with aws-cdk-lib.",
    "HIPAA.Security-LambdaConcurrency":
        "The deployment handler runs once per stack deployment, invoked by CloudFormation: there is no "
        "load to bound, and reserved concurrency would only take capacity from the API's functions.",
    "HIPAA.Security-LambdaDLQ":
        "CloudFormation invokes the deployment handler as a custom resource and waits for its answer; a "
        "failure fails and rolls back the deployment, so there is no asynchronous event to keep.",
    "HIPAA.Security-LambdaInsideVPC":
        "The deployment handler copies the public build between S3 buckets and asks CloudFront for an "
        "invalidation, AWS APIs over TLS with IAM; a VPC would add endpoints or NAT, not isolation for "
        "data that is public by design.",
}
