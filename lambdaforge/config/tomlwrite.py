"""Write TOML: the effective config for ``forge config``, and documents for tests.

The standard library reads TOML but does not write it, and the subset needed here (tables,
arrays of tables, inline arrays and tables, strings, numbers, booleans, dates) is small
enough not to earn a dependency.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key(name: str) -> str:
    """A key, quoted when it is not a bare key."""
    return name if _BARE_KEY.fullmatch(name) else string(name)


def string(text: str) -> str:
    """A basic string. JSON's escapes are TOML's, except that TOML also forbids a raw DEL."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def value(item: Any) -> str:
    """Any value in inline form (arrays and tables on one line)."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return string(item)
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        if math.isinf(item):
            return "inf" if item > 0 else "-inf"
        return repr(item)
    if isinstance(item, (datetime.datetime, datetime.date, datetime.time)):
        return item.isoformat()
    if isinstance(item, Mapping):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} as TOML")


def _is_table_array(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and bool(item) and all(isinstance(v, Mapping) for v in item)


def _table(lines: list[str], header: str, table: Mapping[str, Any], array: bool) -> None:
    nested = []
    scalars = []
    for name, item in table.items():
        if isinstance(item, Mapping) or _is_table_array(item):
            nested.append((name, item))
        else:
            scalars.append(f"{key(name)} = {value(item)}")
    # A table holding only sub-tables is implied by their headers: no header of its own.
    if header and (array or scalars or not nested):
        lines.append("")
        lines.append(f"[[{header}]]" if array else f"[{header}]")
    lines.extend(scalars)
    for name, item in nested:
        sub = f"{header}.{key(name)}" if header else key(name)
        if isinstance(item, Mapping):
            _table(lines, sub, item, array=False)
        else:
            for element in item:
                _table(lines, sub, element, array=True)


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as a TOML document that ``tomllib.loads`` reads back equal."""
    lines: list[str] = []
    _table(lines, "", document, array=False)
    return "\n".join(lines).lstrip("\n") + "\n"
