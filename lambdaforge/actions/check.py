"""The check action: is a built zip one Lambda will run?

Native binaries (ELF machine, glibc and libstdc++ symbol versions, other OSes' formats, the
Python an extension module is built for), sizes against the limits and the user's budget
(with the biggest contributors and the rule set that would save most, when a size is a
problem), the handler, and with ``smoke`` the import of the handler in
an isolated interpreter. A passed verdict is cached by its key, which covers the artifact's
key: a build restored from the cache does not re-run its checks. A verdict whose smoke test
was skipped, or passed without the runtime's own packages, is not final and is not cached.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdaforge.actions import ActionContext
from lambdaforge.config.specs import BuildSettings, FunctionSpec
from lambdaforge.executor import Status, TargetResult
from lambdaforge.graph import Target, TargetKind
from lambdaforge.outputs import CheckOutput, PackageOutput, build_seconds, cache_meta
from lambdaforge.packaging.strip import StripFilter

if TYPE_CHECKING:
    from lambdaforge.packaging.native import Provenance


def run(t: Target, key: str, reasons: list[str], upstream: Mapping[str, TargetResult],
        ctx: ActionContext) -> TargetResult:
    """Check one artifact; FAILED with every problem found, or a passed verdict."""
    from lambdaforge.packaging.native import check_native_binaries

    started = time.perf_counter()
    spec = t.spec
    assert spec is not None and t.checks is not None
    entry = None if ctx.force else ctx.cache.get(key, what=t.id)
    cached = CheckOutput.from_json(entry.meta) if entry is not None else None
    if cached is not None and cached.passed and not cached.smoke_skipped:
        return apply_budget(t, TargetResult(t.id, Status.CACHED, key=key, output=cached,
                                            warnings=list(cached.warnings), reasons=reasons,
                                            saved=build_seconds(entry.meta)),
                            upstream, ctx)
    builder = ctx.builder(t)
    package, layers = _artifacts(t, upstream, ctx)
    artifact = ctx.project.path(package.path)
    errors: list[str] = []
    warnings: list[str] = []
    kind = package.kind
    # Which distribution each file came from is looked up only when a problem (to name it)
    # or a stable-ABI module (its wheel's tags) needs it: it costs.
    problems = check_native_binaries(
        artifact, spec.architecture, spec.runtime, artifact=kind,
        provenance=lambda: _provenance(ctx, package.install_key, builder.dependency_prefix(kind)))
    errors += [str(p) for p in problems]
    if isinstance(spec, FunctionSpec):
        errors += _layers_native_problems(t, spec, upstream, ctx)
    errors += builder.check_layout(artifact, kind, spec)
    if kind == "layer" and not _has_files(artifact):
        errors.append("the layer holds no files: everything in its source was left out (default "
                      "excludes, secrets, include/exclude, strip rules) and nothing was "
                      "installed; `forge build --explain-strip` lists what strip rules removed")

    sizes = _sizes(t, package, layers, ctx)
    errors += [str(p) for p in sizes.errors]
    warnings += [str(p) for p in sizes.warnings]
    skipped = False
    import_ms: float | None = None
    layer_zips = [ctx.project.path(layer.path) for _, layer in layers]
    if isinstance(spec, FunctionSpec):
        # Scratch of its own, made only by a builder that needs it (a static check does not:
        # hundreds of checks would otherwise each make and remove a directory).
        scratch = ctx.scratch() / f"handler-{os.urandom(8).hex()}"
        try:
            errors += builder.check_handler(artifact, layer_zips, spec.handler, spec.runtime,
                                            ctx.build_context(scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if ctx.smoke and not errors:
            with tempfile.TemporaryDirectory(dir=ctx.scratch(), prefix="smoke-") as tmp:
                smoke = builder.smoke_test(artifact, layer_zips, spec, ctx.build_context(Path(tmp)))
            warnings += [f"import smoke test: {w}" for w in smoke.warnings]
            skipped = smoke.partial  # passed without the runtime's packages: not final
            if smoke.skipped:
                warnings.append(f"import smoke test skipped: {smoke.skipped}")
                skipped = True
            elif not smoke.ok:
                errors.append(f"import smoke test failed: {smoke.error}")
            else:
                import_ms = smoke.import_ms
    if errors:
        return TargetResult(t.id, Status.FAILED, key=key, warnings=warnings,
                            error="\n".join(errors), reasons=reasons)
    output = CheckOutput(True, tuple(warnings), skipped, import_ms)
    if not skipped:
        # A verdict: cheap to recompute, so no fsync. A skipped smoke test is not cached:
        # the interpreter it lacked may be installed by the next build.
        ctx.cache.put(key, {}, cache_meta(output, started), durable=False)
    return TargetResult(t.id, Status.BUILT, key=key, output=output, warnings=warnings,
                        reasons=reasons)


def _layers_native_problems(t: Target, spec: FunctionSpec, upstream: Mapping[str, TargetResult],
                            ctx: ActionContext) -> list[str]:
    """The native code of the function's layers built for another runtime or architecture
    than the function's that cannot load in it: a layer's own check judges it for the
    layer's runtime, but the function imports it on its own (a ``cpython-312`` module in a
    python3.13 function's layer is ``No module named …`` on Lambda). Layers built for the
    function's runtime and architecture need no second look."""
    from lambdaforge.packaging.native import check_native_binaries

    errors: list[str] = []
    for u in ctx.graph.upstream(t.id):
        layer = u.spec
        output = upstream[u.id].output if u.id in upstream else None
        if (u.kind is not TargetKind.LAYER or u.id == t.checks or layer is None
                or not isinstance(output, PackageOutput)
                or (layer.runtime, layer.architecture) == (spec.runtime, spec.architecture)):
            continue
        builder = ctx.builder(u)
        found = check_native_binaries(
            ctx.project.path(output.path), spec.architecture, spec.runtime, artifact="layer",
            provenance=lambda o=output, b=builder: _provenance(ctx, o.install_key,
                                                               b.dependency_prefix("layer")))
        errors += [f"layer '{u.name}', built for {layer.runtime} {layer.architecture}, cannot "
                   f"load in this {spec.runtime} {spec.architecture} function: {p} (build the "
                   f"layer for {spec.runtime} {spec.architecture}, or give the function a "
                   "layer of its own that is)" for p in found]
    return errors


