"""Bundling a Node.js handler into one file with a pinned esbuild.

esbuild comes from npm and is installed once per version into the tool cache
(``<tool_cache>/esbuild-<version>/``): into a temporary directory first, renamed into place
under a file lock, so concurrent builds neither race nor see half an install. ``FORGE_ESBUILD``
names an esbuild binary to use instead (CI images, air-gapped machines); it must be the
pinned version, since the version is part of every bundled function's key.

The bundle is deterministic: esbuild runs in a scratch directory whose layout is the same on
every machine (``src/`` with a copy of the sources, ``src/node_modules`` a symlink to the
installed tree, ``out/``), so paths in the output and its source map are relative and
identical everywhere. The tree is linked, not copied (a real one holds tens of thousands of
files), and ``--preserve-symlinks`` makes esbuild name its files by the link
(``src/node_modules/x/index.js``), so the bytes are those a copy would give.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock
from msgspec import Struct

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.node.handler import split_handler
from lambdaforge.builders.node.settings import NodeSettings, bundle_extension
from lambdaforge.errors import BuildError
from lambdaforge.lambda_facts import RUNTIMES
from lambdaforge.runner import Runner

#: The esbuild release lambdaforge bundles with. Bump deliberately: it changes bundles.
ESBUILD_VERSION = "0.28.2"
ESBUILD_ENV = "FORGE_ESBUILD"
#: The runtime ships the AWS SDK for JavaScript v3 (lambda_facts), so it is never bundled.
ALWAYS_EXTERNAL = ("@aws-sdk/*",)
#: Entry files esbuild can start from, for ``index.handler`` → ``index.<ext>``; TypeScript
#: is allowed because esbuild compiles it (types are not checked).
ENTRY_EXTENSIONS = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")
#: In an ES module bundle, CommonJS dependencies that ``require()`` Node built-ins need a
#: real ``require``; esbuild's shim throws "Dynamic require of 'fs' is not supported".
ESM_REQUIRE_BANNER = (
    "import { createRequire as __forgeCreateRequire } from 'node:module';"
    "const require = __forgeCreateRequire(import.meta.url);"
)
#: A banner that declares ``require`` itself (the hand-written shim): ours is left out.
_DECLARES_REQUIRE = re.compile(r"\b(?:const|let|var)\s+require\b")


#: where the bundle's ``node_modules`` is, inside the scratch directory esbuild runs in
SCRATCH_NODE_MODULES = "src/node_modules/"


class EsbuildUnavailableError(BuildError):
    """esbuild is not installed and cannot be installed now (offline, no registry)."""


class Bundle(Struct, frozen=True):
    """What ``bundle_handler`` wrote, and which installed files went into it."""

    #: the files written into the output directory (the bundle, its source map…)
    files: tuple[Path, ...]
    #: the installed files esbuild read, relative to ``node_modules`` (POSIX)
    dependency_inputs: tuple[str, ...]


def _binary_in(install_dir: Path) -> Path | None:
    """The platform binary inside an npm install of esbuild (``@esbuild/<os>-<cpu>/bin/esbuild``).

    Calling it directly skips the ``esbuild`` package's Node wrapper (one Node start-up less)
    and works although install scripts were not run.
    """
    for candidate in sorted(install_dir.glob("node_modules/@esbuild/*/bin/esbuild")):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def esbuild_version(binary: Path, runner: Runner) -> str:
    """The version an esbuild binary reports."""
    result = runner.run([binary, "--version"], timeout=30)
    if not result.ok:
        raise BuildError(f"esbuild at {binary} does not run\n{result.describe()}")
    return result.stdout.strip()


def find_esbuild(tool_cache: Path) -> Path | None:
    """The pinned esbuild from ``FORGE_ESBUILD`` or the tool cache, without installing."""
    override = os.environ.get(ESBUILD_ENV)
    if override:
        return Path(override).absolute()
    return _binary_in(tool_cache / f"esbuild-{ESBUILD_VERSION}")


def ensure_esbuild(ctx: BuildContext) -> Path:
    """The pinned esbuild binary, installed from npm into the tool cache on first use."""
    override = os.environ.get(ESBUILD_ENV)
    if override:
        binary = Path(override).absolute()  # the bundler runs in another directory
        version = esbuild_version(binary, ctx.runner)
        if version != ESBUILD_VERSION:
            raise BuildError(
                f"{ESBUILD_ENV}={override} is esbuild {version}; lambdaforge pins "
                f"{ESBUILD_VERSION} (it is part of every bundle's cache key)"
            )
        return binary
    final = ctx.tool_cache / f"esbuild-{ESBUILD_VERSION}"
    found = _binary_in(final)
    if found is not None:
        return found
    ctx.tool_cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ctx.tool_cache / f"esbuild-{ESBUILD_VERSION}.lock"), timeout=600):
        found = _binary_in(final)  # another build may have installed it while we waited
        if found is not None:
            return found
        tmp = Path(tempfile.mkdtemp(prefix=f".esbuild-{ESBUILD_VERSION}-", dir=ctx.tool_cache))
        try:
            argv = [
                "npm", "install", "--prefix", str(tmp), f"esbuild@{ESBUILD_VERSION}",
                "--no-save", "--no-package-lock", "--ignore-scripts", "--no-audit", "--no-fund",
                "--no-update-notifier", f"--cache={ctx.tool_cache / 'npm-cache'}",
            ]
            if ctx.offline:
                argv.append("--offline")
            result = ctx.runner.run(argv, timeout=600,
                                    env={"npm_config_logs_dir": str(tmp / ".npm-logs")})
            if not result.ok or _binary_in(tmp) is None:
                raise EsbuildUnavailableError(
                    f"cannot install esbuild {ESBUILD_VERSION} from npm into {final}; run once "
                    f"online, or set {ESBUILD_ENV} to an esbuild {ESBUILD_VERSION} binary\n"
                    + result.describe()
                )
            shutil.rmtree(tmp / ".npm-logs", ignore_errors=True)
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a shared cache from other users
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    found = _binary_in(final)
    assert found is not None
    return found


def find_entry(source_dir: Path, module: str) -> Path | None:
    """The handler's source file for a module path (``index`` → ``index.ts`` / ``index.js``…)."""
    for ext in ENTRY_EXTENSIONS:
        if (source_dir / (module + ext)).is_file():
            return source_dir / (module + ext)
    return None


