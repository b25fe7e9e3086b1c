"""``forge watch`` as a real subprocess for tests: its output read line by line on a thread,
so a test waits for a line (a synchronisation point the watcher prints) instead of sleeping."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

#: how long a test waits for a line before failing (a guard, not a synchronisation: every
#: wait ends as soon as the line arrives)
LINE_TIMEOUT = 60.0


class WatchProcess:
    """``python -m lambdaforge -C ROOT watch ARGS…`` with stdout and stderr merged."""

    def __init__(self, root: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambdaforge", "-C", str(root), "watch", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            env=dict(env if env is not None else os.environ))
        self.lines: queue.Queue[str | None] = queue.Queue()
        #: every line read so far
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, predicate: Callable[[str], bool]) -> list[str]:
        """The lines up to and including the first one ``predicate`` accepts."""
        got: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=LINE_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no such line; output so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"forge watch ended (exit {self.proc.wait()}); "
                                     f"output: {self.seen}")
            self.seen.append(line)
            got.append(line)
            if predicate(line):
                return got

    def next_cycle(self) -> list[str]:
        """The lines of one cycle: up to the next "watching" line."""
        return self.until(lambda line: line.startswith("watching "))

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, list[str]]:
        """Send ``sig``; the exit code and the lines printed after it."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=LINE_TIMEOUT)
        self._reader.join(timeout=LINE_TIMEOUT)
        rest = []
        while (line := self.lines.get_nowait()) is not None:
            rest.append(line)
        self.seen += rest
        return code, rest

    def kill(self) -> None:
        """End the process if a test failed before stopping it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def built(lines: list[str], target: str) -> list[str]:
    """The ``built``/``cached`` lines of ``target`` (``function:api``) among ``lines``."""
    return [line for line in lines
            if line.split()[:2] in (["built", target], ["cached", target])]