def _has_files(artifact: Path) -> bool:
    """Whether a zip holds at least one file (not only directories)."""
    with zipfile.ZipFile(artifact) as zf:
        return any(not info.is_dir() for info in zf.infolist())


def apply_budget(t: Target, result: TargetResult, upstream: Mapping[str, TargetResult],
                 ctx: ActionContext) -> TargetResult:
    """A verdict kept from an earlier build (up to date, or from the cache) with the size
    limits applied to the artifact and its layers as they are now.

    A function check's key leaves out the layers whose content its verdict does not read
    (``Builder.check_reads_layers``), so the verdict may predate the layers' current sizes:
    the budget (Lambda's unzipped limit with layers, ``max-size``) is arithmetic on the
    sizes the package results carry, done on every build that has the check in its graph.
    Over budget: FAILED with the same message a fresh check gives."""
    if result.status is Status.FAILED or t.checks is None or t.checks not in upstream:
        return result
    package, layers = _artifacts(t, upstream, ctx)
    sizes = _sizes(t, package, layers, ctx)
    if not sizes.errors:
        return result
    return TargetResult(t.id, Status.FAILED, key=result.key, warnings=result.warnings,
                        error="\n".join(str(p) for p in sizes.errors),
                        reasons=result.reasons or ["a layer's size changed"])


def _artifacts(t: Target, upstream: Mapping[str, TargetResult], ctx: ActionContext
               ) -> tuple[PackageOutput, list[tuple[str, PackageOutput]]]:
    """The checked package's output and its layers' (name, output), in layer order; a
    layer's check has none (the layer it checks is upstream of it: counted as its own
    layer, a 130 MiB layer was "over Lambda's limit")."""
    package = upstream[t.checks].output  # type: ignore[index]
    assert isinstance(package, PackageOutput)
    layers = [(u.name, upstream[u.id].output) for u in ctx.graph.upstream(t.id)
              if u.kind is TargetKind.LAYER and u.id != t.checks]
    return package, layers


def _sizes(t: Target, package: PackageOutput, layers: list[tuple[str, PackageOutput]],
           ctx: ActionContext):  # type: ignore[no-untyped-def]
    """The size report of a package with its layers; with the biggest parts and the rule set
    that would save most when there is something to say (only then is the zip read again)."""
    from lambdaforge.packaging.checks import contributors_from_zip, size_report

    spec = t.spec
    assert spec is not None
    artifact = ctx.project.path(package.path)

    def sizes_of(explain: bool):  # type: ignore[no-untyped-def]
        return size_report(
            t.name,
            zipped_size=package.size,
            unzipped_size=package.unzipped_size,
            layer_sizes={name: layer.unzipped_size for name, layer in layers},
            max_size=spec.max_size,
            contributors=contributors_from_zip(artifact) if explain else (),
            savings=strip_savings(artifact, spec) if explain else None,
            artifact=package.kind,
        )

    sizes = sizes_of(explain=False)
    if sizes.errors or sizes.warnings:
        sizes = sizes_of(explain=True)
    return sizes


def strip_savings(artifact: Path, spec: BuildSettings) -> dict[str, int]:
    """Bytes each built-in rule set the spec does not use yet would remove from it."""
    from lambdaforge.packaging.strip import BUILT_IN_RULE_SETS

    savings: dict[str, int] = {}
    with zipfile.ZipFile(artifact) as zf:
        members = [(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()]
    for name, rules in BUILT_IN_RULE_SETS.items():
        if name in spec.strip or name == "node-standard":
            continue
        strip = StripFilter([rules])
        saved = sum(size for path, size in members
                    if strip.match(path.removeprefix("python/")) is not None)
        if saved:
            savings[name] = saved
    return savings


def _provenance(ctx: ActionContext, install_key: str | None, prefix: str) -> Provenance:
    """Zip member path → ``"name version"`` of the distribution that installed it, and →
    the member path of that distribution's ``WHEEL`` file."""
    from lambdaforge.outputs import InstallOutput
    from lambdaforge.packaging.native import Provenance

    entry = ctx.cache.get(install_key) if install_key else None
    output = InstallOutput.from_json({**entry.meta, "key": install_key}) if entry else None
    if output is None:
        return Provenance()
    owners: dict[str, str] = {}
    wheels: dict[str, str] = {}
    for d in output.distributions:
        owner = f"{d.name} {d.version}"
        wheel = next((f for f in d.files if f.endswith(".dist-info/WHEEL")), None)
        for f in d.files:
            owners[prefix + f] = owner
            if wheel is not None:
                wheels[prefix + f] = prefix + wheel
    return Provenance(owners, wheels)
