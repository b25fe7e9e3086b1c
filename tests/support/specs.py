"""Hand-made resolved specs for builder tests: the built-in defaults plus overrides, where
a builder's option (by its field name, ``find_links``) goes into ``builder_options`` under
its TOML key, as the config would put it."""

from __future__ import annotations

from typing import Any

from lambdaforge.builders.base import OptionValues
from lambdaforge.config.models import BUILT_IN_DEFAULTS


def spec_values(record: type[OptionValues], overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a ``BuildSettings`` (or a subclass): ``BUILT_IN_DEFAULTS``,
    then ``overrides``, the fields of ``record`` among them moved into ``builder_options``."""
    names = set(record.__struct_fields__)
    options = {k.replace("_", "-"): v for k, v in overrides.items() if k in names}
    common = {k: v for k, v in overrides.items() if k not in names}
    return {**BUILT_IN_DEFAULTS, **common, "builder_options": options}
