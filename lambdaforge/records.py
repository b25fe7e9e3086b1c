"""msgspec, imported for lambdaforge's records without ``typing_extensions``.

lambdaforge's records are msgspec ``Struct``s, used only as typed, frozen records: nothing
decodes, converts or inspects a type through msgspec. That is the only use msgspec makes of
``typing_extensions`` (``get_type_hints`` and ``Required`` for ``TypedDict`` support), yet it
imports it whenever it is installed (pydantic brings it), and on a slow core that one module
(with ``inspect``, which it imports) is ~15 ms of a ~230 ms incremental build.

``import_msgspec`` imports msgspec with ``typing_extensions`` hidden, so msgspec takes
``typing``'s equivalents, exactly as when ``typing_extensions`` is not installed (a case
msgspec supports), then unhides it: pydantic, imported later by a full plan, gets it as
usual. The incremental build path calls it before its first record module; a process that
already imported either module is left as it is.
"""

from __future__ import annotations

import sys


def import_msgspec() -> None:
    """Import msgspec without ``typing_extensions`` (see the module docstring)."""
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # "not installed"
    try:
        import msgspec  # noqa: F401
    finally:
        if "typing_extensions" in sys.modules and sys.modules["typing_extensions"] is None:
            del sys.modules["typing_extensions"]
