"""Installing a requirement set for the *target* (Lambda's Python and CPU), never the host.

Both installers run binary-only with the target's platform tags and Python version, in an
environment that ignores the machine's pip/uv configuration (``isolated_installer_env``).

- **uv** (default) evaluates environment markers for ``--python-version``/``--python-platform``.
- **pip** evaluates them for the Python running it, so it is started through a small
  wrapper that replaces pip's marker environment with the target's (``_PIP_WRAPPER``).
  Whatever either installer leaves that no root requires through markers true on the
  target is removed afterwards (``dists.unreachable``), a second line of defence.

A package with only an sdist is built on the host and accepted only when the result is a
pure-Python wheel (``*-none-any``): host-built native code never ships.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from msgspec import Struct, field
from msgspec.structs import replace
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from lambdaforge.builders.base import BuildContext, DependencyInputs, InstallResult
from lambdaforge.builders.python.dists import finalize_tree, read_distributions, unreachable
from lambdaforge.builders.python.failures import cause, cause_lines, write_log
from lambdaforge.builders.python.localbuild import build_local_packages
from lambdaforge.builders.python.nativebuild import build_native_wheel
from lambdaforge.builders.python.requirements import RequirementSet, resolve_local
from lambdaforge.builders.python.target import PythonTarget
from lambdaforge.builders.python.tools import pip_command, uv_binary
from lambdaforge.builders.python.trust import pip_trust_flags, uv_trust
from lambdaforge.builders.python.waysout import (
    build_failed_message, is_pure, native_sdist_message, wheel_tags,
)
from lambdaforge.errors import InstallError
from lambdaforge.runner import CommandResult, Runner, isolated_installer_env, pip_network_flags

#: Rounds of "build the sdist-only packages the installer named, try again": each failure
#: names at least one new package, so this only bounds a pathological chain.
_MAX_SDIST_ROUNDS = 8
_INSTALL_TIMEOUT = 1800.0

# pip reads markers from ``packaging.markers.default_environment()`` at evaluation time;
# replacing it makes pip resolve for the target. Checked to exist, so a pip that moves it
# fails loudly instead of silently resolving for the host.
_PIP_WRAPPER = """\
import json, sys
from pip._vendor.packaging import markers
if not callable(getattr(markers, "default_environment", None)):
    sys.exit("lambdaforge: this pip has no packaging.markers.default_environment to patch")
_env = json.loads(sys.argv[1])
markers.default_environment = lambda: dict(_env)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class _Job(Struct):
    """One install: the target, the files written for the installer, and what it learned."""

    reqs: RequirementSet
    target: PythonTarget
    dest: Path
    work: Path
    ctx: BuildContext
    #: packages the installer may build from their sdist (found to have no usable wheel)
    build_from_sdist: list[str] = field(default_factory=list)
    #: pip: folder of wheels built from sdists, offered as an extra find-links
    built: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: packages built from their sdist with the target's interpreter (``nativebuild``)
    native_built: list[str] = field(default_factory=list)
    #: requirement line naming a local package folder → the same line naming its built wheel
    local_wheels: dict[str, str] = field(default_factory=dict)
    #: normalized names of the distributions built from local package folders (own code)
    local_names: set[str] = field(default_factory=set)

    @property
    def runner(self) -> Runner:
        return self.ctx.runner

    def source_options(self, *, pip: bool) -> list[str]:
        """Index and find-links flags, with ``{project}`` paths made absolute."""
        root = self.ctx.project.root
        opts: list[str] = []
        if self.reqs.index_url:
            opts += ["--index-url", self.reqs.index_url]
        for url in self.reqs.extra_index_urls:
            opts += ["--extra-index-url", url]
        for link in self.reqs.find_links:
            opts += ["--find-links", resolve_local(link, root)]
        if self.built is not None:
            opts += ["--find-links", str(self.built)]
        if self.reqs.no_index:
            opts.append("--no-index")
        if self.reqs.pre:
            opts += ["--pre"] if pip else ["--prerelease", "allow"]
        return opts

    def hash_options(self) -> list[str]:
        """``--require-hashes`` in hash-checking mode (``RequirementSet.hash_checking``):
        uv, unlike pip, does not turn it on for ``--hash`` lines, and the requirements file
        written for the installer does not carry a ``--require-hashes`` line."""
        return ["--require-hashes"] if self.reqs.hash_checking else []

    def requirement_files(self) -> list[str]:
        """``-r`` (and ``-c``) flags for the requirement files written into ``work``."""
        root = self.ctx.project.root
        req = self.work / "requirements.txt"
        req.write_text("".join((self.local_wheels.get(r) or resolve_local(r, root)) + "\n"
                               for r in self.reqs.requirements))
        flags = ["-r", str(req)]
        if self.reqs.constraints:
            con = self.work / "constraints.txt"
            con.write_text("".join((self.local_wheels.get(c) or resolve_local(c, root)) + "\n"
                                   for c in self.reqs.constraints))
            flags += ["-c", str(con)]
        return flags


