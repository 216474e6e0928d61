"""infra/frontend.yaml and its wiring: a private bucket only CloudFront reads, security
headers, the function URLs' CORS opened to the distribution, and a deploy script that reads
outputs the stack really has."""

from __future__ import annotations

import re
from typing import Any

import cfnlint.api
from cfnlint.decode import cfn_yaml

from tests.deploy.cfn import ROOT, Resolver, default_refs, load_template
from tests.support.template import REQUIRED_PARAMETERS

FRONTEND_PATH = ROOT / "infra" / "frontend.yaml"
DEPLOY_SCRIPT = ROOT / "scripts" / "deploy-frontend.sh"
ORIGIN = default_refs()["Frontend.Outputs.Origin"]
NESTED_REFS = {
    "SiteBucket": "todo-site-bucket",
    "SiteBucket.Arn": "arn:aws:s3:::todo-site-bucket",
    "SiteBucket.RegionalDomainName": "todo-site-bucket.s3.us-east-1.amazonaws.com",
    "Distribution": "E2EXAMPLE",
    "Distribution.DomainName": "d111111abcdef8.cloudfront.net",
    "OriginAccessControl.Id": "E3OAC",
    "SecurityHeaders": "policy-id",
}


def hosting() -> Resolver:
    template: dict[str, Any] = cfn_yaml.load(str(FRONTEND_PATH))
    return Resolver(template, {"EnvironmentName": "prod"}, NESTED_REFS)


def backend(**overrides: str) -> Resolver:
    return Resolver(load_template(), {**REQUIRED_PARAMETERS, **overrides}, default_refs())


def test_cfn_lint_reports_nothing() -> None:
    config = cfnlint.api.ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1"])
    matches = cfnlint.api.lint_file(FRONTEND_PATH, config=config)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_bucket_is_private_and_readable_only_by_this_distribution() -> None:
    site = hosting()
    bucket = site.resource("SiteBucket")["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    statements = site.resource("SiteBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "CloudFrontReadsThroughOriginAccessControl",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::todo-site-bucket/*",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE"
                }
            },
        }
    ]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_distribution_uses_origin_access_control_https_and_security_headers() -> None:
    site = hosting()
    config = site.resource("Distribution")["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == "E3OAC"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = site.resource("OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert (oac["SigningBehavior"], oac["SigningProtocol"]) == ("always", "sigv4")
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["ResponseHeadersPolicyId"] == "policy-id"
    assert config["DefaultRootObject"] == "index.html"
    headers = site.resource("SecurityHeaders")["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "frame-ancestors 'none'" in csp
    assert "https://*.lambda-url.us-east-1.on.aws" in csp
    assert "https://cdn.platform.openai.com" in csp  # ChatKit's web component


def test_hosting_is_off_by_default_and_cors_stays_as_configured() -> None:
    template = backend()
    assert template.conditions["HostsFrontend"] is False
    for function in ("ChatKitFunction", "SessionFunction"):
        cors = template.function_properties(function)["FunctionUrlConfig"]["Cors"]
        assert cors["AllowOrigins"] == ["http://localhost:3000"]


def test_hosting_adds_the_distribution_origin_to_both_function_urls() -> None:
    template = backend(HostFrontend="true", AllowedOrigins="https://app.example.com")
    assert template.conditions["HostsFrontend"] is True
    for function in ("ChatKitFunction", "SessionFunction"):
        cors = template.function_properties(function)["FunctionUrlConfig"]["Cors"]
        assert cors["AllowOrigins"] == [ORIGIN, "https://app.example.com"]
    nested = load_template()["Resources"]["Frontend"]
    assert nested["Condition"] == "HostsFrontend"
    assert nested["Properties"]["Location"] == "infra/frontend.yaml"
    assert set(hosting().template["Outputs"]) >= {"BucketName", "DistributionId", "Origin"}


def test_deploy_script_reads_outputs_the_stack_has() -> None:
    script = DEPLOY_SCRIPT.read_text()
    used = set(re.findall(r"\$\(output (\w+)\)", script))
    assert used == {
        "ChatKitBaseUrl",
        "SessionBaseUrl",
        "FrontendBucketName",
        "FrontendDistributionId",
        "FrontendUrl",
    }
    assert used <= set(load_template()["Outputs"])
    assert 'NEXT_PUBLIC_CHATKIT_URL="$CHATKIT_URL"' in script
    assert 'NEXT_PUBLIC_SESSION_URL="$SESSION_URL"' in script
