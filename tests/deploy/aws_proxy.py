"""A test-only HTTP proxy in front of the moto server: it records every request (so a test can
assert which writes the server saw) and answers chosen requests itself with an injected
error (``ResourceConflictException``, throttling, AccessDenied), before passing the rest on.
It can also hold requests at a gate until several are in flight (proof of parallel calls
without timing anything) and run a hook before passing one on (a change made by someone
else at that very moment). Lambda's errors are JSON; S3's (``xml=True``: ``SlowDown``, 503)
are an XML document."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` (``"*"``: any) and
    ``path_part`` with ``status`` and an AWS error ``code`` (as S3's XML with ``xml``)."""

    method: str
    path_part: str
    code: str
    status: int = 409
    times: int = 1
    message: str = "injected by the test proxy"
    xml: bool = False
    #: how many requests this fault answered
    answered: int = 0


@dataclass
class Rewrite:
    """Once a request whose path contains ``after`` was seen, change the ``Configuration`` of
    the next ``times`` answers to ``GET path`` (what the waiters poll) with ``fields``: how a
    test shows Lambda still busy (``LastUpdateStatus: InProgress``), which moto never is."""

    path: str
    after: str
    fields: dict
    times: int = 1
    armed: bool = False


@dataclass
class Gate:
    """Hold each request matching ``method`` and ``path_part`` until ``parties`` of them are
    waiting together (``threading.Barrier``); one kept waiting past ``timeout`` seconds (the
    calls were not concurrent) is answered 500 ``GateTimeout``."""

    method: str
    path_part: str
    parties: int
    timeout: float = 30.0
    barrier: threading.Barrier = field(init=False)

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.parties, timeout=self.timeout)


@dataclass
class Hook:
    """Run ``action()`` before passing on the next ``times`` requests matching ``method``
    and ``path_part``."""

    method: str
    path_part: str
    action: Callable[[], None]
    times: int = 1


@dataclass
class Proxy:
    """The running proxy: ``url`` to point boto3 at, ``requests`` seen, ``faults`` to inject."""

    upstream: tuple[str, int]
    server: ThreadingHTTPServer | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: the body of every write request, by (method, path), in order
    bodies: list[tuple[str, str, bytes]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    #: a missing key is answered 403 AccessDenied (S3, to a role without s3:ListBucket)
    deny_missing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def writes(self) -> list[tuple[str, str]]:
        """The requests that change something (not GET/HEAD)."""
        return [(m, p) for m, p in self.requests if m not in ("GET", "HEAD")]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bodies.clear()
            self.faults.clear()
            self.rewrites.clear()
            self.gates.clear()
            self.hooks.clear()

    def rewrite_for(self, method: str, path: str) -> Rewrite | None:
        with self.lock:
            for rewrite in self.rewrites:
                if rewrite.armed and rewrite.times > 0 and method == "GET" and path == rewrite.path:
                    rewrite.times -= 1
                    return rewrite
        return None

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests.append((method, path))
            for rewrite in self.rewrites:
                rewrite.armed = rewrite.armed or rewrite.after in path
            for fault in self.faults:
                if (fault.times > 0 and fault.method in (method, "*")
                        and fault.path_part in path):
                    fault.times -= 1
                    fault.answered += 1
                    return fault
        return None


    def gate_for(self, method: str, path: str) -> Gate | None:
        with self.lock:
            return next((g for g in self.gates if g.method == method and g.path_part in path),
                        None)

    def hook_for(self, method: str, path: str) -> Hook | None:
        with self.lock:
            for hook in self.hooks:
                if hook.times > 0 and hook.method == method and hook.path_part in path:
                    hook.times -= 1
                    return hook
        return None


def start_proxy(upstream: tuple[str, int]) -> Proxy:
    """Start a proxy to ``upstream`` (host, port) on a free loopback port, in a thread."""
    proxy = Proxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command not in ("GET", "HEAD"):
                with proxy.lock:
                    proxy.bodies.append((self.command, self.path, body))
            fault = proxy.fault_for(self.command, self.path)
            gate = proxy.gate_for(self.command, self.path)
            if gate is not None and fault is None:
                try:
                    gate.barrier.wait()
                except threading.BrokenBarrierError:
                    fault = Fault(self.command, self.path, "GateTimeout", status=500,
                                  message="the gate's other requests never came")
            hook = proxy.hook_for(self.command, self.path)
            if hook is not None and fault is None:
                hook.action()
            if fault is not None:
                if fault.xml:
                    data = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}'
                            f'</Code><Message>{fault.message}</Message></Error>').encode()
                else:
                    data = json.dumps({"Type": "User", "message": fault.message}).encode()
                self.send_response(fault.status)
                self.send_header("x-amzn-ErrorType", fault.code)
                self.send_header("Content-Type", "application/xml" if fault.xml
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = self.headers.get("Host", "")
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            status = answer.status
            if proxy.deny_missing and status == 404 and b"NoSuchBucket" not in data:
                status, data = 403, (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
                                     b'AccessDenied</Code><Message>Access Denied</Message></Error>')
            rewrite = proxy.rewrite_for(self.command, self.path)
            if rewrite is not None and answer.status == 200:
                document = json.loads(data)
                document["Configuration"].update(rewrite.fields)
                data = json.dumps(document).encode()
            self.send_response(status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _any

    proxy.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=proxy.server.serve_forever, daemon=True).start()
    return proxy
