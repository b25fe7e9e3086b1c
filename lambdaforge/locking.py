"""The per-project build lock: two ``forge build`` runs in one checkout take turns (and
``file_lock``, the same OS lock on any file, for a shared resource one user at a time).

Builds of one project write the same artifacts, manifest and state files, so the second
run waits for the first (as cargo does: "Blocking waiting for file lock on build
directory"), telling the user once who it waits for. The shared cache needs no such lock:
it is safe under concurrent processes by construction (see ``cache.py``).

The lock is an OS-level lock (``flock`` on Unix; ``filelock``'s ``msvcrt.locking`` on
Windows, imported only there: it costs a build ~30 ms to import): the kernel releases it when
its holder dies, however it dies, so a killed build never blocks the next one. The holder's pid is kept in a side file only for the message:
the lock file itself is opened (and may be truncated) by every waiter.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
    lock = _OsLock(state_dir / LOCK_FILE)
    pid_file = state_dir / PID_FILE
    if not lock.acquire(0):
        if on_wait is not None:
            on_wait(_waiting_message(state_dir, pid_file, where))
        if not lock.acquire(timeout):
            raise BuildLockTimeoutError(
                f"another forge build in {_where(state_dir, where)} held the lock for more "
                f"than {timeout:g}s"
            )
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


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive OS lock on ``path`` (created when missing), waiting as long as it
    takes: for a resource of the shared tool cache that one process at a time may use
    (Yarn 1's cache folder). Per open file, so two threads of one build exclude each
    other as two builds do; released by the kernel when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _OsLock(path)
    lock.acquire(None)
    try:
        yield
    finally:
        lock.release()


class _OsLock:
    """An exclusive OS lock on one file, released by the kernel when its holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._fallback = None

    def acquire(self, timeout: float | None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (``None``: as long as it takes;
        ``0``: not at all); False when it was not free in time."""
        try:
            import fcntl
        except ImportError:  # Windows
            return self._acquire_with_filelock(timeout)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; Ctrl-C still interrupts it
            else:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            os.close(fd)
                            return False
                        time.sleep(0.05)  # polling another process's lock: no event to wait on
        except BaseException:
            if self._fd != fd:
                os.close(fd)
            raise
        self._fd = fd
        return True

    def _acquire_with_filelock(self, timeout: float | None) -> bool:
        from filelock import FileLock, Timeout

        self._fallback = self._fallback or FileLock(str(self.path))
        try:
            self._fallback.acquire(timeout=-1 if timeout is None else timeout, poll_interval=0.05)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        """Give the lock up."""
        if self._fallback is not None:
            self._fallback.release()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


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
