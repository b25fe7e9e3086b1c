"""Builder classes that entry points in the plugin tests point at (good ones and broken ones)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from lambdaforge.builders.base import ArtifactKind, Builder, BuildContext, DependencyInputs, InstallResult
from lambdaforge.config.models import BuilderOptions, BuildSettings, Project


class FlavourOptions(BuilderOptions):
    """The fake builder's one option."""

    flavour: Literal["plain", "spicy"] = Field("plain", description="How it tastes.")


class FakeBuilder(Builder):
    """A complete builder for provided.* runtimes that installs nothing."""

    NAME = "fake"
    VERSION = "1"
    FAMILIES = frozenset({"provided"})

    @classmethod
    def options_model(cls) -> type[FlavourOptions]:
        return FlavourOptions

    def dependency_inputs(self, settings: BuildSettings, source: str | None,
                          project: Project) -> DependencyInputs | None:
        return None

    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        return {}

    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        return InstallResult()

    def dependency_prefix(self, kind: ArtifactKind) -> str:
        return ""

    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        return ""


class MisnamedBuilder(FakeBuilder):
    """Its NAME is not its entry point's name."""

    NAME = "other"


class UnversionedBuilder(FakeBuilder):
    """VERSION is not a string."""

    VERSION = 1  # type: ignore[assignment]


class HalfBuilder(Builder):
    """Implements none of the abstract methods."""

    NAME = "half"
    VERSION = "1"


class NotABuilder:
    """Has the attributes but not the base class."""

    NAME = "notone"
    VERSION = "1"


class RuntimeOptions(BuilderOptions):
    """An option that reuses a core key."""

    runtime: str = Field("x", description="Clashes with the core `runtime`.")


class ClashingBuilder(FakeBuilder):
    """Declares an option named like a core setting."""

    NAME = "clash"

    @classmethod
    def options_model(cls) -> type[RuntimeOptions]:
        return RuntimeOptions
