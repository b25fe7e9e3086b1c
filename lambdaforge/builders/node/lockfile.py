"""Reading a function's ``package.json`` and ``package-lock.json`` into canonical install inputs.

The install target's identity is what npm will install, not where the files live: two
functions whose manifests declare the same dependencies with the same lockfile share one
install, whatever their package names or directories. So the canonical form keeps only the
fields that change what ``npm ci`` installs, and re-serialises JSON with sorted keys so a
reformatted file is not a change.

Local packages (``file:`` dependencies) are the exception: their content is not pinned by
the lockfile (npm records no integrity for a directory), so their project-relative paths
become inputs whose content the cache key covers, and the manifest's location is kept so
the relative ``file:`` paths still resolve at install time.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path, PurePosixPath
from typing import Any

from msgspec import Struct

from lambdaforge.builders.node import managers, otherlocks, workspace
from lambdaforge.errors import ConfigError, ConfigIssue

#: package.json fields that change what ``npm ci`` installs (or refuses to install).
#: ``name``/``version``/``scripts``… do not, and dropping them lets installs be shared.
INSTALL_FIELDS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "overrides",
    # npm 11's allow-list of dependencies whose install scripts may run (allow-scripts).
    "allowScripts",
)
#: What the synthesized root package is called in the install scratch directory.
INSTALL_ROOT_NAME = "lambdaforge-install"
INSTALL_ROOT_VERSION = "0.0.0"
LOCKFILE_NAMES = ("package-lock.json", "npm-shrinkwrap.json")
#: every lockfile a Node.js package may carry (none is shipped in a layer's ``nodejs/``)
ALL_LOCKFILE_NAMES = (*LOCKFILE_NAMES, "pnpm-lock.yaml", "yarn.lock")
#: package.json fields pnpm and Yarn also read when installing (overrides, patches; berry
#: names the root workspace in its lockfile)
OTHER_MANAGER_FIELDS = {"pnpm": ("pnpm",), "yarn-classic": ("resolutions",),
                        "yarn-berry": ("name", "resolutions", "dependenciesMeta")}
#: registry configuration each tool reads beside package.json (staged, never shipped)
CONFIG_FILES = {"npm": (".npmrc",), "pnpm": (".npmrc", "pnpm-workspace.yaml"),
                "yarn-classic": (".npmrc", ".yarnrc"), "yarn-berry": (".yarnrc.yml",)}
#: the package.json fields whose dependencies npm records in the lock's root entry
DECLARED_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
TARBALL_SUFFIXES = (".tgz", ".tar.gz", ".tar")


class NodeManifest(Struct, frozen=True):
    """A function's or layer's npm manifest and lockfile, canonicalised.

    ``package_json`` and ``lockfile`` are canonical JSON text (sorted keys, compact) with the
    root package's identity replaced; ``base`` is the project-relative directory of
    ``package.json``, only set when local packages make the location matter.
    """

    package_json: str
    lockfile: str
    lockfile_name: str
    base: str | None
    #: project-relative local package directories (``file:`` directory dependencies)
    local_dirs: tuple[str, ...]
    #: project-relative local tarballs (``file:`` tarball dependencies)
    local_files: tuple[str, ...]
    #: the lockfile, project-relative
    lockfile_path: str = ""
    #: ``npm``, ``npm-workspace``, ``pnpm``, ``yarn-classic``, ``yarn-berry`` (``managers``)
    manager: str = "npm"
    #: more canonical inputs of the install (a workspace member's path and package.json)
    extra: tuple[tuple[str, str], ...] = ()
    #: project-relative files read besides the package.json and lockfile (configuration)
    watched: tuple[str, ...] = ()


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal data, equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def has_dependencies(package: dict[str, Any]) -> bool:
    """True when a package.json declares anything npm would install for production."""
    return any(package.get(k) for k in ("dependencies", "optionalDependencies", "peerDependencies"))


def read_json(path: Path, shown: str) -> dict[str, Any]:
    """Parse a JSON object file, reporting a syntax error with the file's project path."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(ConfigIssue(shown, None, "", f"cannot read JSON: {exc}")) from exc
    if not isinstance(data, dict):
        raise ConfigError(ConfigIssue(shown, None, "", "expected a JSON object"))
    return data


