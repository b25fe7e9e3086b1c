"""``npm ci`` for the Lambda platform, in a scratch directory, into a clean ``node_modules`` tree.

npm never runs in the user's source directory: ``npm ci`` deletes ``node_modules`` first,
and a developer's own tree (dev dependencies, host-platform binaries) must neither be
destroyed nor shipped. Instead the scratch directory mirrors the few files the install
depends on — the canonical package.json and lockfile, and any local ``file:`` packages at
their project-relative places — and npm installs there.

What npm does with the platform flags (measured, npm 11.19 on linux-x64): ``--os``, ``--cpu``
and ``--libc`` replace the host's values when npm decides which *optional* dependencies
with ``os``/``cpu``/``libc`` fields to install, both in ``npm ci`` and ``npm install``. So
``esbuild`` gets ``@esbuild/linux-arm64`` with ``--cpu=arm64`` on an x64 host, and ``sharp``
gets ``@img/sharp-linux-arm64`` + ``@img/sharp-libvips-linux-arm64`` with ``--libc=glibc``
(``--libc=musl`` picks the ``linuxmusl`` ones). The lockfile lists every platform's variant,
so one lockfile serves both architectures. Install scripts (node-gyp builds) are not
affected: they would build for the host, which is one more reason they are off by default.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from lambdaforge.builders.base import BuildContext, DependencyInputs, Distribution, InstallResult
from lambdaforge.errors import InstallError

#: Lambda architecture → npm's ``cpu`` value (Node's ``process.arch``).
NPM_CPU = {"x86_64": "x64", "arm64": "arm64"}
#: Every Node.js runtime runs on Amazon Linux 2023, which uses glibc.
NPM_OS = "linux"
NPM_LIBC = "glibc"
#: Files and directories npm writes into node_modules that must not ship: the hidden
#: lockfile is npm's own cache of the tree, and ``.bin`` holds symlinks to CLI scripts no
#: Lambda handler runs (symlinks also do not survive every zip tool).
NPM_DROPPINGS = (".package-lock.json", ".bin")
#: configuration files that may hold registry tokens: never copied with a local package
SECRET_CONFIG = (".npmrc", ".yarnrc", ".yarnrc.yml")


def platform_flags(architecture: str) -> tuple[str, ...]:
    """npm's flags that make optional platform packages match the Lambda target."""
    return (f"--os={NPM_OS}", f"--cpu={NPM_CPU[architecture]}", f"--libc={NPM_LIBC}")


def npm_ci_argv(architecture: str, allow_scripts: bool, cache: Path, offline: bool) -> list[str]:
    """The ``npm ci`` command line. The flags that make the tree one for Lambda are explicit
    (``--omit=dev``, ``--install-strategy=hoisted``, ``--install-links``, the platform), so a
    user's ``.npmrc`` cannot undo them; its other settings that change the tree
    (``legacy-peer-deps``, ``include=dev``, ``engine-strict``…) still apply, and are in the
    install key (``npmrc.tree_settings``)."""
    argv = [
        "npm", "ci",
        "--omit=dev",
        "--install-strategy=hoisted",
        # Local file: directories are packed and copied, not symlinked out of the tree.
        "--install-links",
        "--no-audit", "--no-fund", "--no-update-notifier",
        f"--cache={cache}",
        *platform_flags(architecture),
    ]
    if not allow_scripts:
        argv.append("--ignore-scripts")
    if offline:
        argv.append("--offline")
    return argv


