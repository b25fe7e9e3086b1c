"""A directory on a file system with 1-second timestamps, for the racy-timestamp tests.

ext4 with 128-byte inodes has no room for nanoseconds: every mtime and ctime is a whole
second, as on HFS+, FAT and some NFS servers. Making one needs root (``mount -o loop``) and
``mkfs.ext4``; without them the tests that ask for it are skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def mount_coarse_fs(factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Yield the mount point of a fresh 64 MB loop-mounted ext4 (``-I 128``); unmount after."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root and mkfs.ext4 for a loop-mounted 1-second-timestamp file system")
    base = factory.mktemp("coarse")
    image, mount = base / "fs.img", base / "mnt"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(image)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
