"""The clinician web app in AWS (infrastructure/web.py): a private bucket read by CloudFront through origin
access control, the API behind the same distribution uncached, web_headers.py's security headers on every
reply, and config.json written from the stage config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from pydantic import ValidationError

from infrastructure.api import ORIGIN_VERIFY_HEADER
from infrastructure.compliance import acknowledgements
from infrastructure.config import StageConfig, load_stage_config
from infrastructure.web import (
    API_PATHS,
    ASSETS_PATH,
    CONFIG_FILE,
    INVALIDATED_PATHS,
    WebApp,
    WebAppNotBuilt,
    identity_provider_urls,
    web_config,
)
from infrastructure.web_headers import (
    COMMON_HEADERS,
    IMMUTABLE,
    NO_STORE,
    STRICT_TRANSPORT_SECURITY,
    content_security_policy,
)
from tests.support.cdk_templates import logical_id_of, references, resources

# CloudFront's managed policies (their ids are the same in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
CERTIFICATE = "arn:aws:acm:us-east-1:111122223333:certificate/0f2c3c1e-8e8f-4e0a-9d7a-2f6f2b1f5a11"


def _only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = resources(template, resource_type).items()
    return logical_id, resource["Properties"]


def _distribution(template: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = _only(template, "AWS::CloudFront::Distribution")[1]["DistributionConfig"]
    return config


def _behaviours(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    config = _distribution(template)
    return {"default": config["DefaultCacheBehavior"],
            **{behaviour["PathPattern"]: behaviour for behaviour in config["CacheBehaviors"]}}


def _origin(template: dict[str, Any], behaviour: dict[str, Any]) -> dict[str, Any]:
    (origin,) = [o for o in _distribution(template)["Origins"] if o["Id"] == behaviour["TargetOriginId"]]
    return origin


def _app_bucket(template: dict[str, Any]) -> str:
    (bucket,) = [logical_id for logical_id in resources(template, "AWS::S3::Bucket")
                 if logical_id.startswith("WebAppBucket")]
    return bucket


def _headers_policy(template: dict[str, Any], behaviour: dict[str, Any]) -> dict[str, Any]:
    policy_id = logical_id_of(behaviour["ResponseHeadersPolicyId"])
    config: dict[str, Any] = template["Resources"][policy_id]["Properties"]["ResponseHeadersPolicyConfig"]
    return config


def test_the_buckets_are_private_and_ssl_only(stage):
    # Given the web app's bucket and its log bucket
    buckets = resources(stage.template, "AWS::S3::Bucket")
    assert len(buckets) == 2
    for logical_id, bucket in buckets.items():
        # Then all public access is blocked, objects are encrypted and versioned, and no website is served
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert bucket["Properties"]["BucketEncryption"]
        assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        assert "WebsiteConfiguration" not in bucket["Properties"]
    for policy in resources(stage.template, "AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        # And no statement allows anyone at all, and requests without TLS are denied
        assert not [s for s in statements if s["Effect"] == "Allow" and s["Principal"] in ("*", {"AWS": "*"})]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_only_this_distribution_reads_the_app_through_origin_access_control(stage):
    # Given the distribution's origin for the app and the app bucket's policy
    template = stage.template
    oac_id, oac = _only(template, "AWS::CloudFront::OriginAccessControl")
    distribution_id, _ = _only(template, "AWS::CloudFront::Distribution")
    origin = _origin(template, _behaviours(template)["default"])
    # Then CloudFront signs every request to the bucket (OAC, no legacy identity)
    assert oac["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert logical_id_of(origin["OriginAccessControlId"]) == oac_id
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert logical_id_of(origin["DomainName"]) == _app_bucket(template)
    # And the bucket lets CloudFront read objects only on behalf of this distribution
    (policy,) = [p["Properties"] for p in resources(template, "AWS::S3::BucketPolicy").values()
                 if logical_id_of(p["Properties"]["Bucket"]) == _app_bucket(template)]
    (cloudfront,) = [s for s in policy["PolicyDocument"]["Statement"]
                     if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert cloudfront["Action"] == "s3:GetObject"
    assert references(cloudfront["Condition"]["StringEquals"]["AWS:SourceArn"]) == {distribution_id}


def test_browsers_are_sent_to_https_and_the_api_refuses_plain_http(stage):
    behaviours = _behaviours(stage.template)
    distribution = _distribution(stage.template)
    assert distribution["DefaultRootObject"] == "index.html"
    # Given the app's pages and assets, Then http is redirected to https
    for path in ("default", ASSETS_PATH):
        assert behaviours[path]["ViewerProtocolPolicy"] == "redirect-to-https"
    # And a request to the API over http (its bearer token already exposed) is refused, not redirected
    for path in API_PATHS:
        assert behaviours[path]["ViewerProtocolPolicy"] == "https-only"


def test_the_api_paths_go_to_the_api_stage_uncached_with_the_callers_headers_but_host(stage):
    template = stage.template
    (rest_api,) = resources(template, "AWS::ApiGateway::RestApi")
    (api_stage,) = resources(template, "AWS::ApiGateway::Stage")
    for path in API_PATHS:
        # Given the behaviour for an API path
        behaviour = _behaviours(template)[path]
        origin = _origin(template, behaviour)
        # Then it goes to the REST API's stage over TLS 1.2, under the stage's path
        assert rest_api in references(origin["DomainName"])
        assert api_stage in references(origin["OriginPath"])
        assert origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "https-only",
                                                "OriginSSLProtocols": ["TLSv1.2"]}
        # And nothing is cached, all headers but Host (the bearer token too) reach the API, all methods pass
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        assert set(behaviour["AllowedMethods"]) == ALL_METHODS


def test_only_requests_to_the_api_carry_the_stages_origin_secret(stage):
    # Given the distribution's origins and the stage's origin secret
    template = stage.template
    (secret_id,) = resources(template, "AWS::SecretsManager::Secret")
    behaviours = _behaviours(template)
    # Then the API's origin gets CloudFront's header with the secret, resolved by CloudFormation (the web ACL
    # compares it, infrastructure/api.py)
    for path in API_PATHS:
        assert _origin(template, behaviours[path])["OriginCustomHeaders"] == [{
            "HeaderName": ORIGIN_VERIFY_HEADER,
            "HeaderValue": {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret_id},
                                              ":SecretString:::}}"]]},
        }]
    # And the app bucket's origin gets no header of CloudFront's
    for path in ("default", ASSETS_PATH):
        assert "OriginCustomHeaders" not in _origin(template, behaviours[path])


def test_every_reply_carries_the_security_headers_of_web_headers_py(stage):
    behaviours = _behaviours(stage.template)
    expected_csp = content_security_policy(identity_provider_urls(stage.config))
    for path, cache_control in (("default", NO_STORE), (ASSETS_PATH, IMMUTABLE),
                                *((path, NO_STORE) for path in API_PATHS)):
        # Given the response headers policy of a behaviour
        policy = _headers_policy(stage.template, behaviours[path])
        security = policy["SecurityHeadersConfig"]
        custom = {h["Header"]: h["Value"] for h in policy["CustomHeadersConfig"]["Items"]}
        # Then it sends the CSP (allowing the identity provider for sign-in and tokens), HSTS, nosniff,
        # no framing, no referrer and no camera, microphone or location
        assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == expected_csp
        assert "https://login." in expected_csp and "script-src 'self';" in expected_csp
        hsts = security["StrictTransportSecurity"]
        subdomains = "; includeSubDomains" if hsts["IncludeSubdomains"] else ""
        assert f"max-age={hsts['AccessControlMaxAgeSec']}{subdomains}" == STRICT_TRANSPORT_SECURITY
        assert hsts["Override"]
        assert security["ContentTypeOptions"] == {"Override": True}
        assert security["FrameOptions"]["FrameOption"] == COMMON_HEADERS["X-Frame-Options"]
        assert security["ReferrerPolicy"]["ReferrerPolicy"] == COMMON_HEADERS["Referrer-Policy"]
        assert custom["Permissions-Policy"] == COMMON_HEADERS["Permissions-Policy"]
        # And pages are never stored while the content-hashed assets are kept a year
        assert custom["Cache-Control"] == cache_control, path
        assert all(header["Override"] for header in policy["CustomHeadersConfig"]["Items"])


def test_config_json_is_written_from_the_stage_config(stage):
    # Given the synthesized cloud assembly, When the config.json that is deployed is read
    (staged,) = Path(stage.app.outdir).glob(f"asset.*/{CONFIG_FILE}")
    deployed = json.loads(staged.read_text())
    web = stage.config.web
    # Then it names the stage, the identity provider's endpoints, the app's client and its languages
    assert deployed == {
        "stage": stage.config.stage,
        "oidc": {
            "authorization_endpoint": web.authorization_endpoint,
            "token_endpoint": web.token_endpoint,
            "client_id": "telehub-clinician-web",
            "scope": "openid",
            "end_session_endpoint": web.end_session_endpoint,
        },
        "languages": ["da", "en"],
    }
    assert deployed == web_config(stage.config)


def test_each_deployment_copies_the_app_and_invalidates_the_pages_with_a_policy_of_its_own(stage):
    template = stage.template
    distribution_id, _ = _only(template, "AWS::CloudFront::Distribution")
    (deployment,) = resources(template, "Custom::CDKBucketDeployment").values()
    properties = deployment["Properties"]
    # Then the build and config.json go into the app bucket, and the pages are invalidated at the edge
    assert logical_id_of(properties["DestinationBucketName"]) == _app_bucket(template)
    assert len(properties["SourceObjectKeys"]) == 2
    assert properties["DistributionPaths"] == list(INVALIDATED_PATHS)
    assert references(properties["DistributionId"]) == {distribution_id}
    # And the handler's role has one managed policy: the two assets by their keys, the app bucket, and
    # invalidations of this distribution only
    handler = template["Resources"][logical_id_of(properties["ServiceToken"])]
    role = template["Resources"][logical_id_of(handler["Properties"]["Role"])]
    assert "Policies" not in role["Properties"]
    (policy,) = [p["Properties"] for p in resources(template, "AWS::IAM::ManagedPolicy").values()
                 if {"Ref": logical_id_of(handler["Properties"]["Role"])} in p["Properties"]["Roles"]]
    statements = {tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s["Resource"]
                  for s in policy["PolicyDocument"]["Statement"]}
    assert references(statements[("cloudfront:CreateInvalidation", "cloudfront:GetInvalidation")]) == {
        distribution_id}
    asset_reads = json.dumps(statements[("s3:GetObject",)])
    assert "/*" not in asset_reads and all(key in asset_reads for key in properties["SourceObjectKeys"])
    assert not [s for s in policy["PolicyDocument"]["Statement"] if s["Resource"] == "*"]


def test_the_stack_outputs_the_web_apps_address(dev):
    # Given a stage without a domain, Then its web app is at the distribution's own name
    (distribution_id, _) = _only(dev.template, "AWS::CloudFront::Distribution")
    assert dev.template["Outputs"]["WebUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]}


def test_the_stage_stays_under_cloudformations_resource_limit(stage):
    # CloudFormation takes at most 500 resources in a stack (docs/deployment.md counts them)
    assert len(stage.template["Resources"]) < 500


def _standalone(config: StageConfig, dist: Path) -> WebApp:
    """The web app alone in a stack (with a stand-in API), built as for a deployment: bundling required."""
    app = App()
    stack = Stack(app, "Web", env=Environment(region=config.region))
    api = apigateway.RestApi(stack, "Api", deploy_options=apigateway.StageOptions(stage_name=config.stage))
    api.root.add_method("GET")
    return WebApp(stack, "Web", config=config, rest_api=api,
                  origin_secret=secretsmanager.Secret(stack, "Secret"), key=kms.Key(stack, "Key"), dist=dist)


def test_a_deployment_needs_the_apps_build_and_says_how_to_make_it(tmp_path):
    # Given no build of the app, When the stack is synthesized for a deployment
    # Then synthesis stops and says to run make web
    with pytest.raises(WebAppNotBuilt, match="make web"):
        _standalone(load_stage_config("dev"), tmp_path)
    # And with a build, the build is what the deployment copies
    (tmp_path / "index.html").write_text("<!doctype html>")
    web = _standalone(load_stage_config("dev"), tmp_path)
    build = web.node.find_child("Build")
    assert isinstance(build, s3_assets.Asset) and not build.is_file


def test_a_stage_with_its_own_domain_serves_it_with_tls_1_2_or_later(prod):
    # Given prod, configured with a domain and its us-east-1 certificate
    web = prod.config.web
    assert web.domain_name and web.certificate_arn
    # Then the distribution answers to that name with the certificate and TLS 1.2_2021 at least
    distribution = _distribution(prod.template)
    assert distribution["Aliases"] == [web.domain_name]
    assert distribution["ViewerCertificate"] == {
        "AcmCertificateArn": web.certificate_arn, "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    # And the default certificate's TLS policy is not acknowledged; the app's address is the domain
    assert "AwsSolutions-CFR4" not in {ack.rule_id for ack in acknowledgements(prod.app)}
    assert prod.template["Outputs"]["WebUrl"]["Value"] == f"https://{web.domain_name}/"


def test_a_stage_without_a_domain_is_served_with_cloudfronts_certificate(dev):
    # Given dev, without a domain of its own
    assert dev.config.web.domain_name is None
    # Then the distribution has no alias and CloudFront's default certificate, whose fixed TLS policy is
    # acknowledged on the distribution
    distribution = _distribution(dev.template)
    assert "Aliases" not in distribution
    assert distribution.get("ViewerCertificate", {"CloudFrontDefaultCertificate": True}) == {
        "CloudFrontDefaultCertificate": True}
    acknowledged = {ack.construct_path for ack in acknowledgements(dev.app)
                    if ack.rule_id == "AwsSolutions-CFR4"}
    assert acknowledged == {"Telehub-dev/Web/Distribution"}


@pytest.mark.parametrize("web, problem", [
    ({"authorization_endpoint": "http://login.example.org/auth"}, "authorization_endpoint"),
    ({"token_endpoint": "login.example.org/token"}, "token_endpoint"),
    ({"domain_name": "telehub.example.org"}, "domain_name and certificate_arn go together"),
    ({"certificate_arn": CERTIFICATE.replace("us-east-1", "eu-north-1"),
      "domain_name": "telehub.example.org"}, "certificate_arn"),
    ({"client_id": "someone-elses-app"}, "must be one of identity_provider.client_ids"),
])
def test_a_web_section_that_would_not_work_is_refused_with_its_field_named(web, problem):
    # Given dev's config with one setting of its web section changed
    settings = json.loads(load_stage_config("dev").model_dump_json())
    settings["web"].update(web)
    # When it is validated, Then it is refused, naming the setting
    with pytest.raises(ValidationError, match=problem):
        StageConfig.model_validate(settings)
