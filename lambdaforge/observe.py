"""Observations: what the planner saw of the outside world, and the one check that it still holds.

While the planner decides a target's status it records, per target, exactly what it read:
each input file's stat with the content digest it keyed, each directory listing it walked
(names *and* entry types), what must not exist, the tools and environment it depended on, and
the outputs it found intact (artifact stat including ctime, inode and link count; the cache
entry it relied on). ``holds`` is the single piece of code that says whether one
observation is still true; the planner's output checks and the no-op replay both go through
it, so there is one decider and one list of inputs (design §1).

The racy-timestamp rule (git's ``racy-git.txt``) lives here too, once: a stat tuple proves
nothing about a file modified so close to the moment it was recorded that a second change in
the same timestamp tick would leave the stat unchanged. Such an entry is verified by content.
The window is sized per file: a whole-second mtime means a file system with 1-second (or
2-second, FAT) timestamps, which gets ``COARSE_RACY_WINDOW_NS``.

Observations are plain JSON lists (compact to store, cheap to load without any model
library)::

    ["f", path, stat, digest]   a file input: holds if its stat is unchanged (and not racy),
                                or its type, exec bit and sha256 are
    ["d", path, stat, listing]  a directory walked: holds if its stat is unchanged (and not
                                racy), or the digest of its entries (name, type) is
    ["m", path]                 a path that did not exist and must still not
    ["t", path, stat]           a tool or module: holds only while its stat is identical
    ["o", path, stat, sha256]   an output file: stat identical (incl. nlink) and not racy,
                                or the same size and sha256
    ["e", name, value]          an environment variable (``""`` = unset)
    ["v", name, digest]         an environment variable known by ``env_digest`` of its value
                                (one a requirements file expands: maybe a credential)

``path`` is relative to the project root, or absolute for things outside it (tools, a team
standard file). ``stat`` is ``[size, mtime_ns, ino, ctime_ns, mode]`` (``[..., nlink]`` for
outputs) or ``None`` when no stable stat could be taken (then only the content can prove it).

This module imports nothing heavy: the no-op answer runs it before anything else.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Iterable

#: a file modified less than this before a reference moment is verified by content
#: (sub-second file systems: covers the kernel's coarse clock tick with a wide margin)
RACY_WINDOW_NS = 100_000_000
#: the same for file systems that store whole seconds (1 s: ext4 with 128-byte inodes,
#: HFS+, some NFS; 2 s: FAT)
COARSE_RACY_WINDOW_NS = 2_000_000_000

#: Environment variables that change what a build produces or where it looks (the remote
#: cache's URL too: a no-op answered while a malformed one was an error once planning).
WATCHED_ENV = ("FORGE_CACHE_DIR", "SOURCE_DATE_EPOCH", "PATH", "FORGE_ESBUILD", "FORGE_PNPM", "FORGE_YARN",
               "FORGE_YARN_CLASSIC", "FORGE_YARN_BERRY", "FORGE_REMOTE_CACHE")

Observation = list  # see the module docstring
Stat = list[int]


def racy(mtime_ns: int, reference_ns: int) -> bool:
    """Whether a stat whose newest timestamp is ``mtime_ns`` (see ``newest``), recorded at
    ``reference_ns``, could hide a later same-tick modification (and so must be verified
    by content)."""
    window = COARSE_RACY_WINDOW_NS if mtime_ns % 1_000_000_000 == 0 else RACY_WINDOW_NS
    return mtime_ns >= reference_ns - window


def newest(st: os.stat_result | Stat) -> int:
    """The later of a stat's mtime and ctime: a tool that puts the mtime back (``touch -d``,
    an archiver keeping times) cannot put the ctime back, so a same-tick modification hides
    only behind both; the racy rule is judged on the later one."""
    if isinstance(st, list):
        return max(st[1], st[3])
    return max(st.st_mtime_ns, st.st_ctime_ns)


def stat_tuple(st: os.stat_result) -> Stat:
    """The stat fields an input observation compares: size, mtime, inode, ctime, mode."""
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_mode]


def output_stat(st: os.stat_result) -> Stat:
    """The stat fields an output observation compares: the input fields plus the link count
    (a hard-linked cache entry pruned or replaced under an artifact changes it)."""
    return [*stat_tuple(st), st.st_nlink]


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def sha256_path(path: str) -> str | None:
    """sha256 hex of a regular file's content; ``None`` when it is unreadable or not a file
    (a FIFO is never opened: reading one would block)."""
    st = _stat(path)
    if st is None or not stat_module.S_ISREG(st.st_mode):
        return None
    import hashlib  # here: a no-op build that only compares stats never loads OpenSSL

    try:
        with open(path, "rb") as f:
            if hasattr(hashlib, "file_digest"):
                return hashlib.file_digest(f, "sha256").hexdigest()
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
            return h.hexdigest()
    except OSError:
        return None


def entry_type(entry: os.DirEntry) -> str:
    """A directory entry's type as listings record it: ``l`` for a symlink, then what it
    leads to (``d`` directory, ``f`` regular file, ``o`` anything else or broken)."""
    try:
        link = "l" if entry.is_symlink() else ""
    except OSError:
        link = ""
    try:
        if entry.is_dir():
            return link + "d"
        if entry.is_file():
            return link + "f"
    except OSError:
        pass
    return link + "o"


#: Entry names no listing counts: lambdaforge's own output and state, which no walk ever
#: packages and which a build creates after the listings it depends on were taken.
UNLISTED = frozenset({".forge"})


def listing_of(entries: Iterable[os.DirEntry]) -> str:
    """Digest of a directory's entries, names and types, sorted: what a walk of it saw."""
    import hashlib

    parts = sorted(f"{e.name}\0{entry_type(e)}" for e in entries if e.name not in UNLISTED)
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def listing_digest(path: str) -> str | None:
    """``listing_of`` a directory by path; ``None`` when it cannot be listed."""
    try:
        with os.scandir(path) as it:
            return listing_of(it)
    except OSError:
        return None


