"""``forge watch`` as a real subprocess on a one-function project: an edit rebuilds once, a
touch rebuilds nothing, config and new files are watched, a broken build keeps watching,
Ctrl-C and SIGTERM end it cleanly; and the library loop stops on its event or cycle count."""

from __future__ import annotations

import io
import os
import queue
import signal
import textwrap
import threading
import zipfile
from pathlib import Path

import pytest

from tests.support.watching import WatchProcess, built

CONFIG = """
[project]
name = "tiny"

[functions.api]
source = "fn"
handler = "app.handler"
runtime = "python3.12"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Python function without dependencies, its own cache."""
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "proj"
    (root / "fn").mkdir(parents=True)
    (root / "lambdaforge.toml").write_text(textwrap.dedent(CONFIG).lstrip())
    (root / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return root


@pytest.fixture
def watcher(project: Path):
    """``forge watch`` running on ``project``, past its first build."""
    w = WatchProcess(project)
    first = w.next_cycle()
    assert len(built(first, "function:api")) == 1, first
    yield w
    w.kill()


def test_an_edit_rebuilds_once_and_a_touch_rebuilds_nothing(project: Path, watcher) -> None:
    app = project / "fn" / "app.py"
    app.write_text("def handler(event, context):\n    return 2\n")
    cycle = watcher.next_cycle()
    assert "changed: fn/app.py" in cycle
    assert len(built(cycle, "function:api")) == 1, cycle

    st = app.stat()
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # mtime only
    cycle = watcher.next_cycle()
    assert "changed: fn/app.py" in cycle
    assert built(cycle, "function:api") == [], cycle
    assert any(line.startswith("nothing to rebuild: ") for line in cycle), cycle

    code, rest = watcher.stop(signal.SIGINT)
    assert code == 0
    assert built(rest, "function:api") == [] and not any("Traceback" in line for line in rest)
    # exactly one rebuild after the first build, across everything it printed
    assert len(built(watcher.seen, "function:api")) == 2


def test_config_edits_new_files_and_a_broken_config(project: Path, watcher) -> None:
    config = project / "lambdaforge.toml"
    good = config.read_text()
    config.write_text(good.replace("python3.12", "python3.13"))
    cycle = watcher.next_cycle()
    assert "changed: lambdaforge.toml" in cycle
    assert len(built(cycle, "function:api")) == 1, cycle

    (project / "fn" / "util.py").write_text("X = 1\n")  # a file no build has read yet
    cycle = watcher.next_cycle()
    assert "changed: fn/util.py" in cycle
    assert len(built(cycle, "function:api")) == 1, cycle
    with zipfile.ZipFile(project / ".forge/build/functions/api.zip") as zf:
        assert "util.py" in zf.namelist()

    # A config that does not load is reported where it is wrong; the watcher goes on.
    config.write_text(good.replace('handler = "app.handler"', 'handler = "app.handler"\nmemroy = 1'))
    cycle = watcher.next_cycle()
    assert any(line.startswith("lambdaforge.toml:") and "memroy" in line for line in cycle), cycle
    assert built(cycle, "function:api") == []
    config.write_text(good)
    cycle = watcher.next_cycle()
    assert len(built(cycle, "function:api")) == 1, cycle

    code, _ = watcher.stop(signal.SIGTERM)
    assert code == 0 and not any("Traceback" in line for line in watcher.seen)


def test_an_unknown_name_is_a_usage_error(project: Path, capsys) -> None:
    from lambdaforge.cli import main

    assert main(["-C", str(project), "watch", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


class _Lines(io.TextIOBase):
    """A stream a test reads line by line while the watcher writes it from another thread."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        for line in done:
            self.lines.put(line)
        return len(text)

    def until(self, prefix: str) -> list[str]:
        got = []
        while not (got and got[-1].startswith(prefix)):
            got.append(self.lines.get(timeout=60))
        return got


def test_the_library_loop_stops_after_max_cycles_and_on_its_event(project: Path) -> None:
    from lambdaforge.watcher import WatchOptions, watch

    out, results = _Lines(), []
    options = WatchOptions(cwd=project, quiet_ms=50)
    thread = threading.Thread(target=lambda: results.append(
        watch(options, max_cycles=1, out=out)))
    thread.start()
    assert len(built(out.until("watching "), "function:api")) == 1
    (project / "fn" / "app.py").write_text("def handler(event, context):\n    return 3\n")
    thread.join(timeout=60)
    assert results == [0]
    rest = []
    while not out.lines.empty():
        rest.append(out.lines.get())
    assert len(built(rest, "function:api")) == 1, rest

    stop = threading.Event()
    thread = threading.Thread(target=lambda: results.append(watch(options, stop_event=stop, out=out)))
    thread.start()
    out.until("watching ")
    stop.set()
    thread.join(timeout=60)
    assert results == [0, 0]
