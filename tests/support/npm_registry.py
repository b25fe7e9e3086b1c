"""A tiny npm registry on the loopback interface, for hermetic tests of what npm fetches.

It serves a folder of package tarballs (written with ``npmproject.write_tarball``, npm's
``package/…`` layout) the way the public registry does: ``GET /<name>`` answers the
package's document (every version with its dependencies, tarball URL and integrity),
``GET /-/<file>.tgz`` the tarball. Point npm at it with ``npm_config_registry``. Nothing
but this process's thread listens; the requests are counted, so a test can tell what npm
asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from tests.node_builder.npmproject import write_tarball

#: when every package was "published"
PUBLISHED = "2020-01-01T00:00:00.000Z"


class LocalRegistry:
    """``with LocalRegistry(folder) as registry:``, ``registry.url`` for npm, and
    ``registry.publish(name, version, files, dependencies)`` to add a package."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.packages: dict[str, dict[str, dict[str, Any]]] = {}
        #: path → how many times npm asked for it
        self.requests: Counter[str] = Counter()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
                path = unquote(self.path.split("?", 1)[0])
                registry.requests[path] += 1
                body = registry.answer(path)
                if body is None:
                    self.send_response(404)
                    body = b'{"error":"Not found"}'
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"

    def publish(self, name: str, version: str, files: dict[str, str],
                dependencies: dict[str, str] | None = None, **manifest: Any) -> None:
        """Add ``name@version`` with ``files`` (relative path → text)."""
        tarball = self.folder / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
        meta = {"name": name, "version": version, "dependencies": dependencies or {}, **manifest}
        write_tarball(tarball, meta, files)
        data = tarball.read_bytes()
        meta["dist"] = {
            "tarball": f"{self.url}-/{tarball.name}",
            "shasum": hashlib.sha1(data).hexdigest(),
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        }
        self.packages.setdefault(name, {})[version] = meta

    def answer(self, path: str) -> bytes | None:
        """The body for ``path``, ``None`` for a 404."""
        if path.startswith("/-/"):
            tarball = self.folder / path[3:]
            return tarball.read_bytes() if tarball.is_file() else None
        versions = self.packages.get(path.lstrip("/"))
        if versions is None:
            return None
        latest = max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
        # Publication times, long past: Yarn 4 quarantines versions it cannot date
        # (npmMinimalAgeGate), as it would ones published minutes ago.
        times = {"created": PUBLISHED, "modified": PUBLISHED, **{v: PUBLISHED for v in versions}}
        return json.dumps({"name": path.lstrip("/"), "dist-tags": {"latest": latest},
                           "versions": versions, "time": times}).encode()

    def __enter__(self) -> LocalRegistry:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