def find_lockfile(package_dir: Path) -> Path | None:
    """The lockfile beside a package.json (``package-lock.json`` or ``npm-shrinkwrap.json``)."""
    for name in LOCKFILE_NAMES:
        if (package_dir / name).is_file():
            return package_dir / name
    return None


def load_manifest(project_root: Path, package_json: str) -> NodeManifest | None:
    """Read and canonicalise ``package_json`` (project-relative POSIX) and its lockfile.

    Returns ``None`` when the package declares no production dependencies (nothing to
    install, so no lockfile is needed). Raises ``ConfigError`` with every problem that stops
    a reproducible install (``manifest_issues``), each naming its fix.
    """
    manifest, issues = _read(project_root, package_json)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return manifest


def manifest_issues(project_root: Path, package_json: str) -> list[ConfigIssue]:
    """Every problem of a package.json and its lockfile, found without running npm: errors
    (unreadable JSON, workspaces, no lockfile, lockfileVersion 1, links, local packages
    outside the project, declared dependencies missing from the lock) and warnings (a
    dependency declared with another spec than the lock was made for)."""
    return _read(project_root, package_json)[1]


def inspect(project_root: Path, package_json: str) -> tuple[NodeManifest | None, list[ConfigIssue]]:
    """The canonical manifest (``None`` when there is nothing to install or it cannot be
    made) and every issue of ``manifest_issues``."""
    return _read(project_root, package_json)


def _read(project_root: Path, package_json: str) -> tuple[NodeManifest | None, list[ConfigIssue]]:
    base = posixpath.dirname(package_json)
    package_dir = project_root / base
    try:
        package = read_json(project_root / package_json, package_json)
    except ConfigError as exc:
        return None, exc.issues
    if package.get("workspaces"):
        return None, [ConfigIssue(
            package_json, None, "",
            "a workspace root is not a function or layer (its `workspaces` are): make the "
            "function's directory a member, whose dependencies install from this lockfile",
        )]
    if not has_dependencies(package):
        return None, []
    where = base or "."
    found = managers.lockfiles_in(package_dir)
    choice = managers.choose(found, package)
    if isinstance(choice, str) and found:
        return None, [ConfigIssue(package_json, None, "", choice)]
    if isinstance(choice, str):
        root = workspace.find_root(project_root, base)
        if root is not None:
            return _read_member(project_root, package_json, package, *root)
        return None, [ConfigIssue(package_json, None, "", _missing_lock_message(
            project_root, package, base, where))]
    manager, lock_path = choice
    if manager is not managers.NPM:
        return _read_other(project_root, package_json, package, manager, lock_path)
    relock = relock_command(package)
    lock_shown = posixpath.join(base, lock_path.name)
    lock, problems = _read_npm_lock(lock_path, lock_shown, where)
    if lock is None:
        return None, problems
    issues = _stale_issues(package, lock["packages"].get(""), project_root / package_json, package_json,
                           lock_path.name, f"run `{relock}` in {where}")
    local_dirs, local_files, local_issues = _local_references(lock, base, lock_shown, where)
    issues += local_issues
    canonical_package = {k: package[k] for k in INSTALL_FIELDS if k in package}
    canonical_package.update(name=INSTALL_ROOT_NAME, version=INSTALL_ROOT_VERSION)
    return NodeManifest(
        package_json=canonical_json(canonical_package),
        lockfile=canonical_json(_anonymise_lock(lock)),
        lockfile_name=lock_path.name,
        base=base if (local_dirs or local_files) else None,
        local_dirs=local_dirs,
        local_files=local_files,
        lockfile_path=lock_shown,
    ), issues


