"""Prebuilt native addons for other platforms, left out of a Node.js install.

Packages built with prebuildify (bcrypt 6, bufferutil, utf-8-validate, classic-level…) ship
an addon for every platform and let ``node-gyp-build`` pick one at run time, in the layout
``prebuilds/<platform>-<arch>[+<arch>…]/<name>[.<tag>…].node``. node-gyp-build's rules
(``load.resolve``, node-gyp-build 4): ``build/Release`` first; else the directory whose
platform is ``process.platform`` and whose arches include ``process.arch``; in it, a file whose
tags all fit: ``glibc``/``musl`` the C library (Lambda: glibc), ``armv<N>`` the ARM version
(``8`` on arm64, none on x64), ``node``/``electron``/``node-webkit`` the runtime (node).
On Lambda that is ``linux-x64`` or ``linux-arm64``, glibc, Node.js. The rest can never load
there: removed from the install (the zip is smaller, and the native-binary check sees only
what can load). Tags it cannot judge here (``abi<N>``, ``uv<N>``, ``napi``) keep a file.

A package with prebuilds but none for the target (and no ``build/Release`` addon) is a
warning, not a failure: node-gyp-build finds no addon there ("No native build was found"),
which many such packages catch and fall back from (bufferutil and utf-8-validate load their
JavaScript ``fallback.js``; ``ws`` runs without either), and others do not; the warning says
which way to look.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from msgspec import Struct

#: node-gyp-build's ``armv`` for each Lambda ``process.arch`` (``process.config`` has no
#: ``arm_version`` on x64, so any ``armv`` tag fails there)
_ARMV = {"x64": "", "arm64": "8"}
#: the other Lambda architecture, as npm names it and as the config does
_OTHER = {"x64": ("arm64", "arm64"), "arm64": ("x64", "x86_64")}
_RUNTIMES = frozenset({"node", "electron", "node-webkit"})


class PrebuildsLeftOut(Struct, frozen=True):
    """What was removed of one package's ``prebuilds/`` (``location``: where it is in
    node_modules): entries relative to that directory (``darwin-x64``,
    ``linux-x64/addon.musl.node``) and how many ``.node`` addons they held."""

    location: str
    removed: tuple[str, ...]
    addons: int
    #: set when no addon for the target is left (and no ``build/Release`` one): the warning
    #: names the platforms it has and the way out
    missing: str | None = None


def _tuple(name: str) -> tuple[str, tuple[str, ...]] | None:
    """``darwin-x64+arm64`` → (``darwin``, (``x64``, ``arm64``)); ``None`` for a name
    node-gyp-build does not read as a platform directory."""
    parts = name.split("-")
    if len(parts) != 2 or not parts[0]:
        return None
    arches = tuple(parts[1].split("+"))
    return (parts[0], arches) if all(arches) else None


def _loads(file_name: str, cpu: str) -> bool:
    """Whether node-gyp-build on Lambda (glibc, Node.js, ``cpu``) may choose this file of a
    matching platform directory: every tag it knows must fit. Files that are not ``.node``
    addons are left alone."""
    parts = file_name.split(".")
    if parts[-1] != "node":
        return True
    for tag in parts[:-1]:
        if tag in _RUNTIMES and tag != "node":
            return False
        if tag == "musl" or (tag.startswith("armv") and tag[4:] != _ARMV[cpu]):
            return False
    return True


def strip_foreign(package_dir: Path, location: str, cpu: str) -> PrebuildsLeftOut | None:
    """Remove from ``package_dir/prebuilds`` what node-gyp-build never loads on Lambda's
    linux-``cpu`` (see the module doc); ``None`` when the package has no such layout, or
    nothing was removed and an addon for the target is there. With none for the target left
    (and no ``build/Release`` one), ``missing`` says so."""
    prebuilds = package_dir / "prebuilds"
    if not prebuilds.is_dir():
        return None
    removed: list[str] = []
    platforms: list[str] = []
    kept = addons = 0
    for entry in sorted(prebuilds.iterdir()):
        parsed = _tuple(entry.name) if entry.is_dir() else None
        if parsed is None:
            continue
        platforms.append(entry.name)
        platform, arches = parsed
        if platform != "linux" or cpu not in arches:
            addons += sum(1 for p in entry.rglob("*.node") if p.is_file())
            shutil.rmtree(entry)
            removed.append(entry.name)
            continue
        for addon in sorted(p for p in entry.iterdir() if p.is_file()):
            if not _loads(addon.name, cpu):
                addon.unlink()
                addons += 1
                removed.append(f"{entry.name}/{addon.name}")
            elif addon.name.endswith(".node"):
                kept += 1
    missing = None
    if platforms and not kept and not list((package_dir / "build" / "Release").glob("*.node")):
        other_cpu, other_arch = _OTHER[cpu]
        others = [p for p in platforms
                  if p.startswith("linux-") and other_cpu in p[len("linux-"):].split("+")]
        hint = f', or set architecture = "{other_arch}" (it has {others[0]})' if others else ""
        name = location.rsplit("node_modules/", 1)[-1]
        missing = (f"node_modules/{location}/prebuilds/ has no addon for linux-{cpu} (glibc), "
                   f"only for {', '.join(platforms)}: node-gyp-build finds none on Lambda, so "
                   f"require('{name}') works there only if the package falls back without it "
                   "(bufferutil and utf-8-validate do) or nothing needs it; otherwise use a "
                   f"version that ships a linux-{cpu} prebuild{hint}")
    if not removed and missing is None:
        return None
    return PrebuildsLeftOut(location, tuple(removed), addons, missing)


def notes(left_out: list[PrebuildsLeftOut], cpu: str) -> list[str]:
    """The install's notes: what was left out (one line), then each package left with no
    addon for the target."""
    removed = [p for p in left_out if p.removed]
    out = []
    if removed:
        count = sum(p.addons for p in removed)
        names = ", ".join(p.location for p in removed)
        out.append(f"left out {count} prebuilt addon{'s' if count != 1 else ''} for other "
                   f"platforms (node-gyp-build loads only linux-{cpu} glibc ones on Lambda) "
                   f"from {names}")
    return out + [p.missing for p in left_out if p.missing is not None]
