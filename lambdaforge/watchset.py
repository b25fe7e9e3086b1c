"""What ``forge watch`` watches: derived from what the last build read, never a second list.

The planner records, per target, every input it keyed (``lambdaforge.observe``): each file
it hashed (``f``), each directory listing it walked (``d``), each path it looked for and did
not find (``m``); loading the config records the config files and the ``[[discover]]``
listings the same way. After a fully successful build those observations are the replay
record (``lambdaforge.replay``); after a failed one they are still on the session's planner.
``WatchSet`` turns them into the directories to watch (non-recursively: a source tree's
``node_modules`` or ``.venv`` that no build reads costs no watch) and a filter saying which
file system events can concern the build:

- a file input: its own events (watched through its directory, so an editor that saves by
  writing a new file and renaming it over the old one is still seen);
- a directory listing: an entry added, removed or replaced in it, and the directory itself
  going away;
- a missing path: it or any missing directory on the way to it appearing, watched from its
  nearest existing ancestor.

Tools and lambdaforge's own modules (``t``), outputs (``o``), the environment (``e``) and
anything under ``.forge`` are not watched: a running watcher's environment cannot change,
and outputs are what the build itself writes. Whether an event really changed anything is
not decided here: the build's one decider does that (a ``touch`` rebuilds nothing).

Imports nothing heavy: the watcher derives a new set after every build.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lambdaforge import observe, replay

#: observation kinds that name build inputs on the file system
INPUT_KINDS = frozenset({"f", "d", "m"})


def _is_ours(path: str) -> bool:
    """A path in lambdaforge's own output and state (``.forge/…``), relative or absolute."""
    return ".forge" in Path(path).parts


def input_observations(groups: Iterable[Iterable[observe.Observation]]) -> list[observe.Observation]:
    """The well-formed file system input observations of ``groups`` (each once, in order),
    without lambdaforge's own state files."""
    seen: set[tuple[str, str]] = set()
    out: list[observe.Observation] = []
    for group in groups:
        for obs in group:
            if not observe.is_well_formed(obs) or obs[0] not in INPUT_KINDS or _is_ours(obs[1]):
                continue
            if (obs[0], obs[1]) not in seen:
                seen.add((obs[0], obs[1]))
                out.append(obs)
    return out


def recorded_observations(root: Path, identity: dict[str, object]
                          ) -> tuple[list[observe.Observation], int] | None:
    """The input observations of the replay record a build of ``identity`` left in ``root``
    (every target's, carried-over groups included, and the project's) with the moment they
    are judged against (the racy rule's reference); ``None`` when there is no record (the
    last build failed)."""
    data = replay.load(root, identity)
    if data is None:
        return None
    return input_observations([data["project"], *data["targets"].values()]), data["reference_ns"]


class WatchSet:
    """The directories to watch and the events that concern the build, for one set of input
    observations (paths relative to ``root`` or absolute)."""

    def __init__(self, root: Path, observations: Iterable[observe.Observation],
                 extra_files: Iterable[Path] = ()) -> None:
        self.root = Path(root)
        base = os.fspath(self.root)
        #: the observations this set was made from (what ``changed`` re-checks)
        self.observations = list(observations)
        self.files: set[str] = set()
        self.listings: set[str] = set()
        self.missing_chain: set[str] = set()
        dirs: set[str] = set()
        for obs in self.observations:
            path = os.path.normpath(observe.absolute(base, obs[1]))
            if obs[0] == "f":
                self.files.add(path)
                dirs.add(os.path.dirname(path))
            elif obs[0] == "d":
                self.listings.add(path)
                dirs.update((path, os.path.dirname(path)))
            else:  # "m": watch the nearest ancestor that exists
                here = path
                while here != os.path.dirname(here) and not os.path.isdir(here):
                    self.missing_chain.add(here)
                    here = os.path.dirname(here)
                dirs.add(here)
        for extra in extra_files:  # the config file, even when it failed to load
            path = os.path.normpath(os.fspath(extra))
            self.files.add(path)
            dirs.add(os.path.dirname(path))
        #: existing directories to watch, sorted (what the watcher is given)
        self.dirs = sorted(d for d in dirs if os.path.isdir(d))

    def __len__(self) -> int:
        return len(self.files) + len(self.listings) + len(self.missing_chain)

    def same_watch(self, other: WatchSet | None) -> bool:
        """Whether ``other`` watches exactly the same directories (the watcher can stay)."""
        return other is not None and other.dirs == self.dirs

    def concerns(self, path: str, modified: bool = False) -> bool:
        """Whether an event on ``path`` (absolute) can concern the build: any on what is
        observed; in a listed directory, an entry added or removed (``modified``: its
        content changed, which no listing records: a log written into the project root of a
        ``[[discover]]`` project rebuilt in a loop)."""
        path = os.path.normpath(path)
        if path in self.files or path in self.listings or path in self.missing_chain:
            return True
        return not modified and os.path.dirname(path) in self.listings and not _is_ours(path)

    def shown(self, path: str) -> str:
        """``path`` as messages show it: relative to the project root when inside it."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return path

    def changed(self, reference_ns: int) -> list[str]:
        """The observed paths that no longer hold (``observe.check``, with the racy rule
        against ``reference_ns``, a moment no later than they were observed): what changed
        while nothing was watching, e.g. during a build."""
        base = os.fspath(self.root)
        return [obs[1] for obs in self.observations if observe.check(obs, base, reference_ns) is None]

    def union(self, observations: Iterable[observe.Observation]) -> list[observe.Observation]:
        """This set's observations with ``observations`` over them (per kind and path)."""
        merged = {(o[0], o[1]): o for o in self.observations}
        merged.update({(o[0], o[1]): o for o in input_observations([observations])})
        return list(merged.values())
