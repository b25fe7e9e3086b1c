"""The Node.js builder: npm installs for the Lambda platform, optional esbuild bundling,
layer layout and handler checks, behind the ``Builder`` interface. See DESIGN.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lambdaforge.builders.base import (
    ArtifactKind,
    Builder,
    BuildContext,
    DependencyInputs,
    Distribution,
    InstallResult,
    RuntimeProvidedChoice,
    SmokeResult,
    handler_issue,
)
from lambdaforge.builders.node import (
    bundle, handler as handlers, install, layout, lockfile, managers, packlist, trees,
)
from lambdaforge.builders.node.settings import NodeSettings
from lambdaforge.builders.node.tools import NodeToolchain, detect_toolchain, find_node
from lambdaforge.config.specs import BuildSettings, FunctionSpec, LayerSpec, Project, StripRules
from lambdaforge.errors import BuildError, ConfigError, ConfigIssue
from lambdaforge.lambda_facts import NODE_RUNTIME_PROVIDED_PREFIXES, RUNTIMES
from lambdaforge.runner import Runner
from lambdaforge.statcache import sha256_file

if TYPE_CHECKING:
    from lambdaforge.builders.node.options import NodeOptions

#: An exact npm version (``3.500.0``), as opposed to a range: the Node.js form of the
#: explicit ``==`` pin that keeps a runtime-provided package (the AWS SDK) in the zip.
_EXACT_VERSION = re.compile(r"^=?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


def _declared(package: Mapping[str, Any]) -> dict[str, str]:
    """The ``dependencies`` and ``optionalDependencies`` of a parsed package.json."""
    declared: dict[str, str] = {}
    for key in ("dependencies", "optionalDependencies"):
        value = package.get(key)
        if isinstance(value, Mapping):
            declared.update({str(k): str(v) for k, v in value.items()})
    return declared


def sdk_ranges_unmet(package: Mapping[str, Any], runtime: str,
                     runtime_packages: Sequence[str] = ()) -> dict[str, str]:
    """Each ``@aws-sdk/*`` package whose declared range the SDK version the runtime ships
    is outside of, with why: the runtime's copy is not what the function asked for (one
    newer than it is not there at all), so it must ship (unbundled) or be bundled. What
    the runtime ships is ``lambda_facts.NODE_SDK_VERSIONS``' version (where one is known),
    with the Node.js entries of ``runtime_packages`` (``[check] runtime-packages``) over it,
    as for the import smoke test."""
    from lambdaforge.builders.node.semver import allows
    from lambdaforge.runtime_packages import node_sdk

    sdk = node_sdk(runtime, runtime_packages)
    default = node_sdk(runtime)
    out: dict[str, str] = {}
    for name, spec in _declared(package).items():
        if not name.startswith("@aws-sdk/") or _EXACT_VERSION.match(spec):
            continue
        configured = sdk.pins.get(name) or sdk.version
        known = default.version
        # a configured range says what is installed to test with, not which version it is
        shipped = configured if configured and _EXACT_VERSION.match(configured) else known
        if not shipped or allows(spec, shipped) is not False:
            continue
        where = "" if shipped == known else " ([check] runtime-packages)"
        out[name] = f"package.json requires {spec}; the {runtime} runtime has {shipped}{where}"
    return out


def _bundles_sdk(source_dir: Path, runtime: str, ctx: BuildContext) -> bool:
    """Whether a bundle takes the AWS SDK in rather than leaving ``@aws-sdk/*`` to the
    runtime: when package.json declares an SDK range the runtime's SDK is outside of (the
    client and the ``@aws-sdk/*`` packages it needs must then come at the declared version
    together). Said in the target's warnings, with the size it costs in mind."""
    try:
        package = json.loads((source_dir / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    unmet = sdk_ranges_unmet(package if isinstance(package, dict) else {}, runtime,
                             ctx.project.check.runtime_packages)
    if unmet:
        name, why = sorted(unmet.items())[0]
        ctx.warnings.append(f"the AWS SDK is bundled, not left to the runtime: {name}: {why}")
    return bool(unmet)


class NodeBuilder(Builder):
    """Builds ``nodejs20.x``/``22.x``/``24.x`` functions and layers with npm (and esbuild)."""

    NAME = "node"
    #: bump when a change here changes installed trees or the checks' verdicts (2: a handler
    #: file whose module system is not the one Lambda loads it with fails its check: CommonJS
    #: exports under "type": "module", ES module syntax in a file loaded as CommonJS; and an
    #: @aws-sdk/* range the runtime's SDK version is outside of keeps the package; 3: a layer
    #: laid out as nodejs/ with no package.json ships its nodejs/node_modules/; 4: a
    #: workspace member a function depends on is laid out as `npm pack` packs it, and the
    #: files of members and `file:` directories are screened for secrets; 5: the staged
    #: .npmrc's tree-shaping settings are keyed, and installs cached while they were not, under
    #: a key that now means "no such setting", may hold a tree made with one; and prebuilt
    #: addons for other platforms (node-gyp-build's prebuilds/) are left out of installs)
    VERSION = "5"
    FAMILIES = frozenset({"nodejs"})

    def __init__(self, runner: Runner | None = None) -> None:
        # Version probes only; installs and bundles use the build context's runner.
        self._runner = runner or Runner()
        self._toolchain: NodeToolchain | None = None
        self._tools: dict[tuple[str, str], tuple[str, str]] = {}

    @classmethod
    def handler_files(cls, handler: str) -> tuple[str, ...] | None:
        """``index.handler`` → ``index.js``, ``.mjs``, ``.cjs``, a TypeScript entry (``.ts``,
        ``.mts``, ``.cts``) that bundling compiles, or a folder the runtime up to Node.js 22
        loads by requiring it (``handlers.handler_file``): its ``index/index.js``, or the
        ``main`` its ``index/package.json`` names (whether that file is there, and loads, is
        the check's to say, loudly)."""
        from lambdaforge.builders.node.bundle import ENTRY_EXTENSIONS

        module = handler.rpartition(".")[0]
        if not module:
            return None
        return (*(module + ext for ext in ENTRY_EXTENSIONS), f"{module}/index.js",
                f"{module}/package.json")

    @classmethod
    def options_model(cls) -> type[NodeOptions]:
        """Bundling with esbuild and npm's script policy (``options.NodeOptions``)."""
        from lambdaforge.builders.node.options import NodeOptions

        return NodeOptions

    # ------------------------------------------------------------------ toolchain

    def toolchain(self) -> NodeToolchain:
        """The local node and npm (probed once per builder)."""
        if self._toolchain is None:
            self._toolchain = detect_toolchain(self._runner)
        return self._toolchain

    def tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """node and npm: what an install runs."""
        tc = self.toolchain()
        return {"node": tc.node, "npm": tc.npm}

    def package_tool_versions(self, settings: BuildSettings) -> Mapping[str, str]:
        """esbuild's pinned version when the function is bundled (not in the install key:
        a bundled and an unbundled function share one install), else npm's: it decides
        what ships of a source with a ``files`` list or ``.npmignore`` (``packlist``)."""
        if isinstance(settings, FunctionSpec) and NodeSettings.of(settings).bundle == "esbuild":
            return {"esbuild": bundle.ESBUILD_VERSION}
        return {"npm": self.toolchain().npm}

    # ------------------------------------------------------------------ dependencies

    def package_json(self, settings: BuildSettings, source: str | None, project: Project) -> str | None:
        """Project-relative path of the package.json that defines the install, if any:
        ``requirements`` when set (a package.json or its directory), else the source's."""
        if settings.requirements:
            req = settings.requirements
            if project.path(req).is_dir():
                req = str(PurePosixPath(req) / "package.json")
            if PurePosixPath(req).name != "package.json":
                raise ConfigError(ConfigIssue(
                    req, None, "",
                    "`requirements` of a Node.js function or layer must name a package.json "
                    "(or its directory)",
                ))
            return req
        if source is None:
            return None
        src_dir = project.path(source)
        if isinstance(settings, LayerSpec):
            src_dir = layout.package_dir_of_layer(src_dir)
        candidate = src_dir / "package.json"
        return candidate.relative_to(project.root).as_posix() if candidate.is_file() else None

    def dependency_inputs(
        self, settings: BuildSettings, source: str | None, project: Project
    ) -> DependencyInputs | None:
        """package.json + lockfile (canonical), the platform and script policy; ``None``
        without production dependencies. A missing lockfile is an error naming the fix."""
        path = self.package_json(settings, source, project)
        if path is None:
            return None
        manifest = lockfile.load_manifest(project.root, path)
        if manifest is None:
            return None
        canonical = {
            "installer": manifest.manager,
            "package.json": manifest.package_json,
            "package-lock.json": manifest.lockfile,
            "lockfile-name": manifest.lockfile_name,
            "omit": "dev",
            "scripts": "allow" if NodeSettings.of(settings).allow_scripts else "ignore",
            "platform": " ".join(install.platform_flags(settings.architecture)),
            **dict(manifest.extra),
        }
        if manifest.manager in managers.MANAGERS and manifest.manager != "npm":
            # the tool's identity: another pnpm or yarn may lay out another tree
            manager = managers.MANAGERS[manifest.manager]
            canonical["tool"] = f"{manager.tool} {self._tool(manager)[1]}"
        if manifest.base is not None:
            canonical["base"] = manifest.base
        here = PurePosixPath(path).parent
        declared_by = manifest.lockfile_path or str(here / manifest.lockfile_name)
        settings_text = _staged_npmrc(manifest.manager, declared_by, project)
        if settings_text:
            # the .npmrc the install stages: its tree-shaping settings, never its tokens
            canonical["npmrc"] = settings_text
        read = (path, declared_by, str(here / ".npmrc"), *manifest.watched)
        return DependencyInputs(
            builder=self.NAME,
            runtime=settings.runtime,
            architecture=settings.architecture,
            canonical=tuple(sorted(canonical.items())),
            files=manifest.local_files,
            directories=manifest.local_dirs,
            # read to make `canonical`: the no-op fast path watches them wherever they live
            watched=tuple(sorted({p for p in read if (project.root / p).is_file()})),
            # the lockfile the install follows names the install target (graph.install_id)
            declared_by=declared_by,
        )

    def _tool(self, manager: managers.Manager) -> tuple[str, str]:
        """The executable and version of pnpm or yarn for ``manager`` (probed once per
        executable); an error naming the tool and how to install it when it is missing."""
        executable = managers.find_tool(manager)
        key = (manager.name, executable)
        if key not in self._tools:
            self._tools[key] = (executable, managers.tool_version(manager, executable, self._runner))
        return self._tools[key]

    def validate_inputs(self, spec: BuildSettings, project: Project) -> list[ConfigIssue]:
        """Every problem of the package.json and lockfile that define the install (missing
        or stale lockfile, links, lockfileVersion 1…) and warnings, each with its fix
        (``lockfile.manifest_issues``); a pnpm or Yarn lockfile whose tool is missing (or
        is the wrong Yarn) too; and a handler file that is not in the source (a TypeScript
        entry only when the function is bundled: Lambda runs JavaScript)."""
        handler_problems = self._missing_handler(spec, project)
        try:
            path = self.package_json(spec, spec.source, project)
        except ConfigError as exc:
            return [*exc.issues, *handler_problems]
        if path is None:
            return handler_problems
        manifest, issues = lockfile.inspect(project.root, path)
        issues = [*issues, *handler_problems]
        manager = managers.MANAGERS.get(manifest.manager) if manifest is not None else None
        if manager is not None and manager is not managers.NPM:
            try:
                self._tool(manager)
            except BuildError as exc:
                issues.append(ConfigIssue(manifest.lockfile_path, None, "", str(exc)))
        return issues

    def _missing_handler(self, spec: BuildSettings, project: Project) -> list[ConfigIssue]:
        """The handler file missing from the function's source, as ``forge build`` would
        find it missing from the zip (``forge validate`` said ok, the build failed)."""
        handler = getattr(spec, "handler", None)
        if not isinstance(handler, str) or spec.source is None:
            return []
        candidates = self.handler_files(handler)
        if not candidates:
            return []
        source = project.path(spec.source)
        typescript = tuple(c for c in candidates if c.endswith((".ts", ".mts", ".cts")))
        bundled = NodeSettings.of(spec).bundle != "none"
        present = [c for c in candidates if (source / c).is_file()]
        if any(c not in typescript or bundled for c in present):
            return []
        if present:
            return [handler_issue(spec, project, (
                f"`{handler}`: {present[0]} is TypeScript, which Lambda does not run: set "
                '`bundle = "esbuild"` to compile it, or build it to JavaScript first'))]
        wanted = [c for c in candidates if c not in typescript or bundled]
        shown = ", ".join(wanted[:-1]) + f" or {wanted[-1]}" if len(wanted) > 1 else wanted[0]
        return [handler_issue(spec, project, f"`{handler}`: no {shown} in `{spec.source}`")]

    def install(self, inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
        """``npm ci --omit=dev`` for the target platform into ``dest`` (node_modules content)."""
        return install.install_tree(inputs, dest, ctx)

    def runtime_provided(
        self, inputs: DependencyInputs, dists: list[Distribution], settings: BuildSettings,
        runtime_packages: Sequence[str] = (),
    ) -> RuntimeProvidedChoice:
        """The AWS SDK v3 (``@aws-sdk/*``, ``@smithy/*``) the runtime ships, unless the
        package.json pins it to an exact version, or declares a range the runtime's SDK
        version (``lambda_facts.NODE_SDK_VERSIONS``, where one is known) is outside of
        (``^3.600.0`` on nodejs20.x, which has 3.462.0: a client newer than the runtime's is
        not there at all), which keeps it and what it requires. Each package kept is noted,
        with the count of SDK packages it keeps along."""
        canonical = dict(inputs.canonical)
        # a workspace member's own declarations, not the workspace root's
        package = json.loads(canonical.get("member-package.json", canonical["package.json"]))
        why = {name: "pinned to an exact version in package.json"
               for name, spec in _declared(package).items()
               if name.startswith(NODE_RUNTIME_PROVIDED_PREFIXES) and _EXACT_VERSION.match(str(spec))}
        why.update(sdk_ranges_unmet(package, settings.runtime, runtime_packages))
        pinned = list(why)
        keep = {d.name for d in install.closure(dists, pinned)}
        dropped = {d.name for d in dists
                   if d.name.startswith(NODE_RUNTIME_PROVIDED_PREFIXES)
                   and "/node_modules/" not in d.name and d.name not in keep}
        kept: dict[str, str] = {}
        for root in sorted(n for n in pinned if n in keep):
            along = sum(1 for d in install.closure(dists, [root])
                        if d.name != root and d.name.startswith(NODE_RUNTIME_PROVIDED_PREFIXES))
            kept[root] = why[root] + (
                f" (with the {along} SDK packages it requires)" if along else "")
        # Nested copies inside a dropped package go with it.
        nested = {d.name for d in dists
                  if any(d.name.startswith(p + "/node_modules/") for p in dropped)}
        return RuntimeProvidedChoice(frozenset(dropped | nested), kept)

    # ------------------------------------------------------------------ layout

    def dependency_prefix(self, kind: ArtifactKind) -> str:
        """``node_modules/`` in a function, ``nodejs/node_modules/`` in a layer."""
        return layout.dependency_prefix(kind)

    def source_prefix(self, kind: ArtifactKind, source_names: frozenset[str]) -> str:
        """Function code at the root; layer code under ``nodejs/node_modules/`` unless laid out."""
        return layout.source_prefix(kind, source_names)

    def tool_paths(self) -> set[str]:
        """``node`` and ``npm`` as found on PATH (PATH itself is watched too), and the pnpm
        and yarn an install would run (``FORGE_PNPM``… or PATH)."""
        found = [shutil.which(tool) for tool in ("node", "npm", "pnpm", "yarn")]
        found += [os.environ.get(var) for m in managers.MANAGERS.values() for var in m.env]
        return {os.path.realpath(p) for p in found if p}

    def source_excludes(self, spec: BuildSettings | None = None,
                        source_dir: Path | None = None) -> tuple[str, ...]:
        """The developer's own ``node_modules/`` never counts: dependencies come from the
        install target, built for Lambda from the lockfile; nor does Yarn berry's install
        state (``.yarn/`` cache and releases, Plug'n'Play files). A layer laid out the AWS
        way with no ``nodejs/package.json`` installs nothing: its ``nodejs/node_modules/``
        (and ``nodejs/nodeNN/node_modules/``) is its content, only a top-level
        ``node_modules/`` is left out (``layout.vendored_layer``)."""
        if (isinstance(spec, LayerSpec) and source_dir is not None
                and layout.vendored_layer(source_dir)):
            return ("/node_modules/", ".yarn/", ".pnp.cjs", ".pnp.loader.mjs")
        return ("node_modules/", ".yarn/", ".pnp.cjs", ".pnp.loader.mjs")

    def extra_strip_rules(self, settings: BuildSettings) -> list[StripRules]:
        """The ``standard`` preset gains the Node.js flavour (``*.md``, ``*.d.ts``,
        ``__tests__/``…); source maps stay when ``sourcemap`` is on."""
        if "standard" not in settings.strip:
            return []
        from lambdaforge.packaging.strip import BUILT_IN_RULE_SETS

        rules = BUILT_IN_RULE_SETS["node-standard"]
        if NodeSettings.of(settings).sourcemap:
            rules = rules.model_copy(update={"exclude": tuple(p for p in rules.exclude if p != "*.map")})
        return [rules]

    def ships_install(self, spec: FunctionSpec | LayerSpec) -> bool:
        """Whether the install target's tree goes into the zip. Not for a bundled function:
        its dependencies are inside the bundle, and ``prepare_sources`` adds the externals."""
        return not (isinstance(spec, FunctionSpec) and NodeSettings.of(spec).bundle == "esbuild")

    def prepare_sources(
        self,
        spec: FunctionSpec | LayerSpec,
        project: Project,
        ctx: BuildContext,
        out_dir: Path,
        installed: Path | None = None,
    ) -> Path | None:
        """A directory whose content replaces the source directory in the zip, or ``None``
        to use the source directory unchanged.

        Unbundled function: the sources minus their ``node_modules``, or, when package.json
        has ``files`` or there is a ``.npmignore``, what ``npm pack`` would pack
        (``packlist``; a package layer and loose layer files too). Bundled function: the
        bundle, plus ``node_modules/`` holding the ``external`` packages (and what they
        require) from ``installed`` — the install target's tree, as a directory or a zip of
        it; when not given, this installs by itself. A zip is extracted once per install
        into the tool cache (``trees``, keyed by ``ctx.install_key``, else by the zip's
        sha256) and reused by every later bundle. Layer: laid out as ``layout`` describes.
        """
        if spec.source is None:
            return None
        source_dir = project.path(spec.source)
        if isinstance(spec, LayerSpec):
            laid_out = (source_dir / "nodejs").is_dir()
            return layout.prepare_layer_sources(
                source_dir, spec.name, out_dir, None if laid_out else _packed(source_dir, ctx))
        options = NodeSettings.of(spec)
        if options.bundle != "esbuild":
            return layout.prepare_function_sources(source_dir, out_dir, _packed(source_dir, ctx))

        bundle_sdk = _bundles_sdk(source_dir, spec.runtime, ctx)

        def bundle_with(node_modules: Path | None) -> tuple[Path, list[str]]:
            shutil.rmtree(out_dir, ignore_errors=True)  # a job may run again (trees)
            out_dir.mkdir(parents=True)
            made = bundle.bundle_handler(source_dir, spec.handler, options, spec.runtime, out_dir,
                                         ctx, node_modules=node_modules, bundle_sdk=bundle_sdk,
                                         files=ctx.source_files)
            copied = (self._copy_externals(options.external, node_modules, out_dir / "node_modules")
                      if node_modules is not None else [])
            return out_dir, [*made.dependency_inputs, *copied]

        if installed is not None and installed.is_file():
            # The install target's output stored as a zip of the node_modules content.
            key = ctx.install_key or sha256_file(installed)
            return trees.run_with_tree(ctx.tool_cache / trees.STORE, installed, key, bundle_with,
                                       ctx.warnings.append)
        if installed is not None:
            return bundle_with(installed)[0]
        inputs = self.dependency_inputs(spec, spec.source, project)
        if inputs is None:
            return bundle_with(None)[0]
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        own_install = Path(tempfile.mkdtemp(prefix="node-deps-", dir=ctx.scratch))
        try:
            self.install(inputs, own_install, ctx)
            return bundle_with(own_install)[0]
        finally:
            shutil.rmtree(own_install, ignore_errors=True)

    @staticmethod
    def _copy_externals(external: tuple[str, ...], installed: Path, dest: Path) -> list[str]:
        """Copy the installed ``external`` packages and their closure to ``dest``; returns
        the files copied, relative to ``installed``. The tree is walked only when an
        external package is installed at all (the AWS SDK never ships)."""
        roots = bundle.external_packages(external, _top_level_packages(installed))
        if not roots:
            return []
        copied = []
        for dist in install.closure(install.distributions(installed), roots):
            for rel in dist.files:
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(installed / rel, target)
                copied.append(rel)
        return copied

    # ------------------------------------------------------------------ checks

    def check_handler(
        self, artifact: Path, layer_zips: list[Path], handler: str, runtime: str,
        ctx: BuildContext | None = None,
    ) -> list[str]:
        """The handler file exists at the zip root and exports the function: by a static
        check, confirmed (or refuted) by importing it when the local Node major matches."""
        try:
            module, _ = handlers.split_handler(handler)
        except ValueError as exc:
            return [str(exc)]
        major = int(RUNTIMES[runtime].version)
        with zipfile.ZipFile(artifact) as zf:
            names = set(zf.namelist())
            file = handlers.handler_file(names, module, zf.read, major)
            if file is None:
                return [handlers.missing_file_message(handler, module)]
            source = zf.read(file).decode("utf-8", errors="replace")
            system = handlers.module_system(file, names, zf.read)
            folder = (handlers.folder_problem(handler, module, file, names, zf.read, major)
                      or handlers.folder_main_problem(handler, module, file, system, major))
        problem = (folder or handlers.module_system_problem(handler, file, source, system, major)
                   or handlers.static_problem(handler, file, source))
        if problem is None:
            return []
        if self.toolchain().node_major != major:
            return [problem]
        # Patterns can miss an export that exists (generated code): Node has the last word.
        runner = ctx.runner if ctx is not None else self._runner
        outcome = handlers.import_handler(artifact, layer_zips, handler, major, runner)
        if outcome.problem is None:
            return []
        if handlers.missing_runtime_package(outcome.error):
            return [problem]
        return [outcome.problem]

    def package_material(self, spec: BuildSettings, project: Project,
                         inputs: DependencyInputs | None = None) -> Mapping[str, object]:
        """The Node.js entries of ``[check] runtime-packages`` when package.json declares
        an ``@aws-sdk/*`` range: the SDK version they name decides whether the runtime meets
        it (what ships, or is bundled)."""
        from lambdaforge.runtime_packages import is_node_entry, node_sdk

        if not any(is_node_entry(e) for e in project.check.runtime_packages):
            return {}
        package = None
        if inputs is not None:  # else: the sources' package.json decides a bundle (keyed)
            canonical = dict(inputs.canonical)
            try:
                package = json.loads(canonical.get("member-package.json",
                                                   canonical.get("package.json", "")))
            except ValueError:
                pass
        if isinstance(package, dict) and not any(
                n.startswith("@aws-sdk/") and not _EXACT_VERSION.match(v)
                for n, v in _declared(package).items()):
            return {}  # no SDK range: what the runtime has decides nothing here
        return {"runtime-packages": node_sdk(spec.runtime, project.check.runtime_packages).key}

    def smoke_material(self, spec: BuildSettings, project: Project) -> Mapping[str, object]:
        """The runtime's SDK version (and ``[check] runtime-packages`` pins) the smoke test
        installs imported ``@aws-sdk/*`` packages at: changing it re-runs the checks."""
        from lambdaforge.runtime_packages import node_sdk

        return {"runtime-packages": node_sdk(spec.runtime, project.check.runtime_packages).key}

    def smoke_test(
        self, artifact: Path, layer_zips: list[Path], spec: BuildSettings, ctx: BuildContext
    ) -> SmokeResult:
        """Import the handler with the local ``node``, as Lambda would: its environment, the
        layers and the runtime's SDK on ``NODE_PATH`` (``smoke.node_smoke_test``), when the
        local node is of the runtime's major version and the function's architecture
        (``tools.find_node``); otherwise skipped with the reason."""
        handler = getattr(spec, "handler", None)
        if handler is None:
            return SmokeResult(ok=True, skipped="a layer has no handler to import")
        node, reason = find_node(RUNTIMES[spec.runtime].version, spec.architecture, ctx.runner)
        if node is None:
            return SmokeResult(ok=True, skipped=reason)
        from lambdaforge.builders.node.smoke import node_smoke_test

        package_json = self.package_json(spec, spec.source, ctx.project) if spec.source else None
        npmrc = ctx.project.path(package_json).parent / ".npmrc" if package_json else None
        return node_smoke_test(artifact, layer_zips, spec, handler,
                               npmrc if npmrc is not None and npmrc.is_file() else None,
                               self.toolchain().npm, ctx, node)

def _staged_npmrc(installer: str, declared_by: str, project: Project) -> str:
    """The tree-affecting settings (``npmrc.tree_settings``) of the ``.npmrc`` beside the
    lockfile, which the install stages for npm, pnpm and Yarn 1 (``install._stage``);
    empty without one, or for Yarn berry (its ``.yarnrc.yml`` is written over)."""
    from lambdaforge.builders.node import npmrc

    if ".npmrc" not in lockfile.CONFIG_FILES.get("npm" if installer == "npm-workspace" else installer, ()):
        return ""
    path = project.root / PurePosixPath(declared_by).parent / ".npmrc"
    try:
        return npmrc.tree_settings(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(ConfigIssue(path.relative_to(project.root).as_posix(), None, "",
                                      f"cannot read it: {exc}")) from None


def _packed(package_dir: Path, ctx: BuildContext) -> list[str] | None:
    """What ``npm pack`` would pack of a directory that says what it publishes, else ``None``."""
    return packlist.packed_files(package_dir, ctx) if packlist.declares_contents(package_dir) else None


def _top_level_packages(node_modules: Path) -> list[str]:
    """Names of the packages at the top of a node_modules tree (``@scope/x`` included),
    from two directory listings at most per scope: no package.json is read."""
    names = []
    for entry in sorted(os.scandir(node_modules), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.startswith("@"):
            names += sorted(f"{entry.name}/{e.name}" for e in os.scandir(entry.path)
                            if e.is_dir(follow_symlinks=False))
        else:
            names.append(entry.name)
    return names

