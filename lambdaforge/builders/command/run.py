"""Running a user's command: list its inputs, copy them into a scratch directory, run it
there with a clean environment, and take its output.

The scratch directory is a real copy (never links: a command that edits a file in place
must not edit the user's) in the system's temporary directory, outside the project, so
tools that look for their project by walking up (``go``, ``npm``, ``git``) find only the
copy, never the user's tree or an undeclared file next to it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from msgspec import Struct

from lambdaforge.errors import BuildError
from lambdaforge.packaging.sources import SourceFile, collect_sources
from lambdaforge.runner import CommandResult, Runner

#: Passed from forge's own environment to every command: finding programs, and their
#: per-user caches (Go's GOCACHE and module cache, cargo's registry…) under HOME.
BASE_VARIABLES: tuple[str, ...] = ("PATH", "HOME")
#: Fixed rather than the machine's: the locale changes ``sort`` order, ``ls`` and messages,
#: so a machine's LANG would make outputs differ between machines for the same key.
LANG = "C.UTF-8"
#: Lines of a failed command's output shown in the error (the whole log is in ``--verbose``).
FAILURE_LINES = 25


def list_inputs(root: Path, source: str | None, patterns: Sequence[str] | None,
                exclude: Sequence[str] = ()) -> tuple[list[SourceFile], list[str]]:
    """The files of ``source`` (project-relative) the command reads: those matching the
    gitignore-style ``patterns`` (``None``: every file; ``()``: none), sorted, and the
    directories the walk listed (source-relative, ``.`` the source itself): a file added
    to any of them may be a new input. Symlinks inside the source are followed
    (``collect_sources``); lambdaforge's ``.forge`` is never one. Neither secrets nor
    default excludes are skipped here: a build may need its ``.npmrc`` or
    ``requirements.txt``; the output's collection skips them. ``exclude``: patterns never
    taken (lambdaforge's own folders, such as a cache directory inside the source)."""
    if source is None or patterns == ():
        return [], []
    walked = collect_sources(root / source, include=tuple(patterns or ()), exclude=tuple(exclude),
                             skip_secrets=False, default_excludes=False)
    return walked.files, [rel for rel, _, _ in walked.listings]


def project_relative(source: str, relpath: str) -> str:
    """``functions/api`` + ``main.go`` → ``functions/api/main.go`` (``.`` is the root, as a
    source and as a ``relpath``)."""
    if relpath == ".":
        return source or "."
    return relpath if source in ("", ".") else f"{source}/{relpath}"


def file_stat(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file, following symlinks: what says it was not edited."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def copy_inputs(root: Path, source: str, files: Sequence[str], dest: Path,
                expected: Mapping[str, tuple[int, int]]) -> None:
    """Copy the project-relative ``files`` of ``source`` to ``dest``, keeping each file's
    mode (made writable for its owner) and mtime (make-style tools compare them).

    ``expected`` holds each file's (size, mtime_ns) when the target was planned: a file
    edited since (or while it was copied) would be built under a key of other content, so
    that is a ``BuildError`` and nothing is stored.
    """
    prefix = "" if source in ("", ".") else source + "/"
    for rel in files:
        src = root / rel
        try:
            st = os.stat(src)
            if (st.st_size, st.st_mtime_ns) != expected.get(rel, (st.st_size, st.st_mtime_ns)):
                raise _changed(rel)
            target = dest / rel.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            os.chmod(target, (st.st_mode & 0o777) | 0o200)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
            if file_stat(src) != (st.st_size, st.st_mtime_ns):
                raise _changed(rel)
        except OSError as exc:  # removed (or made unreadable) since it was listed
            raise _changed(rel) from exc


def _changed(rel: str) -> BuildError:
    return BuildError(f"{rel} changed while it was being built; nothing was stored: "
                      "run forge build again")


def command_environment(
    env: Mapping[str, str],
    pass_env: Sequence[str],
    helpers: Mapping[str, str],
    environ: Mapping[str, str],
) -> dict[str, str | None]:
    """The changes ``Runner.run`` applies to ``environ`` so the command sees only PATH and
    HOME (from ``environ``), LANG, the variables named in ``pass_env`` that ``environ``
    has, ``env``, and the ``helpers`` (FORGE_ARCH, FORGE_RUNTIME, FORGE_OUTPUT). Everything
    else is removed (``None``): a machine's CFLAGS, GOFLAGS or NODE_OPTIONS must not change
    an output whose key does not know them."""
    changes: dict[str, str | None] = {name: None for name in environ}
    for name in (*BASE_VARIABLES, *pass_env):
        if name in environ:
            changes[name] = environ[name]
    if "LANG" not in pass_env:
        changes["LANG"] = LANG
    changes.update(env)
    changes.update(helpers)
    return changes


def failure_message(shown: str, source: str, result: CommandResult) -> str:
    """A failed command's error: exit code, the command and where it ran (a copy of
    ``source``), its last lines of output."""
    output = "\n".join(s for s in (result.stdout.rstrip(), result.stderr.rstrip()) if s)
    lines = output.splitlines()
    tail = lines[-FAILURE_LINES:]
    cut = f"(last {len(tail)} of {len(lines)} lines)\n" if len(lines) > len(tail) else ""
    body = "\n".join(f"  {line}" for line in tail) if tail else "  (no output)"
    where = f" (in a copy of {source or '.'}/)" if source not in ("", ".") else ""
    return f"command failed with exit code {result.returncode}: {shown}{where}\n{cut}{body}"


def tree_stats(top: Path) -> dict[str, tuple[int, int, int]]:
    """Relative path → (size, mtime_ns, inode) of every file below ``top`` (not following
    symlinks): compared before and after the command to see whether it wrote anything."""
    out: dict[str, tuple[int, int, int]] = {}
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, top)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


