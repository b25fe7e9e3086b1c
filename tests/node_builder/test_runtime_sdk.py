"""Which AWS SDK packages a Node.js function imports (read from its code), and how a Node
error is shown: short, with Lambda's paths."""

from __future__ import annotations

from pathlib import Path

from lambdaforge.builders.node.handler import SCRIPT_NAME, condensed_error
from lambdaforge.builders.node.runtime_sdk import imported_sdk_packages, shipped_packages


def test_imports_are_read_from_every_form_but_not_from_the_sdks_own_code(tmp_path: Path) -> None:
    files = {
        "task/index.js": "const { S3Client } = require('@aws-sdk/client-s3');\n"
                         "const lazy = () => require(\"@aws-sdk/client-sqs/dist-cjs/index.js\");\n",
        "task/esm.mjs": "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\n"
                        "export { marshall } from \"@aws-sdk/util-dynamodb\";\n"
                        "import '@aws-sdk/side-effect';\nconst m = await import('@aws-sdk/client-sns');\n",
        "task/notes.md": "require('@aws-sdk/not-code')\n",
        "task/node_modules/lib/index.cjs": "module.exports = require('@aws-sdk/lib-dynamodb');\n",
        "task/node_modules/@aws-sdk/client-s3/index.js": "require('@aws-sdk/core');\n",
        "task/node_modules/@smithy/x/index.js": "require('@aws-sdk/middleware-foo');\n",
        "opt/nodejs/node_modules/shared/index.js": "require('@aws-sdk/client-kms')\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "task/node_modules/@aws-sdk/client-s3/package.json").write_text("{}")
    assert imported_sdk_packages([tmp_path / "task", tmp_path / "opt"]) == {
        "@aws-sdk/client-s3", "@aws-sdk/client-sqs", "@aws-sdk/client-dynamodb",
        "@aws-sdk/util-dynamodb", "@aws-sdk/side-effect", "@aws-sdk/client-sns",
        "@aws-sdk/lib-dynamodb", "@aws-sdk/client-kms"}
    assert shipped_packages([tmp_path / "task/node_modules", tmp_path / "nowhere"]) == {"@aws-sdk/client-s3"}


def test_a_node_error_is_short_and_names_lambdas_paths(tmp_path: Path) -> None:
    task, work = "/tmp/w/lambda/task", tmp_path
    stack = "\n".join([
        "Error: Cannot find module 'left-pad'",
        "Require stack:",
        f"- {task}/lib/util.js",
        f"- {task}/index.js",
        f"- {work / SCRIPT_NAME}",
        f"    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
        f"    at require (node:internal/modules/helpers:177:18)",
        f"    at Object.<anonymous> ({task}/lib/util.js:1:1)",
        f"    at Object.<anonymous> ({task}/index.js:2:3)",
        f"    at Object.<anonymous> (/tmp/w/sdk/node_modules/@aws-sdk/x/index.js:9:9)",
        f"    at Object.<anonymous> ({task}/index.js:4:4)",
        f"    at main ({work / SCRIPT_NAME}:30:1)",
    ])
    assert condensed_error(stack, [(task, "/var/task"), ("/tmp/w/sdk/node_modules", "/var/runtime/node_modules")],
                           work) == "\n".join([
        "Error: Cannot find module 'left-pad'",
        "Require stack:",
        "- /var/task/lib/util.js",
        "- /var/task/index.js",
        "    at Object.<anonymous> (/var/task/lib/util.js:1:1)",
        "    at Object.<anonymous> (/var/task/index.js:2:3)",
        "    at Object.<anonymous> (/var/runtime/node_modules/@aws-sdk/x/index.js:9:9)",
    ])
