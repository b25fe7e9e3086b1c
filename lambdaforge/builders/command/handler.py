"""The handler check of OS-only runtimes: Lambda starts an executable ``bootstrap``.

Lambda looks for it in ``/var/task`` (the function zip's root), then ``/opt`` (the layers,
merged in order, a later one winning), so either place will do; it must be a file with its
execute bit set, or the function fails at its first invoke with ``Runtime.InvalidEntrypoint``.
Pure functions of zips, usable by any builder of ``provided.*`` functions.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lambdaforge.lambda_facts import BOOTSTRAP

#: top-level names listed when ``bootstrap`` is missing
_SHOWN = 8


def bootstrap_problems(artifact: Path, layer_zips: Sequence[Path], runtime: str) -> list[str]:
    """Why the function ``artifact`` (with its layers) cannot start on ``runtime``; empty
    when a ``bootstrap`` Lambda would find is an executable file."""
    places = [(artifact, "the zip")] + [(z, f"layer zip {z.name}") for z in reversed(layer_zips)]
    for zip_path, where in places:
        with zipfile.ZipFile(zip_path) as zf:
            names = set(zf.namelist())
            if f"{BOOTSTRAP}/" in names or any(n.startswith(f"{BOOTSTRAP}/") for n in names):
                return [f"`{BOOTSTRAP}` at the root of {where} is a directory: {runtime} starts an "
                        f"executable file named {BOOTSTRAP}"]
            if BOOTSTRAP not in names:
                continue
            mode = zf.getinfo(BOOTSTRAP).external_attr >> 16
        if not mode & 0o111:
            return [f"`{BOOTSTRAP}` in {where} is not executable (mode {stat.S_IMODE(mode):o}): "
                    f"Lambda cannot start it; make the command `chmod +x` it"]
        return []
    with zipfile.ZipFile(artifact) as zf:
        top = sorted({n.split("/", 1)[0] + ("/" if "/" in n else "") for n in zf.namelist()})
    listing = ", ".join(top[:_SHOWN]) + (f", … ({len(top)} in all)" if len(top) > _SHOWN else "")
    return [f"no `{BOOTSTRAP}` at the root of the zip{' or its layers' if layer_zips else ''}: "
            f"{runtime} starts an executable named {BOOTSTRAP}; the zip's top level has "
            f"{listing or 'nothing'}"]
