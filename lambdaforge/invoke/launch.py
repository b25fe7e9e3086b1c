"""What a runtime module hands the invocation: the child's command line, environment and
directory, and how to show its local paths as Lambda's."""

from __future__ import annotations

from pathlib import Path

from msgspec import Struct, field

from lambdaforge.errors import ForgeError


class InvokeUnavailable(ForgeError):
    """The function cannot be invoked here: no interpreter of its runtime's version and
    architecture (or no Node.js of its major), or a runtime ``forge invoke`` does not run."""


class Launch(Struct, frozen=True):
    """A prepared child: ``argv`` (the control descriptor's number is appended when it
    starts), its whole environment, its working directory (the task root)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    #: (local directory, Lambda path), longest first (``lambda_env.lambda_names``)
    places: list[tuple[str, str]]
    #: what is worth saying although the invocation runs (the runtime's packages missing)
    warnings: list[str] = field(default_factory=list)

    def shown(self, text: str) -> str:
        """``text`` with local sandbox paths named as on Lambda (``/var/task/app.py``)."""
        for local, lambda_path in self.places:
            text = text.replace(local, lambda_path)
        return text
