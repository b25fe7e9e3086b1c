"""What a Python function or layer depends on, canonicalised into ``DependencyInputs``.

Sources: the one declaring file chosen by ``declarations`` (``requirements = "…"``, else
``requirements.txt``, ``uv.lock`` via ``uv export``, ``poetry.lock`` and ``Pipfile.lock``
read directly by ``poetry``/``pipenv``, ``pyproject.toml``), plus inline
``dependencies = [...]``.

The result is the install target's identity (design §3), so it is canonical: requirement
lines normalised and sorted, no absolute path (local paths are project-relative, written
with the ``{project}`` placeholder the installer substitutes), and nothing about where the
requirements came from. Two functions whose requirement files resolve to the same lines
share one install. The contents of the files are in ``canonical`` already, so ``files``
only lists local wheels named as requirements and ``directories`` local wheel folders.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote

from msgspec import Struct, field
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdaforge.builders.base import DependencyInputs
from lambdaforge.builders.python.declarations import Declaration
from lambdaforge.builders.python.locked import LockRead
from lambdaforge.builders.python.settings import PythonSettings
from lambdaforge.config.specs import BuildSettings, Project
from lambdaforge.errors import ConfigError, ConfigIssue
from lambdaforge.redact import key_form
from lambdaforge.runner import CommandResult, Runner, isolated_installer_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Stands for the project root in canonical local paths; the installer substitutes it.
PROJECT_PLACEHOLDER = "{project}"

# canonical keys, in the order they are emitted
_K_INSTALLER = "installer"
_K_INDEX = "index-url"
_K_EXTRA_INDEX = "extra-index-url"
_K_FIND_LINKS = "find-links"
_K_NO_INDEX = "no-index"
_K_PRE = "pre"
_K_REQUIREMENT = "requirement"
_K_CONSTRAINT = "constraint"
_K_PINNED = "pinned"
_K_PROVIDED_RANGE = "provided-range"
_K_EDITABLE = "editable"
_K_CONTAINER = "use-container"
_K_REQUIRE_HASHES = "require-hashes"

_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_PREFIXES = ("http://", "https://", "file:", "git+", "hg+", "svn+", "bzr+")


class RequirementSet(Struct, frozen=True):
    """``DependencyInputs.canonical`` read back: what an installer needs to run."""

    installer: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    #: project-relative folders (``{project}/…``) or URLs
    find_links: tuple[str, ...]
    no_index: bool
    pre: bool
    #: normalized names the user pinned with ``==`` at the top level (they keep runtime-
    #: provided packages, see ``dists.runtime_provided_choice``)
    pinned: frozenset[str]
    #: the user's own top-level requirements on a runtime-provided package with a version
    #: range (``boto3>=1.28.57``): a range the runtime's copy does not satisfy keeps it
    provided_ranges: tuple[str, ...] = ()
    #: requirement lines the user marked ``-e`` (a note says they are installed normally)
    editable: tuple[str, ...] = ()
    #: native code is built in the runtime's build image (``use-container``)
    use_container: bool = False
    #: a requirements file said ``--require-hashes`` (``hash_checking``)
    require_hashes: bool = False

    @classmethod
    def of(cls, inputs: DependencyInputs) -> RequirementSet:
        """Decode the canonical pairs written by ``collect_dependency_inputs``."""
        values: dict[str, list[str]] = {}
        for key, value in inputs.canonical:
            values.setdefault(key, []).append(inputs.reveal(value))
        one = lambda k: values.get(k, [None])[0]  # noqa: E731
        return cls(
            installer=one(_K_INSTALLER) or "uv",
            requirements=tuple(values.get(_K_REQUIREMENT, ())),
            constraints=tuple(values.get(_K_CONSTRAINT, ())),
            index_url=one(_K_INDEX),
            extra_index_urls=tuple(values.get(_K_EXTRA_INDEX, ())),
            find_links=tuple(values.get(_K_FIND_LINKS, ())),
            no_index=one(_K_NO_INDEX) == "true",
            pre=one(_K_PRE) == "true",
            pinned=frozenset(values.get(_K_PINNED, ())),
            provided_ranges=tuple(values.get(_K_PROVIDED_RANGE, ())),
            editable=tuple(values.get(_K_EDITABLE, ())),
            use_container=one(_K_CONTAINER) == "true",
            require_hashes=one(_K_REQUIRE_HASHES) == "true",
        )

    @property
    def hash_checking(self) -> bool:
        """pip's hash-checking mode: on when a requirement carries ``--hash`` or a file says
        ``--require-hashes``; then every package installed, dependencies included, must be
        pinned with ``==`` and match a hash. pip turns it on by itself, uv only when asked
        (``--require-hashes``: by default it checks the hashes given and nothing more)."""
        return self.require_hashes or any(" --hash=" in r for r in self.requirements)

    def root_requirements(self) -> list[Requirement]:
        """The top-level requirements that parse as PEP 508 (local paths have no name)."""
        out = []
        for line in self.requirements:
            try:
                out.append(Requirement(line.split(" --hash", 1)[0]))
            except InvalidRequirement:
                continue
        return out


def resolve_local(value: str, project_root: Path) -> str:
    """Turn canonical ``{project}/…`` paths back into absolute ones (URLs unchanged).

    A named requirement (``pkg @ {project}/x.whl``) becomes a ``file://`` URL, the form
    PEP 508 and both installers accept; a bare path or find-links folder a plain path.
    """
    root = project_root.resolve().as_posix()
    value = value.replace(f" @ {PROJECT_PLACEHOLDER}/", f" @ file://{root}/")
    if value.startswith(PROJECT_PLACEHOLDER + "/"):
        return root + value[len(PROJECT_PLACEHOLDER):]
    return value


#: the options ``read_option_line`` understands, for the message about any other
SUPPORTED_OPTIONS = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i",
                     "--index-url", "--extra-index-url", "-f", "--find-links", "--no-index",
                     "--pre", "--hash", "--require-hashes")


def _unsupported_option(name: str) -> str:
    """What to say about a requirements-file option forge does not pass on: what it does
    take, and the closest one when ``name`` looks like a misspelling of it."""
    import difflib

    close = difflib.get_close_matches(name, [o for o in SUPPORTED_OPTIONS if o.startswith("--")],
                                      n=1, cutoff=0.8)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return (f"`{name}`: option not supported in requirements files (expected one of "
            f"{', '.join(SUPPORTED_OPTIONS)}: forge decides how wheels are chosen for the "
            f"target platform, and installer settings go in lambdaforge.toml{hint})")


class _Collector(Struct, dict=True):
    """Accumulates requirement lines and options from every source, with the problems found."""

    project_root: Path
    requirements: set[str] = field(default_factory=set)
    constraints: set[str] = field(default_factory=set)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    #: ``--require-hashes`` in a requirements file (``RequirementSet.hash_checking``)
    require_hashes: bool = False
    pinned: set[str] = field(default_factory=set)
    #: top-level ranges on runtime-provided packages (``RequirementSet.provided_ranges``)
    provided_ranges: set[str] = field(default_factory=set)
    #: requirement lines given with ``-e`` (installed normally: Lambda has no editable installs)
    editable: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    directories: set[str] = field(default_factory=set)
    #: files read (for the no-op fast path; their content is in the canonical lines)
    read: set[str] = field(default_factory=set)
    #: environment variables the requirements files expand (``${NAME}``)
    variables: set[str] = field(default_factory=set)
    issues: list[ConfigIssue] = field(default_factory=list)
    #: (runtime, architecture) the dependencies are read for: a Poetry 1.x lock is walked
    #: with the target's markers (``poetry_legacy``)
    target: tuple[str, str] = ("python3.12", "x86_64")
    #: ``Path.resolve()`` of each path asked about, while this one declaration is read (a
    #: requirements file is asked about six times; each resolve is an ``lstat`` per
    #: component, and a project of 200 functions read ~1,600 of them)
    resolved: dict[Path, Path] = field(default_factory=dict)
    #: ``rel`` of each path inside the project asked about, likewise
    relative: dict[Path, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers

    @cached_property
    def _resolved_root(self) -> Path:
        return self.resolve(self.project_root)

    def resolve(self, path: Path) -> Path:
        """``path.resolve()``, once per path for this collector."""
        found = self.resolved.get(path)
        if found is None:
            found = self.resolved[path] = path.resolve()
        return found

    def rel(self, path: Path) -> str:
        """Project-relative POSIX path of ``path`` (which must be inside the project:
        ``ValueError`` otherwise)."""
        found = self.relative.get(path)
        if found is None:
            found = self.relative[path] = (
                self.resolve(path).relative_to(self._resolved_root).as_posix())
        return found

    def inside(self, path: Path) -> bool:
        """True when ``path`` (symlinks resolved) is inside the project root."""
        try:
            self.rel(path)
            return True
        except ValueError:
            return False

    def problem(self, where: str, line: int | None, message: str, key: str = "") -> None:
        """Record a problem; all are raised together at the end."""
        self.issues.append(ConfigIssue(file=where, line=line, key=key, message=message))

    # ------------------------------------------------------------------ requirement lines

    def add_requirement(
        self, text: str, hashes: Iterable[str], base: Path, where: str, line: int | None,
        *, constraint: bool = False, top_level: bool = True,
    ) -> None:
        """Normalise one requirement and add it (as a constraint when ``constraint``)."""
        hashes = sorted(set(hashes))
        suffix = "".join(f" --hash={h}" for h in hashes)
        target = self.constraints if constraint else self.requirements
        try:
            req = Requirement(text)
        except InvalidRequirement:
            req = None
        if req is not None and req.url and req.url.startswith("file:"):
            raw = unquote(req.url[len("file:"):])
            raw = raw[2:] if raw.startswith("//") else raw  # file:///abs → /abs; file:rel stays relative
            local = self.local_requirement(raw, base, where, line, absolute=raw.startswith("/"))
            if local:
                target.add(f"{canonicalize_name(req.name)} @ {local}{suffix}")
            return
        if req is None:
            if text.startswith(_URL_PREFIXES):
                target.add(text + suffix)  # a bare URL: the installer reads the name from it
                return
            if "/" in text or text.startswith(".") or text.endswith((".whl", ".tar.gz", ".zip")):
                local = self.local_requirement(text, base, where, line)
                if local:
                    target.add(local + suffix)
                return
            self.problem(where, line, f"`{text}`: not a valid requirement")
            return
        target.add(_normalise(req) + suffix)
        if top_level and not constraint:
            self.note_user_requirement(req)

    def note_user_requirement(self, req: Requirement) -> None:
        """What the user's own top-level requirement says about runtime-provided packages:
        an exact pin keeps the package; a range is kept for the package action to hold
        against the runtime's version (``dists.runtime_provided_choice``)."""
        if any(s.operator in ("==", "===") for s in req.specifier) and "*" not in str(req.specifier):
            self.pinned.add(canonicalize_name(req.name))
        elif req.specifier and not req.url:
            from lambdaforge.lambda_facts import PYTHON_RUNTIME_PROVIDED

            if canonicalize_name(req.name) in PYTHON_RUNTIME_PROVIDED:
                self.provided_ranges.add(_normalise(req))

    def local_requirement(
        self, text: str, base: Path, where: str, line: int | None, *, absolute: bool = False
    ) -> str | None:
        """A local wheel, sdist or source folder named as a requirement: ``{project}/rel``."""
        path = Path(text) if absolute else (base / text)
        if not self.inside(path):
            self.problem(where, line, f"`{text}`: local path leaves the project root")
            return None
        if not path.exists():
            self.problem(where, line, f"`{text}`: no such file or directory")
            return None
        rel = self.rel(path)
        if path.is_dir():
            # A local package: built to a wheel at install time (``local.py``); its files,
            # as that build copies them, key the install, and its folders are watched.
            from lambdaforge.builders.python.local import package_files

            from lambdaforge.builders.python.local import version_variables

            files, dirs = package_files(path)
            self.files.update(f"{rel}/{f}" for f in files)
            self.read.update(f"{rel}/{d}".rstrip("/") for d in dirs)
            # its build reads these for a version from version control: keyed by value
            self.variables.update(version_variables(path))
        else:
            self.files.add(rel)
        return f"{PROJECT_PLACEHOLDER}/{rel}"

    def add_find_links(self, value: str, base: Path, where: str, line: int | None, key: str = "") -> None:
        """A wheel folder (relative to ``base``) or URL to look for packages in."""
        if value.startswith(_URL_PREFIXES) and not value.startswith("file:"):
            canonical = value
        else:
            path = base / value.removeprefix("file:")
            if not self.inside(path):
                self.problem(where, line, f"`{value}`: find-links folder leaves the project root", key)
                return
            if not path.is_dir():
                self.problem(where, line, f"`{value}`: find-links folder does not exist", key)
                return
            rel = self.rel(path)
            self.directories.add(rel)
            canonical = f"{PROJECT_PLACEHOLDER}/{rel}"
        if canonical not in self.find_links:
            self.find_links.append(canonical)

    def add_extra_index(self, url: str) -> None:
        """An extra index, once, in the order given (order is priority for uv)."""
        if url not in self.extra_index_urls:
            self.extra_index_urls.append(url)

    # ------------------------------------------------------------------ requirements.txt

    def read_requirements_file(
        self, path: Path, *, constraint: bool = False, seen: tuple[Path, ...] = ()
    ) -> None:
        """Read a requirements file, following ``-r``/``-c`` relative to it."""
        where = self.rel(path) if self.inside(path) else str(path)
        if self.resolve(path) in seen:
            self.problem(where, None, "requirements file includes itself")
            return
        seen = (*seen, self.resolve(path))
        if self.inside(path):
            self.read.add(self.rel(path))
        base = path.parent
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no text, as for pip
        except UnicodeDecodeError as exc:
            self.problem(where, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                      "save it as UTF-8")
            return
        except OSError as exc:
            self.problem(where, None, f"cannot read it: {exc.strerror}")
            return
        for lineno, line in _logical_lines(text):
            line = self.expand_variables(line)
            if line.startswith("-"):
                self.read_option_line(line, path, where, lineno, constraint, seen)
                continue
            spec, options = _split_options(line)
            hashes: list[str] = []
            for name, value in options:
                if name == "--hash":
                    hashes.append(value)
                else:
                    self.problem(where, lineno, f"`{name}`: per-requirement option not supported")
            self.add_requirement(spec, hashes, base, where, lineno, constraint=constraint)

    def expand_variables(self, line: str, pattern: re.Pattern[str] | None = None) -> str:
        """``line`` with each ``${NAME}`` (upper-case letters, digits, ``_``) replaced by
        that environment variable's value, as pip and uv read requirements files; one unset
        or empty stays as written, as in pip (``pattern``: another syntax, Pipenv's). Every
        name is remembered (``variables``): the install watches it, so another value (a
        rotated token, another index host) is planned again."""
        pattern = pattern or _ENV_VARIABLE
        for match in pattern.finditer(line):
            self.variables.add(match.group(1) or match.group(2))
        return pattern.sub(lambda m: os.environ.get(m.group(1) or m.group(2)) or m.group(0), line)

    def read_option_line(
        self, line: str, path: Path, where: str, lineno: int, constraint: bool, seen: tuple[Path, ...]
    ) -> None:
        """One ``-r``/``-c``/``--index-url``/… line of a requirements file."""
        base = path.parent
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            self.problem(where, lineno, f"cannot parse `{line}`: {exc}")
            return
        for name, value in _option_pairs(tokens):
            if name in ("-r", "--requirement", "-c", "--constraint"):
                included = base / (value or "")
                if not value or not self.inside(included):
                    self.problem(where, lineno, f"`{line}`: included file leaves the project root")
                elif not included.is_file():
                    self.problem(where, lineno, f"`{line}`: no such file `{value}`")
                else:
                    as_constraint = constraint or name in ("-c", "--constraint")
                    self.read_requirements_file(included, constraint=as_constraint, seen=seen)
            elif name in ("-e", "--editable"):
                if value.startswith(_URL_PREFIXES) and not value.startswith("file:"):
                    self.problem(where, lineno, f"`{line}`: an editable VCS requirement cannot be "
                                 "packaged; name it without `-e` (`name @ git+https://…`)")
                    continue
                before = set(self.constraints if constraint else self.requirements)
                self.add_requirement(value, (), base, where, lineno, constraint=constraint)
                added = set(self.constraints if constraint else self.requirements) - before
                self.editable.update(added)
            elif name in ("-i", "--index-url"):
                self.index_url = self.index_url or value
            elif name == "--extra-index-url" and value:
                self.add_extra_index(value)
            elif name in ("-f", "--find-links") and value:
                self.add_find_links(value, base, where, lineno)
            elif name == "--no-index":
                self.no_index = True
            elif name == "--pre":
                self.pre = True
            elif name == "--require-hashes":
                self.require_hashes = True
            elif name == "--hash":
                self.problem(where, lineno, "`--hash` must follow a requirement on the same line")
            else:
                self.problem(where, lineno, _unsupported_option(name))

    # ------------------------------------------------------------------ pyproject / uv.lock

    def read_toml(self, path: Path) -> dict | None:
        """A TOML file's content, or ``None`` with the problem recorded."""
        where = self.rel(path)
        self.read.add(where)
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            self.problem(where, None, f"invalid TOML: {exc}")
        except UnicodeDecodeError as exc:
            self.problem(where, None, f"not UTF-8 text ({exc.reason}); save it as UTF-8")
        return None

    def read_pyproject(self, path: Path, options: PythonSettings) -> None:
        """``[project] dependencies`` of a pyproject.toml without a lock beside it, with the
        ``[project.optional-dependencies]`` of the ``extras`` and the PEP 735
        ``[dependency-groups]`` of the ``groups`` the options name."""
        where = self.rel(path)
        data = self.read_toml(path)
        if data is None:
            return
        project = data.get("project", {})
        deps = project.get("dependencies", []) if isinstance(project, dict) else None
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            self.problem(where, None, "`project.dependencies` must be a list of requirement "
                                      "strings in a `[project]` table")
            return
        poetry = _poetry_dependencies(data)
        if poetry and not deps:
            # Building without them would ship a zip that fails at its first import.
            shown = ", ".join(poetry[:3]) + (", …" if len(poetry) > 3 else "")
            self.problem(where, None, f"`tool.poetry.dependencies` declares {shown} but there "
                         "is no poetry.lock beside it: run `poetry lock`")
            return
        deps = deps + self.selected(data, options, where)
        if deps and self.uv_sources_unlocked(path, data, where):
            return
        for text in deps:
            self.add_requirement(text, (), path.parent, where, None)

    def selected(self, data: dict, options: PythonSettings, where: str) -> list[str]:
        """The requirement strings the ``extras`` (``[project.optional-dependencies]``) and
        ``groups`` (PEP 735 ``[dependency-groups]``, ``{include-group = …}`` followed) add;
        a name the file does not define is a problem (shipping without it would be a green
        build missing what was asked for)."""
        project = data.get("project")
        optional = project.get("optional-dependencies") if isinstance(project, dict) else None
        groups = data.get("dependency-groups")
        found: list[str] = []
        for kind, names, table in (("extra", options.extras, optional), ("group", options.groups, groups)):
            table = table if isinstance(table, dict) else {}
            by_name = {canonicalize_name(n): n for n in table}
            for name in names:
                if canonicalize_name(name) not in by_name:
                    known = ", ".join(sorted(table)) or "none"
                    self.problem(where, None, f"no {kind} `{name}` here (it defines: {known})",
                                 f"{kind}s")
                    continue
                found += self.group_entries(table, by_name, by_name[canonicalize_name(name)],
                                            where, kind, ())
        return found

    def group_entries(self, table: dict, by_name: dict[str, str], name: str, where: str,
                      kind: str, seen: tuple[str, ...]) -> list[str]:
        """The requirement strings of one extra or dependency group, included groups
        followed (a cycle or an entry that is neither is a problem)."""
        entries = table.get(name)
        if not isinstance(entries, list):
            self.problem(where, None, f"{kind} `{name}` must be a list of requirement strings")
            return []
        out: list[str] = []
        for entry in entries:
            included = entry.get("include-group") if isinstance(entry, dict) and kind == "group" else None
            if isinstance(entry, str):
                out.append(entry)
            elif isinstance(included, str) and canonicalize_name(included) in by_name:
                inner = by_name[canonicalize_name(included)]
                if inner in seen or inner == name:
                    cycle = " → ".join((*seen, name, inner))
                    self.problem(where, None, f"group `{inner}` includes itself ({cycle})")
                    continue
                out += self.group_entries(table, by_name, inner, where, kind, (*seen, name))
            else:
                self.problem(where, None, f"{kind} `{name}`: {entry!r} is neither a requirement "
                             "string" + (" nor an existing `{include-group = …}`" if kind == "group" else ""))
        return out

    def uv_sources_unlocked(self, path: Path, data: dict, where: str) -> bool:
        """Whether ``path`` needs a uv.lock it does not have, recorded as a problem:
        ``[tool.uv.sources]`` (its own, or its uv workspace root's, which members inherit)
        says where a dependency comes from (a workspace member, a path, git, an index).
        Read as plain ``[project] dependencies``, each such name would be fetched from the
        index: another package, maybe a squatted one, in a green build."""
        from lambdaforge.builders.python.declarations import uv_sources, uv_workspace_root

        sources, shown = uv_sources(data), where
        workspace = uv_workspace_root(path.parent, self.project_root)
        if not sources and workspace is not None:
            root_data = self.read_toml(workspace / "pyproject.toml") or {}
            sources, shown = uv_sources(root_data), self.rel(workspace / "pyproject.toml")
        if not sources:
            return False
        names = ", ".join(f"`{n}`" for n in sorted(sources)[:3]) + (", …" if len(sources) > 3 else "")
        verb = "comes" if len(sources) == 1 else "come"
        inherited = f" ({shown}, which its members inherit)" if shown != where else ""
        lock_in = (f" in `{self.rel(workspace) or '.'}`, the uv workspace's root"
                   if workspace is not None else "")
        self.problem(where, None, f"`[tool.uv.sources]`{inherited} says where {names} {verb} "
                     f"from, and only a uv.lock records it: run `uv lock`{lock_in} (lambdaforge "
                     "installs what the lock says; read as plain dependencies, the index's "
                     "package of that name would be installed)")
        return True

    def read_uv_project(self, lock: Path, runner: Runner, options: PythonSettings,
                        member: Path | None = None) -> None:
        """A uv.lock, with the exact pins of the pyproject.toml beside it, or of ``member``'s
        (a uv workspace member's: the lock decides the versions; the pyproject only says
        which were pinned on purpose)."""
        pyproject = member or lock.parent / "pyproject.toml"
        if pyproject.is_file():
            data = self.read_toml(pyproject)
            if data is None:
                return
            from lambdaforge.builders.python.poetry import exact_pins

            self.pinned |= exact_pins({"project": data.get("project", {})})
            self.note_project_ranges(data)
        self.read_uv_lock(lock, runner, options, member)

    def note_project_ranges(self, data: dict) -> None:
        """The ranges ``[project] dependencies`` put on runtime-provided packages, for a lock
        whose exported lines are all exact (``note_user_requirement``)."""
        project = data.get("project", {})
        deps = project.get("dependencies", []) if isinstance(project, dict) else []
        for text in deps if isinstance(deps, list) else ():
            try:
                req = Requirement(text) if isinstance(text, str) else None
            except InvalidRequirement:
                req = None
            if req is not None and not any(s.operator in ("==", "===") for s in req.specifier):
                self.note_user_requirement(req)

    def note_table_ranges(self, table: object, *, poetry: bool) -> None:
        """The ranges a Pipfile's ``[packages]`` or Poetry's ``[tool.poetry.dependencies]``
        put on runtime-provided packages (``"^1.34"`` is ``>=1.34,<2.0`` in Poetry), for
        ``note_user_requirement``; markers and alternatives (``||``) are not read."""
        from lambdaforge.builders.python.poetry_legacy import pep440_of
        from lambdaforge.lambda_facts import PYTHON_RUNTIME_PROVIDED

        for name, value in table.items() if isinstance(table, dict) else ():
            version = value.get("version") if isinstance(value, dict) else value
            if (not isinstance(version, str) or canonicalize_name(name) not in PYTHON_RUNTIME_PROVIDED
                    or "||" in version or version.strip() in ("", "*")):
                continue
            spec = version
            if poetry:
                spec = ",".join(pep440_of(part.strip()) for part in version.split(",") if part.strip())
            try:
                self.note_user_requirement(Requirement(f"{name}{spec}"))
            except InvalidRequirement:
                continue

    def read_uv_lock(self, lock: Path, runner: Runner, options: PythonSettings,
                     member: Path | None = None) -> None:
        """The locked set of a uv project, exported as requirement lines (hashes kept); of
        the workspace member ``member`` (its ``pyproject.toml``) when given: uv, run in the
        member's folder, finds the workspace and exports what that member needs.

        ``--locked`` makes uv refuse a lock out of date with pyproject.toml (``--frozen``,
        with ``locked = false``, exports it as it is)."""
        from lambdaforge.builders.python.tools import uv_binary

        where = self.rel(lock)
        self.read.add(where)
        for pyproject in (lock.parent / "pyproject.toml", member):
            if pyproject is not None and pyproject.is_file():
                self.read.add(self.rel(pyproject))
        selection = [f for g in options.groups for f in ("--group", g)]
        selection += [f for e in options.extras for f in ("--extra", e)]

        def export(*mode: str) -> CommandResult:
            return runner.run(
                [
                    uv_binary(), "export", *mode, "--format", "requirements-txt",
                    # no default group (dev, or tool.uv.default-groups) unless named
                    "--no-header", "--no-annotate", "--no-emit-project", "--no-default-groups",
                    *selection,
                    "--no-editable",  # workspace members as plain paths, installable into a zip
                    "--no-python-downloads", "--no-progress", "--color", "never",
                ],
                cwd=(member or lock).parent,
                env=isolated_installer_env(),
            )

        # `--locked` confirms the lock matches pyproject.toml; when it does not, uv
        # re-resolves to say so, which offline (and without the project's indexes) can also
        # fail: a lock `--frozen` can export but `--locked` cannot is out of date either way.
        # Except when uv could not check at all, for want of an interpreter `requires-python`
        # admits: that is no news about the lock.
        result = export("--locked", "--offline") if options.locked else export("--frozen")
        if not result.ok and options.locked:
            no_python = _UV_NO_INTERPRETER.search(result.stderr)
            if no_python:
                self.problem(where, None, f"cannot be checked against pyproject.toml: uv found no "
                             f"interpreter for Python {no_python.group(1)} (`requires-python`) on this "
                             "machine. Install one where uv looks for it (`uv python install`, or on "
                             "PATH), or set `locked = false` to build from the lock as it is")
                return
            if export("--frozen").ok:
                self.problem(where, None, "out of date with pyproject.toml: run `uv lock` "
                             "(or set `locked = false` to build from the lock as it is)")
                return
        if not result.ok:
            self.problem(where, None, f"`uv export` failed: {result.stderr.strip()}")
            return
        exported = lock.parent / ".uv-export.txt"
        # Parsed like a requirements file so local paths and hashes get the same treatment
        # (uv writes a workspace's paths relative to its root, where the lock is); the text
        # never touches the project directory.
        for lineno, line in _logical_lines(result.stdout):
            if line.startswith("-"):
                self.read_option_line(line, exported, where, lineno, False, ())
                continue
            spec, options_ = _split_options(line)
            hashes = [v for n, v in options_ if n == "--hash"]
            self.add_requirement(spec, hashes, lock.parent, where, lineno, top_level=False)

    def read_poetry_lock(self, lock: Path, options: PythonSettings) -> None:
        """A poetry.lock checked against the pyproject.toml beside it (``poetry.py``)."""
        from lambdaforge.builders.python.poetry import read_poetry_lock

        pyproject_path = lock.parent / "pyproject.toml"
        if not pyproject_path.is_file():
            self.problem(self.rel(lock), None, "no pyproject.toml beside it: a poetry.lock is "
                         "read with the pyproject.toml it was locked from")
            return
        pyproject, data = self.read_toml(pyproject_path), self.read_toml(lock)
        if pyproject is None or data is None:
            return
        self.note_project_ranges(pyproject)
        poetry = pyproject.get("tool", {}).get("poetry", {}) if isinstance(pyproject.get("tool"), dict) else {}
        self.note_table_ranges(poetry.get("dependencies") if isinstance(poetry, dict) else None, poetry=True)
        self.add_locked(read_poetry_lock(
            pyproject, data, lock.read_text(encoding="utf-8"), self.rel(lock),
            groups=options.groups, extras=options.extras, environment=self.target_environment()), lock)

    def target_environment(self) -> dict[str, str]:
        """The marker environment of the target the dependencies are read for (a lock is
        walked with it)."""
        from lambdaforge.builders.python.target import PythonTarget

        try:
            return PythonTarget.of(*self.target).marker_environment()
        except ConfigError:  # an unknown runtime is reported when the inputs are made
            return PythonTarget.of("python3.12", "x86_64").marker_environment()

    def read_pylock(self, lock: Path, options: PythonSettings) -> None:
        """A ``pylock.toml`` (PEP 751, ``pylock.py``), with the exact pins of a
        ``pyproject.toml`` beside it (they keep runtime-provided packages)."""
        from lambdaforge.builders.python.pylock import read_pylock

        data = self.read_toml(lock)
        if data is None:
            return
        pyproject = lock.parent / "pyproject.toml"
        if pyproject.is_file():
            from lambdaforge.builders.python.poetry import exact_pins

            project = self.read_toml(pyproject) or {}
            self.pinned |= exact_pins({"project": project.get("project", {})})
            self.note_project_ranges(project)
        self.add_locked(read_pylock(data, lock.read_text(encoding="utf-8"), self.rel(lock),
                                    self.target_environment(), groups=options.groups,
                                    extras=options.extras), lock)

    def read_pipfile_lock(self, lock: Path) -> None:
        """A Pipfile.lock checked against the Pipfile beside it (``pipenv.py``)."""
        import json

        from lambdaforge.builders.python.pipenv import read_pipfile_lock

        where = self.rel(lock)
        self.read.add(where)
        pipfile_path = lock.parent / "Pipfile"
        pipfile = self.read_toml(pipfile_path) if pipfile_path.is_file() else None
        if pipfile_path.is_file() and pipfile is None:
            return
        try:
            text = lock.read_text(encoding="utf-8")
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            self.problem(where, getattr(exc, "lineno", None), f"invalid JSON: {exc}")
            return
        # Pipenv expands $NAME and ${NAME} in its sources' URLs (os.path.expandvars), and
        # keeps them unexpanded in the lock: `url = "https://$USER:${PASSWORD}@…"`.
        self.add_locked(read_pipfile_lock(pipfile, data, text, where), lock, _SHELL_VARIABLE)
        self.note_table_ranges((pipfile or {}).get("packages"), poetry=False)

    def add_locked(self, read: LockRead, lock: Path, expand: re.Pattern[str] | None = None) -> None:
        """Take in what a lock reader found (exact pins, indexes, problems); ``expand``: the
        syntax of environment variables in its index URLs, where its tool expands them."""
        self.issues += read.issues
        self.pinned |= read.pinned
        if read.index_url:
            url = self.expand_variables(read.index_url, expand) if expand else read.index_url
            self.index_url = self.index_url or url
        for url in read.extra_index_urls:
            self.add_extra_index(self.expand_variables(url, expand) if expand else url)
        for req in read.requirements:
            self.add_requirement(req.text, req.hashes, lock.parent, self.rel(lock), req.line,
                                 top_level=False)

    def read_declaration(self, declared: Declaration, runner: Runner, options: PythonSettings) -> None:
        """Read the declaring file by its kind (``declarations.DeclarationKind``)."""
        from lambdaforge.builders.python.declarations import DeclarationKind as K

        path = declared.path
        self.read.update(self.rel(p) for p in declared.probed)
        if declared.kind in (K.REQUIREMENTS, K.PIPFILE_LOCK):
            for key, names in (("extras", options.extras), ("groups", options.groups)):
                if names:
                    what = "a requirements file" if declared.kind is K.REQUIREMENTS else "a Pipfile.lock"
                    self.problem(self.rel(path), None, f"{what} has no {key}, and `{key} = "
                                 f"{json.dumps(list(names))}` would install nothing more: list what to "
                                 f"install in it, or unset `{key}`", key)
        if declared.kind is K.REQUIREMENTS:
            self.read_requirements_file(path)
        elif declared.kind is K.PYPROJECT:
            self.read_pyproject(path, options)
        elif declared.kind is K.UV_LOCK:
            self.read_uv_project(path, runner, options, declared.member)
        elif declared.kind is K.POETRY_LOCK:
            self.read_poetry_lock(path, options)
        elif declared.kind is K.PIPFILE_LOCK:
            self.read_pipfile_lock(path)
        elif declared.kind is K.PYLOCK:
            self.read_pylock(path, options)
        elif declared.kind is K.PDM_LOCK:
            self.read.add(self.rel(path))
            self.problem(self.rel(path), None, "lambdaforge does not read PDM's lock, and building "
                         "from pyproject.toml's ranges instead would ship other versions than it "
                         "pins: export it (`pdm export -o requirements.txt`) and name that file "
                         "with `requirements = \"…\"`")
        else:
            self.read.add(self.rel(path))
            self.problem(self.rel(path), None, "no Pipfile.lock beside it: run `pipenv lock` "
                         "(lambdaforge installs the locked versions)")

    # ------------------------------------------------------------------ result

    def canonical(self, installer: str, use_container: bool = False) -> tuple[tuple[str, str], ...]:
        """The sorted, machine-independent description of the install (``use-container``
        only when set: native code built in a container is other bytes)."""
        pairs: list[tuple[str, str]] = [(_K_INSTALLER, installer)]
        if use_container:
            pairs.append((_K_CONTAINER, "true"))
        if self.index_url:
            pairs.append((_K_INDEX, self.index_url))
        # Index and find-links order is the installers' priority order: kept as given.
        pairs += [(_K_EXTRA_INDEX, u) for u in self.extra_index_urls]
        pairs += [(_K_FIND_LINKS, f) for f in self.find_links]
        if self.no_index:
            pairs.append((_K_NO_INDEX, "true"))
        if self.pre:
            pairs.append((_K_PRE, "true"))
        if self.require_hashes:
            pairs.append((_K_REQUIRE_HASHES, "true"))
        pairs += [(_K_REQUIREMENT, r) for r in sorted(self.requirements)]
        pairs += [(_K_CONSTRAINT, c) for c in sorted(self.constraints)]
        pairs += [(_K_PINNED, p) for p in sorted(self.pinned)]
        pairs += [(_K_PROVIDED_RANGE, r) for r in sorted(self.provided_ranges)]
        pairs += [(_K_EDITABLE, e) for e in sorted(self.editable)]
        return tuple(pairs)


