"""``[deploy]`` and the functions' deploy settings: resolved apart from build settings (no
build key sees them), shapes and ranges refused where written, before any AWS call."""

from __future__ import annotations

import subprocess
import sys

from tests.config.conftest import API

from lambdaforge.config.specs import FunctionDeploy

ROLE = "arn:aws:iam::123456789012:role/app"


def test_deploy_settings_resolve_from_defaults_and_the_function(project) -> None:
    p = project(f"""
        [deploy]
        region = "eu-west-1"
        bucket = "my-packages"
        name = "{{project}}-{{function}}-{{stage}}"
        stage = "dev"
        role = "{ROLE}"

        [defaults]
        timeout = 30

        [functions.api]
        source = "src/api"
        handler = "app.handler"
        memory = 512
        description = "the API"
        """)
    assert p.functions["api"].deploy == FunctionDeploy(memory=512, timeout=30, description="the API")
    assert (p.deploy.region, p.deploy.bucket, p.deploy.stage, p.deploy.role) == (
        "eu-west-1", "my-packages", "dev", ROLE)
    assert p.origins["functions.api.timeout"].line == 9
    assert p.origins["deploy.name"].line == 4


def test_bad_deploy_values_are_reported_where_written(errors) -> None:
    assert errors(f"""
        [deploy]
        region = "Europe"
        bucket = "My_Bucket"
        name = "{{function}}-{{env}}"
        role = "arn:aws:iam::123:role/x"
        stage = "a b"
        {API}
        role = "admin"
        """) == [
        "lambdaforge.toml:2: deploy.region: 'Europe' is not an AWS region (e.g. 'eu-west-1')",
        "lambdaforge.toml:3: deploy.bucket: 'My_Bucket' is not an S3 bucket name (3-63 "
        "lowercase letters, digits, '.' or '-')",
        "lambdaforge.toml:4: deploy.name: unknown placeholder '{env}' in '{function}-{env}' "
        "(use {project}, {function}, {stage})",
        "lambdaforge.toml:5: deploy.role: 'arn:aws:iam::123:role/x' is not an IAM role ARN "
        "(expected arn:aws:iam::ACCOUNT:role/NAME)",
        "lambdaforge.toml:6: deploy.stage: 'a b' is not a stage name: 1-32 letters, digits, "
        "'-' or '_'",
        "lambdaforge.toml:12: functions.api.role: 'admin' is not an IAM role ARN (expected "
        "arn:aws:iam::ACCOUNT:role/NAME)",
    ]


def test_memory_and_timeout_ranges(errors) -> None:
    assert errors(f"""
        [defaults]
        memory = 64
        {API}
        timeout = 901
        """) == [
        "lambdaforge.toml:2: defaults.memory: expected greater than or equal to 128",
        "lambdaforge.toml:8: functions.api.timeout: expected less than or equal to 900",
    ]


def test_a_name_template_without_function_is_refused(errors) -> None:
    assert errors(f"""
        [deploy]
        name = "{{project}}"
        {API}
        """) == ["lambdaforge.toml:2: deploy.name: '{project}' has no {function}: every "
                 "function would get the same name"]


def test_deploy_settings_are_not_build_inputs(project) -> None:
    from lambdaforge.build import BuildOptions, BuildSession

    keys = []
    for memory in (128, 1024):
        p = project(f"{API}\nmemory = {memory}\ndescription = 'd{memory}'\n")
        keys.append({pl.target.id: pl.key for pl in BuildSession(p, BuildOptions()).plan()})
    assert keys[0] == keys[1] and keys[0]


def test_only_forge_deploy_imports_boto3(tmp_path) -> None:
    (tmp_path / "src" / "api").mkdir(parents=True)
    (tmp_path / "src" / "api" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "lambdaforge.toml").write_text(API)
    code = ("import sys; from lambdaforge.cli import main; "
            f"rc = main(['-C', {str(tmp_path)!r}, 'build']); "
            "assert rc == 0, rc; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   env={"FORGE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})


def test_tags_merge_over_defaults_and_storage_and_alias_resolve(project) -> None:
    p = project(f"""
        [defaults]
        tags = {{ team = "orders", cost = "shared" }}
        alias = "live"
        {API}
        ephemeral-storage = 2048
        tags = {{ cost = "api", "app:tier" = "web / edge" }}
        """)
    deploy = p.functions["api"].deploy
    assert deploy.tags == {"team": "orders", "cost": "api", "app:tier": "web / edge"}
    assert (deploy.ephemeral_storage, deploy.alias) == (2048, "live")
    assert p.origins["functions.api.tags.team"].line == 2
    assert p.origins["functions.api.tags.cost"].line == 10


def test_no_tags_anywhere_means_tags_are_not_managed(project) -> None:
    assert project(API).functions["api"].deploy.tags is None
    assert project(f"{API}\ntags = {{}}\n").functions["api"].deploy.tags == {}


