"""The one door to the outside world: every subprocess lambdaforge starts goes through here.

Builders receive a ``Runner`` instead of calling ``subprocess`` themselves, so tests can
record or fake commands, and so every command's output lands in the target's log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from msgspec import Struct, field

from lambdaforge.redact import redact_argv, redact_text


class CommandResult(Struct, frozen=True):
    """What a finished command returned and printed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    def describe(self) -> str:
        """The command line and its output, for a failure log (and ``--verbose``), with
        credentials hidden: the installer's argv is the one place they may appear."""
        out = "\n".join(s for s in (self.stdout.strip(), self.stderr.strip()) if s)
        return redact_text(f"$ {' '.join(self.argv)}\n(exit {self.returncode})\n{out}")

    def __repr__(self) -> str:
        # argv holds credentials verbatim; a repr ends up in assertion messages and logs
        return (f"CommandResult(argv={redact_argv(self.argv)!r}, returncode={self.returncode!r}, "
                f"stdout={redact_text(self.stdout)!r}, stderr={redact_text(self.stderr)!r})")


#: Environment variables of the user's pip/uv configuration that would make a build depend
#: on the machine it runs on. Index settings come from lambdaforge.toml instead.
MACHINE_INSTALLER_VARIABLES = (
    "PIP_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_NO_INDEX",
    "PIP_CONSTRAINT",
    "PIP_REQUIREMENT",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_USER",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_PYTHON",
    "UV_SYSTEM_PYTHON",
)


class Runner(Struct):
    """Runs commands and keeps a log of each one (argv, exit code, output)."""

    log: list[CommandResult] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        input: str | None = None,
        inherit_env: bool = True,
    ) -> CommandResult:
        """Run ``argv`` to completion and return its result; never raises on a non-zero exit.

        ``env`` entries are added to the current environment; an entry whose value is
        ``None`` removes that variable. With ``inherit_env=False`` the command gets ``env``
        alone (a Lambda-like process: nothing of the developer's environment).
        """
        full_env = dict(os.environ) if inherit_env else {}
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        args = tuple(os.fspath(a) for a in argv)
        import subprocess  # here: a build that runs nothing (a source edit) does not import it

        try:
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
            result = CommandResult(args, proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError as exc:
            result = CommandResult(args, 127, "", f"command not found: {exc.filename}")
        except OSError as exc:  # not executable, not a program (a script without #!): as sh says
            result = CommandResult(args, 126, "", f"cannot run {args[0]}: {exc.strerror}")
        except subprocess.TimeoutExpired as exc:
            result = CommandResult(
                args, 124, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout}s"
            )
        self.log.append(result)
        return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


#: uv variables a build may keep: credentials and network plumbing, which change how
#: packages are fetched, never which ones. Every other ``UV_*`` (``UV_RESOLUTION``,
#: ``UV_EXCLUDE_NEWER``, ``UV_PRERELEASE``…) could change the result and is removed.
UV_KEPT = ("UV_KEYRING_PROVIDER", "UV_NATIVE_TLS", "UV_HTTP_TIMEOUT", "UV_HTTP_RETRIES",
           "UV_CONCURRENT_DOWNLOADS", "UV_INSECURE_HOST", "UV_OFFLINE")

#: pip variables that are network plumbing like ``UV_KEPT`` (how often and how long to try,
#: never what is installed). pip runs ``--isolated``, which ignores every ``PIP_*`` variable:
#: these are passed on as the options they stand for.
PIP_KEPT = {"PIP_RETRIES": "--retries", "PIP_TIMEOUT": "--timeout",
            "PIP_DEFAULT_TIMEOUT": "--timeout"}


def pip_network_flags() -> list[str]:
    """``--retries``/``--timeout`` from the user's ``PIP_RETRIES``/``PIP_TIMEOUT`` (which
    ``pip --isolated`` would ignore), so a flaky network is tuned the same way for forge."""
    flags: dict[str, str] = {}
    for name, option in PIP_KEPT.items():
        value = os.environ.get(name, "").strip()
        if value and option not in flags:
            flags[option] = value
    return [part for option, value in flags.items() for part in (option, value)]


def _kept_uv(name: str) -> bool:
    return name in UV_KEPT or (name.startswith("UV_INDEX_") and
                               name.endswith(("_USERNAME", "_PASSWORD")))


def isolated_installer_env() -> dict[str, str | None]:
    """Environment for pip/uv that ignores the machine's own pip configuration files and
    index variables, so a build means the same on every machine."""
    env: dict[str, str | None] = {name: None for name in MACHINE_INSTALLER_VARIABLES}
    env.update({name: None for name in os.environ
                if name.startswith("UV_") and not _kept_uv(name)})
    env.update({"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    # uv wraps its messages at $COLUMNS (when set, as in CI runners and pytest-xdist), which
    # breaks the sentences forge reads in them ("The built wheel … is not compatible"):
    # unset, it writes each on one line.
    env.update({"COLUMNS": None, "LINES": None})
    return env
