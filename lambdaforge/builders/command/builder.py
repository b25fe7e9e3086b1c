"""``CommandBuilder``: a user's command behind the ``Builder`` interface.

How it fits the pipeline: the command's run is the function's (or layer's) *install*
target. ``dependency_inputs`` lists the declared input files (their digests go into the
install key with the command, the environment values, runtime and architecture);
``install`` runs the command on a copy of them and hands back its output, which the
pipeline zips and caches like any installed tree; the package target then ships that tree
at the zip's root and nothing of the source tree (``source_excludes`` is everything), so
a file outside ``inputs`` changes no key at all. See DESIGN.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lambdaforge.builders.base import (
    ArtifactKind,
    BuildContext,
    Builder,
    DependencyInputs,
    InstallResult,
    SmokeResult,
)
from lambdaforge.builders.command.handler import bootstrap_problems
from lambdaforge.builders.command.run import CommandRun, file_stat, list_inputs, project_relative
from lambdaforge.config.specs import BuildSettings, Project
from lambdaforge.lambda_facts import RUNTIMES

if TYPE_CHECKING:
    from lambdaforge.builders.command.options import CommandOptions


class CommandBuilder(Builder):
    """Builds any runtime's function or layer by running the user's ``command``."""

    NAME: ClassVar[str] = "command"
    #: bump when a change here changes outputs (environment, copy or collection rules)
    VERSION: ClassVar[str] = "1"
    ENV_OPTIONS: ClassVar[tuple[str, ...]] = ("env",)

    @classmethod
    def serves(cls, runtime: str) -> bool:
        """Every known runtime: what the command makes is the user's business."""
        return runtime in RUNTIMES

    def __init__(self) -> None:
        # language runtime → its default builder, asked for handler checks and smoke tests
        self._delegates: dict[str, Builder | None] = {}

    @classmethod
    def options_model(cls) -> type[CommandOptions]:
        """``command``, ``inputs``, ``output``, ``env``, ``pass-env`` (``options.CommandOptions``)."""
        from lambdaforge.builders.command.options import CommandOptions

        return CommandOptions

    @staticmethod
    def options(settings: BuildSettings) -> CommandOptions:
        """The validated options of a resolved function or layer."""
        from lambdaforge.builders.command.options import CommandOptions

        return CommandOptions.of(settings.builder_options)

    # ------------------------------------------------------------------ the run

    def dependency_inputs(
        self, settings: BuildSettings, source: str | None, project: Project
    ) -> DependencyInputs:
        """The run's identity: command, source, output, environment values and names, and
        the output filters, plus the input files (their contents are keyed by the pipeline).
        Always an install target: even a command without inputs has to run."""
        from lambdaforge.packaging.excludes import anchored_inside
        from lambdaforge.redact import variable_key_form

        opts = self.options(settings)
        inputs, listed = list_inputs(project.root, source, opts.inputs,
                                     anchored_inside(source or ".", project.own_folders()))
        # A secret's value (by its name or a URL password in it) never enters keys, state
        # or logs: its key form stands for it, and only the command gets the value.
        env_real = json.dumps(opts.env, sort_keys=True)
        env_shown = json.dumps({n: variable_key_form(n, v) for n, v in opts.env.items()}, sort_keys=True)
        files = tuple(project_relative(source or "", f.relpath) for f in inputs)
        canonical = {
            "command": json.dumps(opts.command),
            "source": source or "",
            "output": opts.output or ".",
            "env": env_shown,
            "pass-env": json.dumps(sorted(opts.pass_env)),
            # include/exclude choose which of the output's files ship: part of the run's
            # result as stored (the pipeline zips exactly what `install` hands back)
            "include": json.dumps(list(settings.include)),
            "exclude": json.dumps(list(settings.exclude)),
        }
        return DependencyInputs(
            builder=self.NAME,
            runtime=settings.runtime,
            architecture=settings.architecture,
            canonical=tuple(sorted(canonical.items())),
            files=files,
            # Watched, not keyed: a file added to a directory the inputs were walked in is
            # seen (a listing changed) and planned again; only a match changes the key.
            watched=tuple(sorted(project_relative(source or "", rel) for rel in listed)),
            file_stats=tuple((rel, *file_stat(project.root / rel)) for rel in files),
            secrets=((env_shown, env_real),) if env_shown != env_real else (),
        )

    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """None known: the command's own tools are the user's (``cache-salt`` disowns
        outputs made with an old toolchain)."""
        return {}

    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        """Run the command on a scratch copy of the inputs; its output's files go to ``dest``."""
        c = dict(inputs.canonical)
        command = json.loads(c["command"])
        run = CommandRun(
            argv=tuple(["/bin/sh", "-c", command] if isinstance(command, str) else command),
            shown=command if isinstance(command, str) else " ".join(command),
            source=c["source"],
            files=inputs.files,
            output=c["output"],
            env=json.loads(inputs.reveal(c["env"])),
            pass_env=tuple(json.loads(c["pass-env"])),
            runtime=inputs.runtime,
            architecture=inputs.architecture,
            include=tuple(json.loads(c["include"])),
            exclude=tuple(json.loads(c["exclude"])),
        )
        expected = {rel: (size, mtime) for rel, size, mtime in inputs.file_stats}
        warnings = run.execute(ctx.project.root, dest, ctx.runner, expected)
        return InstallResult(notes=warnings)

    # ------------------------------------------------------------------ layout

    def dependency_prefix(self, kind: ArtifactKind) -> str:
        """The output is laid out by the command: at the zip's root, function or layer
        (a layer's ``bin/``, ``lib/`` or ``python/`` are the command's to make)."""
        return ""

    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        """Nothing of the source tree ships (see ``source_excludes``); the root if it did."""
        return ""

    def source_excludes(self, spec: BuildSettings | None = None,
                        source_dir: Path | None = None) -> tuple[str, ...]:
        """Everything: the package's content is the command's output, keyed by the declared
        inputs in the install target, so no source file is in the package's key (a file
        outside ``inputs`` rebuilds nothing)."""
        return ("*",)

    def prepare_sources(self, spec: BuildSettings, project: Project, ctx: BuildContext,
                        out_dir: Path, installed: Path | None = None) -> Path:
        """An empty directory: no source file ships, even one a user's ``exclude`` negation
        (``!x``) would bring back past ``source_excludes``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir

    # ------------------------------------------------------------------ checks

    def _runtime_builder(self, runtime: str) -> Builder | None:
        """The default builder of a language runtime, whose handler checks apply to a zip
        whatever made it; ``None`` for OS-only runtimes."""
        if runtime not in self._delegates:
            from lambdaforge.builders import BuilderRegistry

            registry = BuilderRegistry()
            name = registry.default_name(runtime)
            self._delegates[runtime] = registry.get(name) if name else None
        return self._delegates[runtime]

    def check_handler(
        self, artifact: Path, layer_zips: list[Path], handler: str, runtime: str,
        ctx: BuildContext | None = None,
    ) -> list[str]:
        """OS-only runtimes: an executable ``bootstrap`` at the root of the zip or of a layer
        (``handler.bootstrap_problems``). Language runtimes: that runtime's own builder's
        check (a Python handler made by ``make`` must still import from the zip root)."""
        rt = RUNTIMES.get(runtime)
        if rt is not None and rt.family == "provided":
            return bootstrap_problems(artifact, layer_zips, runtime)
        delegate = self._runtime_builder(runtime)
        return delegate.check_handler(artifact, layer_zips, handler, runtime, ctx) if delegate else []

    def smoke_material(self, spec: BuildSettings, project: Project) -> Mapping[str, object]:
        """Language runtimes: what their builder's smoke test reads (the runtime's own
        packages); OS-only runtimes: nothing (no smoke test)."""
        delegate = self._runtime_builder(spec.runtime)
        return delegate.smoke_material(spec, project) if delegate else {}

    def smoke_test(
        self, artifact: Path, layer_zips: list[Path], spec: BuildSettings, ctx: BuildContext
    ) -> SmokeResult:
        """Language runtimes: their builder's import smoke test. OS-only runtimes: skipped
        (starting a bootstrap means serving the Lambda runtime API)."""
        delegate = self._runtime_builder(spec.runtime)
        if delegate is None:
            return SmokeResult(ok=True, skipped=f"no import smoke test for custom runtimes ({spec.runtime})")
        return delegate.smoke_test(artifact, layer_zips, spec, ctx)
