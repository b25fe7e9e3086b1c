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

import fnmatch
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

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
#: other package managers' lockfiles, which npm does not install from
OTHER_LOCKFILES = {"pnpm-lock.yaml": "pnpm", "yarn.lock": "Yarn", "bun.lock": "Bun", "bun.lockb": "Bun"}
#: the package.json fields whose dependencies npm records in the lock's root entry
DECLARED_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
TARBALL_SUFFIXES = (".tgz", ".tar.gz", ".tar")


@dataclass(frozen=True)
class NodeManifest:
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
            "npm workspaces are not supported; give each function its own package.json "
            "and lockfile",
        )]
    if not has_dependencies(package):
        return None, []
    lock_path = find_lockfile(package_dir)
    where = base or "."
    relock = relock_command(package)
    if lock_path is None:
        return None, [ConfigIssue(package_json, None, "", _missing_lock_message(
            project_root, base, relock, where))]
    lock_shown = posixpath.join(base, lock_path.name)
    try:
        lock = read_json(lock_path, lock_shown)
    except ConfigError as exc:
        return None, exc.issues
    version_issue = _lock_version_issue(lock, lock_shown, where)
    if version_issue is not None:
        return None, [version_issue]
    issues = _stale_issues(package, lock, project_root / package_json, package_json, lock_path.name,
                           f"run `{relock}` in {where}")
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
    ), issues


def _missing_lock_message(project_root: Path, base: str, relock: str, where: str) -> str:
    """Why there is no lockfile to install from, and the command that makes one: another
    package manager's lockfile, or an npm workspace whose root lockfile holds the member's
    dependencies, is not read (yet); npm can lock the member on its own (measured:
    ``--workspaces=false`` in the member writes a lockfile of its own, in install form)."""
    package_dir = project_root / base
    for name, tool in OTHER_LOCKFILES.items():
        if (package_dir / name).is_file():
            return (f"no package-lock.json beside it, but a {name}: lambdaforge installs with npm "
                    f"only, not {tool} (yet); lock it for npm too: run `{relock}` in {where}")
    workspace = _workspace_root(project_root, base)
    if workspace is not None:
        return (f"no package-lock.json beside it: it is a member of the npm workspace in "
                f"`{workspace or '.'}`, whose lockfile lambdaforge does not install members from "
                f"(yet); give it one of its own: run `{relock} --workspaces=false` in {where}")
    return ("no package-lock.json beside it; a lockfile is required for a reproducible "
            f"install: run `{relock}` in {where}")


def _workspace_root(project_root: Path, base: str) -> str | None:
    """The project-relative directory above ``base`` whose package.json lists ``base`` among
    its ``workspaces`` (npm's array, or Yarn's ``{"packages": [...]}``), if any."""
    parts = PurePosixPath(base).parts
    for depth in range(len(parts) - 1, -1, -1):
        root = PurePosixPath(*parts[:depth]).as_posix() if depth else ""
        try:
            manifest = json.loads((project_root / root / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        patterns = manifest.get("workspaces") if isinstance(manifest, dict) else None
        if isinstance(patterns, dict):
            patterns = patterns.get("packages")
        member = PurePosixPath(*parts[depth:]).as_posix()
        if isinstance(patterns, list) and any(
                isinstance(p, str) and fnmatch.fnmatchcase(member, p.removeprefix("./")) for p in patterns):
            return root
    return None


def relock_command(package: dict[str, Any]) -> str:
    """The command that writes (or refreshes) the lockfile lambdaforge installs from: with
    ``--install-links`` when a dependency is a local directory, whose default link form a
    zip cannot hold."""
    linked = any(isinstance(spec, str) and spec.startswith("file:") and not spec.endswith(TARBALL_SUFFIXES)
                 for field in DECLARED_FIELDS for spec in (package.get(field) or {}).values())
    return "npm install --package-lock-only" + (" --install-links" if linked else "")


def _stale_issues(package: dict[str, Any], lock: dict[str, Any], package_path: Path, shown: str,
                  lock_name: str, fix: str) -> list[ConfigIssue]:
    """Declared dependencies the lock was not made for: missing from its root entry (npm ci
    fails on them, even ``devDependencies`` with ``--omit=dev``) is an error; declared with
    another spec is a warning (npm ci accepts the lock while its version still satisfies)."""
    root = lock["packages"].get("")
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