def _read_npm_lock(lock_path: Path, lock_shown: str, where: str
                   ) -> tuple[dict[str, Any] | None, list[ConfigIssue]]:
    """An npm lockfile read and of a version forge installs from, or the problem with it."""
    try:
        lock = read_json(lock_path, lock_shown)
    except ConfigError as exc:
        return None, exc.issues
    version_issue = _lock_version_issue(lock, lock_shown, where)
    return (None, [version_issue]) if version_issue is not None else (lock, [])


def _read_member(project_root: Path, package_json: str, package: dict[str, Any], root: str,
                 root_package: dict[str, Any]) -> tuple[NodeManifest | None, list[ConfigIssue]]:
    """A member of the npm workspace at ``root``, installed from the root's lockfile
    (``workspace``): its entry in the lock is checked against its package.json like a
    root entry, and the members it links to become directories of the install."""
    base = posixpath.dirname(package_json)
    where = root or "."
    member = PurePosixPath(base).relative_to(PurePosixPath(root or ".")).as_posix() if root else base
    root_dir = project_root / root
    found = managers.lockfiles_in(root_dir)
    npm_locks = [p for m, p in found if m is managers.NPM]
    if not npm_locks:
        if found:
            return None, [ConfigIssue(package_json, None, "", _foreign_workspace_message(
                found[0][0], found[0][1], where, base))]
        return None, [ConfigIssue(package_json, None, "", (
            f"no lockfile beside it or at the root of its npm workspace (`{where}`), and a "
            f"lockfile is required for a reproducible install: run `npm install "
            f"--package-lock-only` in {where}"))]
    lock_path = npm_locks[0]
    lock_shown = posixpath.join(root, lock_path.name)
    lock, problems = _read_npm_lock(lock_path, lock_shown, where)
    if lock is None:
        return None, problems
    links = workspace.workspace_links(lock)
    others = {k: v for k, v in lock["packages"].items() if k not in links}
    linked_dirs = any(isinstance(e, dict) and e.get("link") for e in others.values())
    relock = relock_command(package)
    if linked_dirs and "--install-links" not in relock:
        relock += " --install-links"
    fix = f"run `{relock}` in {where}"
    entry = lock["packages"].get(member)
    if not isinstance(entry, dict):
        return None, [ConfigIssue(package_json, None, "", (
            f"{lock_shown} has no entry for the workspace member `{member}` (it was locked before "
            f"the member existed): {fix}"))]
    issues = _stale_issues(package, entry, project_root / package_json, package_json, lock_shown, fix)
    local_dirs, local_files, local_issues = _local_references({"packages": others}, root, lock_shown, where)
    issues += local_issues
    reached = workspace.linked_members(lock, member)
    issues += _linked_stale_issues(project_root, root, reached, lock, lock_shown, fix)
    linked = tuple(posixpath.join(root, m) if root else m for m in reached)
    canonical_root = {k: root_package[k] for k in (*INSTALL_FIELDS, "workspaces") if k in root_package}
    canonical_root.update(name=INSTALL_ROOT_NAME, version=INSTALL_ROOT_VERSION)
    member_json = canonical_json(workspace.member_package(package, INSTALL_FIELDS))
    return NodeManifest(
        package_json=canonical_json(canonical_root),
        lockfile=canonical_json(_anonymise_lock(lock)),
        lockfile_name=lock_path.name,
        base=root,
        local_dirs=tuple(sorted({*local_dirs, *linked})),
        local_files=local_files,
        lockfile_path=lock_shown,
        manager="npm-workspace",
        extra=(("member", member), ("member-package.json", member_json)),
        watched=(posixpath.join(root, "package.json"), lock_shown, posixpath.join(root, ".npmrc")),
    ), issues


