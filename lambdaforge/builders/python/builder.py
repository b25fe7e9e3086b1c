"""``PythonBuilder``: the Python ecosystem's implementation of the ``Builder`` interface.

Thin on purpose: each job lives in its own module (``requirements`` → inputs,
``install`` → installed tree, ``dists`` → cleanup and exclusion rules, ``handler`` and
``smoke`` → checks); this class wires them to the interface the pipeline calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from lambdaforge.builders.base import (
    ArtifactKind,
    BuildContext,
    Builder,
    DependencyInputs,
    InstallResult,
)
from lambdaforge.builders.python.install import install_requirements
from lambdaforge.builders.python.requirements import collect_dependency_inputs
from lambdaforge.builders.python.tools import tool_version
from lambdaforge.config.models import BuildSettings, Project
from lambdaforge.runner import Runner


class PythonBuilder(Builder):
    """Installs Python dependencies for a Lambda runtime and lays out functions and layers.

    ``runner`` runs ``uv export`` (while reading a ``uv.lock``) and ``uv/pip --version``,
    which happen before any ``BuildContext`` exists; installs use the context's runner.
    """

    NAME: ClassVar[str] = "python"
    #: bump when a change here changes installed trees (cleanup rules, flags, layout)
    VERSION: ClassVar[str] = "1"
    FAMILY: ClassVar[str] = "python"

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner = runner or Runner()

    def dependency_inputs(
        self, settings: BuildSettings, source: str | None, project: Project
    ) -> DependencyInputs | None:
        """Canonical install inputs (see ``requirements.collect_dependency_inputs``)."""
        return collect_dependency_inputs(settings, source, project, self.runner, builder=self.NAME)

    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """``{"uv": "0.13.9"}`` or ``{"pip": "26.3"}``: the installer that will run."""
        return {settings.installer: tool_version(settings.installer, self.runner)}

    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        """Install for the target into ``dest`` (see ``install.install_requirements``)."""
        return install_requirements(inputs, dest, ctx)

    def dependency_prefix(self, kind: ArtifactKind) -> str:
        """Functions: the zip root (``/var/task`` is on ``sys.path``); layers: ``python/``."""
        return "" if kind == "function" else "python/"

    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        """Functions: the zip root. Layers: ``python/``, unless the source already has a
        top-level ``python/`` directory (the layout AWS documents), then as laid out."""
        if kind == "function" or "python" in source_names:
            return ""
        return "python/"