def is_esm(source_dir: Path, entry: Path) -> bool:
    """ES module output when the handler is ``.mjs``/``.mts`` or the package says
    ``"type": "module"``; CommonJS otherwise (``.cjs``/``.cts`` are always CommonJS)."""
    if entry.suffix in (".mjs", ".mts"):
        return True
    if entry.suffix in (".cjs", ".cts"):
        return False
    package = source_dir / "package.json"
    if package.is_file():
        try:
            return json.loads(package.read_text(encoding="utf-8")).get("type") == "module"
        except ValueError:
            return False
    return False


def js_banner(options: NodeSettings, esm: bool) -> str | None:
    """The bundle's banner: the user's ``banner`` first, then, in an ES module, the
    ``createRequire`` shim, unless the user's banner declares ``require`` itself (the shim
    SAM users write by hand), which would then be declared twice."""
    parts = [options.banner] if options.banner else []
    if esm and not (options.banner and _DECLARES_REQUIRE.search(options.banner)):
        parts.append(ESM_REQUIRE_BANNER)
    return "\n".join(parts) or None


#: esbuild's "Could not resolve" error and the file:line:column it points at
_UNRESOLVED = re.compile(r'Could not resolve "([^"]+)"\s*\n\s*(src/[^\s:]+):\d+:\d+:')


#: what esbuild tries after an import's path (its default ``--resolve-extensions``)
_RESOLVE_EXTENSIONS = ("", ".tsx", ".ts", ".jsx", ".js", ".css", ".json")


def _left_out(source_dir: Path, rel: str, copied: Path) -> bool:
    """Whether an import's target ``rel`` (relative to the source) is a file of the source
    that was not copied for esbuild, as such or as esbuild would complete it."""
    for ext in _RESOLVE_EXTENSIONS:
        for candidate in (rel + ext, f"{rel}/index{ext}" if ext else None):
            if candidate and (source_dir / candidate).is_file() and not (copied / candidate).is_file():
                return True
    return False