class CommandRun(Struct, frozen=True):
    """What one run of a command needs: the argv, where to find its inputs, its output
    directory and its environment."""

    argv: tuple[str, ...]
    #: the command as written, for messages
    shown: str
    #: project-relative source directory the inputs come from
    source: str
    #: project-relative input files
    files: tuple[str, ...]
    #: output directory relative to the scratch copy ("." = the copy)
    output: str
    env: Mapping[str, str]
    pass_env: tuple[str, ...]
    runtime: str
    architecture: str
    #: gitignore-style filters of the output's files (the function's include/exclude)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def execute(self, root: Path, dest: Path, runner: Runner,
                expected: Mapping[str, tuple[int, int]]) -> list[str]:
        """Copy the inputs to a scratch directory, run the command there, and copy the
        output's files (filtered) into the empty directory ``dest``; returns warnings.
        A failing command, one that writes nothing, or an output with nothing to package
        is a ``BuildError``."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="forge-command-") as tmp:
            work = Path(tmp) / "src"
            work.mkdir()
            copy_inputs(root, self.source, self.files, work, expected)
            out_dir = work / self.output
            out_dir.mkdir(parents=True, exist_ok=True)
            before = tree_stats(out_dir)
            helpers = {"FORGE_ARCH": self.architecture, "FORGE_RUNTIME": self.runtime,
                       "FORGE_OUTPUT": str(out_dir)}
            result = runner.run(self.argv, cwd=work,
                                env=command_environment(self.env, self.pass_env, helpers, os.environ))
            if not result.ok:
                raise BuildError(failure_message(self.shown, self.source, result))
            where = "the scratch copy" if self.output == "." else f"`output` ({self.output}/)"
            if not out_dir.is_dir():
                raise BuildError(f"the command removed {where}: {self.shown}")
            if tree_stats(out_dir) == before:
                raise BuildError(f"the command wrote nothing into {where}: {self.shown} "
                                 "(set `output` to the directory it writes, or write to "
                                 "$FORGE_OUTPUT)")
            found = collect_sources(out_dir, include=self.include, exclude=self.exclude)
            if not found.files:
                raise BuildError(f"nothing to package: {where} holds no file"
                                 + (" that `include`/`exclude` keep" if self.include or self.exclude else ""))
            for f in found.files:
                target = dest / f.relpath
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f.path, target)
                os.chmod(target, 0o755 if f.executable else 0o644)
            return list(found.warnings)
