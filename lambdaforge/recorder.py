"""The recorder: what a build leaves for the next one and for the user.

After the executor has run, the recorder writes, in this order: the last-build state (one
record per target that succeeded: its key material and typed output), ``manifest.json`` (the
artifacts, their sizes and digests), and the replay record (what the planner observed,
``lambdaforge.replay``). It also keeps ``.forge/build`` honest: the zip of an artifact that
failed a blocking check is removed, as are zips of functions and layers no longer in the
config, so nothing there is ever a zip a build did not vouch for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from lambdaforge import observe, replay
from lambdaforge.builders.base import Builder
from lambdaforge.config.specs import Project
from lambdaforge.executor import Status, TargetResult
from lambdaforge.graph import Target, TargetKind
from lambdaforge.manifest import ArtifactRecord, load_manifest, render_manifest, write_if_changed
from lambdaforge.outputs import PackageOutput, observations_of
from lambdaforge.planner import PlannedTarget
from lambdaforge.state import BuildState


class Recorder:
    """Writes state, manifest and replay record for one build of one project."""

    def __init__(self, project: Project, state: BuildState) -> None:
        self.project = project
        self.state = state
        #: what the recorder removed, for the user
        self.notes: list[str] = []

    def record_state(self, planned: Mapping[str, PlannedTarget],
                     results: Mapping[str, TargetResult]) -> None:
        """Remember what this build made, for the next build's decisions and for
        ``forge explain``; a target that failed keeps no record of a passed verdict."""
        for tid, r in results.items():
            if r.status in (Status.BUILT, Status.CACHED) and r.output is not None:
                self.state.set(tid, planned[tid].material, r.output.to_json())
            elif r.status is Status.FAILED and planned[tid].target.kind is TargetKind.CHECK:
                self.state.forget(tid)
        self.state.save()

    def write_manifest(self, planned: Mapping[str, PlannedTarget],
                       results: Mapping[str, TargetResult]) -> Path:
        """Update ``manifest.json`` with this build's artifacts (keeping those of functions
        and layers not selected this time); drop, with their zips, artifacts that failed a
        blocking check and those no longer in the config. Rewritten only when it changes."""
        path = self.project.build_dir / "manifest.json"
        existing = load_manifest(path)
        artifacts = existing.artifacts
        # A layer referenced by ARN is deployed by nobody here: its stand-in is no artifact.
        known = ({f"function:{n}" for n in self.project.functions}
                 | {f"layer:{n}" for n, spec in self.project.layers.items() if spec.arn is None})
        config = self.project.config_file.name
        if existing.config in (config, None):
            # Renamed or removed since this config's last build: their zips go too. (Zips
            # another config file in this directory built are not this build's to judge.)
            for tid in sorted(set(artifacts) - known):
                self._remove_zip(tid, f"no {tid.replace(':', ' named ', 1)} in {config}")
        artifacts = {k: v for k, v in artifacts.items() if k in known}
        for tid, r in results.items():
            t = planned[tid].target
            output = r.output
            if (not t.is_package or not r.status.ok or not isinstance(output, PackageOutput)
                    or tid not in known):
                continue
            artifacts[tid] = _artifact_record(t, output, r.key or "", self.project)
        for tid, r in results.items():
            t = planned[tid].target
            if t.kind is TargetKind.CHECK and r.status is Status.FAILED and t.checks:
                artifacts.pop(t.checks, None)
                self._remove_zip(t.checks, "it failed its checks")
            elif t.is_package and not r.status.ok:
                # The zip there was made from other inputs: no build vouches for it now.
                artifacts.pop(tid, None)
                self._remove_zip(tid, "its build failed" if r.status is Status.FAILED
                                 else f"it was not built ({'; '.join(r.reasons)})")
        write_if_changed(path, render_manifest(self.project.name, artifacts, config),
                         existing.text)
        return path

    def _remove_zip(self, target_id: str, why: str) -> None:
        kind, _, name = target_id.partition(":")
        zip_path = self.project.artifact_path(kind, name)
        if zip_path.exists():
            zip_path.unlink()
            rel = zip_path.relative_to(self.project.root).as_posix()
            self.notes.append(f"removed {rel}: {why}")

    def write_replay(self, identity: Mapping[str, object], reference_ns: int,
                     planned: Mapping[str, PlannedTarget], results: Mapping[str, TargetResult],
                     builders: list[Builder], manifest: Path,
                     kept: Mapping[str, list] | None = None,
                     kept_project: list | None = None) -> dict[str, list]:
        """Write the replay record of a fully successful build; returns its groups.

        Per target: what the planner read to key it and the outputs it found or wrote;
        ``"project"``: what every target depends on (config files and discover listings as
        loaded, the environment, the tools and lambdaforge's own modules: an upgrade or an
        edited editable install may change outputs) and the manifest. ``kept``: groups an
        incremental build carries over unchanged (every target it did not re-plan);
        ``kept_project``: the last record's project group, which an incremental build found
        holding (only the manifest's observation is taken afresh)."""
        groups: dict[str, list] = dict(kept or {})
        root = os.fspath(self.project.root)
        for tid, p in planned.items():
            if kept is not None and tid in kept:
                continue
            # The planner read the target's state record too: damaged, it decides otherwise.
            state_file = os.path.relpath(self.state.file_for(tid), root).replace(os.sep, "/")
            group = [*p.observed, observe.observe_path(state_file, root)]
            if p.action is not Status.UP_TO_DATE:  # UP_TO_DATE: the planner's has them
                group += observations_of(results[tid].output)
            groups[tid] = group
        manifest_path = manifest.relative_to(self.project.root).as_posix()
        if kept_project is not None:
            project = [o for o in kept_project if not (o[0] == "o" and o[1] == manifest_path)]
        else:
            tools = {os.path.realpath(sys.executable)}
            for builder in builders:  # once per builder: tool_paths scans PATH
                tools.update(builder.tool_paths())
            tools.update(str(p) for p in Path(__file__).resolve().parent.rglob("*.py"))
            tools.update(_library_modules("pathspec"))
            project = [*self.project.observed, *observe.watched_env()]
            project += [o for o in map(observe.tool_obs, sorted(tools)) if o is not None]
        manifest_obs = observe.output_obs(manifest_path, root)
        if manifest_obs is not None:
            project.append(manifest_obs)
        replay.record(self.project.state_dir, identity, reference_ns, project, groups,
                      f"{len(groups)} up-to-date")
        return {**groups, "project": project}


def _library_modules(name: str) -> list[str]:
    """The module files of an installed library whose behaviour the packages depend on
    without it being in their keys: pathspec, whose compiled strip patterns the plan cache
    keeps (``strip.remember``). Upgrading it must re-plan, as an upgrade of lambdaforge does."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None:
        return []
    return [str(p) for d in spec.submodule_search_locations or ()
            for p in Path(d).resolve().rglob("*.py")]


def _artifact_record(t: Target, output: PackageOutput, key: str,
                     project: Project) -> ArtifactRecord:
    spec = t.spec
    assert spec is not None
    layers = list(getattr(spec, "layers", ()))
    arns = {n: project.layers[n].arn for n in layers
            if n in project.layers and project.layers[n].arn is not None}
    return ArtifactRecord(
        name=t.name,
        kind=t.kind.value,
        runtime=spec.runtime,
        architecture=spec.architecture,
        handler=getattr(spec, "handler", None),
        layers=layers,
        path=output.path,
        size=output.size,
        unzipped_size=output.unzipped_size,
        sha256=output.sha256,
        code_sha256=output.code_sha256,
        key=key,
        layer_arns=arns,  # type: ignore[arg-type]
    )
