"""The external tools the Python builder runs (uv, pip) and their versions, found once.

Their versions are part of every install key (design §3): a different uv may resolve or
lay out files differently. Asking costs a subprocess, so each answer is memoised for the
life of the process.
"""

from __future__ import annotations

import sys
from functools import lru_cache

from lambdaforge.errors import InstallError
from lambdaforge.runner import Runner, isolated_installer_env


@lru_cache(maxsize=1)
def uv_binary() -> str:
    """Path of the uv executable lambdaforge depends on (the ``uv`` PyPI package)."""
    try:
        import uv
    except ImportError as exc:  # pragma: no cover - uv is a dependency
        raise InstallError("the `uv` package is not installed; reinstall lambdaforge") from exc
    return uv.find_uv_bin()


def pip_command() -> list[str]:
    """pip of the Python running lambdaforge (``installer = "pip"``)."""
    return [sys.executable, "-m", "pip"]


_versions: dict[str, str] = {}


def tool_version(name: str, runner: Runner) -> str:
    """``uv`` → ``0.13.9``; memoised per process. Raises ``InstallError`` when it is missing."""
    if name in _versions:
        return _versions[name]
    argv = [uv_binary(), "--version"] if name == "uv" else [*pip_command(), "--version"]
    result = runner.run(argv, env=isolated_installer_env(), timeout=60)
    if not result.ok:
        hint = " (install pip into lambdaforge's environment, or use installer = \"uv\")" if name == "pip" else ""
        raise InstallError(f"cannot run {name}{hint}:\n{result.describe()}")
    # "uv 0.13.9 (x86_64-unknown-linux-gnu)" / "pip 26.3 from /…/pip (python 3.11)"
    version = result.stdout.split()[1]
    _versions[name] = version
    return version
