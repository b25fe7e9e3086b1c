"""An install failure names its cause (refused, HTTP 404, bad TLS) with the installer's own
lines, and the full log it points at exists. The index is a loopback fixture."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from pathlib import Path

import pytest


WHEEL = "requests-2.32.3-py3-none-any.whl"


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A simple index listing one wheel, whose download answers 404."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.rstrip("/") == "/simple/requests":
            body = f'<html><body><a href="/files/{WHEEL}">{WHEEL}</a></body></html>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_http_server():
    """A loopback HTTP index whose one wheel is missing (404), speaking plain HTTP even to
    a TLS hello."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failing_install(project, index_url: str, installer: str):
    # The index is a loopback server of the test's: uv must try it (the suite keeps uv
    # offline otherwise, so nothing reaches for PyPI).
    import os

    os.environ.pop("UV_OFFLINE", None)  # the autouse fixture's monkeypatch restores it
    # pip and uv retry a dead index with back-off by default (~15 s a test): the cause they
    # report is the same after one try. (forge passes both on: they are network plumbing.)
    os.environ["PIP_RETRIES"] = "0"
    os.environ["UV_HTTP_RETRIES"] = "0"
    project.config(f"""
[defaults]
runtime = "python3.12"
installer = "{installer}"
index-url = "{index_url}"

[functions.fn]
source = "fn"
handler = "app.handler"
dependencies = ["requests==2.32.3"]
""")
    project.write("fn/app.py", "def handler(event, context):\n    return 1\n")
    try:
        out = project.build()
    finally:
        os.environ.pop("PIP_RETRIES", None)
        os.environ.pop("UV_HTTP_RETRIES", None)
    install = next(r for t, r in out.results.items() if t.startswith("install:"))
    assert install.status.value == "failed"
    log = re.search(r"full installer log: (\S+)", install.error)
    assert log, install.error
    assert Path(log.group(1)).is_file()
    assert "requests" in Path(log.group(1)).read_text()
    return install.error


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_http_404_is_named(project, plain_http_server, installer):
    error = failing_install(project, f"http://127.0.0.1:{plain_http_server}/simple", installer)
    assert "the index answered with an HTTP error" in error, error
    assert "404" in error


def test_refused_connection_is_named(project, closed_port):
    error = failing_install(project, f"http://127.0.0.1:{closed_port}/simple", "uv")
    assert "the index refused the connection" in error, error
    assert "no wheel for" not in error


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_bad_tls_is_named(project, plain_http_server, installer):
    error = failing_install(project, f"https://127.0.0.1:{plain_http_server}/simple", installer)
    assert "TLS failure talking to the index" in error, error
    assert "no wheel for" not in error