def collect_dependency_inputs(
    settings: BuildSettings, source: str | None, project: Project, runner: Runner, builder: str = "python"
) -> DependencyInputs | None:
    """The canonical install inputs of a function or layer, or ``None`` without dependencies.

    Raises ``ConfigError`` listing every problem (unreadable or escaping paths, editable
    requirements, unsupported options), each with its file and line.
    """
    root = project.root
    c = _Collector(project_root=root, target=(settings.runtime, settings.architecture))
    options = PythonSettings.of(settings)
    declared = _declaration(settings, source, root, c)
    if declared is not None:
        c.read_declaration(declared, runner, options)
    for text in settings.dependencies:
        c.add_requirement(text, (), root, "", None)
    if c.issues:
        raise ConfigError(c.issues)
    if not c.requirements:
        return None
    return _inputs(c, settings, builder, declared)


def requirement_inputs(
    requirements: Iterable[str], settings: BuildSettings, project: Project, builder: str = "python"
) -> DependencyInputs:
    """Install inputs for the given requirement lines, fetched the way ``settings``'
    dependencies are (its installer and index options): the Lambda runtime's own packages
    for the import smoke test. Raises ``ConfigError`` for a line that does not parse."""
    c = _Collector(project_root=project.root)
    for text in requirements:
        c.add_requirement(text, (), project.root, "", None, top_level=False)
    if c.issues:
        raise ConfigError(c.issues)
    return _inputs(c, settings, builder)


