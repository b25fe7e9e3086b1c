"""The project build lock: a second build waits (and says so once); a killed holder
never blocks the next build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lambdaforge.locking import BuildLockTimeoutError, project_build_lock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lambdaforge.locking import project_build_lock
    state, release = Path(sys.argv[1]), Path(sys.argv[2])
    with project_build_lock(state):
        print("locked", flush=True)
        deadline = time.monotonic() + 20
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    """
)


def start_holder(state_dir: Path, release: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir), str(release)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_build_waits_and_says_for_whom(tmp_path: Path) -> None:
    state_dir = tmp_path / "proj" / ".forge" / "state"
    release = tmp_path / "release"
    holder = start_holder(state_dir, release)
    try:
        threading.Timer(0.3, release.touch).start()
        messages: list[str] = []
        with project_build_lock(state_dir, messages.append, timeout=15):
            # Got only once the holder let go, which it does only after the release file.
            assert release.exists()
            assert (state_dir / "build.lock.pid").read_text().strip() == str(os.getpid())
        assert messages == [
            f"waiting for another forge build in {tmp_path / 'proj'} (pid {holder.pid})…"
        ]
        assert holder.wait(timeout=10) == 0
    finally:
        release.touch()
        holder.kill()
        holder.wait()


def test_no_message_when_nobody_holds_it(tmp_path: Path) -> None:
    messages: list[str] = []
    with project_build_lock(tmp_path / "state", messages.append):
        pass
    with project_build_lock(tmp_path / "state", messages.append):
        pass
    assert messages == []
    assert not (tmp_path / "state" / "build.lock.pid").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    holder = start_holder(state_dir, tmp_path / "never")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert (state_dir / "build.lock.pid").exists()  # stale pid file left behind
    messages: list[str] = []
    with project_build_lock(state_dir, messages.append, timeout=5):
        pass
    assert messages == []  # taken at once: no "waiting for another forge build"


def test_giving_up_after_a_timeout(tmp_path: Path) -> None:
    release = tmp_path / "release"
    holder = start_holder(tmp_path / "state", release)
    try:
        with pytest.raises(BuildLockTimeoutError, match="held the lock for more than 0.2s"):
            with project_build_lock(tmp_path / "state", where=Path("/proj"), timeout=0.2):
                pass
    finally:
        release.touch()
        holder.wait(timeout=10)


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()
    waits: list[str] = []

    def build() -> None:
        nonlocal inside, most
        with project_build_lock(tmp_path / "state", waits.append, timeout=10):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert most == 1
    assert waits  # at least one of them had to wait
