"""A no-op ``forge build`` answered before the command line is parsed.

With nothing to do, ``forge build`` on a small project spent more time importing argparse
and pathlib (~20 ms) than replaying its record. What an argument list means cannot change
while the code that parses it does not, so after argparse parsed a ``build`` or ``check``
that its replay can answer (none of ``--force``, ``--dry-run``, ``--json``, ``--verbose``,
``--explain-strip``, ``--shard``), the command remembers, per working directory and
argument list, what argparse made of them (``remember``): the build identity, and the
directory and config file (``-C``, ``-c``) the project is found from. ``answer`` looks the
process's arguments up in the project found from the working directory (as ``forge`` finds
it without ``-c``) and, while the command-line modules are unchanged (their stats), finds
the project again from the remembered directory and config, by the function the command
line uses (``replay.project_root``), and replays that identity's record when it is this
project. Every observation holds → the summary, exit 0. Anything else (no project, no memo,
other arguments, ``-C`` leading to another project, a record that does not hold) → no
answer: the command line runs as before, and takes over the replay already made (``take``)
instead of checking every stat again.

This is argparse's own answer for exactly these arguments, not a second parser; and the
answer is the replay's, the one decider's record. Imports nothing heavy, on purpose.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from lambdaforge import __version__, replay
from lambdaforge.observe import check_many, stat_tuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MEMO_NAME = "invocations.json"
MEMO_VERSION = 2
#: argument lists remembered per project (the newest kept): a few forms are in daily use
MEMO_ENTRIES = 16
#: the modules whose code decides what an argument list means
_PARSER_MODULES = ("cli/__init__.py", "cli/build_cmds.py", "cli/common.py")

#: a replay ``answer`` made that did not hold, for the command line to take over
_examined: tuple[str, str, replay.Replayed] | None = None


def _key(cwd: str, argv: Sequence[str]) -> str:
    return json.dumps([cwd, list(argv)], separators=(",", ":"))


def _memo_path(root: str) -> str:
    return os.path.join(root, *replay.RECORD_PATH[:-1], MEMO_NAME)


def _parser_observations() -> list[list]:
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for name in _PARSER_MODULES:
        path = os.path.join(here, *name.split("/"))
        try:
            out.append(["t", path, stat_tuple(os.stat(path))])
        except OSError:
            pass
    return out


def _load(root: str) -> dict | None:
    """The project's memo when it is well-formed, of this lambdaforge and of the command-line
    modules as they are now; else ``None`` (a damaged memo is simply not there)."""
    try:
        with open(_memo_path(root), "rb") as f:
            memo = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(memo, dict) or memo.get("version") != MEMO_VERSION
            or memo.get("lambdaforge") != __version__
            or not isinstance(memo.get("entries"), dict)
            or not isinstance(memo.get("modules"), list) or not memo["modules"]):
        return None
    modules = memo["modules"]
    if [o[1] if isinstance(o, list) and len(o) > 1 else None for o in modules] != [
            o[1] for o in _parser_observations()]:
        return None
    if not all(r is o for r, o in zip(check_many(modules, root, 0), modules)):
        return None
    return memo


def remember(root: str, cwd: str, argv: Sequence[str], identity: Mapping[str, object],
             directory: str, config: str | None) -> None:
    """Note that ``argv`` in ``cwd`` is a build with ``identity`` of the project found from
    ``directory`` (``-C``, absolute) and ``config`` (``-c``, or ``None``): ``root``'s, where
    the note is kept. Best effort: a memo that cannot be written costs a later no-op its
    argparse import, nothing else."""
    key = _key(cwd, argv)
    value = {"identity": dict(identity), "directory": directory, "config": config}
    memo = _load(root)
    if memo is not None and memo["entries"].get(key) == json.loads(json.dumps(value)):
        return
    entries = {} if memo is None else dict(memo["entries"])
    entries.pop(key, None)
    entries[key] = value
    while len(entries) > MEMO_ENTRIES:
        entries.pop(next(iter(entries)))
    data = {"version": MEMO_VERSION, "lambdaforge": __version__,
            "modules": _parser_observations(), "entries": entries}
    from pathlib import Path

    from lambdaforge.fsutil import write_atomic

    try:
        write_atomic(Path(_memo_path(root)), json.dumps(data, separators=(",", ":")).encode(),
                     durable=False)
    except OSError:
        pass


def answer(argv: Sequence[str], cwd: str) -> int | None:
    """The exit code of ``forge`` with ``argv`` in ``cwd`` when it is a remembered no-op build
    whose record still holds (the summary is printed); ``None`` when the command line must
    run."""
    global _examined
    start = time.perf_counter()
    root = replay.find_root(cwd)
    if root is None:
        return None
    memo = _load(root)
    entry = None if memo is None else memo["entries"].get(_key(cwd, argv))
    if not isinstance(entry, dict):
        return None
    identity, directory, config = entry.get("identity"), entry.get("directory"), entry.get("config")
    if (not isinstance(identity, dict) or not isinstance(directory, str)
            or not (config is None or isinstance(config, str))):
        return None
    # the project these arguments name now, found as the command line finds it
    named = replay.project_root(directory, config)
    if named is None or os.path.realpath(named) != os.path.realpath(root):
        return None
    found = replay.examine(root, identity)
    if found is None:
        return None
    if not found.up_to_date:
        _examined = (root, json.dumps(identity, sort_keys=True), found)
        return None
    say_up_to_date(found.summary, start)
    return 0


def take(root: str, identity: Mapping[str, object]) -> replay.Replayed | None:
    """The replay ``answer`` made of ``root``'s record for ``identity`` in this process and did
    not answer with (once; ``None`` when there is none)."""
    global _examined
    made, _examined = _examined, None
    if made is None or made[0] != os.path.abspath(root):
        return None
    return made[2] if made[1] == json.dumps(dict(identity), sort_keys=True) else None


def say_up_to_date(summary: str, start: float) -> None:
    """What a no-op build prints: the recorded summary and how long the answer took."""
    print(f"{summary} in {time.perf_counter() - start:.2f}s", file=sys.stderr)


def main() -> int:
    """The ``forge`` executable (and ``python -m lambdaforge``): a remembered no-op answered
    here, anything else by the command line (``lambdaforge.cli.entry``)."""
    try:
        code = answer(sys.argv[1:], os.getcwd())
    except OSError:  # the working directory is gone, say: the command line says so
        code = None
    if code is not None:
        # what the replay read lives to the end: out of the collector's reach, the last
        # collection at exit does not walk it (~5 ms at 2,000 functions), as ``entry`` does
        gc.freeze()
        return code
    from lambdaforge.cli import entry

    return entry()