def _unresolved_hint(output: str, source_dir: Path, copied: Path, ctx: BuildContext) -> str:
    """Notes for esbuild's "Could not resolve" of a relative import that leaves the
    function's source (only ``source`` is copied to bundle: esbuild's paths are that copy's,
    ``src/…``), or that names a file of the source its ``include``/``exclude`` (or a strip
    rule, a default exclude) leaves out: esbuild sees only the files the package's key covers.
    The message would tell neither."""
    leaving, left_out = [], []
    for spec, where in _UNRESOLVED.findall(output):
        if spec.startswith(("./", "../")):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(where), spec))
            shown_spec = f'"{spec}" in {posixpath.relpath(where, "src")}'
            if target == ".." or target.startswith("../") or not target.startswith("src/"):
                leaving.append(shown_spec)
            elif _left_out(source_dir, target[len("src/"):], copied):
                left_out.append(shown_spec)
    shown = _shown_source(source_dir, ctx)
    notes = ""
    if leaving:
        notes += (f"\nnote: {', '.join(leaving)} leaves the function's source ({shown}/), and "
                  "only the source is bundled (esbuild's src/… paths are a copy of it): set "
                  "`source` to a folder that holds the shared code too, or make it a package "
                  "the function depends on (an npm workspace member)")
    if left_out:
        notes += (f"\nnote: {', '.join(left_out)} names a file of {shown}/ that the function's "
                  "`include`/`exclude` (or a strip rule or default exclude) leaves out, and "
                  "esbuild sees only the files they keep: change `include`/`exclude` to keep "
                  "it (the bundle ships either way; the file itself does not)")
    return notes


#: the start of one of esbuild's warnings, and the ``file:line:column:`` line it points at
_WARNING = re.compile(r"^▲ \[WARNING\] (.+?)\s*$")
_LOCATION = re.compile(r"^\s+(\S+:\d+:\d+):$")
#: esbuild's warning that a tsconfig.json's ``extends`` names a file it cannot read
_MISSING_BASE = re.compile(r'Cannot find base config file "([^"]+)"')


def _parse_warnings(output: str) -> list[tuple[str, str | None]]:
    """(message, ``file:line:column`` in the scratch copy or ``None``) of each warning."""
    found: list[tuple[str, str | None]] = []
    pending: str | None = None
    for line in output.splitlines():
        start = _WARNING.match(line)
        if start:
            if pending is not None:
                found.append((pending, None))
            pending = start.group(1)
        elif pending is not None and (where := _LOCATION.match(line)):
            found.append((pending, where.group(1)))
            pending = None
    if pending is not None:
        found.append((pending, None))
    return found


def esbuild_warnings(output: str, markers: Sequence[str] = ()) -> list[str]:
    """esbuild's warnings of a successful run, one line each with the place it points at,
    named as in the function's source (``tsconfig.json:1:13``, not the scratch copy's
    ``src/tsconfig.json``); ``markers`` (absolute scratch paths) are replaced by ``…``."""
    found = []
    for message, where in _parse_warnings(output):
        text = f"esbuild: {message}" + (f" ({where.removeprefix('src/')})" if where else "")
        for marker in markers:
            text = text.replace(marker, "…")
        found.append(text)
    return found


def _missing_base_config(output: str, source_dir: Path, copied: Path, ctx: BuildContext) -> str | None:
    """The error for a tsconfig.json (or jsconfig.json) whose ``extends`` esbuild could not
    find: it only warns and bundles without the base's compilerOptions (decorators,
    ``jsx``, ``useDefineForClassFields``…), a bundle unlike the one ``tsc`` or esbuild
    give in the project. ``None`` when it found every base."""
    for message, where in _parse_warnings(output):
        missing = _MISSING_BASE.search(message)
        if not missing:
            continue
        base = missing.group(1)
        config = (where or "src/tsconfig.json").removeprefix("src/").split(":")[0]
        shown = _shown_source(source_dir, ctx)
        ignored = "its compilerOptions would be ignored"
        if base.startswith(("./", "../")):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(config), base))
            if target == ".." or target.startswith("../"):
                why = (f"outside the function's source ({shown}/), which is all esbuild sees: "
                       f"{ignored}; copy the ones the function needs into `{shown}/{config}`, "
                       "or set `source` to a folder that holds the base too")
            elif _left_out(source_dir, target, copied):
                why = ("which the function's `include`/`exclude` (or a strip rule) leaves out, "
                       f"and esbuild sees only the files they keep: {ignored}; keep it")
            else:
                why = "which does not exist"
        else:
            why = ("a package that is not among the function's production dependencies, "
                   f"where esbuild looks for it: {ignored}; add it to `dependencies` "
                   f"(devDependencies are not installed), or copy its options into `{shown}/{config}`")
        return f"`{shown}/{config}` extends `{base}`, {why}"
    return None


