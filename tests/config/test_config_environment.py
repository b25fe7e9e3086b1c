"""``environment`` on functions and ``[defaults]``, and the ``[check]`` table: merged key by
key, held to Lambda's limits, every problem reported at once where it was written."""

from __future__ import annotations

from pathlib import Path

from tests.config.conftest import API, write

from lambdaforge.cli import main
from lambdaforge.config.effective import effective_config

NAME_RULE = "a letter, then at least one more letter, digit or '_'"


def test_a_functions_variables_go_over_the_defaults(project) -> None:
    p = project("""
        [defaults]
        environment = { TABLE_NAME = "orders", LOG_LEVEL = "info" }

        [functions.api]
        source = "src/api"
        handler = "app.handler"
        environment = { LOG_LEVEL = "debug", QUEUE = "q" }

        [functions.worker]
        source = "src/api"
        handler = "app.handler"

        [check]
        environment = { TABLE_NAME = "orders-test" }
        runtime-packages = ["boto3==1.35.0", "@aws-sdk/*@3.700.0"]
        """)
    assert p.functions["api"].environment == {"TABLE_NAME": "orders", "LOG_LEVEL": "debug", "QUEUE": "q"}
    assert p.functions["worker"].environment == {"TABLE_NAME": "orders", "LOG_LEVEL": "info"}
    assert p.check.environment == {"TABLE_NAME": "orders-test"}
    assert p.check.runtime_packages == ("boto3==1.35.0", "@aws-sdk/*@3.700.0")
    origins = {k: (o.file, o.line) for k, o in p.origins.items() if "environment" in k}
    assert origins["functions.api.environment.LOG_LEVEL"] == ("lambdaforge.toml", 7)
    assert origins["functions.api.environment.TABLE_NAME"] == ("lambdaforge.toml", 2)
    assert origins["check.environment.TABLE_NAME"] == ("lambdaforge.toml", 14)


def test_bad_names_reserved_names_and_size_are_all_reported_where_written(errors) -> None:
    big = "x" * 4100
    assert errors(f"""
        [defaults]
        environment = {{ "bad-name" = "1" }}

        [functions.api]
        source = "src/api"
        handler = "app.handler"
        environment = {{ AWS_REGION = "eu-west-1", "9LIVES" = "x", OK = "y", X = "z" }}

        [functions.big]
        source = "src/api"
        handler = "app.handler"
        environment = {{ BLOB = "{big}" }}

        [check]
        environment = {{ _HANDLER = "x" }}
        runtime-packages = ["boto3=1.0", "@aws-sdk/client-s3"]
        """) == [
        "lambdaforge.toml:2: defaults.environment.bad-name: 'bad-name' is not a valid "
        f"environment variable name: {NAME_RULE}",
        "lambdaforge.toml:7: functions.api.environment.AWS_REGION: 'AWS_REGION' is reserved: "
        "the Lambda runtime sets it, a function cannot",
        f"lambdaforge.toml:7: functions.api.environment.9LIVES: '9LIVES' is not a valid "
        f"environment variable name: {NAME_RULE}",
        f"lambdaforge.toml:7: functions.api.environment.X: 'X' is not a valid "
        f"environment variable name: {NAME_RULE}",
        "lambdaforge.toml:12: functions.big.environment: the environment variables of function "
        "'big' take 4,126 bytes; Lambda allows 4,096 (4 KB) in total, counted as names and "
        "values in one JSON object",
        "lambdaforge.toml:15: check.environment._HANDLER: '_HANDLER' is reserved: the Lambda "
        "runtime sets it, a function cannot",
        "lambdaforge.toml:16: check.runtime-packages[0]: 'boto3=1.0' is not a valid Python "
        "requirement: Expected semicolon (after name with no version specifier) or end\n"
        "    boto3=1.0\n         ^",
        "lambdaforge.toml:16: check.runtime-packages[1]: '@aws-sdk/client-s3' is not an AWS SDK "
        "package spec: write '@aws-sdk/NAME@VERSION' (or '@aws-sdk/*@VERSION' for every client)",
    ]


def test_the_size_is_counted_as_lambda_counts_it(project, errors) -> None:
    # {"BLOB":"x…x"} is 11 bytes of JSON around the value: 4,085 x's are exactly 4 KB.
    assert len(project(API + 'environment = { BLOB = "%s" }\n' % ("x" * 4085))
               .functions["api"].environment["BLOB"]) == 4085
    assert errors(API + 'environment = { BLOB = "%s" }\n' % ("x" * 4086)) == [
        "lambdaforge.toml:4: functions.api.environment: the environment variables of function "
        "'api' take 4,097 bytes; Lambda allows 4,096 (4 KB) in total, counted as names and "
        "values in one JSON object"]


def test_values_must_be_strings_and_layers_have_no_environment(errors) -> None:
    assert errors(API + """environment = { PORT = 8080 }

[layers.shared]
source = "src/api"
environment = { A = "b" }
""") == [
        "lambdaforge.toml:4: functions.api.environment.PORT: expected a string, got integer 8080",
        "lambdaforge.toml:8: layers.shared.environment: unknown key ('environment' may be set "
        "in [defaults], [functions.NAME], [[discover]])",
    ]


def test_a_value_is_never_echoed_and_secrets_are_masked_in_the_effective_config(project) -> None:
    p = project(API + 'environment = { API_TOKEN = "s3cr3t-value", TABLE = "orders" }\n')
    shown = effective_config(p)["functions"]["api"]["environment"]
    assert shown == {"API_TOKEN": "***", "TABLE": "orders"}


def test_forge_validate_exits_2_with_every_problem(tmp_path: Path, capsys) -> None:
    write(tmp_path, {"lambdaforge.toml": API + 'environment = { AWS_REGION = "x", "a b" = "y" }\n'})
    assert main(["-C", str(tmp_path), "validate"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "lambdaforge.toml:4: functions.api.environment.AWS_REGION: 'AWS_REGION' is reserved: "
        "the Lambda runtime sets it, a function cannot",
        f"lambdaforge.toml:4: functions.api.environment.\"a b\": 'a b' is not a valid "
        f"environment variable name: {NAME_RULE}",
    ]
    assert '"x"' not in err and "Traceback" not in err
