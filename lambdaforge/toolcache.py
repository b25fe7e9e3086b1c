"""Directories made once into the tool cache and shared by every build: published whole or
not at all.

The import smoke test needs the Lambda runtime's own packages (boto3 & co., the AWS SDK
for JavaScript) installed for the target; installing them is slow and may need the
network, so each set is made once, under a name that is a digest of everything that
decides its content (runtime, architecture, versions, installer, index settings). Builds
run concurrently (threads of one build, several builds on one machine): a directory is
made in a temporary sibling and renamed into place, so a reader sees a complete tree or
none; a build that loses the race keeps the winner's and drops its own. Within one process
a name is made by one thread at a time, and a failure is remembered until the next build
starts (``forget_failures``), so a hundred checks offline try (and report) one install,
not a hundred.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from lambdaforge.errors import BuildError

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_failures: dict[str, str] = {}


class ToolCacheError(BuildError):
    """A tool-cache directory could not be made; the message says why and what to do."""


def digest_name(prefix: str, material: object) -> str:
    """``prefix-<16 hex>``: a directory name for JSON ``material`` (stable across runs)."""
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _lock_for(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def published(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``root/name``, made by ``make(tmp)`` (which fills the empty directory ``tmp`` or
    raises ``ToolCacheError``) when it does not exist yet, then renamed into place."""
    final = root / name
    if final.is_dir():
        return final
    key = os.fspath(final)
    with _lock_for(key):
        if final.is_dir():
            return final
        if key in _failures:
            raise ToolCacheError(_failures[key])
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            make(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # not another process's finished copy: a real failure
                    raise
        except ToolCacheError as exc:
            _failures[key] = str(exc)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def forget_failures() -> None:
    """Try failed directories again: called when a build starts (a long-lived process,
    ``forge watch``, must not keep one build's "index down" forever)."""
    with _locks_guard:
        _failures.clear()
