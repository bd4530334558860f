"""The REST API: TOKEN authorizer without caching, validation, logs without bodies or tokens,
throttling from the stage config, X-Ray, and the web ACL."""

from __future__ import annotations

import json
import re

from aws_cdk import aws_apigateway as apigateway

from functions.authorizer.usage import usage_key
from functions.shared.api import PROBLEM_TITLES
from infrastructure.api import CHECKOV_SECRET_KEY, ORIGIN_VERIFY_HEADER
from infrastructure.edge import GATEWAY_RESPONSES, MAX_BODY_BYTES, WAF_RESPONSES
from infrastructure.resource_spec import SPEC
from tests.support.cdk_templates import logical_id_of, references, resources, tagged

EXPECTED_STATUSES = {
    "UNAUTHORIZED": "401",
    "ACCESS_DENIED": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403",
    "REQUEST_TOO_LARGE": "413",
    "THROTTLED": "429",
    "AUTHORIZER_FAILURE": "500",
    "DEFAULT_5XX": "502",
    "INTEGRATION_TIMEOUT": "504",
}


def _stage(template) -> dict:
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    return stage["Properties"]


def test_the_authorizer_is_the_spec_function_and_never_caches(stage):
    # Given the API's authorizer
    (authorizer,) = resources(stage.template, "AWS::ApiGateway::Authorizer").values()
    properties = authorizer["Properties"]
    function, _ = tagged(stage.template, "AWS::Lambda::Function", "function")[SPEC.authorizer]
    # Then it is a TOKEN authorizer on the Authorization header, run by the spec's authorizer function
    assert properties["Type"] == "TOKEN"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert function in references(properties["AuthorizerUri"])
    # And its decisions are never cached, so a revoked device is refused on its next request
    assert properties["AuthorizerResultTtlInSeconds"] == 0


