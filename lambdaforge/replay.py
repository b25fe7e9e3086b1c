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

The record is a JSON header and the observations as columns (kind, path, last field,
stat), so a no-op compares stats without decoding one observation, and a large record is
checked by two processes: a forked helper checks the second half of the groups while this
process does the first (``examine``). At 2,000 functions a no-op stats ~18,000 paths; on a
slow core that, with parsing the ~3 MB record as JSON, was most of its time.

This module imports nothing heavy on purpose.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from pathlib import Path

import json
import os
import sys
import time
from array import array
from collections.abc import Iterable, Mapping

from lambdaforge import __version__
from lambdaforge.observe import (COARSE_RACY_WINDOW_NS, RACY_WINDOW_NS, Observation, absolute,
                                 check, newest, racy, stat_tuple)

RECORD_VERSION = 5
RECORD_NAME = "replay.json"
#: where the record lives, relative to the project root
RECORD_PATH = (".forge", "state", RECORD_NAME)
#: A record of at least this many observations is replayed by two processes, each checking
#: half of it (see ``examine``); below it a fork costs more than it saves (measured: ~2 ms
#: lost at 150 observations, ~2.5 ms won at 2,200).
PARALLEL_MIN_OBSERVATIONS = 1_500


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

    The file is a JSON header line (version, identity, reference, summary, the groups'
    names and sizes, the sections' lengths), then the observations as columns (``_encode``):
    a no-op replays it without decoding an observation, so a record of 18,000 of them costs
    a millisecond to read rather than the ~50 ms a JSON parse took."""
    from lambdaforge.fsutil import write_atomic

    groups, body, sections = _encode([("project", project), *targets.items()])
    header = {"version": RECORD_VERSION, "lambdaforge": __version__,
              "identity": dict(identity), "reference_ns": reference_ns, "summary": summary,
              "byteorder": sys.byteorder, "groups": groups, "sections": sections}
    data = json.dumps(header, separators=(",", ":")).encode() + b"\n" + body
    write_atomic(state_dir / RECORD_NAME, data, durable=False)


def forget(state_dir: Path) -> None:
    """Drop the record (a build that failed, or one whose outputs cannot be trusted)."""
    (state_dir / RECORD_NAME).unlink(missing_ok=True)


class Malformed(ValueError):
    """A record of the wrong shape: the whole record is not there."""


# --------------------------------------------------------------------------- the columns
#
# Every observation is one row of four columns: its kind (one byte), its path (file system
# bytes), its last field (a digest or listing; empty for a tool) and its stat (six int64s:
# size, mtime, inode, ctime, mode, and the link count of an output, 0 for the others). A
# row of a stat-checked kind (``f``, ``d``, ``t``, ``o``) is compared with ``os.stat`` as it
# is, the way ``observe.check_many`` does it inline. Any other observation (``e``, ``m``, a
# stat that could not be taken, anything that does not fit the columns) is kind ``x`` and
# stored whole as JSON in the last-field column; it goes through ``observe.check``.

_OTHER = ord("x")
_TOOL, _OUTPUT = ord("t"), ord("o")
_COLUMNED = frozenset(map(ord, "fdto"))
_KIND_NAMES = {ord(k): k for k in "fdto"}
_WIDTH = 6
_ZEROS = (0,) * _WIDTH
_INT64 = range(-(1 << 63), 1 << 63)


def _columns(obs: Observation) -> tuple[int, bytes, bytes, list[int]] | None:
    """One observation as a row of columns, or ``None`` when it is stored whole."""
    try:
        kind, path, st = obs[0], obs[1], obs[2]
        if kind not in ("f", "d", "t", "o") or type(path) is not str or type(st) is not list:
            return None
        if len(obs) != (3 if kind == "t" else 4) or len(st) != (6 if kind == "o" else 5):
            return None
        if not all(type(v) is int and v in _INT64 for v in st):
            return None
        last = b"" if kind == "t" else obs[3].encode()
        encoded = os.fsencode(path)
    except (IndexError, TypeError, AttributeError, UnicodeError):
        return None
    if b"\0" in encoded or b"\0" in last or not encoded:
        return None
    return ord(kind), encoded, last, st + [0] * (_WIDTH - len(st))


def _encode(groups: Iterable[tuple[str, list[Observation] | _RawGroup]]
            ) -> tuple[list[list], bytes, list[int]]:
    """The record's body for ``groups`` (``(name, observations)``, in order): the header's
    ``[name, count]`` list, the columns as bytes, and each column's length.

    A group carried over from the last record (``_RawGroup``: an incremental build's
    targets it did not re-plan) is copied as its rows were, without decoding it. A group of
    the common shape (every observation a well-formed ``f``/``d``/``t``/``o``, or one
    stored whole) is encoded in one pass whose checks are made in bulk at its end; when one
    fails, it is encoded row by row (``_columns``), storing what does not fit whole."""
    groups = list(groups)
    counts = [[name, len(group)] for name, group in groups]
    columns = _Columns()
    for _, group in groups:
        if isinstance(group, _RawGroup):
            columns.copy(group)
        elif not columns.add_fast(group):
            columns.add_rows(group)
    sections = [bytes(columns.kinds), b"\0".join(columns.paths), b"\0".join(columns.lasts),
                columns.stats.tobytes()]
    return counts, b"".join(sections), [len(s) for s in sections]


class _Columns:
    """The columns of a record being written (``_encode``)."""

    def __init__(self) -> None:
        self.kinds = bytearray()
        self.paths: list[bytes] = []
        self.lasts: list[bytes] = []
        self.stats = array("q")

    def copy(self, raw: _RawGroup) -> None:
        """Append a group of another record's table as its rows are."""
        table = raw.table
        first, end = table.starts[raw.index], table.starts[raw.index + 1]
        self.kinds += table.kinds[first:end]
        self.paths += table.paths[first:end]
        self.lasts += table.lasts[first:end]
        self.stats += table.stats[first * _WIDTH:end * _WIDTH]

    def add_fast(self, group: list[Observation]) -> bool:
        """Append ``group`` when every observation fits the columns or is one stored whole
        by kind (``e``, ``v``, ``m``, no stat); ``False``, and nothing appended, otherwise."""
        kinds, paths, lasts, flat = bytearray(), [], [], []
        encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        try:
            for obs in group:
                kind = obs[0]
                if kind == "e" or kind == "m" or kind == "v" or obs[2] is None:  # stored whole
                    kinds.append(_OTHER)
                    paths.append(b"")
                    lasts.append(json.dumps(obs, separators=(",", ":")).encode())
                    flat += _ZEROS
                    continue
                path, st = obs[1], obs[2]
                if type(path) is not str or type(st) is not list:
                    return False
                if kind == "t":
                    if len(obs) != 3 or len(st) != 5:
                        return False
                    lasts.append(b"")
                    flat += st
                    flat.append(0)
                elif kind == "o":
                    if len(obs) != 4 or len(st) != 6:
                        return False
                    lasts.append(obs[3].encode())
                    flat += st
                elif kind == "f" or kind == "d":
                    if len(obs) != 4 or len(st) != 5:
                        return False
                    lasts.append(obs[3].encode())
                    flat += st
                    flat.append(0)
                else:
                    return False
                kinds.append(ord(kind))
                paths.append(path.encode(encoding, errors))
            stats = array("q", flat)
        except (IndexError, TypeError, AttributeError, UnicodeError, OverflowError):
            return False
        if (any(b"\0" in p for p in paths) or any(b"\0" in last for last in lasts)
                or not all(p or k == _OTHER for p, k in zip(paths, kinds))
                or any(type(v) is not int for v in flat)):  # a bool is an int to the array
            return False
        self.kinds += kinds
        self.paths += paths
        self.lasts += lasts
        self.stats += stats
        return True

    def add_rows(self, group: list[Observation]) -> None:
        """Append ``group`` row by row: what does not fit the columns is stored whole."""
        for obs in group:
            row = _columns(obs)
            if row is None:
                self.kinds.append(_OTHER)
                self.paths.append(b"")
                self.lasts.append(json.dumps(obs, separators=(",", ":")).encode())
                self.stats.extend(_ZEROS)
            else:
                self.kinds.append(row[0])
                self.paths.append(row[1])
                self.lasts.append(row[2])
                self.stats.extend(row[3])


class _RawGroup:
    """A group of a record's table, to be written again as it is (``_encode`` copies its
    rows); iterating it decodes its observations."""

    def __init__(self, table: _Table, index: int) -> None:
        self.table, self.index = table, index

    def __len__(self) -> int:
        return self.table.starts[self.index + 1] - self.table.starts[self.index]

    def __iter__(self):  # noqa: ANN204
        return iter(self.table.group(self.index))


class _Groups(Mapping):
    """The target groups of a record read (``Replayed.data["targets"]``), decoded one by one
    as they are asked for; ``raw`` hands one over undecoded, for writing it again."""

    def __init__(self, table: _Table) -> None:
        self._table = table
        self._index = {name: n for n, name in enumerate(table.names) if name != "project"}
        self._decoded: dict[str, list[Observation]] = {}

    def __getitem__(self, name: str) -> list[Observation]:
        if name not in self._decoded:
            self._decoded[name] = self._table.group(self._index[name])
        return self._decoded[name]

    def __iter__(self):  # noqa: ANN204
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def raw(self, name: str) -> _RawGroup:
        """Group ``name`` as its rows, undecoded."""
        return _RawGroup(self._table, self._index[name])


class _Table:
    """A record's observations as columns, with the groups they belong to: what a replay
    checks (``check``) without building one observation, and decodes (``group``) only
    where an observation is needed as itself (one that failed, the incremental planner)."""

    def __init__(self, names: list[str], counts: list[int], data: bytes, offset: int,
                 sections: list[int]) -> None:
        rows = sum(counts)
        ends = [offset + sum(sections[:n + 1]) for n in range(4)]
        if len(data) != ends[3] or sections[0] != rows or sections[3] != rows * _WIDTH * 8:
            raise Malformed("the columns do not match the groups")
        self.names = names
        self.starts = [0]
        for count in counts:
            self.starts.append(self.starts[-1] + count)
        self.kinds = data[offset:ends[0]]
        self.paths = data[ends[0]:ends[1]].split(b"\0") if rows else []
        if len(self.paths) != rows:
            raise Malformed("a column of the wrong length")
        if rows and data.count(b"\0", ends[1], ends[2]) != rows - 1:
            raise Malformed("a column of the wrong length")
        self._lasts_at = (ends[1], ends[2])
        self._data: bytes | None = data
        self._lasts: list[bytes] | None = None
        self.stats = array("q")
        self.stats.frombytes(memoryview(data)[ends[2]:ends[3]])

    @property
    def lasts(self) -> list[bytes]:
        """The last-field column, split on first use: a no-op whose stats all hold never
        needs a digest."""
        if self._lasts is None:
            assert self._data is not None
            start, end = self._lasts_at
            self._lasts = self._data[start:end].split(b"\0") if self.starts[-1] else []
            self._data = None
        return self._lasts

    def observation(self, row: int) -> Observation:
        """Row ``row`` as the observation it was written from. Raises ``Malformed``."""
        kind, last = self.kinds[row], self.lasts[row]
        try:
            if kind == _OTHER:
                return json.loads(last)
            if kind not in _COLUMNED:
                raise Malformed(f"an observation of kind {kind!r}")
            at = row * _WIDTH
            st = self.stats[at:at + (_WIDTH if kind == _OUTPUT else _WIDTH - 1)].tolist()
            path = os.fsdecode(self.paths[row])
            if kind == _TOOL:
                return ["t", path, st]
            # a damaged digest decodes to one that does not match: a miss, not an error
            return [chr(kind), path, st, last.decode("utf-8", "surrogateescape")]
        except ValueError as exc:  # bad JSON
            raise Malformed(str(exc)) from exc

    def group(self, index: int, flat: list[int] | None = None) -> list[Observation]:
        """The observations of group ``index``, in their recorded order (``flat``: the
        stats column as a list, when many groups are decoded)."""
        if flat is None:
            return [self.observation(r) for r in range(self.starts[index], self.starts[index + 1])]
        kinds, paths, lasts = self.kinds, self.paths, self.lasts
        encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        out: list[Observation] = []
        for row in range(self.starts[index], self.starts[index + 1]):
            kind = kinds[row]
            at = row * _WIDTH
            if kind == _OUTPUT:
                out.append(["o", paths[row].decode(encoding, errors), flat[at:at + _WIDTH],
                            lasts[row].decode("utf-8", "surrogateescape")])
            elif kind == _TOOL:
                out.append(["t", paths[row].decode(encoding, errors), flat[at:at + _WIDTH - 1]])
            elif kind in _COLUMNED:
                out.append([_KIND_NAMES[kind], paths[row].decode(encoding, errors),
                            flat[at:at + _WIDTH - 1], lasts[row].decode("utf-8", "surrogateescape")])
            else:
                out.append(self.observation(row))
        return out

    def decoded(self) -> dict[str, list[Observation]]:
        """Every group, decoded, by name."""
        flat = self.stats.tolist()
        return {name: self.group(n, flat) for n, name in enumerate(self.names)}

    def check(self, first: int, last: int, root: str, reference_ns: int) -> tuple[dict, dict]:
        """Check every observation of groups ``first`` to ``last`` (exclusive), each once:
        the failing observations and, for each group where a result is not the recorded
        observation itself (failing, or proved by content only: ``observe.check``), its
        whole list of results; both per group name. Raises ``Malformed``.

        The common case, a stat-checked row whose stat is exactly as recorded and not racy,
        is ``observe.check_many``'s inline comparison made on the columns; every other row
        is decoded and goes through ``observe.check``."""
        failing: dict[str, list[Observation]] = {}
        changed: dict[str, list[Observation | None]] = {}
        kinds, paths, stats, starts = self.kinds, self.paths, self.stats, self.starts
        stat = os.stat
        fine, coarse = RACY_WINDOW_NS, COARSE_RACY_WINDOW_NS
        prefix = os.fsencode(os.path.join(root, ""))
        posix = os.sep == "/" and os.altsep is None
        for index in range(first, last):
            slow: dict[int, Observation | None] | None = None
            start = starts[index]
            for row in range(start, starts[index + 1]):
                kind = kinds[row]
                if kind in _COLUMNED:
                    path = paths[row]
                    try:
                        if posix:
                            st = stat(path if path[:1] == b"/" else prefix + path)
                        else:
                            st = stat(absolute(root, os.fsdecode(path)))
                    except (OSError, ValueError):
                        st = None
                    if st is not None:
                        at = row * _WIDTH
                        mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
                        if (stats[at] == st.st_size and stats[at + 1] == mtime
                                and stats[at + 2] == st.st_ino and stats[at + 3] == ctime
                                and stats[at + 4] == st.st_mode
                                and (kind != _OUTPUT or stats[at + 5] == st.st_nlink)):
                            # ``racy(newest(st), reference_ns)``, inline; tools never are
                            newest_ns = mtime if mtime > ctime else ctime
                            window = coarse if newest_ns % 1_000_000_000 == 0 else fine
                            if kind == _TOOL or newest_ns < reference_ns - window:
                                continue
                obs = self.observation(row)
                result = check(obs, root, reference_ns)
                if result is not obs:
                    if slow is None:
                        slow = {}
                    slow[row - start] = result
            if slow is not None:
                name, group = self.names[index], self.group(index)
                results = [slow.get(n, obs) for n, obs in enumerate(group)]
                changed[name] = results
                bad = [obs for obs, r in zip(group, results) if r is None]
                if bad:
                    failing[name] = bad
        return failing, changed


def _read(root: Path | str, identity: Mapping[str, object]
          ) -> tuple[dict, _Table, os.stat_result] | None:
    """The record's header, its observations (``_Table``) and the stat of the file they
    were read from, when it is well-formed, of this version and for this build identity."""
    try:
        with open(os.path.join(os.fspath(root), *RECORD_PATH), "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        end = data.index(b"\n")
        header = json.loads(data[:end])
    except (OSError, ValueError):
        return None
    if (not isinstance(header, dict) or header.get("version") != RECORD_VERSION
            or header.get("lambdaforge") != __version__
            or header.get("identity") != json.loads(json.dumps(dict(identity)))
            or type(header.get("reference_ns")) is not int
            or not isinstance(header.get("summary"), str)
            or header.get("byteorder") != sys.byteorder):
        return None
    groups, sections = header.get("groups"), header.get("sections")
    if (not isinstance(groups, list) or not groups
            or not all(isinstance(g, list) and len(g) == 2 and isinstance(g[0], str)
                       and type(g[1]) is int and g[1] >= 0 for g in groups)
            or not (isinstance(sections, list) and len(sections) == 4
                    and all(type(n) is int and n >= 0 for n in sections))):
        return None
    names = [g[0] for g in groups]
    if names[0] != "project" or len(set(names)) != len(names):
        return None
    try:
        table = _Table(names, [g[1] for g in groups], data, end + 1, sections)
    except Malformed:
        return None
    return header, table, st


def load(root: Path, identity: Mapping[str, object]) -> dict | None:
    """The record of ``root`` when it is well-formed, of this version and for this build
    identity, as ``{**header, "project": [...], "targets": {id: [...]}}``; else ``None`` (a
    record of another shape is simply not there)."""
    read = _read(root, identity)
    if read is None:
        return None
    header, table, _ = read
    try:
        return _as_data(header, table)
    except Malformed:
        return None


def _as_data(header: dict, table: _Table) -> dict:
    """``load``'s answer for a record already read."""
    targets = table.decoded()
    project = targets.pop("project")
    kept = {k: v for k, v in header.items() if k not in ("groups", "sections", "byteorder")}
    return {**kept, "project": project, "targets": targets}


class Replayed:
    """What replaying a record found: per group (``"project"`` or a target id) the
    observations that no longer hold, and the record (``data``, as ``load`` gives it).
    (A plain class: a msgspec ``Struct`` would cost the no-op build its import.)"""

    def __init__(self, header: dict, table: _Table, source: os.stat_result | None = None,
                 read_ns: int = 0) -> None:
        self.header = header
        self.failing: dict[str, list[Observation]] = {}
        #: the record file's stat as read, and a moment no later than the read (``current``)
        self.source, self.read_ns = source, read_ns
        self._table = table
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
        """Every group of the record, ``"project"`` included (decoded on first use)."""
        data = self.data
        return {"project": data["project"], **data["targets"]}

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
        """The whole record, as ``load`` gives it (checked already: well-formed), but with
        its target groups decoded as they are asked for (``_Groups``: an incremental build
        writes the groups it did not re-plan again undecoded, ``_Groups.raw``)."""
        if self._data is None:
            kept = {k: v for k, v in self.header.items()
                    if k not in ("groups", "sections", "byteorder")}
            project = self._table.group(self._table.names.index("project"))
            self._data = {**kept, "project": project, "targets": _Groups(self._table)}
        return self._data


def _may_fork() -> bool:
    """Whether replaying in two processes is safe here: on Linux (where ``fork`` is the
    process model) and with no other Python thread running (a thread holding a lock at the
    fork would leave it held in the child)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _split(table: _Table) -> int:
    """The first group a helper process checks (``len(table.names)``: none): the one where
    half the observations are reached, when there are enough of them to be worth a fork."""
    rows = table.starts[-1]
    if rows < PARALLEL_MIN_OBSERVATIONS or not _may_fork():
        return len(table.names)
    half = rows // 2
    for index, start in enumerate(table.starts):
        if start >= half:
            return max(index, 1)  # the project group stays here
    return len(table.names)


class _Helper:
    """A forked child that checks some groups of the record (already read: the child has it
    as the parent does) and reports back through a pipe as one JSON document:
    ``_Table.check``'s answer (``{"failing": …, "changed": …}``), or ``{"malformed": …}``.
    Parallel ``lstat`` is git's answer to large indexes (its preload-index threads); in
    Python, whose threads share one interpreter lock, it takes a process. Anything that goes
    wrong with the child (it cannot be forked, dies, says something unreadable) makes
    ``result`` ``None``: the parent then checks those groups itself, so a failed helper
    costs time, never a wrong answer."""

    def __init__(self, table: _Table, first: int, root: str, reference: int) -> None:
        self.pid: int | None = None
        self.names = frozenset(table.names[first:])
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
                    failing, changed = _check_groups(table, first, len(table.names), root,
                                                     reference)
                    answer: dict = {"failing": failing, "changed": changed}
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
        failing, changed = answer.get("failing"), answer.get("changed")
        if not (isinstance(failing, dict) and isinstance(changed, dict)
                and self.names.issuperset(failing) and self.names.issuperset(changed)
                and all(isinstance(v, list) for v in (*failing.values(), *changed.values()))):
            return None
        return answer


def _check_groups(table: _Table, first: int, last: int, root: str,
                  reference: int) -> tuple[dict, dict]:
    """``table.check`` (a seam: tests make the helper's share fail)."""
    return table.check(first, last, root, reference)


def examine(root: Path, identity: Mapping[str, object]) -> Replayed | None:
    """Check every observation of the record (each once); ``None`` when there is no usable
    record. When everything held, some of it only by content, the record is refreshed with
    the current stats against this run's start, so the next replay is stats alone (an
    optimisation only: a read-only state directory must not fail a no-op build).

    A large record (``PARALLEL_MIN_OBSERVATIONS``) is split at half its observations: a
    forked helper checks the second half while this process does the first, and hands back
    only what did not hold."""
    started_ns = time.time_ns()
    read = _read(root, identity)
    if read is None:
        return None
    header, table, source = read
    base, reference = os.fspath(root), header["reference_ns"]
    split = _split(table)
    every = len(table.names)
    helper = _Helper(table, split, base, reference) if split < every else None
    try:
        failing, changed = _check_groups(table, 0, split, base, reference)
        answer = helper.result() if helper is not None else None
        helper = None
        if answer is None:  # no helper, or none to trust: check its share here
            more = _check_groups(table, split, every, base, reference)
        elif "malformed" in answer:
            return None
        else:
            more = answer["failing"], answer["changed"]
    except Malformed:
        return None
    finally:
        if helper is not None:  # this process failed first: reap the helper
            helper.result()
    failing.update(more[0])
    changed.update(more[1])
    found = Replayed(header, table, source, started_ns)
    found.failing = failing
    if found.up_to_date and changed:
        try:
            checked = {name: changed.get(name, group) for name, group in found.groups.items()}
        except Malformed:
            return None
        project = checked.pop("project")
        try:
            from pathlib import Path  # here: a no-op never imports pathlib (~8 ms)

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
    from pathlib import Path

    found = project_root(os.fspath(cwd), None if config is None else os.fspath(config))
    return None if found is None else Path(found)


def project_root(cwd: str, config: str | None) -> str | None:
    """``find_project_root`` on strings (no pathlib on a no-op): the directory of ``config``
    (relative to ``cwd``) when it is a file, else the nearest from ``cwd`` up with a
    ``lambdaforge.toml``."""
    if config is not None:
        path = os.path.join(cwd, config)
        return os.path.dirname(path) if os.path.isfile(path) else None
    return find_root(cwd)


def find_root(cwd: str) -> str | None:
    """The nearest directory from ``cwd`` up that holds a ``lambdaforge.toml`` (the project
    ``forge`` uses when no ``-c`` names a config), as a string: no pathlib on a no-op."""
    here = os.path.abspath(cwd)
    while True:
        if os.path.isfile(os.path.join(here, "lambdaforge.toml")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