def absolute(root: str, path: str) -> str:
    """An observation's path as a file system path (relative ones are under ``root``)."""
    return path if os.path.isabs(path) else os.path.join(root, path)


def is_executable_mode(mode: int) -> bool:
    """Whether a file mode counts as executable for keys and zips (the owner's x bit, as git)."""
    return bool(mode & stat_module.S_IXUSR)


def _same_kind(now: os.stat_result, recorded: Stat) -> bool:
    mode = recorded[4]
    return (stat_module.S_IFMT(now.st_mode) == stat_module.S_IFMT(mode)
            and bool(now.st_mode & stat_module.S_IXUSR) == bool(mode & stat_module.S_IXUSR))


def holds(obs: Observation, root: str, reference_ns: int) -> bool:
    """Whether one observation, recorded at ``reference_ns``, is still true. Anything it
    does not understand is false (a cache miss, never an error)."""
    return check(obs, root, reference_ns) is not None


def check(obs: Observation, root: str, reference_ns: int) -> Observation | None:
    """``holds``, with what to remember next time: ``None`` when the observation no longer
    holds; ``obs`` itself when its stat alone proved it; a new observation with the current
    stat when only its content did (its timestamps moved, or were too recent to trust), so
    the next check is a stat comparison again, not a re-read."""
    try:
        kind = obs[0]
        if type(obs[1]) is not str:
            return None
        if kind == "e":
            return obs if os.environ.get(obs[1], "") == obs[2] else None
        if kind == "v":
            return obs if env_digest(obs[1]) == obs[2] else None
        path = absolute(root, obs[1])
        if kind == "m":
            return None if os.path.lexists(path) else obs
        now = _stat(path)
        if now is None:
            return None
        recorded = obs[2]
        if kind == "t":
            return obs if recorded == stat_tuple(now) else None
        if kind not in ("f", "d", "o"):
            return None
        current = output_stat(now) if kind == "o" else stat_tuple(now)
        if recorded == current and not racy(newest(now), reference_ns):
            return obs
        if kind == "o":
            same = recorded is not None and now.st_size == recorded[0] and (
                sha256_path(path) == obs[3])
        elif recorded is not None and not _same_kind(now, recorded):
            same = False
        elif kind == "d":
            same = stat_module.S_ISDIR(now.st_mode) and listing_digest(path) == obs[3]
        else:
            same = stat_module.S_ISREG(now.st_mode) and sha256_path(path) == obs[3]
        return [kind, obs[1], current, *obs[3:]] if same else None
    except (IndexError, TypeError, ValueError):
        return None