def install_tree(inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
    """Run the lockfile's package manager for ``inputs`` (``npm ci``; for an npm workspace
    member ``npm ci --workspace``; pnpm or Yarn: ``otherinstall``) and move the resulting
    node_modules content into ``dest``."""
    canonical = dict(inputs.canonical)
    installer = canonical.get("installer", "npm")
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="node-install-", dir=ctx.scratch))
    try:
        package_dir = _stage(canonical, work / "tree", ctx.project.root, inputs)
        allow = canonical["scripts"] == "allow"
        argv, env, tool = _command(installer, canonical, inputs, ctx, work, package_dir, allow)
        if installer == "yarn-berry":
            _check_berry_lock(argv[0], package_dir, env, ctx)
        with _cache_lock(installer, ctx):
            result = ctx.runner.run(argv, cwd=package_dir, env=env, timeout=1800)
        if not result.ok:
            hint = f" (offline: is every package in the {tool} cache?)" if ctx.offline else ""
            raise InstallError(f"{' '.join(argv[:2])} failed{hint}\n"
                               f"{without_npm_usage(result.describe())}")
        if "Unknown cli config" in result.stderr:
            # An npm that ignores --os/--cpu/--libc would install for the host.
            raise InstallError(f"npm ignored a platform flag\n{result.describe()}")
        node_modules = package_dir / "node_modules"
        local: set[str] = set()
        if installer == "npm-workspace":
            local |= _inline_workspace_links(node_modules, package_dir, canonical["member"], ctx)
        if installer.startswith("npm"):
            lock = json.loads(canonical["package-lock.json"])
            notes = _notes(lock, node_modules, inputs)
            local |= _local_directories(lock, canonical.get("member"))
        else:
            notes = _other_notes(installer, inputs)
        _tidy(node_modules)
        notes += _strip_prebuilds(node_modules, NPM_CPU[inputs.architecture])
        dest.mkdir(parents=True, exist_ok=True)
        if node_modules.is_dir():
            for entry in sorted(node_modules.iterdir()):
                shutil.move(str(entry), str(dest / entry.name))
        return InstallResult(distributions=distributions(dest, frozenset(local)), notes=notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def without_npm_usage(text: str) -> str:
    """npm's output without the usage text of the command it prints after a usage error
    (``EUSAGE``: a lockfile out of sync, ~100 lines of options after the one that says
    what is wrong): cut at ``npm error Usage:``, with the command's one-line summary and
    the blank ``npm error`` lines above it. Other output is returned as it is."""
    lines = text.splitlines()
    if "npm error Usage:" not in (line.strip() for line in lines):
        return text
    head = lines[:[line.strip() for line in lines].index("npm error Usage:")]

    def drop_blank() -> None:
        while head and head[-1].strip() in ("npm error", ""):
            head.pop()

    drop_blank()
    if len(head) > 1 and head[-2].strip() == "npm error":  # "npm error Clean install a project"
        head.pop()
        drop_blank()
    return "\n".join([*head, "(npm's usage text left out)"])


def _command(installer: str, canonical: dict[str, str], inputs: DependencyInputs, ctx: BuildContext,
             work: Path, package_dir: Path, allow: bool) -> tuple[list[str], dict[str, str | None], str]:
    """The install's command line, environment additions and the tool's name."""
    from lambdaforge.builders.node import managers, otherinstall

    if installer in ("npm", "npm-workspace"):
        cache = ctx.tool_cache / "npm-cache"
        cache.mkdir(parents=True, exist_ok=True)
        argv = npm_ci_argv(inputs.architecture, allow, cache, ctx.offline)
        if installer == "npm-workspace":
            argv.append(f"--workspace={canonical['member']}")
        return argv, _npm_env(work), "npm"
    manager = managers.MANAGERS[installer]
    executable = managers.find_tool(manager)
    ctx.tool_cache.mkdir(parents=True, exist_ok=True)
    if manager is managers.PNPM:
        argv = otherinstall.pnpm_argv(executable, inputs.architecture, allow, ctx.tool_cache, ctx.offline)
        return argv, {"npm_config_update_notifier": "false"}, "pnpm"
    env: dict[str, str | None] = dict(otherinstall.yarn_env(manager, allow, ctx.tool_cache, ctx.offline))
    if manager is managers.YARN_CLASSIC:
        return otherinstall.yarn_classic_argv(executable, allow, ctx.tool_cache, ctx.offline), env, "yarn"
    return otherinstall.yarn_berry_argv(executable), env, "yarn"


def _cache_lock(installer: str, ctx: BuildContext) -> AbstractContextManager[None]:
    """The lock an install holds while its tool runs, if its cache needs one. Yarn 1's
    cache folder (``otherinstall.YARN_CLASSIC_CACHE`` in the tool cache) is not
    safe for concurrent installs (no ``--mutex`` here: "Integrity check failed", ENOENT
    extracting, measured with the x86_64 and arm64 installs of one yarn.lock): they take
    turns under an OS lock beside it, across threads and builds. npm's, pnpm's and berry's
    caches are safe as they are."""
    from lambdaforge.builders.node import otherinstall
    from lambdaforge.locking import file_lock

    if installer != "yarn-classic":
        return nullcontext()
    return file_lock(otherinstall.yarn_classic_cache_lock(ctx.tool_cache))


def _check_berry_lock(executable: str, package_dir: Path, env: dict[str, str | None],
                      ctx: BuildContext) -> None:
    """Yarn berry's ``focus`` has no ``--immutable`` and uses a stale lockfile silently:
    ``yarn install --mode=update-lockfile`` first (it only resolves: no link step, no
    fetch of locked packages; ``--immutable`` cannot go with it), and a lockfile it
    rewrote in scratch is out of date."""
    from lambdaforge.builders.node import otherinstall

    lock = package_dir / "yarn.lock"
    before = lock.read_bytes()
    result = ctx.runner.run(otherinstall.yarn_berry_check_argv(executable), cwd=package_dir, env=env,
                            timeout=1800)
    if not result.ok:
        raise InstallError(f"yarn could not resolve yarn.lock\n{result.describe()}")
    if lock.read_bytes() != before:
        raise InstallError(
            "yarn.lock is out of date: yarn would have to change it (run `yarn install "
            "--mode=update-lockfile` in the package's directory and commit the lockfile)")


def _npm_env(work: Path) -> dict[str, str | None]:
    # The user's npm configuration (registry, auth) stays: private registries need it. The
    # settings that make the tree one for Lambda are on the command line, which wins; the
    # staged .npmrc's other tree-shaping settings are keyed (npmrc.tree_settings).
    # npm's debug logs go to scratch, not into the user's home.
    return {"npm_config_update_notifier": "false", "npm_config_logs_dir": str(work / "logs")}


def _stage(canonical: dict[str, str], tree: Path, project_root: Path, inputs: DependencyInputs) -> Path:
    """Lay out the scratch tree: manifest and lockfile, the tool's registry configuration
    from beside the lockfile, a workspace member's package.json, and local packages at their
    project-relative places so relative ``file:`` specs (and workspace paths) resolve as in
    the project."""
    from lambdaforge.builders.node import lockfile, otherinstall

    installer = canonical.get("installer", "npm")
    package_dir = tree / canonical["base"] if "base" in canonical else tree / "app"
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / "package.json").write_text(canonical["package.json"], encoding="utf-8")
    (package_dir / canonical["lockfile-name"]).write_text(canonical["package-lock.json"], encoding="utf-8")
    if installer == "npm-workspace":
        member = package_dir / canonical["member"]
        member.mkdir(parents=True, exist_ok=True)
        (member / "package.json").write_text(canonical["member-package.json"], encoding="utf-8")
    # Registry and auth settings (`@org:registry=…`, `npmRegistryServer`, tokens) beside the
    # lockfile: how packages are fetched, not which ones (the lockfile's hashes decide that).
    config_dir = posixpath.dirname(inputs.declared_by)
    names = lockfile.CONFIG_FILES["npm" if installer == "npm-workspace" else installer]
    for name in names:
        rel = posixpath.join(config_dir, name)
        if rel in inputs.watched and name != ".yarnrc.yml":
            shutil.copyfile(project_root / rel, package_dir / name)
    if installer == "yarn-berry":
        rel = posixpath.join(config_dir, ".yarnrc.yml")
        user = (project_root / rel).read_text(encoding="utf-8") if rel in inputs.watched else None
        (package_dir / ".yarnrc.yml").write_text(otherinstall.berry_rc(user, inputs.architecture),
                                                 encoding="utf-8")
    for rel in inputs.directories:
        src = project_root / rel
        if not src.is_dir():
            raise InstallError(f"local package `{rel}` (a file: dependency or workspace member) "
                               "is not a directory")
        # The package's own node_modules is a developer's install, never part of the package.
        shutil.copytree(src, tree / rel, ignore=shutil.ignore_patterns("node_modules", ".git", *SECRET_CONFIG),
                        dirs_exist_ok=True)
    for rel in inputs.files:
        src = project_root / rel
        if not src.is_file():
            raise InstallError(f"local package `{rel}` (a file: dependency) does not exist")
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tree / rel)
    return package_dir


