"""The custom-runtime example builds: its shell-script function serves an invocation from a
stand-in of the Lambda runtime API (loopback only), and its Go function is a static arm64
``bootstrap`` (skipped without ``go`` on PATH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.config import load_project

EXAMPLE = Path(__file__).resolve().parents[2] / "example-projects" / "custom-runtime"
#: ELF e_machine of aarch64 (System V ABI)
EM_AARCH64 = 183


def build(root: Path, *names: str):
    outcome = BuildSession(load_project(root / "lambdaforge.toml", env={}),
                           BuildOptions(names=names, jobs=2)).run()
    assert outcome.ok, [f.error for f in outcome.failures()]
    return outcome


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    return Path(shutil.copytree(EXAMPLE, tmp_path / "custom-runtime",
                                ignore=shutil.ignore_patterns(".forge")))


class _RuntimeAPI(BaseHTTPRequestHandler):
    """Hands out one event, records the response, then answers 410 so the loop ends."""

    events = [b'{"name": "forge"}']
    responses: list[bytes] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self.events:
            self.send_response(410)
            self.end_headers()
            return
        body = self.events.pop()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        assert self.path == "/2018-06-01/runtime/invocation/req-1/response", self.path
        self.responses.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(shutil.which("curl") is None, reason="the shell bootstrap talks to the runtime API with curl")
def test_the_shell_function_serves_an_invocation(example: Path, tmp_path: Path) -> None:
    build(example, "shell")
    task = tmp_path / "task"
    with zipfile.ZipFile(example / ".forge/build/functions/shell.zip") as zf:
        assert sorted(zf.namelist()) == ["bootstrap", "handler.sh"]
        zf.extractall(task)
    (task / "bootstrap").chmod(0o755)  # zipfile does not restore modes; the zip has 0755
    assert "(version 1.0.0)" in (task / "bootstrap").read_text()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RuntimeAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(task), "_HANDLER": "handler.handle",
               "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}"}
        done = subprocess.run([str(task / "bootstrap")], env=env, capture_output=True, timeout=60)
    finally:
        server.shutdown()
    assert done.returncode != 0  # the loop ends when the stand-in stops handing out events
    assert [json.loads(r) for r in _RuntimeAPI.responses] == [{"message": "hello from sh", "bytes": 17}]


def test_a_readme_edit_rebuilds_nothing(example: Path) -> None:
    build(example, "shell")
    (example / "functions/shell/README.md").write_text("edited\n")
    outcome = build(example, "shell")
    assert {r.status.value for r in outcome.results.values()} == {"up-to-date"}


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not on PATH")
def test_the_go_function_is_a_static_arm64_bootstrap(example: Path) -> None:
    build(example, "go-hello")
    with zipfile.ZipFile(example / ".forge/build/functions/go-hello.zip") as zf:
        assert zf.namelist() == ["bootstrap"]
        assert zf.getinfo("bootstrap").external_attr >> 16 & 0o777 == 0o755
        head = zf.read("bootstrap")[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == EM_AARCH64
    (example / "functions/go-hello/main_test.go").write_text("package main\n")
    assert {r.status.value for r in build(example, "go-hello").results.values()} == {"up-to-date"}