def install_requirements(inputs: DependencyInputs, dest: Path, ctx: BuildContext) -> InstallResult:
    """Install ``inputs`` into the empty directory ``dest`` for the target platform.

    Returns the distributions (after cleanup) and user-facing notes; raises
    ``InstallError`` with the installer's output condensed when it fails.
    """
    reqs = RequirementSet.of(inputs)
    target = PythonTarget.of(inputs.runtime, inputs.architecture)
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pyinstall-", dir=ctx.scratch))
    job = _Job(reqs, target, dest, work, ctx)
    try:
        build_local_packages(job, lambda tree, out, python: _local_wheel_argv(job, tree, out, python),
                             [*_pip_common(job), *job.source_options(pip=True)])
        run = _run_uv if reqs.installer == "uv" else _run_pip
        for _ in range(_MAX_SDIST_ROUNDS):
            _empty(dest)
            result = run(job)
            if result.ok and not (reqs.installer == "uv" and _rebuild_native_uv_builds(job)):
                break
            if result.ok:  # uv installed native code it built for this machine: built again
                continue
            if _rebuild_incompatible_for_target(job, result):
                continue
            if not _handle_sdist_only(job, result):
                raise InstallError(_failure_message(job, result))
        else:
            raise InstallError(_failure_message(job, result))
        finalize_tree(dest)
        env = target.marker_environment()
        roots = reqs.root_requirements()
        dists = read_distributions(dest, env, roots)
        if len(roots) == len(reqs.requirements):  # every root has a name: the closure is exact
            extra = unreachable(dists, roots, env)
            if extra:
                _remove_dists(dest, [d for d in dists if d.name in extra])
                job.notes.append(
                    f"removed {', '.join(sorted(extra))}: required only through environment "
                    f"markers that are false on {target.runtime}"
                )
                dists = [d for d in dists if d.name not in extra]
        dists = [replace(d, local=True) if d.name in job.local_names else d for d in dists]
        return InstallResult(distributions=dists, notes=job.notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _empty(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# --------------------------------------------------------------------------- uv


def _run_uv(job: _Job) -> CommandResult:
    """``uv pip install`` for the target.

    ``--link-mode copy``: uv hardlinks from its cache by default, and the tree is handed to
    code that may rewrite or chmod files; a copy keeps uv's cache safe at ~no cost for
    Lambda-sized trees. ``--python`` is the running interpreter, used only to build
    pure sdists (the install itself is for ``--python-version``/``--python-platform``).
    """
    argv = [
        uv_binary(), "pip", "install",
        "--target", str(job.dest),
        "--python-platform", job.target.uv_python_platform(),
        "--python-version", job.target.python_version,
        "--python", sys.executable,
        "--only-binary", ":all:",
        "--link-mode", "copy",
        "--cache-dir", str(job.ctx.tool_cache / "uv"),
        "--no-config", "--no-python-downloads", "--no-progress", "--color", "never",
        *job.source_options(pip=False),
        *job.hash_options(),
        *job.requirement_files(),
    ]
    for name in job.build_from_sdist:
        argv += ["--no-binary", name]  # overrides --only-binary :all: for this package
    if job.ctx.offline:
        argv.append("--offline")
    flags, env = uv_trust()
    return job.runner.run([*argv, *flags], env={**isolated_installer_env(), **env},
                          timeout=_INSTALL_TIMEOUT)


_UV_SDIST_ONLY = re.compile(r"Wheels are required for `([^`]+)` because building from source is disabled")


# --------------------------------------------------------------------------- pip


def _pip_platform_flags(target: PythonTarget) -> list[str]:
    flags: list[str] = []
    for tag in target.pip_platform_tags():
        flags += ["--platform", tag]
    flags += ["--implementation", "cp", "--python-version", target.python_version]
    for abi in (target.abi, "abi3", "none"):
        flags += ["--abi", abi]
    return flags


def _pip_common(job: _Job) -> list[str]:
    return [
        "--isolated", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        "--cache-dir", str(job.ctx.tool_cache / "pip"), *pip_trust_flags(),
        *pip_network_flags(),
    ]


def _run_pip(job: _Job) -> CommandResult:
    """``pip install --target`` for the target, through the marker-environment wrapper."""
    python, *_ = pip_command()
    argv = [
        python, "-c", _PIP_WRAPPER, json.dumps(job.target.marker_environment(), sort_keys=True),
        "install", "--target", str(job.dest),
        *_pip_platform_flags(job.target),
        "--only-binary=:all:", "--no-compile", "--no-warn-script-location",
        *_pip_common(job),
        *job.source_options(pip=True),
        *job.hash_options(),
        *job.requirement_files(),
    ]
    return job.runner.run(argv, env=isolated_installer_env(), timeout=_INSTALL_TIMEOUT)


_PIP_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
#: pip's words for a build backend that failed (rather than "no sdist to build")
_PIP_BUILD_CRASHED = "subprocess-exited-with-error"


def _pip_build_error(output: str) -> str:
    """The build's own output inside pip's report (between ``╰─>`` and ``[end of output]``),
    else all of it."""
    inner = re.search(r"╰─> \[\d+ lines? of output\]\n(.*?)\n\s*\[end of output\]", output, re.S)
    return inner.group(1) if inner else output


def _pip_build_wheel(job: _Job, requirement: str) -> bool:
    """Build ``requirement`` from its sdist with the host's pip; False when there is none.

    The wheel is checked at once: a platform wheel built here is host code (``InstallError``).
    """
    if job.built is None:
        job.built = job.work / "built-wheels"
        job.built.mkdir()
    before = set(job.built.iterdir())
    argv = [
        *pip_command(), "wheel", "--no-deps", "--no-binary", ":all:", "--wheel-dir", str(job.built),
        *_pip_common(job),
        *job.source_options(pip=True),
        requirement,
    ]
    result = job.runner.run(argv, env=isolated_installer_env(), timeout=_INSTALL_TIMEOUT)
    if not result.ok:
        output = result.stdout + "\n" + result.stderr
        if _PIP_BUILD_CRASHED in output:
            version = requirement.partition("==")[2] or "(latest)"
            raise InstallError(build_failed_message(job.target, canonicalize_name(
                re.split(r"[\[<>=!~;@ ]", requirement, 1)[0]), version, _pip_build_error(output)))
        return False
    for wheel in sorted(set(job.built.iterdir()) - before):
        name, version, tags = wheel_tags(wheel.name)
        if is_pure(tags):
            _accept_built_wheel(job, wheel.name)
            continue
        wheel.unlink()  # host code: built again for the target, or refused
        _build_for_target(job, canonicalize_name(name), version, result.stdout + "\n" + result.stderr)
    return True


def _local_wheel_argv(job: _Job, tree: Path, out: Path, python: str | None) -> list[str]:
    """The installer's command building the copied local package ``tree`` into ``out``, with
    ``python`` (the target's interpreter, when this machine has one) or lambdaforge's."""
    if job.reqs.installer == "uv":
        argv = [
            uv_binary(), "build", "--wheel", "--out-dir", str(out), "--python", python or sys.executable,
            *uv_trust()[0],
            "--cache-dir", str(job.ctx.tool_cache / "uv"),
            "--no-config", "--no-python-downloads", "--no-progress", "--color", "never",
            *job.source_options(pip=False),
        ]
        if job.ctx.offline:
            argv.append("--offline")
        return [*argv, str(tree)]
    pip = [python, "-m", "pip"] if python else pip_command()
    return [*pip, "wheel", "--no-deps", "--wheel-dir", str(out), *_pip_common(job),
            *job.source_options(pip=True), str(tree)]


# --------------------------------------------------------------------------- sdists


def _handle_sdist_only(job: _Job, result: CommandResult) -> bool:
    """When the installer failed only for lack of wheels, arrange to build those sdists.

    Returns True when a retry can make progress.
    """
    output = result.stdout + "\n" + result.stderr
    if job.reqs.installer == "uv":
        names = [n for n in _UV_SDIST_ONLY.findall(output) if n not in job.build_from_sdist]
        job.build_from_sdist += names
        return bool(names)
    progressed = False
    for requirement in _PIP_NO_MATCH.findall(output):
        name = canonicalize_name(re.split(r"[\[<>=!~;@ ]", requirement, 1)[0])
        if name in job.build_from_sdist:
            continue
        job.build_from_sdist.append(name)
        if _pip_build_wheel(job, requirement):
            progressed = True
    return progressed


_UV_INCOMPATIBLE_BUILD = re.compile(r"The built wheel `([^`]+)` is not compatible with the target")


def _rebuild_incompatible_for_target(job: _Job, result: CommandResult) -> bool:
    """uv refused a wheel it built for the host: build it for the target instead
    (``nativebuild``; raises the ways out when this machine cannot). True: retry."""
    match = _UV_INCOMPATIBLE_BUILD.search(result.stderr)
    if not match:
        return False
    name, version, tags = wheel_tags(match.group(1))
    name = canonicalize_name(name)
    if is_pure(tags) or name in job.native_built:
        _accept_built_wheel(job, match.group(1))  # raises for a native one
        return False
    _build_for_target(job, name, version, result.stdout + "\n" + result.stderr)
    job.build_from_sdist = [n for n in job.build_from_sdist if n != name]  # the wheel is there now
    return True


def _build_for_target(job: _Job, name: str, version: str, host_output: str) -> None:
    """Build ``name==version`` with the target's interpreter into ``job.built``."""
    if job.built is None:
        job.built = job.work / "built-wheels"
        job.built.mkdir()
    job.native_built.append(name)
    build_native_wheel(job, name, version, f"{name}=={version}",
                       [*_pip_common(job), *job.source_options(pip=True)], host_output)


def _accept_built_wheel(job: _Job, filename: str) -> None:
    """Note a pure wheel built from an sdist; refuse any other (``InstallError``)."""
    _accept_built(job, *wheel_tags(filename))


def _accept_built(job: _Job, name: str, version: str, tag_names: list[str]) -> None:
    """``_accept_built_wheel`` for a wheel known by its name, version and tags."""
    if is_pure(tag_names):
        job.notes.append(f"built pure-Python wheel for {canonicalize_name(name)} {version} from its sdist")
    else:
        raise InstallError(native_sdist_message(job.target, canonicalize_name(name), str(version), tag_names))


def _rebuild_native_uv_builds(job: _Job) -> bool:
    """uv installed what it built from sdists: a pure wheel is noted; a native one was built
    for this machine (uv takes a ``linux_x86_64`` wheel of the target's Python as compatible)
    and is built again for the target (``nativebuild``; raises the ways out when it cannot).
    True: install again, with that wheel."""
    rebuilt = False
    for di in sorted(job.dest.glob("*.dist-info")):
        name, _, version = di.name[: -len(".dist-info")].rpartition("-")
        wheel_file = di / "WHEEL"
        name = canonicalize_name(name)
        if name not in job.build_from_sdist or not wheel_file.is_file():
            continue
        tags = _wheel_file_tags(wheel_file)
        if is_pure(tags):
            _accept_built(job, name, version, tags)
            continue
        _build_for_target(job, name, version, "")
        job.build_from_sdist = [n for n in job.build_from_sdist if n != name]  # the wheel is there now
        rebuilt = True
    return rebuilt


def _wheel_file_tags(wheel_file: Path) -> list[str]:
    """The sorted tags of an installed wheel's ``WHEEL`` file: one ``Tag:`` line per tag (a
    universal wheel has ``py2-none-any`` and ``py3-none-any``), each expanded in case it is
    written compressed (``py2.py3-none-any``), as in a wheel's file name."""
    lines = wheel_file.read_text(encoding="utf-8", errors="replace").splitlines()
    return sorted({str(tag) for ln in lines if ln.startswith("Tag:")
                   for tag in parse_tag(ln.split(":", 1)[1].strip())})


# --------------------------------------------------------------------------- failures


_UV_NO_WHEEL = re.compile(
    r"Because (\S+?)==(\S+) has no (?:wheels with a matching platform tag|usable wheels)"
)


_UV_BUILD_FAILED = re.compile(r"Failed to build `([^`=]+)==([^`]+)`")


def _failure_message(job: _Job, result: CommandResult) -> str:
    """What went wrong (the cause when the output shows one: TLS, DNS, a refused connection,
    an HTTP error, a conflict), the installer's lines that say it, its last lines, and the
    path of the full log (written now, ``failures.write_log``)."""
    return f"{_failure_text(job, result)}\nfull installer log: {_write_failure_log(job, result)}"


def _failure_text(job: _Job, result: CommandResult) -> str:
    output = "\n".join(s for s in (result.stdout.strip(), result.stderr.strip()) if s)
    crashed = _UV_BUILD_FAILED.search(output) if job.reqs.installer == "uv" else None
    if crashed:  # the backend's own words come after uv's
        name, version = canonicalize_name(crashed.group(1)), crashed.group(2)
        return build_failed_message(job.target, name, version, output[crashed.end():])
    installer = job.reqs.installer
    head = f"installing dependencies for {job.target.runtime} {job.target.machine} with {installer} failed"
    if result.returncode == 124:
        head += " (timed out)"
    found = cause(output)
    no_wheel = _UV_NO_WHEEL.search(output) if installer == "uv" else _PIP_NO_MATCH.search(output)
    if found is not None and found[0] not in ("missing", "conflict"):
        head += f": {found[1]}"  # a "no match" after a network failure is its consequence
    elif no_wheel:
        name = no_wheel.group(1)
        head += f": no wheel for {name} matching {job.target.describe()}"
        if name in job.build_from_sdist or canonicalize_name(name) in job.build_from_sdist:
            head += " and no source distribution to build"
    elif found is not None:
        head += f": {found[1]}"
    lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith("Using CPython")]
    if installer == "pip":
        lines = [ln for ln in lines if ln.startswith(("ERROR", "error", "  "))] or lines
    shown = [ln.rstrip() for ln in lines[-15:]]
    said = [ln for ln in cause_lines(output, found[0]) if not any(ln in s for s in shown)] if found else []
    condensed = "\n".join("  " + ln for ln in [*said, *shown])
    return f"{head}\n{condensed}"


def _write_failure_log(job: _Job, result: CommandResult) -> Path:
    """Every command this install ran, with its output, in ``.forge/logs/``."""
    commands = [c.describe() for c in getattr(job.runner, "log", None) or [result]]
    identity = "\0".join([job.target.runtime, job.target.machine, job.reqs.installer,
                          *job.reqs.requirements, *job.reqs.constraints])
    return write_log(job.ctx.project.root, identity, commands)


def _remove_dists(dest: Path, dists: list) -> None:
    """Delete the files of ``dists`` (and directories left empty)."""
    for d in dists:
        for rel in d.files:
            path = dest / rel
            if path.is_file() or path.is_symlink():
                path.unlink()
    for directory in sorted((p for p in dest.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
