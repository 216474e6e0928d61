"""template.yaml and samconfig.toml: lint-clean, and what each resource must be."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest

from tests.deploy.cfn import PSEUDO, ROOT, TEMPLATE_PATH, Resolver, default_refs, load_template
from tests.support.template import REQUIRED_PARAMETERS
from todo_assistant.db.table import TableRow

REFS = default_refs()
TABLE_ARN = REFS["Table.Arn"]


def resolver(**overrides: str) -> Resolver:
    return Resolver(load_template(), {**REQUIRED_PARAMETERS, **overrides}, REFS)


def test_cfn_lint_reports_nothing_not_even_informational() -> None:
    config = cfnlint.api.ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1"])
    matches = cfnlint.api.lint_file(TEMPLATE_PATH, config=config)
    assert matches == [], "\n".join(str(m) for m in matches)


def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(name, HASH|RANGE), hash key first whatever order the source lists them in."""
    return sorted(((k["AttributeName"], k["KeyType"]) for k in schema), key=lambda k: k[1])


def test_table_matches_the_pynamodb_model() -> None:
    table = resolver().resource("Table")
    props = table["Properties"]
    schema = TableRow._get_schema()
    attributes = {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]}
    assert attributes == {
        (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
    }
    assert (
        keys(props["KeySchema"])
        == keys(schema["key_schema"])
        == [
            ("pk", "HASH"),
            ("sk", "RANGE"),
        ]
    )
    template_lsis = {
        index["IndexName"]: (
            keys(index["KeySchema"]),
            index["Projection"]["ProjectionType"],
            sorted(index["Projection"].get("NonKeyAttributes", [])),
        )
        for index in props["LocalSecondaryIndexes"]
    }
    model_lsis = {
        index["index_name"]: (
            keys(index["key_schema"]),
            index["projection"]["ProjectionType"],
            sorted(index["projection"].get("NonKeyAttributes", [])),
        )
        for index in schema["local_secondary_indexes"]
    }
    assert (
        template_lsis
        == model_lsis
        == {
            "by_order": (
                [("pk", "HASH"), ("lsi1sk", "RANGE")],
                "INCLUDE",
                ["kind", "tbody", "tenc", "ts3"],
            )
        }
    )
    assert not schema["global_secondary_indexes"] and "GlobalSecondaryIndexes" not in props
    assert props["BillingMode"] == TableRow.Meta.billing_mode == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": TableRow.expires_at.attr_name,
        "Enabled": True,
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is False
    assert resolver(EnvironmentName="prod").resource("Table")["Properties"][
        "DeletionProtectionEnabled"
    ]


def test_chatkit_function_streams_under_the_web_adapter() -> None:
    fn = resolver().function_properties("ChatKitFunction")
    env = fn["Environment"]["Variables"]
    assert fn["Runtime"] == "python3.13" and fn["CodeUri"] == "functions/chatkit/"
    assert fn["Handler"] == "run.sh"
    region = PSEUDO["AWS::Region"]
    assert fn["Layers"] == [
        REFS["CommonLayer"],
        f"arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerX86:30",
    ]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["PORT"] != "8080"
    assert "${PORT" in (ROOT / "functions/chatkit/run.sh").read_text(), "run.sh listens on PORT"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    assert env["AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"].startswith("/")
    assert env["AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"].startswith("/")
    assert env["LARGE_ITEM_BUCKET"] == REFS["LargeItemBucket"]
    assert "DYNAMODB_ENDPOINT" not in env and "TOKEN_SIGNING_KEY" not in env
    url = fn["FunctionUrlConfig"]
    assert (url["AuthType"], url["InvokeMode"]) == ("NONE", "RESPONSE_STREAM")
    assert url["Cors"]["AllowHeaders"] == ["authorization", "content-type", "accept-language"]
    assert url["Cors"]["AllowMethods"] == ["POST"]
    assert url["Cors"]["AllowOrigins"] == ["http://localhost:3000"]
    assert fn["SnapStart"] == {"ApplyOn": "PublishedVersions"} and fn["AutoPublishAlias"]
    assert fn["Timeout"] == "120" and fn["MemorySize"] == "1024"
    assert fn["LoggingConfig"] == {"LogGroup": REFS["ChatKitLogGroup"]}

    other = resolver(
        WebAdapterLayerArn="arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:31"
    )
    assert other.function_properties("ChatKitFunction")["Layers"][1].endswith(":31")


def test_sam_local_target_runs_the_mangum_handler() -> None:
    fn = resolver(Target="sam-local").function_properties("ChatKitFunction")
    assert fn["Handler"] == "app.handler"
    assert fn["Layers"] == [REFS["CommonLayer"]]
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in fn["Environment"]["Variables"]
    assert fn["FunctionUrlConfig"]["InvokeMode"] == "BUFFERED"
    for logical_id in ("ChatKitFunction", "SessionFunction"):
        env = resolver(Target="sam-local").function_environment(logical_id)
        # Declared so that `--env-vars events/env.json` can set them (sam local's rule).
        assert {"DYNAMODB_ENDPOINT", "S3_ENDPOINT", "TOKEN_SIGNING_KEY"} <= set(env)


def test_session_function_is_buffered_and_light() -> None:
    fn = resolver().function_properties("SessionFunction")
    env = fn["Environment"]["Variables"]
    assert (fn["Handler"], fn["CodeUri"]) == ("app.handler", "functions/session/")
    assert fn["Layers"] == [REFS["CommonLayer"]], "no Web Adapter: Mangum on the managed runtime"
    assert fn["FunctionUrlConfig"]["InvokeMode"] == "BUFFERED"
    assert fn["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert set(fn["FunctionUrlConfig"]["Cors"]["AllowMethods"]) == {
        "GET",
        "POST",
        "PATCH",
        "DELETE",
    }
    assert fn["SnapStart"] == {"ApplyOn": "PublishedVersions"} and fn["AutoPublishAlias"]
    assert (env["OIDC_ISSUER"], env["OIDC_AUDIENCE"]) == tuple(REQUIRED_PARAMETERS.values())
    assert env["AUTH_MODE"] == "oidc"
    assert not {"OPENAI_API_KEY_SECRET_ID", "CHATKIT_WORKFLOW_ID"} & set(env)
    # GET /me/export writes its document there; DELETE /me erases the user's objects.
    assert env["LARGE_ITEM_BUCKET"] == REFS["LargeItemBucket"]
    hosted = resolver(ChatKitWorkflowId="wf_123", OpenAIApiKeySecretName="todo/openai")
    env = hosted.function_environment("SessionFunction")
    assert (env["CHATKIT_WORKFLOW_ID"], env["OPENAI_API_KEY_SECRET_ID"]) == (
        "wf_123",
        "todo/openai",
    )


def allowed(statements: list[dict[str, Any]], service: str) -> dict[str, set[str]]:
    """action -> resources, for one service's Allow statements."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for action in actions:
            if action.startswith(f"{service}:"):
                grants.setdefault(action, set()).update(resources)
    return grants


@pytest.mark.parametrize(
    "overrides", [{}, {"OpenAIApiKeySecretName": "todo/openai", "ChatKitWorkflowId": "wf_1"}]
)
def test_iam_is_least_privilege(overrides: dict[str, str]) -> None:
    r = resolver(**overrides)
    for logical_id in ("ChatKitFunction", "SessionFunction"):
        for statement in r.policy_statements(logical_id):
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            assert all("*" not in action for action in actions), statement
            assert all(resource != "*" for resource in resources), statement

    chatkit = r.policy_statements("ChatKitFunction")
    table_and_index = {TABLE_ARN, f"{TABLE_ARN}/index/by_order"}
    assert allowed(chatkit, "dynamodb") == {
        action: table_and_index
        for action in (
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Query",
        )
    }
    bucket_objects = {f"arn:aws:s3:::{REFS['LargeItemBucket']}/users/*"}
    assert allowed(chatkit, "s3") == dict.fromkeys(
        ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), bucket_objects
    )

    session = r.policy_statements("SessionFunction")
    assert allowed(session, "dynamodb") == {
        action: {TABLE_ARN}
        for action in (
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Query",
        )
    }
    user_objects = {f"arn:aws:s3:::{REFS['LargeItemBucket']}/users/*"}
    assert allowed(session, "s3") == {
        **dict.fromkeys(
            (
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ),
            user_objects,
        ),
        **{
            key: {REFS["LargeItemBucket.Arn"]} for key in ("s3:ListBucket", "s3:ListBucketVersions")
        },
    }

    cleanup = r.policy_statements("ThreadCleanupFunction")
    assert allowed(cleanup, "dynamodb") == {
        key: {TABLE_ARN} for key in ("dynamodb:Query", "dynamodb:BatchWriteItem")
    }
    assert allowed(cleanup, "s3") == dict.fromkeys(
        ("s3:GetObject", "s3:DeleteObject"), user_objects
    )

    openai_secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:todo/openai-??????"
    signing = {REFS["TokenSigningKeySecret"]}
    for statements in (chatkit, session):
        expected = signing | ({openai_secret} if overrides else set())
        assert allowed(statements, "secretsmanager") == {"secretsmanager:GetSecretValue": expected}


def test_retention_cleanup_reads_only_ttl_deletions_of_threads() -> None:
    r = resolver()
    table = r.resource("Table")["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "KEYS_ONLY"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    fn = r.function_properties("ThreadCleanupFunction")
    assert (fn["Handler"], fn["CodeUri"]) == ("app.handler", "functions/retention/")
    assert fn["Layers"] == [REFS["CommonLayer"]]
    assert (ROOT / "functions/retention/app.py").is_file()
    source = fn["Events"]["ExpiredThreads"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [pattern] = [json.loads(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    assert pattern == {
        "eventName": ["REMOVE"],
        "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "THREAD#"}]}}},
    }
    env = r.function_environment("ChatKitFunction")
    assert env["THREAD_RETENTION_DAYS"] == "0" and env["FUNCTION_TIMEOUT_SECONDS"] == "120"


@pytest.mark.parametrize(("value", "reserved"), [("", None), ("0", None), ("25", "25")])
def test_reserved_concurrency_is_optional(value: str, reserved: str | None) -> None:
    fn = resolver(ReservedConcurrency=value).function_properties("ChatKitFunction")
    assert fn.get("ReservedConcurrentExecutions") == reserved


def test_bucket_is_private_encrypted_and_tls_only() -> None:
    r = resolver()
    props = r.resource("LargeItemBucket")["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = props["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("AbortIncompleteMultipartUpload") for rule in lifecycle)
    policy = r.resource("LargeItemBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert policy == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [REFS["LargeItemBucket.Arn"], REFS["LargeItemBucket.Arn"] + "/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_signing_key_secret_is_long_and_plain() -> None:
    generate = resolver().resource("TokenSigningKeySecret")["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] >= 48
    assert generate["ExcludePunctuation"] is True and generate["IncludeSpace"] is False
    assert "SecretStringTemplate" not in generate, "a plain string: the key itself"


def test_layer_and_log_groups() -> None:
    r = resolver()
    layer = r.resource("CommonLayer")
    assert layer["Properties"]["ContentUri"] == "layers/common"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / "layers/common/requirements.txt").is_file()
    for logical_id, group in (
        ("ChatKitFunction", "ChatKitLogGroup"),
        ("SessionFunction", "SessionLogGroup"),
    ):
        assert r.function_properties(logical_id)["LoggingConfig"]["LogGroup"] == REFS[group]
        props = r.resource(group)["Properties"]
        assert props["RetentionInDays"] == "30"
        assert props["LogGroupName"].startswith("/aws/lambda/")
    assert r.resolve({"Ref": "LogRetentionDays"}) == "30"


def test_outputs() -> None:
    outputs = resolver().resolve(load_template()["Outputs"])
    assert outputs["ChatKitApiUrl"]["Value"] == REFS["ChatKitFunctionUrl.FunctionUrl"] + "chatkit"
    assert outputs["SessionFunctionUrl"]["Value"] == REFS["SessionFunctionUrl.FunctionUrl"]
    assert outputs["SessionBaseUrl"]["Value"] == "https://session.lambda-url.us-east-1.on.aws"
    assert outputs["ChatKitBaseUrl"]["Value"] == "https://chatkit.lambda-url.us-east-1.on.aws"
    assert outputs["TableName"]["Value"] == REFS["Table"]
    assert outputs["LargeItemBucketName"]["Value"] == REFS["LargeItemBucket"]
    assert outputs["DashboardUrl"]["Value"] == REFS["Observability.Outputs.DashboardUrl"]


def overrides_of(section: dict[str, Any]) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in shlex.split(section["parameter_overrides"]))
    return dict(pairs)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_environments(environment: str) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config[environment]["deploy"]["parameters"]
    assert (
        config[environment]["global"]["parameters"]["stack_name"] == f"todo-assistant-{environment}"
    )
    assert deploy["resolve_s3"] is True
    # AUTO_EXPAND: a transformed template with a nested application (Observability).
    assert deploy["capabilities"].split() == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    overrides = overrides_of(deploy)
    parameters = load_template()["Parameters"]
    assert set(overrides) <= set(parameters)
    for name, value in overrides.items():
        if "AllowedValues" in parameters[name]:
            assert value in {str(v) for v in parameters[name]["AllowedValues"]}, name
    assert overrides["EnvironmentName"] == environment and overrides["Target"] == "aws"
    # Only the identity provider is left for the deployer to fill in (docs/deploy.md).
    missing = {n for n, spec in parameters.items() if "Default" not in spec and n not in overrides}
    assert missing == set(REQUIRED_PARAMETERS)


def test_samconfig_local_invoke_uses_the_sam_local_target() -> None:
    local = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["local_invoke"][
        "parameters"
    ]
    assert overrides_of(local) == {"Target": "sam-local"}
    assert (ROOT / local["env_vars"]).is_file()


def test_template_is_where_sam_expects_it() -> None:
    assert TEMPLATE_PATH == ROOT / "template.yaml"
    for directory in ("functions/chatkit", "functions/session"):
        assert (ROOT / directory / "app.py").is_file()
    assert Path(ROOT / "functions/chatkit/run.sh").stat().st_mode & 0o111, "run.sh is executable"


def test_litellm_is_not_a_deploy_option() -> None:
    # LiteLLM does not fit in a Lambda layer (about 400 MB with it, the limit is 250 MB).
    assert "litellm" not in load_template()["Parameters"]["ModelProvider"]["AllowedValues"]
    requirements = (ROOT / "layers/common/requirements.txt").read_text().splitlines()
    assert "openai-agents==0.24.0" in requirements


def test_every_deploy_publishes_a_version_when_anything_changes() -> None:
    # All code is in the layer: a version must follow every property, the layer included.
    for logical_id in ("ChatKitFunction", "SessionFunction"):
        props = load_template()["Resources"][logical_id]["Properties"]
        assert props["AutoPublishAlias"] == "live"
        assert props["AutoPublishAliasAllProperties"] is True
    # SAM counts a layer in the version only when the layer asks for it.
    layer = load_template()["Resources"]["CommonLayer"]["Properties"]
    assert layer["PublishLambdaVersion"] is True


def test_pyjwt_floor_has_the_jwks_cooldown() -> None:
    import inspect

    import jwt

    floor = "PyJWT[crypto]>=2.14,<3"
    assert floor in (ROOT / "layers/common/requirements.txt").read_text().splitlines()
    assert f'"{floor}",' in (ROOT / "pyproject.toml").read_text()
    assert "cooldown_duration" in inspect.signature(jwt.PyJWKClient).parameters
