"""Running one invocation's child process: its logs, its timeout, its peak memory.

Not the build's ``Runner``: an invocation needs what a captured ``subprocess.run`` cannot
give, namely the logs streamed while the function runs, a timeout that starts when the
handler is called (not when the interpreter starts: importing the handler is Lambda's init
phase, with its own 10-second limit), the whole process group killed when the time is up
(a handler's own children included), and the child's peak resident memory
(``wait4``'s ``ru_maxrss``) for the REPORT line.

The child tells the parent the handler is being called by writing ``start`` on a pipe
(``CONTROL_FD``, its number appended to ``argv``); the pipe's end of file means the
child has exited. stdout and stderr of the child are one stream, as in CloudWatch.
"""

from __future__ import annotations

import codecs
import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from msgspec import Struct

#: Lambda's limit on a function's init phase (importing the handler), in seconds
INIT_TIMEOUT_S = 10.0


class ChildRun(Struct, frozen=True):
    """How the child ended."""

    #: its exit code (negative: killed by that signal)
    exit_code: int
    #: killed because the handler ran past the timeout
    timed_out: bool
    #: killed because importing the handler took longer than Lambda's init limit
    init_timed_out: bool
    #: everything it printed, stdout and stderr interleaved
    logs: str
    #: peak resident set size, in KiB
    peak_rss_kib: int


def run_child(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout_s: float,
              on_log: Callable[[str], None] | None = None,
              init_timeout_s: float = INIT_TIMEOUT_S) -> ChildRun:
    """Run ``argv`` (plus the control descriptor's number) with exactly ``env`` in ``cwd``,
    in a session of its own; ``on_log`` gets the output as it comes."""
    control_r, control_w = os.pipe()
    try:
        proc = subprocess.Popen([*argv, str(control_w)], cwd=cwd, env=dict(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(control_w,),
                                start_new_session=True)
    finally:
        os.close(control_w)
    chunks: list[str] = []
    reader = threading.Thread(target=_read_logs, args=(proc, chunks, on_log), daemon=True)
    reader.start()
    timed_out = init_timed_out = False
    try:
        said = _wait_readable(control_r, init_timeout_s)
        if said is None:
            init_timed_out = True
        elif said:  # "start": the handler is being called
            timed_out = _wait_readable(control_r, timeout_s) is None
    finally:
        os.close(control_r)
        # Kill what is left of the group (all of it after a timeout; a handler's
        # stragglers otherwise) while the leader, exited or not, still holds its id.
        _kill_group(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
    return ChildRun(proc.returncode, timed_out, init_timed_out, "".join(chunks),
                    usage.ru_maxrss)


def _wait_readable(fd: int, timeout_s: float) -> bytes | None:
    """What the child wrote next on the control pipe (``b""``: it closed it, by exiting),
    or ``None`` when nothing came within ``timeout_s``."""
    ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
    return os.read(fd, 64) if ready else None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_logs(proc: subprocess.Popen, chunks: list[str],
               on_log: Callable[[str], None] | None) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = os.read(fd, 65536)
        text = decoder.decode(data, final=not data)
        if text:
            chunks.append(text)
            if on_log is not None:
                on_log(text)
        if not data:
            break
    proc.stdout.close()
