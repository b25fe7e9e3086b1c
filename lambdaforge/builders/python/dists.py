"""Installed distributions: reading ``*.dist-info``, cleaning an install tree, and the rules
that decide which distributions a zip leaves out (runtime-provided, provided by a layer).

Works on a directory (an install tree) and on a zip's member list (a built layer), so the
same rules apply before and after packaging.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from msgspec import Struct
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion
from packaging.utils import canonicalize_name

from lambdaforge.builders.base import Distribution, RuntimeProvidedChoice
from lambdaforge.fsutil import write_atomic
from lambdaforge.lambda_facts import PYTHON_RUNTIME_PACKAGES, runtime_provided
from lambdaforge.packaging.strip import sourceless_bytecode

#: Files inside ``*.dist-info`` that installers write and that vary by machine or run:
#: absolute paths (``direct_url.json``), timestamps (``uv_cache.json``), or the installer's
#: name (``INSTALLER``, ``REQUESTED`` — which installer ran is already in the key).
DIST_INFO_DROPPINGS = frozenset(
    {"direct_url.json", "uv_cache.json", "uv_build.json", "INSTALLER", "REQUESTED"}
)
#: Top-level entries of an install tree that never ship: console scripts with the build
#: host's interpreter in their shebang, and uv's lock file.
TOP_LEVEL_DROPPINGS = frozenset({"bin", ".lock"})
#: Where installers put a wheel's ``.data/headers`` (C headers to build against it, nothing
#: at run time): uv in ``include/NAME/``, pip in ``include/site/pythonX.Y/NAME/`` of *the
#: Python running it*, so the same install's zip differed between machines whose forge runs
#: on another Python. Dropped unless it is an importable package (``include/__init__.py``).
HEADERS = "include"


# --------------------------------------------------------------------------- reading


class _RawDist(Struct, frozen=True):
    name: str
    version: str
    files: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    #: ``Provides-Extra`` names
    extras: tuple[str, ...] = ()


def _parse_metadata(text: str) -> tuple[str, str, list[Requirement], list[str]]:
    msg = HeaderParser().parsestr(text)
    reqs = []
    for value in msg.get_all("Requires-Dist") or []:
        try:
            reqs.append(Requirement(value))
        except InvalidRequirement:
            continue  # a malformed dependency line must not break reading the rest
    extras = [canonicalize_name(e) for e in msg.get_all("Provides-Extra") or []]
    return canonicalize_name(msg.get("Name", "")), msg.get("Version", ""), reqs, extras


def _record_paths(text: str, dist_info: str) -> list[str]:
    """Paths a RECORD lists, relative to the install root; entries leaving it are skipped."""
    base = PurePosixPath(dist_info).parent
    out = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0]:
            continue
        parts: list[str] = []
        for part in (base / row[0]).parts:
            if part == "..":
                if not parts:
                    break
                parts.pop()
            elif part != ".":
                parts.append(part)
        else:
            if parts:
                out.append("/".join(parts))
    return out


def _read_raw(
    dist_infos: Iterable[str],
    read: Callable[[str], bytes | None],
    all_files: Sequence[str],
) -> list[_RawDist]:
    """Shared by the directory and zip readers: ``read(path)`` returns bytes or None."""
    dists = []
    for di in sorted(dist_infos):
        meta = read(f"{di}/METADATA")
        if meta is None:
            continue
        name, version, reqs, extras = _parse_metadata(meta.decode("utf-8", "replace"))
        record = read(f"{di}/RECORD")
        if record is not None:
            files = _record_paths(record.decode("utf-8", "replace"), di)
        else:
            # No RECORD (hand-made layers): the top-level names own everything under them.
            top = read(f"{di}/top_level.txt")
            tops = [t.strip() for t in (top or b"").decode().splitlines() if t.strip()]
            prefix = di.rsplit("/", 1)[0] + "/" if "/" in di else ""
            owned = [f"{prefix}{t}" for t in tops] + [di]
            files = [
                f for f in all_files
                if any(f == o or f.startswith(o + "/") or f == o + ".py" for o in owned)
            ]
        existing = set(all_files)
        owned = tuple(sorted(f for f in files if f in existing))
        dists.append(_RawDist(name, version, owned, tuple(reqs), tuple(extras)))
    return dists


def _matches(marker: Marker | None, env: Mapping[str, str], extra: str = "") -> bool:
    if marker is None:
        return True
    return marker.evaluate({**env, "extra": extra})


def _resolve(
    raws: list[_RawDist], env: Mapping[str, str], roots: Iterable[Requirement] | None
) -> list[Distribution]:
    """Turn raw dists into ``Distribution``s whose ``requires`` hold for the target.

    Extras: with ``roots`` given, an extra counts when a root or an installed dist asks for
    it (fixpoint). Without roots (a zip read back), a requirement guarded by an extra
    counts when what it names is installed too — the install is the best witness of which
    extras were asked for.
    """
    by_name = {r.name: r for r in raws}
    active: dict[str, set[str]] = {r.name: set() for r in raws}

    def wanted(req: Requirement, extras: set[str]) -> bool:
        return any(_matches(req.marker, env, e) for e in ({""} | extras))

    if roots is not None:
        for root in roots:
            name = canonicalize_name(root.name)
            if name in active and _matches(root.marker, env):
                active[name] |= {canonicalize_name(e) for e in root.extras}
        changed = True
        while changed:
            changed = False
            for raw in raws:
                for req in raw.requirements:
                    name = canonicalize_name(req.name)
                    extras = {canonicalize_name(e) for e in req.extras}
                    if name in active and wanted(req, active[raw.name]) and not extras <= active[name]:
                        active[name] |= extras
                        changed = True

    out = []
    for raw in raws:
        requires = set()
        for req in raw.requirements:
            target = canonicalize_name(req.name)
            if _matches(req.marker, env):
                requires.add(target)
            elif roots is not None and wanted(req, active[raw.name]):
                requires.add(target)
            elif roots is None and target in by_name and any(
                _matches(req.marker, env, e) for e in raw.extras
            ):
                requires.add(target)
        out.append(Distribution(raw.name, raw.version, raw.files, tuple(sorted(requires))))
    return out


def read_distributions(
    root: Path, env: Mapping[str, str], roots: Iterable[Requirement] | None = None
) -> list[Distribution]:
    """Distributions installed in the directory ``root`` (sorted by name).

    ``env`` is the target's marker environment (``PythonTarget.marker_environment()``);
    ``roots`` the top-level requirements, which say which extras were asked for.
    """
    all_files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    dist_infos = [p.name for p in root.iterdir() if p.is_dir() and p.name.endswith(".dist-info")]

    def read(path: str) -> bytes | None:
        f = root / path
        return f.read_bytes() if f.is_file() else None

    return _resolve(_read_raw(dist_infos, read, all_files), env, roots)


def read_distributions_from_zip(
    names: Iterable[str], read: Callable[[str], bytes], env: Mapping[str, str], prefix: str = ""
) -> list[Distribution]:
    """Distributions in a zip, from its member names and a member reader (``ZipFile.read``).

    ``prefix`` is the dependency root inside the zip (``python/`` for a layer); returned
    file paths are relative to it, like those of ``read_distributions``.
    """
    members = {n[len(prefix):]: n for n in names if n.startswith(prefix) and not n.endswith("/")}
    dist_infos = {
        p.split("/", 1)[0] for p in members if "/" in p and p.split("/", 1)[0].endswith(".dist-info")
    }

    def get(path: str) -> bytes | None:
        full = members.get(path)
        return read(full) if full is not None else None

    return _resolve(_read_raw(dist_infos, get, sorted(members)), env, None)


# --------------------------------------------------------------------------- cleaning


def finalize_tree(dest: Path) -> list[str]:
    """Remove from an install tree what never ships, and make RECORD deterministic.

    Removed: bytecode (compiled for the build host's Python, useless on the target; not a
    sourceless module, ``name.pyc`` with no ``name.py``, which is what Python imports),
    top-level ``bin/`` (host shebangs), ``.lock`` and ``include/`` (``HEADERS``), and the
    per-machine installer files
    of ``DIST_INFO_DROPPINGS``. Every RECORD is rewritten without the removed files and
    entries outside the tree, sorted. METADATA, WHEEL, entry_points.txt, top_level.txt and
    licenses stay: ``importlib.metadata`` needs them.

    Installers hardlink files from their caches, so nothing is edited in place: files are
    unlinked, and RECORD is replaced by a new file. Returns the removed paths (sorted).
    """
    removed: list[str] = []
    for name in sorted(TOP_LEVEL_DROPPINGS):
        path = dest / name
        if path.is_dir() and not path.is_symlink():
            removed += _tree_files(path, dest)
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            removed.append(name)
            path.unlink()
    headers = dest / HEADERS
    if headers.is_dir() and not headers.is_symlink() and not (headers / "__init__.py").exists():
        removed += _tree_files(headers, dest)
        shutil.rmtree(headers)
    for cache in sorted(dest.rglob("__pycache__")):
        if cache.is_dir():
            removed += _tree_files(cache, dest)
            shutil.rmtree(cache)
    for pyc in sorted(dest.rglob("*.py[co]")):
        rel = pyc.relative_to(dest).as_posix()
        if sourceless_bytecode(rel, lambda r: (dest / r).exists()):
            continue  # a module shipped as bytecode alone: what Python imports
        removed.append(rel)
        pyc.unlink()
    for di in sorted(p for p in dest.iterdir() if p.is_dir() and p.name.endswith(".dist-info")):
        for name in sorted(DIST_INFO_DROPPINGS):
            if (di / name).is_file():
                removed.append(f"{di.name}/{name}")
                (di / name).unlink()
        _rewrite_record(di, dest)
    return sorted(removed)


def _tree_files(path: Path, root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in sorted(path.rglob("*")) if not p.is_dir()] or [
        path.relative_to(root).as_posix()
    ]


def _rewrite_record(dist_info: Path, root: Path) -> None:
    """Replace RECORD by one listing only files still present, sorted, RECORD itself last."""
    record = dist_info / "RECORD"
    if not record.is_file():
        return
    own = f"{dist_info.name}/RECORD"
    rows = []
    for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
        if not row or not row[0] or row[0] == own:
            continue
        path = PurePosixPath(row[0])
        if ".." in path.parts or path.is_absolute() or not (root / path).is_file():
            continue
        rows.append((row + ["", ""])[:3])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in sorted(rows):
        writer.writerow(row)
    writer.writerow([own, "", ""])
    # A new inode: a hardlinked installer-cache copy stays intact. Not durable: the tree is
    # scratch until it is zipped.
    write_atomic(record, out.getvalue().encode("utf-8"), durable=False, mode=0o644)


# --------------------------------------------------------------------------- closure


def unreachable(
    dists: Sequence[Distribution], roots: Iterable[Requirement], env: Mapping[str, str]
) -> set[str]:
    """Names of installed dists not required, for the target, from the roots.

    A safety net against installers that evaluate markers for the build host: whatever is
    here was installed only through a marker false on the target.
    """
    by_name = {d.name: d for d in dists}
    todo = [canonicalize_name(r.name) for r in roots if _matches(r.marker, env)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].requires)
    return set(by_name) - seen


# --------------------------------------------------------------------------- exclusions


def runtime_provided_choice(
    dists: Sequence[Distribution], roots_pinned: Iterable[str], runtime: str,
    ranges: Iterable[str] = (), env: Mapping[str, str] | None = None,
    runtime_packages: Sequence[str] = (),
) -> RuntimeProvidedChoice:
    """Which runtime-provided dists (boto3 & co.) to leave out of a package, and why each
    other one stays.

    The rule, in order:

    1. candidates are installed dists the runtime ships (``lambda_facts.runtime_provided``);
    2. a candidate the user pinned with ``==`` in their own top-level requirements stays
       (they asked for that exact version; the runtime's varies by region and date);
    3. a candidate whose range in the user's own top-level requirements (``ranges``:
       ``boto3>=1.28.57``, markers evaluated in ``env``, the target's) excludes the
       version the runtime ships (``_shipped``: the one ``[check] runtime-packages`` pins,
       as the import smoke test installs it, else the one it is known to ship,
       ``lambda_facts.PYTHON_RUNTIME_PACKAGES``) stays: the runtime's copy is not what
       they asked for (an ``UnknownServiceError`` for a client newer than it). A version nobody published counts as satisfying;
    4. a candidate required by any dist that stays, stays too, repeated to a fixpoint
       (``requests`` needs ``urllib3``: the runtime's urllib3 may not satisfy the version
       range ``requests`` was resolved against; a pinned boto3 needs its own botocore).

    So only what nothing kept depends on is left out: the runtime's copy then serves it.
    A kept candidate's reason is the step that kept it: ``pinned with == in its
    requirements``, ``requires boto3>=1.28.57; the python3.11 runtime has 1.27.1``, or
    ``required by`` every kept dist that requires it (name and version).
    """
    provided = runtime_provided(runtime)
    pinned = {canonicalize_name(n) for n in roots_pinned}
    candidates = {d.name for d in dists if d.name in provided}
    unmet = _unmet_ranges(ranges, runtime, env, runtime_packages)
    excluded = candidates - pinned - set(unmet)
    by_name = {d.name: d for d in dists}
    changed = True
    while changed:
        changed = False
        for d in by_name.values():
            if d.name in excluded:
                continue
            needed = excluded.intersection(d.requires)
            if needed:
                excluded -= needed
                changed = True
    kept: dict[str, str] = {}
    for name in sorted(candidates - excluded):
        if name in pinned:
            kept[name] = "pinned with == in its requirements"
        elif name in unmet:
            kept[name] = unmet[name]
        else:  # step 4 kept it: it is required by a dist that stays, and they stay
            users = sorted(f"{d.name} {d.version}" for d in by_name.values()
                           if d.name not in excluded and name in d.requires)
            kept[name] = "required by " + ", ".join(users)
    return RuntimeProvidedChoice(frozenset(excluded), kept)


def _unmet_ranges(ranges: Iterable[str], runtime: str, env: Mapping[str, str] | None,
                  runtime_packages: Sequence[str] = ()) -> dict[str, str]:
    """Normalized name → why, for each of the user's ranges that the version the runtime
    ships (``_shipped``) does not satisfy."""
    shipped = _shipped(runtime, runtime_packages)
    unmet: dict[str, str] = {}
    for text in ranges:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        version, configured = shipped.get(name, (None, False))
        if version is None or (req.marker is not None and not _matches(req.marker, env or {})):
            continue
        try:
            met = req.specifier.contains(version, prereleases=True)
        except InvalidVersion:  # an `===` pin of a version nobody can compare: not judged
            continue
        if not met:
            where = " ([check] runtime-packages)" if configured else ""
            unmet[name] = (f"requires {req.name}{req.specifier}; the {runtime} runtime has "
                           f"{version}{where}")
    return unmet


def _shipped(runtime: str, runtime_packages: Sequence[str] = ()) -> dict[str, tuple[str, bool]]:
    """Normalized name → (version, whether ``[check] runtime-packages`` said so) of each
    package the runtime ships at a known version: ``lambda_facts.PYTHON_RUNTIME_PACKAGES``'
    ``==`` lines, with each Python entry of ``runtime_packages`` that pins one exact version
    over them (as the import smoke test installs it). An entry that is a range says what to
    test with, not which version Lambda has: the known version decides for it."""
    from lambdaforge.runtime_packages import is_node_entry

    shipped: dict[str, tuple[str, bool]] = {}
    for line in PYTHON_RUNTIME_PACKAGES.get(runtime, ()):
        name, sep, version = line.partition("==")
        if sep:
            shipped[canonicalize_name(name)] = (version, False)
    for entry in runtime_packages:
        if is_node_entry(entry):
            continue
        try:
            req = Requirement(entry)
        except InvalidRequirement:
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            shipped[canonicalize_name(req.name)] = (specs[0].version, True)
    return shipped