def _inputs(c: _Collector, settings: BuildSettings, builder: str,
            declared: Declaration | None = None) -> DependencyInputs:
    """The collected requirements with the settings' index options over what requirement
    files said (the config is the contract), as canonical install inputs; ``declared``: the
    declaration they were read from (it names the install)."""
    options = PythonSettings.of(settings)
    if options.index_url:
        c.index_url = options.index_url
    for url in options.extra_index_urls:
        c.add_extra_index(url)
    for link in options.find_links:
        c.add_find_links(link, c.project_root, "", None, key="find-links")
    c.no_index = c.no_index or options.no_index
    if c.issues:
        raise ConfigError(c.issues)
    from lambdaforge.builders.python.target import PythonTarget

    PythonTarget.of(settings.runtime, settings.architecture)  # validates the runtime early
    canonical, secrets = _protect(c.canonical(options.installer, options.use_container))
    return DependencyInputs(
        builder=builder,
        declared_by=c.rel(declared.member or declared.path) if declared is not None else "",
        runtime=settings.runtime,
        architecture=settings.architecture,
        canonical=canonical,
        files=tuple(sorted(c.files)),
        directories=tuple(sorted(c.directories)),
        watched=tuple(sorted(c.read)),
        variables=tuple(sorted(c.variables)),
        secrets=secrets,
    )