def _read_other(project_root: Path, package_json: str, package: dict[str, Any], manager: managers.Manager,
                lock_path: Path) -> tuple[NodeManifest | None, list[ConfigIssue]]:
    """A package locked by pnpm or Yarn: the lockfile's text as it is (those tools' own
    formats, which they check themselves), checked here for dependencies it was not made
    for; local packages are refused (pnpm and Yarn link them)."""
    base = posixpath.dirname(package_json)
    where = base or "."
    lock_shown = posixpath.join(base, lock_path.name)
    fix = f"run `{manager.relock}` in {where}"
    try:
        text = lock_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue(lock_shown, None, "", f"cannot read it: {exc}")]
    declared = {name: spec for field in DECLARED_FIELDS[:3] for name, spec in (package.get(field) or {}).items()}
    issues: list[ConfigIssue] = []
    local = sorted(n for n, s in declared.items()
                   if isinstance(s, str) and s.startswith(("file:", "link:", "portal:", "workspace:")))
    if local:
        issues.append(ConfigIssue(package_json, None, "", (
            f"{', '.join(f'`{n}`' for n in local)}: local packages are installed from npm "
            f"lockfiles only ({manager.shown} links them, and a zip cannot hold a link): publish "
            "them to a registry, or lock the function with npm")))
    if manager is managers.PNPM:
        version = otherlocks.pnpm_lock_version(text)
        if version is None or version < 6:
            return None, [ConfigIssue(lock_shown, None, "", (
                f"lockfileVersion {version} is not one pnpm 8+ writes (6.0 or 9.0): {fix} with pnpm 9 or newer"))]
        locked = otherlocks.pnpm_specifiers(text)
        missing = [n for n, spec in declared.items() if locked.get(n) != spec]
        why = "pnpm install --frozen-lockfile would refuse it"
    else:
        missing = otherlocks.yarn_missing(declared, otherlocks.yarn_patterns(text),
                                          berry=manager is managers.YARN_BERRY)
        why = ("yarn install --frozen-lockfile would refuse it" if manager is managers.YARN_CLASSIC
               else "yarn would have to change it")
    if missing:
        text_pkg = _text(project_root / package_json)
        names = ", ".join(f"`{n}@{declared[n]}`" for n in missing)
        issues.insert(0, ConfigIssue(
            package_json, _line_of(text_pkg, missing[0]), "",
            f"{lock_path.name} is out of date: {names} {'is' if len(missing) == 1 else 'are'} not "
            f"in it ({why}): {fix}"))
    fields = (*INSTALL_FIELDS, *OTHER_MANAGER_FIELDS[manager.name])
    canonical_package = {k: package[k] for k in fields if k in package}
    if manager is not managers.YARN_BERRY:  # berry's lockfile names the root workspace
        canonical_package.update(name=INSTALL_ROOT_NAME, version=INSTALL_ROOT_VERSION)
    config = CONFIG_FILES[manager.name]
    extra: tuple[tuple[str, str], ...] = ()
    settings = project_root / base / "pnpm-workspace.yaml"
    if manager is managers.PNPM and settings.is_file():
        # pnpm 10 keeps install settings (overrides, onlyBuiltDependencies…) there
        extra = (("pnpm-workspace.yaml", _text(settings)),)
    return NodeManifest(
        package_json=canonical_json(canonical_package),
        lockfile=text,
        lockfile_name=lock_path.name,
        base=None,
        local_dirs=(),
        local_files=(),
        lockfile_path=lock_shown,
        manager=manager.name,
        extra=extra,
        watched=tuple(posixpath.join(base, name) for name in config),
    ), issues


def _foreign_workspace_message(manager: managers.Manager, lock: Path, root: str, where: str) -> str:
    """A package in a pnpm or Yarn workspace, whose root lockfile is not installed from."""
    own = (f"`{manager.relock} --ignore-workspace`" if manager is managers.PNPM
           else f"`{manager.relock}` with the directory outside the workspace")
    return (f"no lockfile beside it, but a {lock.name} in `{root}`: members of {manager.shown} "
            f"workspaces are not installed from the workspace's lockfile (npm's only): give "
            f"it a lockfile of its own ({own} in {where}), or lock the workspace with npm")