def _inline_workspace_links(node_modules: Path, root: Path, member: str, ctx: BuildContext) -> set[str]:
    """Replace npm's links to workspace members by copies of their staged content laid out
    as ``npm pack`` would pack it (what ``--install-links`` installs of a ``file:``
    directory: ``files``, ``.npmignore``, npm's always-included and always-excluded files;
    ``packlist``), plus their own nested node_modules, installed there by npm: a zip never
    holds a link out of itself. The member's link to itself goes: its code is the function's
    own. Returns the locations (relative to ``node_modules``) of the copies."""
    copied: set[str] = set()
    if not node_modules.is_dir():
        return copied
    tree = root.resolve()
    own = (root / member).resolve()
    for link in sorted(_links(node_modules)):
        target = link.resolve()
        if target == own:
            link.unlink()
            continue
        if not target.is_dir() or not target.is_relative_to(tree):
            raise InstallError(f"npm linked {link.relative_to(node_modules).as_posix()} to "
                               f"{os.readlink(link)}, outside the workspace")
        link.unlink()
        _copy_packed(target, link, ctx)
        copied.add(link.relative_to(node_modules).as_posix())
    # The member's own dependencies that could not be hoisted (another version is at the
    # root) sit in its node_modules, which is the function's node_modules in the zip.
    nested = root / member / "node_modules"
    if nested.is_dir():
        for entry in sorted(p for p in _top_entries(nested)):
            rel = entry.relative_to(nested)
            if (node_modules / rel).exists():
                raise InstallError(
                    f"the workspace member {member} needs its own {rel.as_posix()} while another "
                    "version is hoisted to the workspace root for its dependencies: one "
                    "node_modules cannot hold both; align the versions in the workspace")
            (node_modules / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(entry), str(node_modules / rel))
    return copied


