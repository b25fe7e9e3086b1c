"""The command builder's options: what to run, on which files, with which environment
variables, and where its output is. Imported only while the config is validated and when a
command target runs (it needs pydantic, which a no-op build never loads)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, field_validator, model_validator

from lambdaforge.config.models import BuilderOptions

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Set by forge for every command (``run.command_environment``): a user's value would be
#: silently replaced, so declaring one is an error.
FORGE_VARIABLES: tuple[str, ...] = ("FORGE_ARCH", "FORGE_RUNTIME", "FORGE_OUTPUT")


class CommandOptions(BuilderOptions):
    """``command``, ``inputs``, ``output``, ``env`` and ``pass-env`` of a function or layer
    built with ``builder = "command"``."""

    command: str | tuple[str, ...] = Field(
        description="`command` builder: what makes the zip's content, run in a scratch copy of "
        "the inputs. An array is the argv (`[\"make\", \"build\"]`); a string runs with "
        "`/bin/sh -c`. It gets only PATH, HOME, LANG=C.UTF-8, `env`, `pass-env` and "
        "FORGE_ARCH, FORGE_RUNTIME, FORGE_OUTPUT.",
    )
    inputs: tuple[str, ...] | None = Field(
        None,
        description="`command` builder: gitignore-style patterns, relative to `source`, of the "
        "files the command reads: copied into the scratch directory, and the only files whose "
        "content reruns it. Default: everything in `source`.",
    )
    output: str | None = Field(
        None,
        description="`command` builder: directory, relative to the scratch copy, whose files "
        "are zipped (`include`/`exclude` filter them). Created before the command runs; "
        "FORGE_OUTPUT holds its absolute path. Default: the copy itself.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="`command` builder: environment variables for the command, e.g. "
        "`{ GOOS = \"linux\", CGO_ENABLED = \"0\" }`. Their values are part of the cache key.",
    )
    pass_env: tuple[str, ...] = Field(
        (),
        description="`command` builder: names of variables passed through from forge's "
        "environment when set (`[\"GOPATH\", \"GOPROXY\"]`). Only their names are in the cache "
        "key: use them for caches and credentials, `env` for what changes the output.",
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the command is empty")
        if isinstance(value, tuple) and (not value or not value[0]):
            raise ValueError("the command is empty: the array needs the program first")
        return value

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and any(not p.strip() for p in value):
            raise ValueError("an input pattern is empty")
        return value

    @field_validator("output")
    @classmethod
    def _output(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError(f"'{value}' must be a directory relative to the scratch copy, "
                             "without '..' (e.g. \"out\")")
        return path.as_posix()

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            _check_name(name)
        return value

    @field_validator("pass_env")
    @classmethod
    def _pass_env(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _check_name(name)
        return value

    @model_validator(mode="after")
    def _env_once(self) -> CommandOptions:
        both = sorted(set(self.env) & set(self.pass_env))
        if both:
            raise ValueError(f"{', '.join(both)} in both `env` and `pass-env`: set a value "
                             "or pass it through, not both")
        return self

    @classmethod
    def of(cls, builder_options: dict[str, Any]) -> CommandOptions:
        """The options of a resolved spec (``spec.builder_options``, already validated)."""
        return cls.model_validate(builder_options)

    def argv(self) -> list[str]:
        """The command line to run: the array as given, a string through ``/bin/sh -c``."""
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else list(self.command)

    def shown(self) -> str:
        """The command as the user wrote it, for messages."""
        return self.command if isinstance(self.command, str) else " ".join(self.command)


def _check_name(name: str) -> None:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"'{name}' is not an environment variable name (letters, digits "
                         "and '_', not starting with a digit)")
    if name in FORGE_VARIABLES:
        raise ValueError(f"{name} is set by forge for every command")