def _shown_source(source_dir: Path, ctx: BuildContext) -> str:
    """The source directory as the user names it: project-relative, else its name."""
    try:
        return source_dir.resolve().relative_to(ctx.project.root.resolve()).as_posix()
    except (ValueError, AttributeError):  # a source outside the project; no project
        return source_dir.name


def esbuild_argv(binary: Path, entry: str, runtime: str, options: NodeSettings, esm: bool,
                 extension: str, bundle_sdk: bool = False) -> list[str]:
    """esbuild's command line; paths are relative to the scratch directory it runs in, whose
    ``src/`` holds the sources and ``out/`` receives the bundle (``src/a/b.ts`` →
    ``out/a/b<extension>``). ``bundle_sdk`` takes ``@aws-sdk/*`` in rather than leaving it
    external (the runtime's SDK is older than the function asks for)."""
    target = options.target or f"node{RUNTIMES[runtime].version}"
    argv = [
        str(binary), entry, "--bundle", "--platform=node", f"--target={target}",
        f"--format={'esm' if esm else 'cjs'}", "--outdir=out", "--outbase=src",
        # src/node_modules is a link to the installed tree: name files by the link
        "--preserve-symlinks", "--metafile=meta.json",
        f"--out-extension:.js={extension}", "--log-level=warning", "--charset=utf8",
        "--legal-comments=eof",
    ]
    argv += [f"--out-extension:{k}={v}" for k, v in sorted(options.out_extension.items()) if k != ".js"]
    banner = js_banner(options, esm)
    if banner:
        argv.append(f"--banner:js={banner}")
    if options.main_fields:
        argv.append(f"--main-fields={','.join(options.main_fields)}")
    elif esm:
        # Resolve packages' "module" (ESM) entry first, as Node's ESM loader would not, but
        # as bundlers for ESM output do, so tree shaking works.
        argv.append("--main-fields=module,main")
    if options.minify:
        argv.append("--minify")
    if options.keep_names:
        argv.append("--keep-names")
    if options.sourcemap:
        # Sources embedded: the map is self-contained and no path outside the bundle is needed.
        argv += ["--sourcemap", "--sources-content=true"]
    argv += [f"--loader:{ext}={loader}" for ext, loader in sorted(options.loader.items())]
    argv += [f"--define:{name}={value}" for name, value in sorted(options.define.items())]
    always = () if bundle_sdk else ALWAYS_EXTERNAL
    argv += [f"--external:{name}" for name in sorted(set(always) | set(options.external))]
    return argv


