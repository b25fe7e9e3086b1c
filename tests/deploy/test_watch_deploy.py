"""``forge watch --deploy`` against moto on loopback: an edit ships that function's code and
nothing else (counted through the recording proxy); a touch ships nothing."""

from __future__ import annotations

import json
import os
import signal

from tests.deploy.conftest import lambda_client
from tests.support.watching import WatchProcess, built


def test_an_edit_updates_only_that_functions_code(aws, deploy_project) -> None:
    code, _, err = deploy_project.forge("deploy")
    assert code == 0, err
    prefix = deploy_project.prefix
    aws.reset()
    w = WatchProcess(deploy_project.root, "--deploy", env=os.environ)
    try:
        first = w.next_cycle()
        assert built(first, "function:worker") == [], first
        assert aws.writes() == []  # everything on Lambda is what was built: nothing to ship

        deploy_project.write("functions/worker/app.py",
                             "def handler(event, context):\n    return 3\n")
        cycle = w.next_cycle()
        assert len(built(cycle, "function:worker")) == 1 and built(cycle, "function:api") == []
        assert any(line.startswith(f"function worker ({prefix}-worker): updated code")
                   for line in cycle), cycle
        assert aws.writes() == [("PUT", f"/2015-03-31/functions/{prefix}-worker/code")]
        live = lambda_client().get_function(FunctionName=f"{prefix}-worker")["Configuration"]
        manifest = (deploy_project.root / ".forge/build/manifest.json").read_text()
        assert live["CodeSha256"] in manifest
        # forge deploy's record knows the watcher's upload
        record = json.loads((deploy_project.root / ".forge/deploy/default.json").read_text())
        assert record["functions"]["worker"]["code_sha256"] == live["CodeSha256"]

        aws.reset()
        (deploy_project.root / "functions/worker/app.py").touch()
        cycle = w.next_cycle()
        assert built(cycle, "function:worker") == [] and aws.writes() == [], cycle
        # A layer's new code is forge deploy's (a new version, then the functions' Layers):
        # the watcher rebuilds it, says so, and writes nothing.
        deploy_project.write("layers/shared/shared.py", "VALUE = 2\n")
        cycle = w.next_cycle()
        assert len(built(cycle, "layer:shared")) == 1, cycle
        assert any(line.startswith("layer shared: changed") for line in cycle), cycle
        assert aws.writes() == []
        code, rest = w.stop(signal.SIGINT)
        assert code == 0 and not any("Traceback" in line for line in w.seen)
    finally:
        w.kill()
    # An edit after the watcher stopped is a change, not drift: the live code is what forge
    # (the watcher) deployed last.
    deploy_project.write("functions/worker/app.py", "def handler(event, context):\n    return 4\n")
    code, out, err = deploy_project.forge("deploy", "--dry-run")
    assert code == 0, err
    assert f"function worker ({prefix}-worker): update" in out and "drift" not in out, out