def _copy_packed(package: Path, dest: Path, ctx: BuildContext) -> None:
    """Copy into ``dest`` the files of the package directory ``package`` that ``npm pack``
    would pack, and its ``node_modules`` (its dependencies, which no pack holds)."""
    from lambdaforge.builders.node import layout, packlist

    layout.copy_listed(package, dest, packlist.packed_files(package, ctx))
    nested = package / "node_modules"
    if nested.is_dir():
        shutil.copytree(nested, dest / "node_modules", symlinks=True)


def _local_directories(lock: dict, member: str | None) -> set[str]:
    """The locations (relative to the installed node_modules, as ``distributions`` names
    them) of packages the lockfile installs from a ``file:`` directory of the project: the
    user's own code. A workspace member's own nested ones are hoisted into the function's
    node_modules (``_inline_workspace_links``)."""
    from lambdaforge.builders.node.lockfile import TARBALL_SUFFIXES

    prefixes = ["node_modules/"] + ([f"{member}/node_modules/"] if member else [])
    found: set[str] = set()
    for location, entry in (lock.get("packages") or {}).items():
        resolved = entry.get("resolved") if isinstance(entry, dict) else None
        if not isinstance(resolved, str) or not resolved.startswith("file:") \
                or resolved.endswith(TARBALL_SUFFIXES) or entry.get("link"):
            continue
        for prefix in prefixes:
            if location.startswith(prefix):
                found.add(location[len(prefix):])
                break
    return found


def _top_entries(node_modules: Path) -> list[Path]:
    """The package directories at the top of a node_modules directory (scopes opened)."""
    out = []
    for entry in node_modules.iterdir():
        if entry.name.startswith("."):
            continue
        out += list(entry.iterdir()) if entry.name.startswith("@") and entry.is_dir() else [entry]
    return out


def _links(node_modules: Path) -> list[Path]:
    """The symlinked packages at the top of a node_modules directory (scoped ones too)."""
    found = []
    for entry in node_modules.iterdir():
        if entry.is_symlink():
            found.append(entry)
        elif entry.name.startswith("@") and entry.is_dir():
            found += [p for p in entry.iterdir() if p.is_symlink()]
    return found


def _tidy(node_modules: Path) -> None:
    """Remove the package managers' droppings at every nesting level (every dot entry of a
    node_modules directory: no package name starts with a dot) and refuse any remaining
    symlink."""
    if not node_modules.is_dir():
        return
    for root, dirs, files in os.walk(node_modules):
        here = Path(root)
        if here.name == "node_modules":
            for name in [n for n in dirs + files if n.startswith(".")]:
                target = here / name
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.is_dir():
                    shutil.rmtree(target)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        for name in dirs + files:
            path = here / name
            if path.is_symlink():
                raise InstallError(
                    f"the install left a symlink in node_modules: "
                    f"{path.relative_to(node_modules).as_posix()} -> {os.readlink(path)}"
                )


def _strip_prebuilds(node_modules: Path, cpu: str) -> list[str]:
    """Remove every package's prebuilt addons for other platforms (``prebuilds``); the
    notes saying so, and naming a package left with none for the target."""
    from lambdaforge.builders.node import prebuilds

    left_out = [found for location, pkg in _package_dirs(node_modules)
                if (found := prebuilds.strip_foreign(pkg, location, cpu)) is not None]
    return prebuilds.notes(left_out, cpu)


