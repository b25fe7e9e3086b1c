"""The replay record: the planner's observations, kept so a no-op build is answered from stats.

A full ``forge build`` that finds nothing to do still imports pydantic and networkx, loads
the config and plans every target. After a build in which every target succeeded, the
session writes the *replay record*: exactly what the planner observed while deciding each
target's status (``lambdaforge.observe``: input stats with their digests, directory
listings, tools, environment, and the outputs it found or wrote), grouped per target, plus
what the whole project depends on (config files, ``[[discover]]`` listings, lambdaforge's own
modules). There is no second list of inputs: the record is what the planner read.

The next ``forge build`` with the same options replays it before importing anything heavy:
every observation goes through ``observe.check``, the same check the planner uses for
outputs, with the same racy-timestamp rule. All hold → nothing can have changed, and the
build stops there (ninja's "stat, don't read"). Any that fails, a missing, foreign or
malformed record → "don't know": the planner runs and decides. When everything held but
some observations had to be verified by content (a ``touch``, a ``git checkout`` that
rewrote equal bytes, a file too recent to trust its stat), the record is refreshed so the
next replay is stats alone again.

The record is JSON lines (a header, then one line per group), so a large one is replayed by
two processes: a forked helper parses and checks the second half of the lines while this
process does the first (``examine``). At 2,000 functions a no-op stats ~18,000 paths, and on
a slow core that, with parsing the ~3 MB record, was most of its time.

This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lambdaforge import __version__
from lambdaforge.observe import Observation, check_many, newest, racy, stat_tuple

RECORD_VERSION = 4
RECORD_NAME = "replay.json"
#: where the record lives, relative to the project root
RECORD_PATH = (".forge", "state", RECORD_NAME)
#: A record with at least this many bytes of observations is replayed by two processes, each
#: parsing and checking half of it (see ``examine``); below it a fork costs more than it saves.
PARALLEL_MIN_BYTES = 1_000_000


def build_identity(names: Iterable[str], *, smoke: bool, checks: bool,
                   config: str) -> dict[str, object]:
    """What must match for a recorded build to answer for this one: the targets chosen, the
    checks asked for, and the config file (several may share one directory)."""
    return {"names": sorted(names), "smoke": smoke, "checks": checks, "config": config}


def glob_dirs(root: Path, globs: Iterable[tuple[str, str]]) -> list[str]:
    """The directories whose listings decide what each ``(base, pattern)`` glob matches:
    for ``services/*/handler``, the base itself and every ``services/*``. A directory added,
    removed or replaced by a file anywhere a glob could match changes one of these listings."""
    import glob

    out: set[str] = set()
    for base, pattern in globs:
        parts = pattern.split("/")
        top = os.path.join(os.fspath(root), base)
        for depth in range(len(parts)):
            prefix = "/".join(parts[:depth])
            found = glob.glob(prefix, root_dir=top, recursive=True) if prefix else ["."]
            for d in found:
                if os.path.isdir(os.path.join(top, d)):
                    out.add(os.path.normpath(os.path.join(base, d)).replace(os.sep, "/"))
    return sorted(out)


def record(state_dir: Path, identity: Mapping[str, object], reference_ns: int,
           project: list[Observation], targets: Mapping[str, list[Observation]],
           summary: str) -> None:
    """Write the record of a fully successful build. ``reference_ns`` is a moment no later
    than the first observation was taken (the build's start): the racy rule is judged
    against it.

    JSON lines: a header (version, identity, reference, summary), then one ``[name,
    observations]`` line per group, ``"project"`` first. Each line parses on its own, so a
    large record is parsed and checked by two processes, half each (``examine``)."""
    from lambdaforge.fsutil import write_atomic

    header = {"version": RECORD_VERSION, "lambdaforge": __version__,
              "identity": dict(identity), "reference_ns": reference_ns, "summary": summary}
    lines = [json.dumps(header, separators=(",", ":")),
             json.dumps(["project", project], separators=(",", ":"))]
    lines += [json.dumps([name, group], separators=(",", ":")) for name, group in targets.items()]
    write_atomic(state_dir / RECORD_NAME, "\n".join(lines).encode(), durable=False)


def forget(state_dir: Path) -> None:
    """Drop the record (a build that failed, or one whose outputs cannot be trusted)."""
    (state_dir / RECORD_NAME).unlink(missing_ok=True)


class Malformed(ValueError):
    """A record line of the wrong shape: the whole record is not there."""


def _read(root: Path, identity: Mapping[str, object]
          ) -> tuple[dict, list[bytes], os.stat_result] | None:
    """The record's header, its group lines (unparsed) and the stat of the file they were
    read from, when the header is well-formed, of this version and for this build identity."""
    try:
        with open(os.path.join(os.fspath(root), *RECORD_PATH), "rb") as f:
            st = os.fstat(f.fileno())
            lines = f.read().split(b"\n")
        header = json.loads(lines[0])
    except (OSError, ValueError):
        return None
    if (not isinstance(header, dict) or header.get("version") != RECORD_VERSION
            or header.get("lambdaforge") != __version__
            or header.get("identity") != json.loads(json.dumps(dict(identity)))
            or type(header.get("reference_ns")) is not int
            or not isinstance(header.get("summary"), str)
            or len(lines) < 2):
        return None
    return header, lines[1:], st


def _parse_all(lines: list[bytes], into: dict[str, list[Observation]]) -> None:
    """Add each line's ``[name, observations]`` group to ``into``; a line of another shape, or
    a name already there, is ``Malformed``. The lines are parsed as one JSON array (one
    decoder call: per-line calls cost a record of 400 lines a quarter of its replay). Each
    observation's shape is checked where it is used: ``observe.check`` finds a malformed one
    false (checking them all here first cost a third of a no-op)."""
    try:
        items = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError as exc:
        raise Malformed(str(exc)) from exc
    if len(items) != len(lines):
        raise Malformed("a line that is not one JSON value")
    for item in items:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], list)):
            raise Malformed("not a [name, observations] line")
        name, group = item
        if name in into:
            raise Malformed(f"group {name!r} twice")
        into[name] = group


def load(root: Path, identity: Mapping[str, object]) -> dict | None:
    """The record of ``root`` when it is well-formed, of this version and for this build
    identity, as ``{**header, "project": [...], "targets": {id: [...]}}``; else ``None`` (a
    record of another shape is simply not there)."""
    read = _read(root, identity)
    if read is None:
        return None
    header, lines, _ = read
    groups: dict[str, list[Observation]] = {}
    try:
        _parse_all(lines, groups)
    except Malformed:
        return None
    if "project" not in groups:
        return None
    project = groups.pop("project")
    return {**header, "project": project, "targets": groups}


class Replayed:
    """What replaying a record found: per group (``"project"`` or a target id) the
    observations that no longer hold, and the record (``data``, as ``load`` gives it).
    (A plain class: a msgspec ``Struct`` would cost the no-op build its import.)"""

    def __init__(self, header: dict, groups: dict[str, list[Observation]],
                 unparsed: list[bytes], source: os.stat_result | None = None,
                 read_ns: int = 0) -> None:
        self.header = header
        self.failing: dict[str, list[Observation]] = {}
        #: the record file's stat as read, and a moment no later than the read (``current``)
        self.source, self.read_ns = source, read_ns
        self._groups = groups
        #: group lines a helper process checked and this one has not parsed (yet)
        self._unparsed = unparsed
        self._data: dict | None = None

    @property
    def up_to_date(self) -> bool:
        """Every observation held: nothing can have changed."""
        return not self.failing

    @property
    def summary(self) -> str:
        """What the recorded build reported (``"12 up-to-date"``)."""
        return str(self.header.get("summary", ""))

    @property
    def groups(self) -> dict[str, list[Observation]]:
        """Every group of the record, ``"project"`` included (parsed on first use)."""
        if self._unparsed:
            _parse_all(self._unparsed, self._groups)  # checked already: well-formed
            self._unparsed = []
        return self._groups

    def current(self, root: Path) -> bool:
        """Whether ``root``'s record file is still the one this replay read (same inode,
        size and times, and not modified so close to the read that a change in the same
        timestamp tick could hide): then ``data`` is what ``load`` would read again."""
        if self.source is None:
            return False
        try:
            st = os.stat(os.path.join(os.fspath(root), *RECORD_PATH))
        except OSError:
            return False
        return (stat_tuple(st) == stat_tuple(self.source)
                and not racy(newest(st), self.read_ns))

    @property
    def data(self) -> dict:
        """The whole record, as ``load`` gives it."""
        if self._data is None:
            groups = dict(self.groups)
            project = groups.pop("project", [])
            self._data = {**self.header, "project": project, "targets": groups}
        return self._data


def _check_lines(lines: list[bytes], base: str, reference: int,
                 groups: dict[str, list[Observation]]) -> tuple[dict, dict]:
    """Parse ``lines`` into ``groups`` and check every observation; returns the failing
    observations and the checked results of the groups where a result is not the recorded
    observation itself (failing, or proved by content only), both per group name. Raises
    ``Malformed``."""
    failing: dict[str, list[Observation]] = {}
    changed: dict[str, list[Observation | None]] = {}
    first = len(groups)
    _parse_all(lines, groups)
    for name, group in list(groups.items())[first:]:
        results = check_many(group, base, reference)
        if any(r is not o for r, o in zip(results, group)):
            changed[name] = results
            bad = [o for o, r in zip(group, results) if r is None]
            if bad:
                failing[name] = bad
    return failing, changed


def _may_fork() -> bool:
    """Whether replaying in two processes is safe here: on Linux (where ``fork`` is the
    process model) and with no other Python thread running (a thread holding a lock at the
    fork would leave it held in the child)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _split(lines: list[bytes]) -> int:
    """Where a record's group lines are split between two processes (``len(lines)`` for one):
    at half their bytes, when there are enough of them to be worth a fork."""
    total = sum(len(line) for line in lines)
    if total < PARALLEL_MIN_BYTES or not _may_fork():
        return len(lines)
    half, run = total // 2, 0
    for i, line in enumerate(lines):
        run += len(line)
        if run >= half:
            return i + 1
    return len(lines)


class _Helper:
    """A forked child that parses and checks some group lines, and reports back through a
    pipe as one JSON document: the names of its groups and ``_check_lines``' answer
    (``{"names": …, "failing": …, "changed": …}``), or ``{"malformed": …}``. Parallel
    ``lstat`` is git's answer to large indexes (its preload-index threads); in Python, whose
    threads share one interpreter lock, it takes a process. Anything that goes wrong with the child (it cannot be forked, dies, says
    something unreadable) makes ``result`` ``None``: the parent then checks those lines
    itself, so a failed helper costs time, never a wrong answer."""

    def __init__(self, lines: list[bytes], base: str, reference: int) -> None:
        self.pid: int | None = None
        read_fd, write_fd = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if self.pid == 0:  # the child: never returns
            status = 1
            try:
                os.close(read_fd)
                try:
                    groups: dict[str, list[Observation]] = {}
                    failing, changed = _check_lines(lines, base, reference, groups)
                    answer: dict = {"names": list(groups), "failing": failing, "changed": changed}
                except Malformed as exc:
                    answer = {"malformed": str(exc)}
                payload = memoryview(json.dumps(answer, separators=(",", ":")).encode())
                while payload:
                    payload = payload[os.write(write_fd, payload):]
                status = 0
            finally:
                os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
        os.close(write_fd)
        self.read_fd = read_fd

    def result(self) -> dict | None:
        """The child's answer, or ``None`` when there is none to trust. Reaps the child;
        later calls answer ``None``."""
        if self.pid is None:
            return None
        pid, self.pid = self.pid, None
        chunks = []
        status = 1
        try:
            while chunk := os.read(self.read_fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(self.read_fd)
            _, status = os.waitpid(pid, 0)
        if status != 0:
            return None
        try:
            answer = json.loads(b"".join(chunks))
        except ValueError:
            return None
        if not isinstance(answer, dict):
            return None
        if "malformed" in answer:
            return answer
        names, failing, changed = answer.get("names"), answer.get("failing"), answer.get("changed")
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)
                and isinstance(failing, dict) and isinstance(changed, dict)
                and all(isinstance(v, list) for v in (*failing.values(), *changed.values()))):
            return None
        return answer


def examine(root: Path, identity: Mapping[str, object]) -> Replayed | None:
    """Check every observation of the record (each once); ``None`` when there is no usable
    record. When everything held, some of it only by content, the record is refreshed with
    the current stats against this run's start, so the next replay is stats alone (an
    optimisation only: a read-only state directory must not fail a no-op build).

    A large record (``PARALLEL_MIN_BYTES``) is split at half its bytes: a forked helper
    parses and checks the second half while this process does the first, and hands back
    only what did not hold. Its groups are parsed here only when they are needed: for an
    incremental build, or to refresh the record."""
    started_ns = time.time_ns()
    read = _read(root, identity)
    if read is None:
        return None
    header, lines, source = read
    base, reference = os.fspath(root), header["reference_ns"]
    split = _split(lines)
    helper = _Helper(lines[split:], base, reference) if split < len(lines) else None
    groups: dict[str, list[Observation]] = {}
    unparsed: list[bytes] = []
    try:
        failing, changed = _check_lines(lines[:split], base, reference, groups)
        answer = helper.result() if helper is not None else None
        helper = None
        if answer is None:  # no helper, or none to trust: check its share here
            more = _check_lines(lines[split:], base, reference, groups)
        elif "malformed" in answer:
            return None
        else:
            names = answer["names"]
            if len(set(names)) != len(names) or not groups.keys().isdisjoint(names):
                return None  # a group twice
            more, unparsed = (answer["failing"], answer["changed"]), lines[split:]
    except Malformed:
        return None
    finally:
        if helper is not None:  # this process failed first: reap the helper
            helper.result()
    if "project" not in groups:  # written first, so always in this process's share
        return None
    failing.update(more[0])
    changed.update(more[1])
    found = Replayed(header, groups, unparsed, source, started_ns)
    found.failing = failing
    if found.up_to_date and changed:
        checked = {name: changed.get(name, group) for name, group in found.groups.items()}
        project = checked.pop("project")
        try:
            record(Path(root, *RECORD_PATH[:-1]), identity, started_ns, project, checked,
                   found.summary)
        except OSError:
            pass
    return found


def replay(root: Path, identity: Mapping[str, object]) -> str | None:
    """The summary of the recorded build when every observation still holds, else None."""
    found = examine(root, identity)
    if found is None or not found.up_to_date:
        return None
    return found.summary


def find_project_root(cwd: Path, config: Path | None) -> Path | None:
    """The directory of the config file ``forge`` would use, without loading it."""
    if config is not None:
        path = config if config.is_absolute() else cwd / config
        return path.parent if path.is_file() else None
    here = cwd.absolute()
    for d in (here, *here.parents):
        if (d / "lambdaforge.toml").is_file():
            return d
    return None
