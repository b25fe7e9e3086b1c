"""Full disks for tests: a real tiny tmpfs where the machine allows it, else fault injection.

- ``tiny_filesystem(path, size)`` mounts a tmpfs of ``size`` bytes at ``path`` (root on Linux
  only; the test is skipped elsewhere) and unmounts it afterwards: the kernel itself answers
  ``ENOSPC``, through every code path, buffered writes and copies included.
- ``fail_writes_under(monkeypatch, root)`` makes ``os.write`` raise ``ENOSPC`` for file
  descriptors open on a file below ``root`` (found through ``/proc/self/fd``), and leaves
  every other write alone (pytest's own output, pipes to subprocesses).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_filesystem(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``path`` for the duration of the block."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fail_writes_under(monkeypatch: pytest.MonkeyPatch, root: Path,
                      code: int = errno.ENOSPC) -> list[str]:
    """Make ``os.write`` fail with ``code`` for files below ``root``; returns the list of
    paths whose writes were refused (so a test can check the injection was reached)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell which file a descriptor is open on")
    real_write = os.write
    prefix = os.path.realpath(root) + os.sep
    refused: list[str] = []

    def write(fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(prefix):
            refused.append(target)
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return refused