def _missing_lock_message(project_root: Path, package: dict[str, Any], base: str, where: str) -> str:
    """Why there is no lockfile to install from, and the command that makes one: the tool
    ``packageManager`` names, npm otherwise; the tools lambdaforge does not drive are named."""
    package_dir = project_root / base
    for name, tool in managers.UNSUPPORTED_LOCKFILES.items():
        if (package_dir / name).is_file():
            return (f"no lockfile lambdaforge installs from beside it, but a {name}: {tool} is not "
                    f"supported; lock it with npm, pnpm or Yarn: run `{relock_command(package)}` in {where}")
    parts = PurePosixPath(base).parts
    for depth in range(len(parts) - 1, -1, -1):  # a pnpm or Yarn workspace's root lockfile
        root = PurePosixPath(*parts[:depth]).as_posix() if depth else ""
        found = [(m, p) for m, p in managers.lockfiles_in(project_root / root) if m is not managers.NPM]
        if found:
            return _foreign_workspace_message(found[0][0], found[0][1], root or ".", where)
    tool = managers.declared_manager(package)
    if tool in ("pnpm", "yarn"):
        relock = managers.PNPM.relock if tool == "pnpm" else "yarn install"
        return (f"no lockfile beside it (package.json's packageManager names {tool}); a lockfile is "
                f"required for a reproducible install: run `{relock}` in {where}")
    return ("no package-lock.json beside it; a lockfile is required for a reproducible "
            f"install: run `{relock_command(package)}` in {where}")


def relock_command(package: dict[str, Any]) -> str:
    """The command that writes (or refreshes) the lockfile lambdaforge installs from: with
    ``--install-links`` when a dependency is a local directory, whose default link form a
    zip cannot hold."""
    linked = any(isinstance(spec, str) and spec.startswith("file:") and not spec.endswith(TARBALL_SUFFIXES)
                 for field in DECLARED_FIELDS for spec in (package.get(field) or {}).values())
    return "npm install --package-lock-only" + (" --install-links" if linked else "")