def _protect(
    pairs: tuple[tuple[str, str], ...],
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """The canonical pairs with every credential replaced by its key form, and the key form
    → real text table the installer reads them back through (``DependencyInputs.reveal``)."""
    shown: list[tuple[str, str]] = []
    secrets: dict[str, str] = {}
    for name, value in pairs:
        safe = key_form(value)
        if safe != value:
            secrets[safe] = value
        shown.append((name, safe))
    return tuple(shown), tuple(sorted(secrets.items()))


def _poetry_dependencies(data: dict) -> list[str]:
    """Names under ``[tool.poetry.dependencies]`` (and Poetry 1.2+'s main group), the
    interpreter constraint ``python`` left out."""
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if not isinstance(poetry, dict):
        return []
    tables = [poetry.get("dependencies")]
    group = poetry.get("group")
    if isinstance(group, dict) and isinstance(group.get("main"), dict):
        tables.append(group["main"].get("dependencies"))
    names = [n for t in tables if isinstance(t, dict) for n in t if n.lower() != "python"]
    return sorted(set(names))


def _declaration(settings: BuildSettings, source: str | None, root: Path,
                 c: _Collector) -> Declaration | None:
    """The file named by ``requirements`` or found by the precedence in the source dir."""
    from lambdaforge.builders.python import declarations

    if settings.requirements is not None:
        path = root / settings.requirements
        if not c.inside(path):
            c.problem("", None, f"`{settings.requirements}` leaves the project root", "requirements")
        elif not path.is_file():
            c.problem("", None, f"`{settings.requirements}`: no such file", "requirements")
        else:
            return declarations.of_file(path, root)
        return None
    return declarations.in_directory(root / source, root) if source is not None else None


def _normalise(req: Requirement) -> str:
    """``Requests[Socks] >= 2.0 ;python_version<'3.12'`` → ``requests[socks]>=2.0; python_version < "3.12"``."""
    out = canonicalize_name(req.name)
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        out += f" @ {req.url}"
        if req.marker:
            out += " "
    else:
        out += str(req.specifier)
    if req.marker:
        out += f"; {req.marker}"
    return out


#: uv's words for "no interpreter satisfies the project's ``requires-python``"
_UV_NO_INTERPRETER = re.compile(r"No interpreter found for Python (\S+)")

#: pip's ``${NAME}`` in a requirements file (``pip._internal.req.req_file``)
_ENV_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}()")
#: ``$NAME`` and ``${NAME}`` as ``os.path.expandvars`` reads them (Pipenv's source URLs)
_SHELL_VARIABLE = re.compile(r"\$(?:(\w+)|\{([^}]*)\})", re.ASCII)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line) with comments, blanks and ``\\`` continuations handled."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        # pip's rule: '#' starts a comment at line start or after whitespace (URLs keep '#egg=').
        stripped = _COMMENT.sub("", raw)
        if stripped.rstrip().endswith("\\"):
            pending += stripped.rstrip()[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _split_options(line: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``spec --hash=sha256:… --hash sha256:…`` into the spec and its options."""
    parts = line.split()
    spec_parts: list[str] = []
    i = 0
    while i < len(parts) and not parts[i].startswith("--"):
        spec_parts.append(parts[i])
        i += 1
    return " ".join(spec_parts), _option_pairs(parts[i:])


_FLAGS = {"--no-index", "--pre", "--require-hashes"}


def _option_pairs(tokens: list[str]) -> list[tuple[str, str]]:
    """``["-r", "x", "--hash=a"]`` → ``[("-r", "x"), ("--hash", "a")]`` (values may be glued)."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and "=" in tok:
            name, value = tok.split("=", 1)
        elif tok.startswith("--"):
            name, value = tok, ""
            if tok not in _FLAGS and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                value = tokens[i + 1]
                i += 1
        elif tok.startswith("-") and len(tok) > 2:
            name, value = tok[:2], tok[2:].strip()
        else:
            name, value = tok, ""
            if i + 1 < len(tokens):
                value = tokens[i + 1]
                i += 1
        pairs.append((name, value))
        i += 1
    return pairs
