"""The per-project build lock: two ``forge build`` runs in one checkout take turns.

Builds of one project write the same artifacts, manifest and state files, so the second
run waits for the first (as cargo does: "Blocking waiting for file lock on build
directory"), telling the user once who it waits for. The shared cache needs no such lock:
it is safe under concurrent processes by construction (see ``cache.py``).

The lock is ``filelock``'s OS-level lock (``flock`` on Unix, ``msvcrt.locking`` on
Windows): the kernel releases it when its holder dies, however it dies, so a killed build
never blocks the next one. The holder's pid is kept in a side file only for the message:
the lock file itself is opened (and may be truncated) by every waiter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from lambdaforge.errors import ForgeError
from lambdaforge.fsutil import write_atomic

LOCK_FILE = "build.lock"
PID_FILE = "build.lock.pid"


class BuildLockTimeoutError(ForgeError):
    """Another build held the project lock for longer than the caller was willing to wait."""

    exit_code = 1


@contextmanager
def project_build_lock(
    state_dir: Path,
    on_wait: Callable[[str], None] | None = None,
    *,
    where: Path | None = None,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold the build lock of the project whose state lives in ``state_dir``.

    If another process holds it, ``on_wait`` is called once with
    ``"waiting for another forge build in <where> (pid N)…"`` and the call blocks until the
    lock is free (or ``timeout`` seconds pass: ``BuildLockTimeoutError``). ``where``
    defaults to the project root when ``state_dir`` is ``<root>/.forge/state``.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state_dir / LOCK_FILE))
    pid_file = state_dir / PID_FILE
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(_waiting_message(state_dir, pid_file, where))
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout, poll_interval=0.05)
        except Timeout:
            raise BuildLockTimeoutError(
                f"another forge build in {_where(state_dir, where)} held the lock for more "
                f"than {timeout:g}s"
            ) from None
    try:
        try:
            write_atomic(pid_file, f"{os.getpid()}\n".encode(), durable=False)
        except OSError:
            pass  # only the waiting message needs it
        yield
    finally:
        # Remove our pid before releasing, so a waiter never names a finished build.
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
        lock.release()


def _where(state_dir: Path, where: Path | None) -> Path:
    if where is not None:
        return where
    if state_dir.name == "state" and state_dir.parent.name == ".forge":
        return state_dir.parent.parent
    return state_dir


def _waiting_message(state_dir: Path, pid_file: Path, where: Path | None) -> str:
    try:
        pid = int(pid_file.read_text().strip())
        holder = f" (pid {pid})"
    except (OSError, ValueError):
        holder = ""  # the holder is between acquiring and writing its pid
    return f"waiting for another forge build in {_where(state_dir, where)}{holder}…"