def _linked_stale_issues(project_root: Path, root: str, members: list[str], lock: dict[str, Any],
                         lock_shown: str, fix: str) -> list[ConfigIssue]:
    """The stale check of every workspace member the install stages beside the function's
    (``members``, root-relative: those it reaches through links): ``npm ci --workspace``
    refuses a lock out of date with any of them as with the function's own package.json.
    A member whose package.json cannot be read is left to the install to report."""
    issues: list[ConfigIssue] = []
    for member in members:
        shown = posixpath.join(root, member, "package.json") if root else f"{member}/package.json"
        try:
            package = json.loads((project_root / shown).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(package, dict):
            issues += _stale_issues(package, lock["packages"].get(member), project_root / shown,
                                    shown, lock_shown, fix)
    return issues


def _stale_issues(package: dict[str, Any], root: object, package_path: Path, shown: str,
                  lock_name: str, fix: str) -> list[ConfigIssue]:
    """Declared dependencies the lock was not made for: missing from its entry for the
    package, ``root`` (``packages[""]``, or a workspace member's), where npm records the
    declared specs (npm ci fails on them, even ``devDependencies`` with ``--omit=dev``), is
    an error; declared with another spec is a warning (npm ci accepts the lock while its
    version still satisfies)."""
    root = root if isinstance(root, dict) else {}
    locked: dict[str, object] = {}
    for field in DECLARED_FIELDS:
        section = root.get(field)
        if isinstance(section, dict):
            for name, spec in section.items():
                locked.setdefault(name, spec)
    missing: list[str] = []
    issues: list[ConfigIssue] = []
    text = _text(package_path)
    for field in DECLARED_FIELDS:
        for name, spec in (package.get(field) or {}).items():
            if name not in locked:
                missing.append(f"{field}.{name}")
            elif spec != locked[name] and not any(
                    (package.get(f) or {}).get(name) == locked[name] for f in DECLARED_FIELDS):
                issues.append(ConfigIssue(
                    shown, _line_of(text, name), f"{field}.{name}",
                    f"declared as {json.dumps(spec)} but {lock_name} was made for "
                    f"{json.dumps(locked[name])}; npm installs the locked version while it "
                    f"still satisfies: {fix}", severity="warning"))
    if missing:
        first = missing[0].split(".", 1)[1]
        names = ", ".join(f"`{m}`" for m in missing)
        issues.insert(0, ConfigIssue(
            shown, _line_of(text, first), "",
            f"{lock_name} is out of date: {names} {'is' if len(missing) == 1 else 'are'} not in "
            f"it (npm ci would refuse it): {fix}"))
    return issues


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _line_of(text: str, name: str) -> int | None:
    """The line of package.json where the dependency ``name`` is declared (first key match)."""
    needle = json.dumps(name) + ":"
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line.replace('" :', '":'):
            return number
    return None


def _lock_version_issue(lock: dict[str, Any], shown: str, where: str) -> ConfigIssue | None:
    # lockfileVersion 1 has no "packages" map: npm ci would upgrade it on the fly, which
    # means resolving, which is exactly what a lockfile is meant to prevent.
    version = lock.get("lockfileVersion")
    if not isinstance(version, int) or version < 2 or not isinstance(lock.get("packages"), dict):
        return ConfigIssue(
            shown, None, "",
            f"lockfileVersion {version} is too old (needs 2 or 3, npm 7+): run "
            f"`npm install --package-lock-only` in {where} with npm 7 or newer",
        )
    return None


def _anonymise_lock(lock: dict[str, Any]) -> dict[str, Any]:
    """The lockfile with the root package's own name and version replaced, so functions that
    differ only in those share an install; everything that pins dependencies stays."""
    out = dict(lock)
    out["name"] = INSTALL_ROOT_NAME
    out["version"] = INSTALL_ROOT_VERSION
    packages = dict(out["packages"])
    root = dict(packages.get("", {}))
    root.update(name=INSTALL_ROOT_NAME, version=INSTALL_ROOT_VERSION)
    for key in ("license", "engines", "bin", "funding", "os", "cpu", "libc", "hasInstallScript"):
        root.pop(key, None)
    packages[""] = root
    out["packages"] = packages
    return out


def _local_references(
    lock: dict[str, Any], base: str, shown: str, where: str
) -> tuple[tuple[str, ...], tuple[str, ...], list[ConfigIssue]]:
    """Project-relative local directories and tarballs the lockfile installs from, and the
    entries a zip cannot be made from (links, packages outside the project)."""
    dirs: set[str] = set()
    files: set[str] = set()
    issues: list[ConfigIssue] = []
    for location, entry in sorted(lock["packages"].items()):
        if not location or not isinstance(entry, dict):
            continue
        if entry.get("link"):
            # A link installs as a symlink to a directory outside node_modules, and npm
            # does not install the linked package's own dependencies: broken in a zip.
            issues.append(ConfigIssue(
                shown, None, "",
                f"`{location}` is a link to `{entry.get('resolved')}`, which a Lambda zip "
                "cannot hold: regenerate the lockfile with "
                f"`npm install --package-lock-only --install-links` in {where}",
            ))
            continue
        resolved = entry.get("resolved")
        if not (isinstance(resolved, str) and resolved.startswith("file:")):
            continue
        rel = posixpath.normpath(posixpath.join(base, resolved[len("file:"):]))
        if rel == ".." or rel.startswith("../") or posixpath.isabs(rel):
            issues.append(ConfigIssue(
                shown, None, "",
                f"`{location}` comes from `{resolved}`, outside the project root; local "
                "packages must live inside the project",
            ))
            continue
        (files if rel.endswith(TARBALL_SUFFIXES) else dirs).add(rel)
    return tuple(sorted(dirs)), tuple(sorted(files)), issues
