"""The platform a Python install is for: the Lambda runtime's Python and the function's CPU.

Everything that must be evaluated "for the target, not for the build host" reads it from
here: environment markers, wheel platform tags, and the installers' platform flags.
"""

from __future__ import annotations

from msgspec import Struct

from lambdaforge.errors import ConfigError
from lambdaforge.lambda_facts import ARCHITECTURES, RUNTIMES


class PythonTarget(Struct, frozen=True):
    """A Python Lambda runtime on one architecture (``python3.12`` on ``arm64``)."""

    runtime: str
    #: "3.12"
    python_version: str
    #: ELF machine name: "x86_64" or "aarch64"
    machine: str
    #: manylinux policy of the runtime's OS: "manylinux_2_34" (AL2023) or "manylinux_2_17" (AL2)
    manylinux: str

    @classmethod
    def of(cls, runtime: str, architecture: str) -> PythonTarget:
        """The target of a Lambda runtime id and architecture; a non-Python runtime is an error."""
        rt = RUNTIMES.get(runtime)
        if rt is None or rt.family != "python":
            raise ConfigError(f"runtime {runtime!r} is not a Python Lambda runtime")
        machine = ARCHITECTURES.get(architecture)
        if machine is None:
            raise ConfigError(f"unknown architecture {architecture!r} (x86_64 or arm64)")
        return cls(runtime, rt.version, machine, rt.manylinux)

    @property
    def abi(self) -> str:
        """CPython ABI tag of the runtime, ``cp312``."""
        return "cp" + self.python_version.replace(".", "")

    @property
    def glibc_minor(self) -> int:
        """The ``34`` of ``manylinux_2_34``."""
        return int(self.manylinux.rsplit("_", 1)[1])

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker variables as the Lambda runtime would report them.

        ``python_full_version`` is ``X.Y.0`` because the runtime's patch level changes
        without notice; uv's ``--python-version X.Y`` assumes the same.
        """
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python_version}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{self.python_version}.0",
            "python_version": self.python_version,
            "sys_platform": "linux",
        }

    def uv_python_platform(self) -> str:
        """Value of uv's ``--python-platform``: ``x86_64-manylinux_2_34``."""
        return f"{self.machine}-{self.manylinux}"

    def pip_platform_tags(self) -> list[str]:
        """Every platform tag a wheel may carry to run on the target, newest first.

        pip does not expand ``--platform manylinux_2_34_x86_64`` to older policies (it only
        does for the legacy ``manylinux2014`` names), so all of them are listed, with the
        legacy aliases of 2_17, 2_12 and 2_5.
        """
        lowest = 17 if self.machine == "aarch64" else 5
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(self.glibc_minor, lowest - 1, -1)]
        aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for minor, alias in aliases.items():
            if lowest <= minor <= self.glibc_minor:
                tags.append(f"{alias}_{self.machine}")
        return tags

    def describe(self) -> str:
        """``manylinux_2_34_x86_64 / cp312``, for messages."""
        return f"{self.manylinux}_{self.machine} / {self.abi}"
