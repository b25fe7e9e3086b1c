"""The package action: sources − secrets + install output − what layers provide → strip → zip.

A function's or layer's zip is restored from the cache when its key is there; otherwise its
sources (or what the builder prepares from them: a bundle, a layer's layout) and the
dependencies it ships (raw copies of the install's compressed members) are written into one
deterministic zip, stored in the cache, and placed under ``.forge/build/``. Before storing,
the target is keyed again: a source saved while it was packaged must not be stored under
its old key.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

from msgspec.structs import replace

from lambdaforge.actions import ARTIFACT, STRIP_LISTING, ActionContext, observe_outputs
from lambdaforge.builders.base import layers_conflicts, select_dependencies
from lambdaforge.config.specs import BuildSettings
from lambdaforge.errors import BuildError
from lambdaforge.fsutil import place_file
from lambdaforge.executor import Status, TargetResult
from lambdaforge.graph import Target, TargetKind
from lambdaforge.outputs import InstallOutput, PackageOutput, build_seconds, cache_meta
from lambdaforge.packaging.archive import Entry, FileEntry, MemberEntry
from lambdaforge.packaging.secrets import MAX_SCAN_BYTES, screen, screen_listed
from lambdaforge.packaging.sources import collect_sources
from lambdaforge.packaging.strip import StripReport, sourceless_bytecode


def artifact_path(ctx: ActionContext, t: Target) -> Path:
    """Where a function's or layer's zip goes (``Project.artifact_path``)."""
    return ctx.project.artifact_path(t.kind.value, t.name)


def run(t: Target, key: str, reasons: list[str], upstream: Mapping[str, TargetResult],
        ctx: ActionContext, cancel: threading.Event) -> TargetResult:
    """Restore the zip from the cache, or build and store it."""
    started = time.perf_counter()
    spec = t.spec
    assert spec is not None
    dest = artifact_path(ctx, t)
    rel = dest.relative_to(ctx.project.root).as_posix()
    entry = None if ctx.force else ctx.cache.get(key, what=t.id)
    cached = PackageOutput.from_json({**entry.meta, "path": rel}) if entry is not None else None
    if entry is not None and cached is not None:
        place_artifact(entry.path(ARTIFACT), dest)
        output = replace(cached, observed=observe_outputs(ctx.project.root, [(rel, cached.sha256)]))
        return TargetResult(t.id, Status.CACHED, key=key, output=output, reasons=reasons,
                            warnings=list(output.warnings), notes=list(output.notes),
                            saved=build_seconds(entry.meta))

    installs = [u for u in ctx.graph.upstream(t.id) if u.kind is TargetKind.INSTALL]
    install = upstream[installs[0].id] if installs else None
    install_output = install.output if install is not None else None
    assert install_output is None or isinstance(install_output, InstallOutput)
    kind = t.kind.value
    with tempfile.TemporaryDirectory(dir=ctx.scratch(), prefix="package-") as tmp:
        tmp_path = Path(tmp)
        stripped = StripReport()
        entries, warnings = _source_entries(t, install, tmp_path, stripped, ctx)
        provides: dict[str, str] = {}
        excluded: list[str] = []
        notes: list[str] = []
        layers = _layers_provides(t, upstream)
        if install is not None and install_output is not None and ctx.builder(t).ships_install(spec):
            dep_entries, provides, excluded, dep_warnings, notes = _dependency_entries(
                t, installs[0], install.target_id, install_output, layers, stripped, ctx)
            entries += dep_entries
            warnings += dep_warnings
        warnings += _layers_conflicts(t, layers, provides)
        if cancel.is_set():
            raise BuildError("interrupted")
        built = tmp_path / ARTIFACT
        stats = ctx.builder(t).artifact_writer(spec).write(built, entries)
        listing = tmp_path / STRIP_LISTING
        listing.write_text("".join(f"{line}\n" for line in stripped.lines()))
        if ctx.rekey(t) != key:
            raise BuildError(f"the sources of {t.id} changed while it was being built; "
                             "nothing was stored: run forge build again")
        output = PackageOutput(
            kind=kind, name=t.name, path=rel, size=stats.size,
            unzipped_size=stats.unzipped_size, sha256=stats.sha256,
            code_sha256=stats.code_sha256, provides=provides,
            excluded_runtime_provided=tuple(excluded),
            install_key=install_output.key if install_output is not None else None,
            stripped={rule: {"files": tally.files, "bytes": tally.bytes}
                      for rule, tally in sorted(stripped.by_rule.items())},
            warnings=tuple(warnings),
            notes=tuple(notes),
        )
        meta = cache_meta(output, started)
        if ctx.force:
            ctx.cache.discard(key)
        entry = ctx.cache.put(key, {ARTIFACT: built, STRIP_LISTING: listing}, meta)
    place_artifact(entry.path(ARTIFACT), dest)
    output = replace(output, observed=observe_outputs(ctx.project.root, [(rel, stats.sha256)]))
    return TargetResult(t.id, Status.BUILT, key=key, output=output, reasons=reasons,
                        warnings=warnings, notes=notes)


def _source_entries(t: Target, install: TargetResult | None, tmp_path: Path,
                    stripped: StripReport, ctx: ActionContext) -> tuple[list[Entry], list[str]]:
    """Zip entries of a package's own code: its source tree, or what the builder makes of
    it (a Node.js bundle, a layer's layout), under the builder's prefix."""
    spec = t.spec
    assert spec is not None
    builder = ctx.builder(t)
    sources = ctx.sources(t, ctx.graph)
    warnings = list(sources.warnings)
    installed = ctx.deps_zip(install.target_id) if install is not None else None
    build_ctx = ctx.build_context(tmp_path, install.key if install is not None else None,
                                  tuple(f.relpath for f in sources.files))
    prepared = builder.prepare_sources(spec, ctx.project, build_ctx, tmp_path / "prepared",
                                       installed=installed)
    warnings += build_ctx.warnings
    exempt = None
    if prepared is not None:
        # The user's include/exclude still hold; the builder's own source excludes do not
        # (a layer's prepared tree is under nodejs/node_modules/ by design). A bundler's
        # output is not: include/exclude chose the sources it read (`source_files`), and
        # `include = ["*.ts"]` must not drop the index.js made of them.
        bundler = not builder.ships_install(spec)
        sources = collect_sources(prepared, include=() if bundler else (*spec.include,),
                                  exclude=() if bundler else (*spec.exclude,),
                                  strip=ctx.strip_filter(spec))
        if bundler:
            # What such a builder (a bundler) needs of the install it copies in under its
            # dependency prefix: installed packages, not the user's code to screen.
            exempt = builder.dependency_prefix(t.kind.value) or None
    # Secrets by content: the walk read no file; these are read once more just before the
    # zip reads them (the page cache serves the second read).
    files, found = screen(sources.files, spec.include, exempt=exempt)
    warnings += found
    top = frozenset(f.relpath.split("/", 1)[0] for f in files)
    prefix = builder.source_prefix(t.kind.value, top)
    stripped.merge(sources.strip_report, prefix)
    return [FileEntry(prefix + f.relpath, f.path, f.executable) for f in files], warnings


def _dependency_entries(
    t: Target, install_target: Target, install_id: str, install: InstallOutput,
    layers: list[tuple[str, Mapping[str, str]]], stripped: StripReport, ctx: ActionContext,
) -> tuple[list[Entry], dict[str, str], list[str], list[str], list[str]]:
    """Zip entries of the installed dependencies a package ships (raw copies of the
    install's compressed members), the distributions it provides, those left out because
    the runtime ships them, warnings, and notes on the runtime-provided ones it keeps (with
    the reason the builder's rule kept them). The files of project-local packages (the
    user's code: ``Distribution.local``) are screened for secrets as a source's are; the
    rest is not. Raises on a layer conflict the config forbids."""
    spec = t.spec
    assert spec is not None and install_target.deps is not None
    builder = ctx.builder(t)
    warnings: list[str] = []
    dists = list(install.distributions)
    layer_dists: dict[str, tuple[str, str]] = {}
    for layer, layer_provides in layers:  # the first layer in the function's order
        for name, version in layer_provides.items():
            layer_dists.setdefault(name, (version, layer))
    selection = select_dependencies(builder, install_target.deps, dists, spec, layer_dists,
                                    ctx.project.check.runtime_packages)
    for conflict in selection.conflicts:
        warnings.append(_conflict(spec, conflict.message(t.name)))
    dropped_files: set[str] = set()
    own_files: set[str] = set()  # of project-local packages: the user's code, screened
    provides: dict[str, str] = {}
    for d in dists:
        if d.name in selection.dropped:
            dropped_files.update(d.files)
        else:
            provides[d.name] = d.version
            if d.local:
                own_files.update(d.files)
    excluded = sorted(selection.runtime_provided)
    if excluded:
        warnings.append("left out (provided by the runtime): " + ", ".join(excluded))
    notes = [f"{name} {provides[name]} kept: {why}" for name, why in sorted(selection.kept.items())
             if name in provides]
    prefix = builder.dependency_prefix(t.kind.value)
    strip = ctx.strip_filter(spec)
    deps_zip = ctx.deps_zip(install_id)
    entries: list[MemberEntry] = []
    with zipfile.ZipFile(deps_zip) as zf:
        members = zf.NameToInfo  # the names, for a .pyc's source beside it
        shipped = [n for n in members if n not in dropped_files and not n.endswith("/")]
        spared_by_dir = builder.spared_from_strip(shipped, strip.removed_directory, zf.read)
        spared = {f for files in spared_by_dir.values() for f in files}
        notes += [f"{prefix}{d}/: kept {len(files)} file{'s' if len(files) != 1 else ''} of "
                  f"modules the code shipped imports ({', '.join(f.removeprefix(d + '/') for f in files[:3])}"
                  f"{', …' if len(files) > 3 else ''}); a strip rule removes the rest of the directory"
                  for d, files in sorted(spared_by_dir.items())]
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or name in dropped_files:
                continue
            hit = None if name in spared else strip.explain(name)
            if hit is not None and sourceless_bytecode(name, members.__contains__):
                hit = None  # a module Python imports from its bytecode: code, not a cache
            if hit is not None:
                stripped.add(prefix + name, hit, info.file_size)
                continue
            entries.append(MemberEntry(prefix + name, deps_zip, name))

        def head(name: str) -> bytes:
            with zf.open(name) as member:
                return member.read(MAX_SCAN_BYTES)

        # The install's content is in this package's key (its install key), and so is
        # `include`: a cached zip restores the same decision and these warnings with it.
        withheld, found = screen_listed([e.member for e in entries if e.member in own_files], head,
                                        spec.include, prefix=prefix)
    warnings += found
    kept: list[Entry] = [e for e in entries if e.member not in withheld]
    return kept, provides, excluded, warnings, notes


def _conflict(spec: BuildSettings, message: str) -> str:
    """The warning for a version conflict with or between layers; raises when the config
    makes conflicts errors (``layer-conflicts = "error"``)."""
    if spec.layer_conflicts == "error":
        raise BuildError(f'layer conflict: {message} (layer-conflicts = "error")')
    return f"layer conflict: {message}"


def _layers_conflicts(t: Target, layers: list[tuple[str, Mapping[str, str]]],
                      shipped: Mapping[str, str]) -> list[str]:
    """Warnings for distributions two of a function's layers provide at different versions
    (none that the function ships itself: its copy wins over both)."""
    spec = t.spec
    assert spec is not None
    return [_conflict(spec, c.message(t.name)) for c in layers_conflicts(layers, shipped)]


def _layers_provides(t: Target, upstream: Mapping[str, TargetResult]
                     ) -> list[tuple[str, Mapping[str, str]]]:
    """(layer name, distribution → version it provides) of each of ``t``'s layers, in the
    order the function lists them (none for a layer)."""
    names = getattr(t.spec, "layers", ())
    found = []
    for name in names:
        result = upstream.get(f"{TargetKind.LAYER.value}:{name}")
        layer = result.output if result is not None else None
        if isinstance(layer, PackageOutput):
            found.append((name, layer.provides))
    return found


def place_artifact(src: Path, dest: Path) -> None:
    """Put a cached artifact at ``dest``, atomically: a hard link when the cache and the
    project share a file system (no copy of a 100 MB zip; the cache verifies its files, so
    an in-place edit through the link is caught and evicted there), else a copy. ``dest`` is
    left alone, mtime included, when it already holds these bytes."""
    if dest.exists() and (os.path.samefile(src, dest) or (
            dest.stat().st_size == src.stat().st_size and _same_bytes(src, dest))):
        return
    # The cached file is 0644 already; a chmod would move its ctime and make the cache
    # re-verify it in full: place_file links without one.
    place_file(src, dest)


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True
