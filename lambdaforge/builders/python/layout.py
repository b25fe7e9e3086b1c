"""Layer layout check: is every package of a Python layer where its runtime looks?

Lambda's Python bootstrap searches a layer's ``python/lib/pythonX.Y/site-packages`` for the
runtime's own X.Y only, then ``python/``. A layer source committed with the layout of an
older build (``python/lib/python3.11/site-packages/…`` in a ``python3.12`` layer) zips and
deploys fine, and nothing in that directory ever imports: "No module named …" on Lambda.
A layer that also has its runtime's own directory holds several versions on purpose (one
layer published for several runtimes) and is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/([^/]+)")


def layer_layout_problems(names: Iterable[str], python_version: str, runtime: str) -> list[str]:
    """One problem per ``python/lib/pythonX.Y/site-packages/`` of a layer zip (``names``,
    its member names) for another Python than ``python_version``, naming what it holds
    that the runtime will not import; none when the runtime's own directory is there too."""
    tops: dict[str, set[str]] = {}
    for name in names:
        match = _SITE.match(name)
        if match:
            tops.setdefault(match.group(1), set()).add(match.group(2))
    if python_version in tops:
        return []
    problems = []
    own = f"python/lib/python{python_version}/site-packages/"
    for version in sorted(tops):
        shown = sorted(_top_name(t) for t in tops[version] if not t.endswith((".dist-info", ".pth")))
        what = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        problems.append(
            f"python/lib/python{version}/site-packages/: {runtime} does not search it (Lambda's "
            f"Python {python_version} looks in {own} and python/), so "
            f"{what or 'nothing in it'} would not import from this layer; move its contents "
            f"to python/ (any Python version) or {own}, or build the layer for "
            f"python{version}")
    return problems


def _top_name(entry: str) -> str:
    """A module's name from a top-level entry (``six.py`` → ``six``, ``pkg`` → ``pkg``)."""
    return entry.split(".", 1)[0] if entry.endswith((".py", ".so")) else entry
