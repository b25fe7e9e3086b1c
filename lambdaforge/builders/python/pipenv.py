"""``Pipfile.lock`` read directly (JSON; no Pipenv needed).

What is shipped: the ``default`` section (``[packages]``), never ``develop``. Each entry
becomes ``name[extras]==version; markers --hash=sha256:…``. The lock must be current:
``_meta.hash.sha256`` is the hash Pipenv computes from the Pipfile's parsed content
(plette's ``Pipfile.get_hash``: the sources, ``requires`` and every package section, as
sorted compact JSON); recent Pipenv releases canonicalise package names first, so both
forms are accepted. A mismatch, or a Pipfile without a lock, is an error saying to run
``pipenv lock``. Path, file, VCS and editable entries are refused by name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from packaging.utils import canonicalize_name

from lambdaforge.builders.python.locked import LockedRequirement, LockRead, line_of

#: the source plette adds to a Pipfile that names none
_DEFAULT_SOURCE = {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}
_PYPI = ("https://pypi.org/simple", "https://pypi.org/simple/", "https://pypi.python.org/simple")
#: Pipfile tables that are not package categories (plette's ``PIPFILE_SECTIONS`` and more)
_NOT_CATEGORIES = frozenset({"source", "packages", "dev-packages", "requires", "scripts",
                             "pipfile", "pipenv", "default", "develop"})
_NOT_INSTALLABLE = ("path", "file", "git", "hg", "svn", "bzr", "editable")


def pipfile_hashes(pipfile: dict[str, Any]) -> set[str]:
    """The ``_meta.hash.sha256`` values Pipenv writes for this parsed Pipfile (names as
    written, and PEP 503-canonical as Pipenv 2025+ does)."""
    out = set()
    for normalise in (lambda s: s, lambda s: {canonicalize_name(k): v for k, v in s.items()}):
        data: dict[str, Any] = {
            "_meta": {"sources": pipfile.get("source", [_DEFAULT_SOURCE]),
                      "requires": pipfile.get("requires", {})},
            "default": normalise(pipfile.get("packages", {})),
            "develop": normalise(pipfile.get("dev-packages", {})),
        }
        for category, values in pipfile.items():
            if category not in _NOT_CATEGORIES and isinstance(values, dict):
                data[category] = normalise(values)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        out.add(hashlib.sha256(blob.encode()).hexdigest())
    return out


def exact_pins(pipfile: dict[str, Any]) -> set[str]:
    """Names under ``[packages]`` pinned with ``==`` (they keep runtime-provided packages)."""
    pins = set()
    for name, value in pipfile.get("packages", {}).items():
        version = value.get("version") if isinstance(value, dict) else value
        if isinstance(version, str) and version.strip().startswith("==") and "*" not in version:
            pins.add(canonicalize_name(name))
    return pins


def read_pipfile_lock(
    pipfile: dict[str, Any] | None, lock: dict[str, Any], lock_text: str, where: str
) -> LockRead:
    """The ``default`` packages of a parsed ``Pipfile.lock`` (text ``lock_text`` for line
    numbers, shown as ``where``), checked against its parsed ``pipfile`` when there is one."""
    out = LockRead(pinned=exact_pins(pipfile or {}))
    meta = lock.get("_meta", {})
    if pipfile is not None and meta.get("hash", {}).get("sha256") not in pipfile_hashes(pipfile):
        out.problem(where, line_of(lock_text, '"sha256"'),
                    "out of date with Pipfile (its _meta.hash differs): run `pipenv lock`")
        return out
    urls = [s.get("url") for s in meta.get("sources", []) if isinstance(s, dict) and s.get("url")]
    if urls and urls[0] not in _PYPI:
        out.index_url = urls[0]
    out.extra_index_urls = [u for u in urls[1:] if u not in _PYPI]
    for name, entry in sorted(lock.get("default", {}).items()):
        line = line_of(lock_text, f'"{name}": {{')
        unsupported = [k for k in _NOT_INSTALLABLE if entry.get(k)]
        if unsupported:
            kind = unsupported[0]
            out.problem(where, line, f"`{name}` is a {kind} entry (`{entry.get(kind)}`), which "
                        "lambdaforge does not install from Pipfile.lock: publish it to an index "
                        "or a `find-links` wheel folder")
            continue
        version = entry.get("version")
        if not isinstance(version, str) or not version.startswith("=="):
            out.problem(where, line, f"`{name}` has no locked `==` version: run `pipenv lock`")
            continue
        extras = sorted(canonicalize_name(e) for e in entry.get("extras", []))
        text = canonicalize_name(name) + (f"[{','.join(extras)}]" if extras else "") + version
        if entry.get("markers"):
            text += f"; {entry['markers']}"
        out.requirements.append(LockedRequirement(text, tuple(entry.get("hashes", [])), line))
    return out