def test_stage_throttling_comes_from_the_stage_config(stage):
    # Given the stage's method settings, Then all routes share the configured rate and burst
    (settings,) = _stage(stage.template)["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == stage.config.api_throttling.rate_limit
    assert settings["ThrottlingBurstLimit"] == stage.config.api_throttling.burst_limit


def test_access_logs_are_json_without_bodies_or_tokens_in_an_encrypted_log_group(stage):
    # Given the stage's access log setting
    properties = _stage(stage.template)
    log_format = properties["AccessLogSetting"]["Format"]
    fields = json.loads(log_format)
    # Then each line is JSON with who, what and the outcome
    assert {"requestId", "httpMethod", "resourcePath", "status", "principalId", "authorizerError"} <= set(
        fields
    )
    # And never a body or the Authorization header
    for forbidden in ("body", "requestBody", "Authorization", "authorization", "$input"):
        assert forbidden not in log_format
    # And execution logs hold errors only, with data tracing (bodies) off, while X-Ray traces requests
    (settings,) = properties["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert properties["TracingEnabled"] is True
    # And the destination log group expires and is encrypted
    destination = references(properties["AccessLogSetting"]["DestinationArn"])
    (log_group,) = [resources(stage.template, "AWS::Logs::LogGroup")[lid] for lid in destination]
    assert log_group["Properties"]["RetentionInDays"] == stage.config.log_retention_days
    assert "KmsKeyId" in log_group["Properties"]


def test_every_method_is_validated_and_requires_its_path_parameters(dev):
    # Given the API's methods and its request validator
    ((validator_id, validator),) = resources(dev.template, "AWS::ApiGateway::RequestValidator").items()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    for method in resources(dev.template, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        # Then each uses the validator
        assert logical_id_of(properties["RequestValidatorId"]) == validator_id
    # And each DELETE (a device, a handover offer) requires its path parameter
    deletes = [
        m["Properties"]
        for m in resources(dev.template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "DELETE"
    ]
    assert sorted(json.dumps(d.get("RequestParameters")) for d in deletes) == [
        json.dumps({"method.request.path.device_id": True}),
        json.dumps({"method.request.path.episode_id": True}),
    ]


def test_the_execution_log_group_is_created_encrypted_before_api_gateway_makes_its_own(stage):
    # Given the log groups, Then the one API Gateway writes execution logs to is Telehub's
    names = [
        json.dumps(g["Properties"].get("LogGroupName"))
        for g in resources(stage.template, "AWS::Logs::LogGroup").values()
    ]
    assert any("API-Gateway-Execution-Logs_" in name and stage.config.stage in name for name in names)


def test_a_web_acl_guards_the_stage_and_logs_without_the_authorization_header(stage):
    # Given the web ACL, its association and its logging
    ((acl_id, acl),) = resources(stage.template, "AWS::WAFv2::WebACL").items()
    (association,) = resources(stage.template, "AWS::WAFv2::WebACLAssociation").values()
    (logging,) = resources(stage.template, "AWS::WAFv2::LoggingConfiguration").values()
    stage_id, _ = next(iter(resources(stage.template, "AWS::ApiGateway::Stage").items()))
    # Then it is attached to the API stage
    assert logical_id_of(association["Properties"]["WebACLArn"]) == acl_id
    assert stage_id in references(association["Properties"]["ResourceArn"])
    # And limits each address to the configured rate and applies AWS's managed rule groups
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    assert rules["RequestsPerAddress"]["Statement"]["RateBasedStatement"]["Limit"] == (
        stage.config.waf_requests_per_5_minutes
    )
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    # And its logs leave out the bearer token and the origin secret
    assert logging["Properties"]["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}},
                                                       {"SingleHeader": {"Name": ORIGIN_VERIFY_HEADER}}]


def test_requests_with_the_origin_secret_are_not_limited_or_judged_by_the_cloudfront_address(stage):
    # Given the web ACL's rules and the stage's origin secret
    ((_, acl),) = resources(stage.template, "AWS::WAFv2::WebACL").items()
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    ((secret_id, secret),) = resources(stage.template, "AWS::SecretsManager::Secret").items()
    # Then its value is generated by Secrets Manager, letters and digits (a header value), in no template
    assert "SecretString" not in secret["Properties"]
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["ExcludePunctuation"] and not generated["IncludeSpace"]
    assert generated["PasswordLength"] >= 32
    # And the template tells checkov why it is encrypted with Secrets Manager's own key
    assert "KmsKeyId" not in secret["Properties"]
    [skip] = [s for s in secret["Metadata"]["checkov"]["skip"] if s["id"] == CHECKOV_SECRET_KEY]
    assert "no health data and no credential" in skip["comment"]
    # And the per-address limit and the IP reputation list only see requests without it in CloudFront's
    # header, compared exactly with the secret CloudFormation resolves
    direct = {"NotStatement": {"Statement": {"ByteMatchStatement": {
        "FieldToMatch": {"SingleHeader": {"Name": ORIGIN_VERIFY_HEADER}},
        "PositionalConstraint": "EXACTLY",
        "SearchString": {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret_id},
                                           ":SecretString:::}}"]]},
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
    }}}}
    assert rules["RequestsPerAddress"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"] == direct
    reputation = rules["AWSManagedRulesAmazonIpReputationList"]["Statement"]["ManagedRuleGroupStatement"]
    assert reputation["ScopeDownStatement"] == direct
    # And every other rule, the per-credential limit included, applies to every request
    for name in set(rules) - {"RequestsPerAddress", "AWSManagedRulesAmazonIpReputationList"}:
        assert ORIGIN_VERIFY_HEADER not in json.dumps(rules[name]), name


def test_every_answer_api_gateway_writes_itself_is_the_edges_problem_json(dev):
    # Given the API's gateway responses
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(dev.template, "AWS::ApiGateway::GatewayResponse").values()
    }
    # Then every response type API Gateway has is customised (none is left with its {"message": ...})
    known = {getattr(apigateway.ResponseType, name).response_type
             for name in dir(apigateway.ResponseType) if name.isupper()}
    assert set(responses) == known == set(GATEWAY_RESPONSES)
    for response_type, properties in responses.items():
        answer = GATEWAY_RESPONSES[response_type]
        # And each is sent with its status, as application/problem+json that no cache may keep
        assert properties["StatusCode"] == str(answer.status), response_type
        assert properties["ResponseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/problem+json'",
            "gatewayresponse.header.Cache-Control": "'no-store'",
        }
        # And its body is the problem a function would write: type, title, status, code and detail
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert body == answer.problem() == {
            "type": f"https://telehub.dk/problems/{answer.code}",
            "title": PROBLEM_TITLES[answer.status],
            "status": answer.status,
            "code": answer.code,
            "detail": answer.detail,
        }
    # And a refused token, a refused role, no such route, API Gateway's size limit and throttle, a failing
    # authorizer and a failing function keep API Gateway's statuses
    assert {response_type: responses[response_type]["StatusCode"] for response_type in EXPECTED_STATUSES} == (
        EXPECTED_STATUSES)


def test_the_web_acl_refuses_oversized_bodies_and_hammering_credentials_first_with_the_edges_problems(stage):
    # Given the web ACL's rules and custom response bodies
    ((_, acl),) = resources(stage.template, "AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    bodies = properties["CustomResponseBodies"]
    # Then every body the web ACL answers with is the edge's problem (as JSON: all WAF can say)
    assert bodies == {key: {"ContentType": "APPLICATION_JSON", "Content": answer.body()}
                      for key, answer in WAF_RESPONSES.items()}
    # And the limits run before AWS's managed rules: the body size, a declared length, then per credential,
    # then per address
    order = sorted(rules, key=lambda name: rules[name]["Priority"])
    assert order[:4] == ["BodyOverLimit", "LengthMissing", "RequestsPerCredential", "RequestsPerAddress"]
    # And a declared body over the most any route accepts is refused with 413
    body = rules["BodyOverLimit"]
    regex = body["Statement"]["RegexMatchStatement"]
    assert regex["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}
    assert re.fullmatch(regex["RegexString"], str(MAX_BODY_BYTES + 1))
    assert not re.fullmatch(regex["RegexString"], str(MAX_BODY_BYTES))
    assert _refusal(body) == (413, "body_too_large")
    # And a POST, PUT or PATCH without Content-Length (a chunked body, which the limit cannot measure) is
    # refused with 411: WAF matches no statement on a header the request lacks, so "not (its size > 0)"
    missing = rules["LengthMissing"]
    method, no_length = missing["Statement"]["AndStatement"]["Statements"]
    method = method["RegexMatchStatement"]
    assert method["FieldToMatch"] == {"Method": {}}
    assert [verb for verb in ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD")
            if re.fullmatch(method["RegexString"], verb)] == ["POST", "PUT", "PATCH"]
    assert no_length["NotStatement"]["Statement"]["SizeConstraintStatement"] == {
        "FieldToMatch": {"SingleHeader": {"Name": "content-length"}}, "ComparisonOperator": "GT", "Size": 0,
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}
    assert _refusal(missing) == (411, "length_required")
    # And each credential (the Authorization header as sent) is limited to the stage's rate, with 429
    per_credential = rules["RequestsPerCredential"]
    statement = per_credential["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
    assert statement["CustomKeys"] == [
        {"Header": {"Name": "authorization", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}]
    limit = stage.config.waf_requests_per_credential
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (limit.requests, limit.window_seconds)
    assert _refusal(per_credential) == (429, "credential_rate_exceeded")
    # And so is each address, as before
    assert _refusal(rules["RequestsPerAddress"]) == (429, "address_rate_exceeded")


def test_each_bucket_of_the_stage_config_is_an_api_key_in_a_usage_plan_with_its_throttle(stage):
    # Given the API, its methods, and its usage plans, API keys and the links between them
    (rest_api,) = resources(stage.template, "AWS::ApiGateway::RestApi").values()
    methods = resources(stage.template, "AWS::ApiGateway::Method").values()
    plans = resources(stage.template, "AWS::ApiGateway::UsagePlan")
    keys = resources(stage.template, "AWS::ApiGateway::ApiKey")
    links = resources(stage.template, "AWS::ApiGateway::UsagePlanKey")
    (stage_id, _), (api_id, _) = (next(iter(resources(stage.template, kind).items()))
                                  for kind in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::RestApi"))
    # Then the key that picks a caller's plan is the one the authorizer names (a client's x-api-key is
    # ignored), and every authorized method requires one, so that the plan throttles it
    assert rest_api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    assert all(method["Properties"].get("ApiKeyRequired", False) == (
        method["Properties"]["AuthorizationType"] == "CUSTOM") for method in methods)
    # And each bucket (every listed organisation, the other organisations, the citizens, the devices) has a
    # key whose value is the authorizer's for it, in a plan on the stage with the bucket's throttle
    throttles = {}
    for link in links.values():
        assert link["Properties"]["KeyType"] == "API_KEY"
        key = keys[logical_id_of(link["Properties"]["KeyId"])]["Properties"]
        plan = plans[logical_id_of(link["Properties"]["UsagePlanId"])]["Properties"]
        assert [(on["ApiId"], on["Stage"]) for on in plan["ApiStages"]] == [
            ({"Ref": api_id}, {"Ref": stage_id})]
        assert key["Enabled"] is True
        throttles[key["Value"]] = (plan["Throttle"]["RateLimit"], plan["Throttle"]["BurstLimit"])
    assert throttles == {usage_key(stage.config.stage, bucket): (throttle.rate, throttle.burst)
                         for bucket, throttle in stage.config.organisation_limits.buckets().items()}
    # And keys join their plans one at a time, as API Gateway requires: each link but one waits for another
    waits = [link.get("DependsOn", []) for link in links.values()]
    assert sorted(map(len, waits)) == [0] + [1] * (len(links) - 1)
    assert len({awaited for wait in waits for awaited in wait}) == len(links) - 1


def _refusal(rule: dict) -> tuple[int, str]:
    """The status and body of a rule's refusal, which, as every reply, no cache may store."""
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseHeaders"] == [{"Name": "Cache-Control", "Value": "no-store"}]
    return response["ResponseCode"], response["CustomResponseBodyKey"]
