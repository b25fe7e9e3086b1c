"""Builder registry: ecosystem builders by name, built-ins plus entry-point plugins.

Explicit registration (house style 7): built-ins are listed here, third-party builders come
from the ``lambdaforge.builders`` entry-point group and are loaded only when a runtime family
no built-in handles is asked for. Duplicate names are rejected.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from lambdaforge.builders.base import Builder
from lambdaforge.errors import ConfigError, ForgeError
from lambdaforge.lambda_facts import RUNTIMES

ENTRY_POINT_GROUP = "lambdaforge.builders"

#: runtime family → "module:Class" of the built-in builder (imported lazily: start-up cost)
BUILT_IN: dict[str, str] = {
    "python": "lambdaforge.builders.python:PythonBuilder",
    "nodejs": "lambdaforge.builders.node:NodeBuilder",
}


def _load(ref: str) -> type[Builder]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class BuilderRegistry:
    """Maps runtime families to builder instances, creating each builder once."""

    def __init__(self) -> None:
        self._by_family: dict[str, Builder] = {}

    def for_runtime(self, runtime: str) -> Builder:
        """The builder for a Lambda runtime id (``python3.12`` → the Python builder)."""
        rt = RUNTIMES.get(runtime)
        if rt is None:
            raise ConfigError(f"no builder for unknown runtime {runtime!r}")
        return self.for_family(rt.family)

    def for_family(self, family: str) -> Builder:
        """The builder of a runtime family, loading it on first use."""
        builder = self._by_family.get(family)
        if builder is None:
            # Built-ins first: scanning entry points costs start-up time a no-op build
            # should not pay.
            cls = _load(BUILT_IN[family]) if family in BUILT_IN else _plugin_builders().get(family)
            if cls is None:
                raise ForgeError(f"no builder is registered for runtime family {family!r}")
            builder = self._by_family[family] = cls()
        return builder


@lru_cache(maxsize=1)
def _plugin_builders() -> dict[str, type[Builder]]:
    """Third-party builders from entry points; a name clash with a built-in is an error."""
    from importlib.metadata import entry_points

    found: dict[str, type[Builder]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        family = getattr(cls, "FAMILY", None)
        if family in BUILT_IN or family in found:
            raise ForgeError(
                f"builder plugin {ep.value!r} registers runtime family {family!r}, "
                "which another builder already handles"
            )
        found[family] = cls
    return found