def check_many(observations: list[Observation], root: str,
               reference_ns: int) -> list[Observation | None]:
    """``check`` of each observation, in order: the same answers, faster for a long list.

    The common case of a no-op (a file, directory, tool or output whose stat is exactly as
    recorded, and not racy) is decided inline on the stat, by the very comparison ``check``
    makes first; every other observation (a stat that moved, a racy one, an environment
    variable, anything malformed) goes through ``check`` itself. At 2,000 functions a no-op
    replays ~16,000 observations: the per-call overhead was most of its time."""
    out: list[Observation | None] = []
    append, stat = out.append, os.stat
    fine, coarse = RACY_WINDOW_NS, COARSE_RACY_WINDOW_NS
    # ``absolute(root, path)``, inline: two calls per observation were a tenth of a no-op
    prefix = os.path.join(root, "")
    posix = os.sep == "/" and os.altsep is None
    for obs in observations:
        try:
            kind = obs[0]
            if kind == "f" or kind == "d" or kind == "t" or kind == "o":
                path, recorded = obs[1], obs[2]
                if type(path) is str and type(recorded) is list and len(recorded) == (
                        6 if kind == "o" else 5):
                    if posix:
                        st = stat(path if path[:1] == "/" else prefix + path)
                    else:
                        st = stat(absolute(root, path))
                    mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
                    if (recorded[0] == st.st_size and recorded[1] == mtime
                            and recorded[2] == st.st_ino and recorded[3] == ctime
                            and recorded[4] == st.st_mode
                            and (kind != "o" or recorded[5] == st.st_nlink)):
                        # ``racy(newest(st), reference_ns)``, inline; tools never are
                        last = mtime if mtime > ctime else ctime
                        window = coarse if last % 1_000_000_000 == 0 else fine
                        if kind == "t" or last < reference_ns - window:
                            append(obs)
                            continue
        except (OSError, ValueError, TypeError, IndexError):
            pass
        append(check(obs, root, reference_ns))
    return out


def is_well_formed(obs: object) -> bool:
    """A cheap shape check of one stored observation (state on disk may be anything)."""
    if not isinstance(obs, list) or not obs or not isinstance(obs[0], str):
        return False
    arity = {"f": 4, "d": 4, "m": 2, "t": 3, "o": 4, "e": 3, "v": 3}.get(obs[0])
    if arity is None or len(obs) != arity or not isinstance(obs[1], str):
        return False
    if obs[0] in ("f", "d", "t", "o"):
        st = obs[2]
        if st is not None and not (isinstance(st, list) and all(type(v) is int for v in st)):
            return False
    return True


# --------------------------------------------------------------------------- constructors


def file_obs(path: str, st: Stat | None, digest: str) -> Observation:
    """A file input keyed by its content ``digest``; ``st`` is the stat it was hashed at."""
    return ["f", path, st, digest]


def dir_obs(path: str, st: Stat | None, listing: str) -> Observation:
    """A directory whose listing (``listing_of``) a target's inputs depend on."""
    return ["d", path, st, listing]


def missing_obs(path: str) -> Observation:
    """A path that was looked for and not found (its creation changes the plan)."""
    return ["m", path]


def tool_obs(path: str) -> Observation | None:
    """A tool or module file: identified by its exact stat (``None`` when it is missing)."""
    st = _stat(path)
    return None if st is None else ["t", path, stat_tuple(st)]


def output_obs(path: str, root: str, sha256: str | None = None) -> Observation | None:
    """An output file as it is now, with the sha256 it must have (read from the file when
    not given); ``None`` when it is missing."""
    full = absolute(root, path)
    st = _stat(full)
    if st is None:
        return None
    digest = sha256 if sha256 is not None else sha256_path(full)
    return ["o", path, output_stat(st), digest or ""]


def env_obs(name: str) -> Observation:
    """An environment variable's current value (``""`` when unset)."""
    return ["e", name, os.environ.get(name, "")]


def env_digest(name: str) -> str:
    """A digest of an environment variable's value (``""`` when unset), for state that
    must not hold the value: a requirements file's ``${ARTIFACTORY_TOKEN}``. The name is
    part of it, so equal values of two variables do not look alike."""
    import hashlib

    value = os.environ.get(name)
    if value is None:
        return ""
    data = b"lambdaforge env v1\0" + name.encode("utf-8", "surrogateescape") + b"\0"
    return hashlib.sha256(data + value.encode("utf-8", "surrogateescape")).hexdigest()


def env_digest_obs(name: str) -> Observation:
    """An environment variable's value by its digest (``env_digest``)."""
    return ["v", name, env_digest(name)]


def watched_env() -> list[Observation]:
    """The environment every build depends on."""
    return [env_obs(name) for name in WATCHED_ENV]


def observe_path(path: str, root: str) -> Observation:
    """An input named by path whose content matters: a file, a directory listing, or its
    absence."""
    full = absolute(root, path)
    st = _stat(full)
    if st is None:
        return missing_obs(path)
    if stat_module.S_ISDIR(st.st_mode):
        listing = listing_digest(full)
        return dir_obs(path, stat_tuple(st), listing or "")
    digest = sha256_path(full)
    after = _stat(full)
    stable = after is not None and stat_tuple(after) == stat_tuple(st)
    return file_obs(path, stat_tuple(st) if stable else None, digest or "")
