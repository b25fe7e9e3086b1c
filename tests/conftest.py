"""Suite-wide fixtures: hermetic environment, no network unless a test is marked ``network``."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

# The machine's own pip/uv configuration (extra indexes, find-links) must never leak into a
# test: users do not have it. lambdaforge neutralises it for the installers it runs; tests
# that call pip or uv themselves get the same environment.
for _name in list(os.environ):
    if _name.startswith(("PIP_", "UV_")):
        del os.environ[_name]
os.environ["PIP_CONFIG_FILE"] = os.devnull
os.environ["UV_NO_CONFIG"] = "1"
os.environ.pop("FORGE_CACHE_DIR", None)
os.environ.pop("SOURCE_DATE_EPOCH", None)
# No real container engine: a machine whose docker answers would otherwise pull SAM's build
# images in tests that expect "no container build". Tests of container builds put a fake
# engine (tests/support/fake_engine.py) on PATH and unset this.
os.environ["FORGE_CONTAINER_ENGINE"] = "forge-tests-have-no-container-engine"


def pytest_configure(config: pytest.Config) -> None:
    """Compile lambdaforge's modules once, in the controller, before any test starts: the
    tests start forge as a subprocess hundreds of times, and with PYTHONDONTWRITEBYTECODE
    set (as on the CI machine) a fresh checkout would otherwise compile every module it
    imports in each of them (a third of test_noop_entry's CPU time). Writes only
    ``__pycache__/`` beside the sources, which git ignores."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller did it
    import compileall
    from pathlib import Path

    import lambdaforge

    compileall.compile_dir(Path(lambdaforge.__file__).parent, quiet=1, workers=0)


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else None
    if host in ("localhost", None, ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _pinned_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deprecation warnings are judged on the day (``lambda_facts.current_date``): tests
    see one fixed day, so a runtime reaching its date later does not change their output."""
    import datetime

    from lambdaforge import lambda_facts

    monkeypatch.setattr(lambda_facts, "current_date", lambda: datetime.date(2026, 12, 1))


@pytest.fixture(autouse=True)
def _block_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail fast on any connection to a non-loopback address from this process, and keep
    uv (a subprocess, beyond the socket guard) off the network: an install that would reach
    for PyPI (the import smoke test's runtime packages without an index setting) fails at
    once instead of trying."""
    if request.node.get_closest_marker("network"):
        return
    monkeypatch.setenv("UV_OFFLINE", "1")
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        if not _is_local(address):
            raise OSError(f"network access blocked in tests (connect to {address!r}); "
                          "mark the test @pytest.mark.network")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


#: How much later than the files' last change (their ctime, which cannot be set back) the
#: tests' hashing and saving happen: past the racy window.
LATER_NS = 10_000_000_000


@pytest.fixture
def later_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let time pass: the stat cache and the cache hash and save ``LATER_NS`` after the
    tests wrote their files (tests of racy files write them without this help)."""
    import os
    import time

    import lambdaforge.cache as cache_module
    import lambdaforge.statcache as statcache
    from lambdaforge.statcache import StatCache

    real_time_ns = time.time_ns

    class Later:
        """The time module, ``LATER_NS`` ahead for ``time_ns``."""

        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

        @staticmethod
        def time_ns() -> int:
            return real_time_ns() + LATER_NS

    monkeypatch.setattr(statcache, "time", Later())
    monkeypatch.setattr(cache_module, "time", Later())
    real_save = StatCache.save

    def save_later(self: StatCache) -> None:
        before = self.path.stat().st_mtime_ns if self.path and self.path.exists() else None
        real_save(self)
        if self.path is not None and self.path.exists() and (
                self.path.stat().st_mtime_ns != before):
            t = real_time_ns() + LATER_NS
            os.utime(self.path, ns=(t, t))

    monkeypatch.setattr(StatCache, "save", save_later)