def _package_dirs(node_modules: Path, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(location name, directory) of every package under a node_modules directory,
    nested copies included; scoped packages live one level deeper."""
    if not node_modules.is_dir():
        return
    for entry in sorted(node_modules.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        candidates = sorted(entry.iterdir()) if entry.name.startswith("@") else [entry]
        for pkg in candidates:
            if not pkg.is_dir():
                continue
            location = pkg.relative_to(node_modules).as_posix()
            yield prefix + location, pkg
            yield from _package_dirs(pkg / "node_modules", f"{prefix}{location}/node_modules/")


def distributions(root: Path, local: frozenset[str] = frozenset()) -> list[Distribution]:
    """The packages installed in a node_modules tree, for dedupe against layers; those at
    the ``local`` locations are the project's own (``Distribution.local``).

    A hoisted package is named as it is required (``lodash``, ``@scope/x``); a nested copy
    keeps its location (``a/node_modules/b``) as its name, because it exists precisely
    when another version of ``b`` is hoisted, and must never be swapped for a layer's ``b``.
    """
    found: list[Distribution] = []
    for location, pkg in _package_dirs(root):
        try:
            meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        requires = sorted({
            name
            for key in ("dependencies", "optionalDependencies", "peerDependencies")
            for name in (meta.get(key) or {})
        })
        files = []
        for dirpath, dirnames, filenames in os.walk(pkg):
            # Nested node_modules belong to their own distributions.
            dirnames[:] = sorted(d for d in dirnames if not (Path(dirpath) == pkg and d == "node_modules"))
            files.extend((Path(dirpath) / f).relative_to(root).as_posix() for f in filenames)
        found.append(Distribution(location, str(meta.get("version", "")), tuple(sorted(files)),
                                  tuple(requires), location in local))
    return found


def _notes(lock: dict, node_modules: Path, inputs: DependencyInputs) -> list[str]:
    """User-facing remarks: platform packages chosen for the target, skipped install scripts."""
    notes: list[str] = []
    platform_pkgs = []
    scripts = []
    for location, entry in sorted(lock.get("packages", {}).items()):
        if not location.startswith("node_modules/") or not isinstance(entry, dict):
            continue
        installed = (node_modules.parent / location).is_dir()
        name = location.rsplit("node_modules/", 1)[1]
        if installed and any(k in entry for k in ("os", "cpu", "libc")):
            platform_pkgs.append(name)
        if installed and entry.get("hasInstallScript") and dict(inputs.canonical)["scripts"] != "allow":
            scripts.append(name)
    if platform_pkgs:
        notes.append(
            f"installed for linux/{NPM_CPU[inputs.architecture]} ({NPM_LIBC}): {', '.join(platform_pkgs)}"
        )
    if scripts:
        notes.append(
            f"install scripts not run for {', '.join(scripts)} (allow-scripts = true runs them; "
            "a native addon they build is built for this machine, not for Lambda)"
        )
    return notes


def _other_notes(installer: str, inputs: DependencyInputs) -> list[str]:
    """What a pnpm or Yarn install leaves to say: the script policy, and Yarn 1's platform."""
    notes = []
    if installer == "yarn-classic" and NPM_CPU[inputs.architecture] != _host_cpu():
        notes.append(f"Yarn 1 chose optional platform packages for this machine ({_host_cpu()}), "
                     f"not for linux/{NPM_CPU[inputs.architecture]}: it has no setting for another "
                     "platform (pnpm, npm and Yarn berry have)")
    return notes


def _host_cpu() -> str:
    import platform

    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)


def closure(dists: list[Distribution], roots: list[str]) -> list[Distribution]:
    """``roots`` and everything they require, resolved as Node would for a hoisted tree:
    a nested copy under a package (``a/node_modules/b``) wins over the hoisted ``b`` for it,
    and a selected package takes its nested copies along."""
    by_name = {d.name: d for d in dists}
    selected: dict[str, Distribution] = {}
    todo = [r for r in roots if r in by_name]
    while todo:
        name = todo.pop()
        if name in selected:
            continue
        dist = selected[name] = by_name[name]
        nested_prefix = name + "/node_modules/"
        todo.extend(d.name for d in dists if d.name.startswith(nested_prefix))
        for req in dist.requires:
            # Resolution walks up from the package: its own node_modules, then each parent's.
            parts = name.split("/node_modules/")
            for depth in range(len(parts), -1, -1):
                candidate = "/node_modules/".join(parts[:depth] + [req]) if depth else req
                if candidate in by_name:
                    todo.append(candidate)
                    break
    return [selected[n] for n in sorted(selected)]
