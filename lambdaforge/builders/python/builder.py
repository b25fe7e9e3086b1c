"""``PythonBuilder``: the Python ecosystem's implementation of the ``Builder`` interface.

Thin on purpose: each job lives in its own module (``requirements`` → inputs,
``install`` → installed tree, ``dists`` → cleanup and exclusion rules, ``handler`` and
``smoke`` → checks); this class wires them to the interface the pipeline calls.
"""

from __future__ import annotations

import os

import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lambdaforge.builders.base import (
    ArtifactKind,
    BuildContext,
    Builder,
    DependencyInputs,
    Distribution,
    InstallResult,
    RuntimeProvidedChoice,
    SmokeResult,
    handler_issue,
)
from lambdaforge.builders.python.handler import CodeTree, check_python_handler, layer_roots
from lambdaforge.builders.python.settings import PythonSettings
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.builders.python.tools import tool_version
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.config.specs import BuildSettings, Project
from lambdaforge.errors import ConfigIssue
from lambdaforge.runner import Runner

if TYPE_CHECKING:
    from lambdaforge.builders.python.options import PythonOptions


class PythonBuilder(Builder):
    """Installs Python dependencies for a Lambda runtime and lays out functions and layers.

    ``runner`` runs ``uv export`` (while reading a ``uv.lock``) and ``uv/pip --version``,
    which happen before any ``BuildContext`` exists; installs use the context's runner.
    """

    NAME: ClassVar[str] = "python"
    #: bump when a change here changes installed trees (cleanup rules, flags, layout) or
    #: the checks' verdicts (2: a handler that does not parse with the target's Python, on a
    #: host whose Python is older, fails its check; it passed and was cached before; 3: the
    #: handler's module is found as Python's import system finds it, so a package
    #: ``app/`` shadowing ``app.py`` fails the check; 4: the import processes the `.pth`
    #: files of the site directories Lambda makes, and a layer's `python/lib/pythonX.Y`
    #: for another Python fails its check; 5: bytecode without its source is checked
    #: against python3.14's magic number too, and the static check finds a handler where a
    #: ``.pth`` path line puts it; 6: the files a local package installs are screened for
    #: secrets like the function's own; 7: the static check fails a handler module named
    #: like one the runtime has imported, or in a namespace package a layer's wins over;
    #: 8: a wheel's headers (``include/``) are dropped from the install; 9: uv installs
    #: in hash-checking mode when a requirement has ``--hash``, so an unhashed dependency
    #: installed and cached before fails, and a ``tests/`` or ``docs/`` package the installed
    #: code imports is no longer stripped; 10: of such a package, only the modules imported;
    #: 11: with their siblings reached by relative imports and the data beside them)
    VERSION: ClassVar[str] = "11"
    FAMILIES: ClassVar[frozenset[str]] = frozenset({"python"})
    #: the interpreter only changes which Python imports the handler, not the zip
    CHECK_OPTIONS: ClassVar[tuple[str, ...]] = ("interpreter",)

    @classmethod
    def options_model(cls) -> type[PythonOptions]:
        """``installer``, the index settings and ``interpreter`` (``options.PythonOptions``)."""
        from lambdaforge.builders.python.options import PythonOptions

        return PythonOptions

    @classmethod
    def default_requirements(cls, source: str, root: Path) -> str | None:
        """``<source>/requirements.txt`` when it exists (``pyproject.toml`` and ``uv.lock`` in
        the source directory are found by ``dependency_inputs`` itself)."""
        default = f"{source}/requirements.txt".removeprefix("./")
        return default if (root / default).is_file() else None

    @classmethod
    def handler_files(cls, handler: str) -> tuple[str, ...] | None:
        """``app.handler`` → ``app.py`` or ``app/__init__.py`` (``a.b.h`` → ``a/b.py``…)."""
        rel = handler.replace("/", ".").rpartition(".")[0].replace(".", "/")
        return (f"{rel}.py", f"{rel}/__init__.py") if rel else None

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner = runner or Runner()

    def dependency_inputs(
        self, settings: BuildSettings, source: str | None, project: Project
    ) -> DependencyInputs | None:
        """Canonical install inputs (see ``requirements.collect_dependency_inputs``)."""
        # requirements, install, dists and smoke import ``packaging`` and friends: a build
        # that only repackages sources imports none of them.
        from lambdaforge.builders.python.requirements import collect_dependency_inputs

        return collect_dependency_inputs(settings, source, project, self.runner, builder=self.NAME)

    def validate_inputs(self, spec: BuildSettings, project: Project) -> list[ConfigIssue]:
        """The dependency declaration read as a build reads it (every bad line, a stale
        uv.lock, poetry.lock or Pipfile.lock), and the handler's module present in the
        function's source or one of its layers (``handler.missing_handler_module``)."""
        from lambdaforge.builders.python.handler import missing_handler_module
        from lambdaforge.errors import ConfigError

        issues: list[ConfigIssue] = []
        try:
            self.dependency_inputs(spec, spec.source, project)
        except ConfigError as exc:
            issues += exc.issues
        handler = getattr(spec, "handler", None)
        if handler is not None and spec.source is not None:
            files = self.handler_files(handler) or ()
            layers = [project.layers[n].source for n in getattr(spec, "layers", ())
                      if n in project.layers and project.layers[n].source is not None]
            message = missing_handler_module(handler, files, project.root, spec.source, layers)
            if message:
                issues.append(handler_issue(spec, project, message))
        return issues

    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """``{"uv": "0.13.9"}`` or ``{"pip": "26.3"}``: the installer that will run."""
        installer = PythonSettings.of(settings).installer
        return {installer: tool_version(installer, self.runner)}

    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        """Install for the target into ``dest`` (see ``install.install_requirements``)."""
        from lambdaforge.builders.python.install import install_requirements

        return install_requirements(inputs, dest, ctx)

    def runtime_provided(
        self, inputs: DependencyInputs, dists: list[Distribution], settings: BuildSettings,
        runtime_packages: Sequence[str] = (),
    ) -> RuntimeProvidedChoice:
        """boto3 & co. to leave out: not pinned with ``==`` by the user, not asked for in a
        range the runtime's version is outside of (the version ``[check] runtime-packages``
        names, else ``lambda_facts``'), and needed by no kept distribution; and why each one
        kept stays (``dists.runtime_provided_choice``)."""
        from lambdaforge.lambda_facts import runtime_provided

        provided = runtime_provided(settings.runtime)
        if not any(d.name in provided for d in dists):
            # nothing to decide: spare a repackaging the ``packaging`` import
            return RuntimeProvidedChoice()
        from lambdaforge.builders.python.dists import runtime_provided_choice
        from lambdaforge.builders.python.requirements import RequirementSet

        from lambdaforge.builders.python.target import PythonTarget

        reqs = RequirementSet.of(inputs)
        env = PythonTarget.of(settings.runtime, settings.architecture).marker_environment()
        return runtime_provided_choice(dists, reqs.pinned, settings.runtime,
                                       reqs.provided_ranges, env, runtime_packages)

    def package_material(self, spec: BuildSettings, project: Project,
                         inputs: DependencyInputs | None = None) -> Mapping[str, object]:
        """The Python entries of ``[check] runtime-packages`` when the zip leaves the
        runtime's packages out and the requirements put a range on one of them: the
        configured versions decide which ranges the runtime meets."""
        from lambdaforge.runtime_packages import is_node_entry

        own = [e for e in project.check.runtime_packages if not is_node_entry(e)]
        if not own or not spec.exclude_runtime_provided or inputs is None:
            return {}
        from lambdaforge.builders.python.requirements import RequirementSet

        return {"runtime-packages": own} if RequirementSet.of(inputs).provided_ranges else {}

    def check_handler(
        self, artifact: Path, layer_zips: list[Path], handler: str, runtime: str,
        ctx: BuildContext | None = None,
    ) -> list[str]:
        """Static check: the handler module is at the zip root (or in a layer's ``python/``)
        and binds the function at module level (``handler.check_python_handler``)."""
        version = RUNTIMES[runtime].version if runtime in RUNTIMES else None
        with ExitStack() as stack:
            function = CodeTree.of_zip(stack.enter_context(zipfile.ZipFile(artifact)))

            def layers() -> list[CodeTree]:  # only read when the zip root lacks the module
                return [CodeTree.of_zip(stack.enter_context(zipfile.ZipFile(z)), layer_roots(version))
                        for z in layer_zips]

            return check_python_handler(handler, function, layers, python_version=version,
                                        reparse=_reparser(runtime, ctx))

    def check_layout(self, artifact: Path, kind: ArtifactKind, spec: BuildSettings) -> list[str]:
        """A layer's ``python/lib/pythonX.Y/site-packages`` for another Python than its
        runtime's holds nothing the runtime imports; a sourceless ``.pyc`` module compiled
        by another Python does not import either, nor a module a ``.pth`` finds on this
        machine only (``layout``)."""
        if spec.runtime not in RUNTIMES:
            return []
        from lambdaforge.builders.python.layout import (
            bytecode_problems,
            layer_layout_problems,
            pth_problems,
        )

        version = RUNTIMES[spec.runtime].version
        site_dirs = ([""] if kind == "function"
                     else [f"python/lib/python{version}/site-packages/", "python/"])
        with zipfile.ZipFile(artifact) as zf:
            problems = bytecode_problems(zf, version, spec.runtime)
            problems += pth_problems(zf, site_dirs)
            if kind == "layer":
                problems += layer_layout_problems(zf.namelist(), version, spec.runtime)
        return problems

    def check_reads_layers(self, spec: BuildSettings, packaged: Collection[str], *,
                           smoke: bool) -> bool:
        """The import reads everything; the static check reads a layer only when the
        handler's module is not in the function's own sources (the zip root comes first on
        ``sys.path``, ``check_python_handler`` looks there first), or is in a package,
        which may be a namespace package a layer's regular one wins over. The native-binary
        check reads the function zip alone."""
        handler = getattr(spec, "handler", None)
        if smoke or handler is None or not packaged:
            return True
        return "." in handler.replace("/", ".").rpartition(".")[0]

    def smoke_test(
        self, artifact: Path, layer_zips: list[Path], spec: BuildSettings, ctx: BuildContext
    ) -> SmokeResult:
        """Import the handler with an interpreter of the runtime's Python on the target's
        CPU, isolated, network blocked, Lambda's environment, the runtime's own packages
        (``runtime_install``) after the function and its layers (``smoke.smoke_test``);
        skipped when there is no such interpreter. When the runtime's packages cannot be
        installed the import still runs: a handler that needs them is then skipped with
        the reason, one that does not passes with a warning (not final: tried again)."""
        handler = getattr(spec, "handler", None)
        if handler is None:
            return SmokeResult(ok=True, skipped="a layer has no handler to import")
        from lambdaforge.builders.python.runtime_install import runtime_site_packages
        from lambdaforge.builders.python.smoke import SmokeStatus, find_interpreter, smoke_test
        from lambdaforge.lambda_env import check_variables
        from lambdaforge.toolcache import ToolCacheError

        target = PythonTarget.of(spec.runtime, spec.architecture)
        interpreter = PythonSettings.of(spec).interpreter
        python, reason = find_interpreter(target, ctx.runner, interpreter)
        if python is None:  # nothing to install the runtime's packages for
            return SmokeResult(ok=True, skipped=reason)
        runtime_paths: list[Path] = []
        unavailable = None
        try:
            runtime_paths.append(runtime_site_packages(spec, ctx, python))
        except ToolCacheError as exc:
            unavailable = str(exc)
        result = smoke_test(
            handler, artifact, layer_zips, target, ctx.runner,
            interpreter=interpreter, scratch=ctx.scratch,
            runtime_paths=runtime_paths, runtime_unavailable=unavailable,
            function_name=getattr(spec, "name", "smoke-test"),
            variables=check_variables(spec, ctx.project),
        )
        if result.status is SmokeStatus.SKIPPED:
            return SmokeResult(ok=True, skipped=result.message)
        if result.status is SmokeStatus.FAILED:
            return SmokeResult(ok=False, import_ms=result.import_ms, error=result.message)
        warnings = () if unavailable is None else (
            f"the runtime's own packages could not be installed, the import ran without them "
            f"(it did not need them): {unavailable}",)
        return SmokeResult(ok=True, import_ms=result.import_ms, warnings=warnings,
                           partial=unavailable is not None)

    def smoke_material(self, spec: BuildSettings, project: Project) -> Mapping[str, object]:
        """The runtime's own package list the smoke test installs (``[check]
        runtime-packages`` or ``lambda_facts``): changing it re-runs the checks."""
        from lambdaforge.runtime_packages import python_requirements

        return {"runtime-packages": list(python_requirements(spec.runtime,
                                                             project.check.runtime_packages))}

    def tool_paths(self) -> set[str]:
        """The uv binary (pip runs inside lambdaforge's own interpreter, watched already)."""
        from lambdaforge.builders.python.tools import uv_binary

        return {os.path.realpath(uv_binary())}

    def install_only_paths(self, inputs: DependencyInputs) -> tuple[str, ...]:
        """The project's ``find-links`` folders and the wheel or sdist files named by path:
        the installer reads them, nothing at run time (a function shipping its
        ``wheels/`` doubled its zip)."""
        from lambdaforge.builders.python.requirements import PROJECT_PLACEHOLDER

        prefix = PROJECT_PLACEHOLDER + "/"
        found = []
        for key, value in inputs.canonical:
            text = value.split(" --hash=")[0].split(" @ ")[-1].split(";")[0].strip()
            if not text.startswith(prefix):
                continue
            if key == "find-links" or (key == "requirement" and text.endswith((".whl", ".tar.gz", ".zip"))):
                found.append(text[len(prefix):])
        return tuple(found)

    def dependency_prefix(self, kind: ArtifactKind) -> str:
        """Functions: the zip root (``/var/task`` is on ``sys.path``); layers: ``python/``."""
        return "" if kind == "function" else "python/"

    def keyed_variables(self, names: Sequence[str]) -> tuple[str, ...]:
        """The version variables of local packages (``local.VERSION_VARIABLES``): a local
        package whose version comes from version control is built from a copy without
        ``.git``, and ``SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COMMON`` makes its wheel."""
        from lambdaforge.builders.python.local import is_version_variable

        return tuple(n for n in names if is_version_variable(n))

    def spared_from_strip(self, names: Collection[str],
                          removed_directory: Callable[[str], str | None],
                          read: Callable[[str], bytes]) -> dict[str, list[str]]:
        """The modules under a removed directory (``tests/``, ``docs/``) that the code that
        stays imports (``imports.spared_modules``): astropy's ``tests.runner``, botocore's
        ``docs.docstring``, numpy's ``_core.tests._natype``."""
        from lambdaforge.builders.python.imports import spared_modules

        return spared_modules(names, removed_directory, read)

    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        """Functions: the zip root. Layers: ``python/``, unless the source already has a
        top-level ``python/`` directory (the layout AWS documents), then as laid out."""
        if kind == "function" or "python" in source_names:
            return ""
        return "python/"


_PARSE = ("import ast, sys\n"
          "try:\n"
          "    ast.parse(sys.stdin.buffer.read(), filename=sys.argv[1])\n"
          "except SyntaxError as exc:\n"
          "    print(f'{exc.msg} (line {exc.lineno})')\n")


def _reparser(runtime: str, ctx: BuildContext | None):  # type: ignore[no-untyped-def]
    """``handler.Reparse`` with an interpreter of the runtime's Python (found as the smoke
    test finds one, any CPU: parsing is the same everywhere); ``None`` without a runner."""
    if ctx is None or runtime not in RUNTIMES:
        return None

    def reparse(source: bytes, path: str) -> str | None:
        import platform

        from lambdaforge.builders.python.smoke import find_interpreter

        host = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
        python, _ = find_interpreter(PythonTarget.of(runtime, host), ctx.runner)
        if python is None:
            return None
        result = ctx.runner.run([python, "-I", "-S", "-c", _PARSE, path],
                                input=source.decode("utf-8", "surrogateescape"), timeout=60)
        return result.stdout.strip() if result.ok else None

    return reparse