def test_lambdas_tag_alias_and_storage_rules_are_reported_where_written(errors) -> None:
    assert errors(f"""
        [defaults]
        tags = {{ "aws:owner" = "me" }}
        {API}
        alias = "42"
        tags = {{ "bad key!" = "x", ok = "line\\nbreak", {"long" + "x" * 130!r} = "" }}
        """) == [
        "lambdaforge.toml:2: defaults.tags.\"aws:owner\": tag 'aws:owner': keys starting with "
        "'aws:' are reserved for AWS (it sets them; nobody else can)",
        "lambdaforge.toml:8: functions.api.alias: '42' is not an alias name (expected 1-128 "
        "letters, digits, '-' or '_', not all digits, e.g. 'live')",
        "lambdaforge.toml:9: functions.api.tags.\"bad key!\": tag key 'bad key!' is not valid "
        "(expected 1-128 letters, digits, spaces or '+ - = . _ : / @')",
        "lambdaforge.toml:9: functions.api.tags.ok: tag 'ok': its value is not valid "
        "(expected 0-256 letters, digits, spaces or '+ - = . _ : / @')",
        f"lambdaforge.toml:9: functions.api.tags.long{'x' * 130}: tag key 'long{'x' * 130}' "
        "is not valid (expected 1-128 letters, digits, spaces or '+ - = . _ : / @')",
    ]
    assert errors(f"""
        {API}
        ephemeral-storage = 256
        """) == ["lambdaforge.toml:5: functions.api.ephemeral-storage: expected greater than "
                 "or equal to 512"]
    many = ", ".join(f"t{i} = \"v\"" for i in range(51))
    assert errors(f"{API}\ntags = {{ {many} }}\n") == [
        "lambdaforge.toml:5: functions.api.tags: 51 tags; Lambda allows at most 50 per function"]


def test_layer_compatibility_lists_are_checked_where_written(errors) -> None:
    assert errors("""
        [layers.shared]
        source = "src/api"
        compatible-runtimes = ["python3.12", "python3.8", "pyton3.13", "python3.12"]
        compatible-architectures = ["arm64", "arm64"]
        """) == [
        "lambdaforge.toml:3: layers.shared.compatible-runtimes: runtime 'python3.8' was retired "
        "by Lambda; use 'python3.12' or later",
        "lambdaforge.toml:3: layers.shared.compatible-runtimes: unknown runtime 'pyton3.13' "
        "(expected one of python3.10, python3.11, python3.12, python3.13, python3.14, "
        "nodejs20.x, nodejs22.x, nodejs24.x, provided.al2, provided.al2023) (did you mean "
        "'python3.13'?)",
        "lambdaforge.toml:3: layers.shared.compatible-runtimes: a runtime is listed twice",
        "lambdaforge.toml:4: layers.shared.compatible-architectures: an architecture is listed "
        "twice",
    ]
    assert errors("""
        [layers.shared]
        source = "src/api"
        compatible-architectures = ["arm64", "sparc"]
        """) == ["lambdaforge.toml:3: layers.shared.compatible-architectures[1]: expected "
                 "'x86_64' or 'arm64', got 'sparc'"]


def test_layer_compatibility_is_not_a_build_input(project) -> None:
    from lambdaforge.build import BuildOptions, BuildSession

    keys = []
    for runtimes in ('["python3.12"]', '["python3.12", "python3.13"]'):
        p = project(f'[layers.shared]\nsource = "src/api"\ncompatible-runtimes = {runtimes}\n')
        assert p.layers["shared"].compatible_runtimes == tuple(eval(runtimes))
        keys.append({pl.target.id: pl.key for pl in BuildSession(p, BuildOptions()).plan()})
    assert keys[0] == keys[1] and keys[0]


def test_layer_compatibility_is_configured_or_derived_for_deploy_and_export(project) -> None:
    from lambdaforge.config.specs import layer_compatibility

    p = project('[layers.shared]\nsource = "src/api"\narchitecture = "arm64"\n'
                '[functions.api]\nsource = "src/api"\nhandler = "app.handler"\n'
                'runtime = "python3.13"\nlayers = ["shared"]\n')
    assert layer_compatibility(p, "shared") == (["python3.12", "python3.13"], ["arm64", "x86_64"])
    p = project('[layers.shared]\nsource = "src/api"\ncompatible-runtimes = ["python3.13"]\n'
                'compatible-architectures = ["arm64"]\n')
    assert layer_compatibility(p, "shared") == (["python3.13"], ["arm64"])


def test_a_lambda_name_the_template_makes_too_long_is_reported_by_validate(errors, project) -> None:
    """With the config's own stage the names are known: over 64 characters is an error now,
    where it is written, not a usage error of `forge deploy` after a build."""
    long = "an-orders-service-with-a-rather-long-and-descriptive-name"
    assert errors(f"""
        [project]
        name = "{long}"

        [deploy]
        name = "{{project}}-{{function}}-{{stage}}"
        stage = "production"
        {API}
        """) == [
        f"lambdaforge.toml:5: deploy.name: makes function 'api' the Lambda name "
        f"'{long}-api-production' ({len(long) + 15} characters), not a function name "
        "(expected 1-64 letters, digits, '-' or '_'): shorten the template, the names or "
        "the stage",
    ]
    # without a stage in the config, --stage gives it: deploy checks the names then
    p = project(f"""
        [project]
        name = "{long}"

        [deploy]
        name = "{{project}}-{{function}}-{{stage}}"
        {API}
        """)
    assert p.deploy.stage is None


def test_discover_takes_the_deploy_settings_of_a_function_table(project) -> None:
    p = project("""
        [[discover]]
        path = "src/*"
        handler = "app.handler"
        memory = 512
        timeout = 30
        description = "discovered"
        """, files={"src/api/app.py": "def handler(e, c):\n    return 1\n"})
    assert p.functions["api"].deploy == FunctionDeploy(memory=512, timeout=30,
                                                       description="discovered")
    assert p.origins["functions.api.memory"].line == 4