def bundle_handler(
    source_dir: Path,
    handler: str,
    options: NodeSettings,
    runtime: str,
    out_dir: Path,
    ctx: BuildContext,
    node_modules: Path | None = None,
    bundle_sdk: bool = False,
    files: Sequence[str] | None = None,
) -> Bundle:
    """Bundle the handler of ``source_dir`` into ``out_dir``.

    esbuild sees a copy of ``files`` (POSIX paths relative to ``source_dir``: the files the
    package's key covers, ``BuildContext.source_files``), or of the whole source minus
    ``node_modules`` and ``.git`` when ``None``: a file it could read beyond the key would
    be an input no edit of which rebuilds the bundle.

    ``node_modules`` is the installed production dependency tree (the install target),
    used instead of any ``node_modules`` in the source directory, which is a developer's
    host install; esbuild reads it through a link and never writes to it. The output is
    named after the handler module: ``index.handler`` → ``index.mjs`` (ES module, no
    package.json needed) or ``index.js`` (CommonJS), or the ``out-extension`` given.
    ``format`` chooses the module kind, else the handler does (``is_esm``). A TypeScript
    entry (``index.ts``) is compiled, not type-checked. ``@aws-sdk/*`` stays external (the
    runtime ships it) unless ``bundle_sdk``.
    """
    module, _ = split_handler(handler)
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="esbuild-", dir=ctx.scratch))
    try:
        src = work / "src"
        _copy_sources(source_dir, src, files)
        entry = find_entry(src, module)
        if entry is None:
            exts = ", ".join(module + e for e in ENTRY_EXTENSIONS)
            why = (" (it is there, but the function's `include`/`exclude` leaves it out)"
                   if find_entry(source_dir, module) is not None else "")
            raise BuildError(f"handler `{handler}`: none of {exts} exists in "
                              f"{source_dir.name}/ to bundle{why}")
        esm = options.format == "esm" if options.format else is_esm(src, entry)
        try:
            extension = bundle_extension(esm, options.out_extension)
        except ValueError as exc:  # `format` unset: the handler made it an ES module (or not)
            raise BuildError(f"handler `{handler}`: {exc} (see `out-extension`)") from None
        binary = ensure_esbuild(ctx)
        markers = [str(work)]
        if node_modules is not None and node_modules.is_dir():
            tree = node_modules.resolve()
            os.symlink(tree, src / "node_modules", target_is_directory=True)
            markers.append(str(tree))
        argv = esbuild_argv(binary, f"src/{entry.relative_to(src).as_posix()}", runtime,
                            options, esm, extension, bundle_sdk)
        # NODE_PATH would let esbuild resolve packages from the build machine.
        result = ctx.runner.run(argv, cwd=work, env={"NODE_PATH": None}, timeout=600)
        if not result.ok:
            raise BuildError(f"esbuild could not bundle handler `{handler}`\n{result.describe()}"
                             + _unresolved_hint(result.stdout + result.stderr, source_dir, src, ctx))
        output = result.stdout + result.stderr
        problem = _missing_base_config(output, source_dir, src, ctx)
        if problem is not None:
            raise BuildError(f"esbuild could not bundle handler `{handler}`: {problem}")
        ctx.warnings.extend(esbuild_warnings(output, markers))
        written = []
        for path in sorted((work / "out").rglob("*")):
            if path.is_file():
                target = out_dir / path.relative_to(work / "out")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                written.append(target)
        _check_relative(written, markers)
        return Bundle(tuple(written), _dependency_inputs(work / "meta.json"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_sources(source_dir: Path, dest: Path, files: Sequence[str] | None) -> None:
    """Copy ``files`` of ``source_dir`` (all but ``node_modules`` and ``.git`` for ``None``)
    into ``dest``, the tree esbuild bundles from."""
    if files is None:
        shutil.copytree(source_dir, dest, ignore=shutil.ignore_patterns("node_modules", ".git"))
        return
    dest.mkdir(parents=True)
    for rel in files:
        if rel.startswith("node_modules/"):
            continue  # the install's tree is linked there (an `exclude` negation kept these)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_dir / rel, target)  # a link inside the source: its content


def _dependency_inputs(metafile: Path) -> tuple[str, ...]:
    """The installed files esbuild's metafile lists as inputs, relative to node_modules."""
    try:
        inputs = json.loads(metafile.read_text(encoding="utf-8"))["inputs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildError(f"esbuild wrote no readable metafile ({exc})") from None
    return tuple(sorted(name[len(SCRATCH_NODE_MODULES):] for name in inputs
                        if name.startswith(SCRATCH_NODE_MODULES)))


def _check_relative(files: Sequence[Path], markers: Sequence[str]) -> None:
    """A bundle that mentions the scratch directory or the installed tree's place would
    differ on every machine: refuse it."""
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for marker in markers:
            if marker in text:
                raise BuildError(f"esbuild output {path.name} contains the absolute path {marker}")


def external_packages(patterns: Sequence[str], installed: Sequence[str]) -> list[str]:
    """Installed top-level package names the ``external`` patterns name (``@scope/*`` too),
    minus the runtime-provided AWS SDK: these must ship in node_modules beside the bundle."""
    wanted = []
    for name in installed:
        if any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), name) for p in patterns) and not any(
            re.fullmatch(re.escape(p).replace(r"\*", ".*"), name) for p in ALWAYS_EXTERNAL
        ):
            wanted.append(name)
    return sorted(wanted)
