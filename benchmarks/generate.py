"""Generate a realistic Lambda monorepo for benchmarking ``forge build``.

    python benchmarks/generate.py OUT [--functions 50] [--layers 2] [--req-sets 4] [--big] [--pypi]

The repo looks like the ones teams actually have: functions grouped by service, each with a
handful of modules, a ``requirements.txt`` and a ``tests/`` folder; most functions share one
of a few requirement sets (the same file content, copied per function, as people do); one or
more shared layers. Functions are declared with ``[[discover]]`` globs.

Hermetic by default: every dependency is a wheel built here into ``OUT/wheels`` (inside the
project root, as ``find-links`` requires), so the benchmark needs no network and measures
lambdaforge, not PyPI:

- pure distributions with a few modules each and small dependency chains;
- ``fastjson``, a ``manylinux_2_17_x86_64`` wheel carrying an ELF shared object;
- ``heavydata``, ~30 MB of modules and data files that deflate only ~2:1, so zipping costs
  what it costs for numpy-like packages;
- with ``--big``: ``bigdeps-a..d`` (~25 MB each) for a function with ~100 MB of dependencies
  (``big-report``) and ``hugedata-a/b`` for a ~240 MB function (``huge-etl``, just under
  Lambda's 250 MB unzipped limit).

``--pypi`` writes the same shape with real packages from PyPI (requests, pydantic, numpy,
pandas…) and no wheelhouse.

The generator also writes ``functions.txt`` + ``baseline.sh`` (the hand-written
pip/cp/zip loop the benchmark compares against) and ``template.yaml`` for ``sam build``.
Output is deterministic for a given set of arguments (seeded RNG, fixed zip timestamps).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import re
import shutil
import struct
import sys
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MB = 1_000_000
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
NATIVE_TAG = "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"
RUNTIME = "python3.12"

# --------------------------------------------------------------------------- wheels
# Mirrors tests/support/wheels.py (build_wheel), plus a compression level per member: the
# data-heavy wheels are hundreds of MB and deflating them at level 6 would make generation
# slower than the benchmark itself. The installer does not care how a wheel was compressed.


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    tag: str = "py3-none-any",
    requires: Iterable[str] = (),
    compresslevel: int = 6,
) -> Path:
    """Write a valid wheel (METADATA, WHEEL, RECORD with hashes); skip it if it exists.

    Wheels are deterministic (sorted members, fixed dates), so an existing file of the same
    name is the same wheel and is reused: regenerating a repo costs no wheel building.
    """
    stem = f"{_norm(name)}-{version}"
    path = dest_dir / f"{stem}-{tag}.whl"
    if path.exists():
        return path
    dest_dir.mkdir(parents=True, exist_ok=True)
    dist_info = f"{stem}.dist-info"
    pure = tag.endswith("-none-any")
    members = dict(files)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    members[f"{dist_info}/METADATA"] = ("\n".join(meta) + "\n\n").encode()
    # A compressed tag set ("a.b") is written out as one Tag line per tag (PEP 427).
    py, abi, plats = tag.split("-")
    tag_lines = "".join(f"Tag: {py}-{abi}-{p}\n" for p in plats.split("."))
    members[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: lambdaforge-benchmarks\n"
        f"Root-Is-Purelib: {'true' if pure else 'false'}\n{tag_lines}\n"
    ).encode()
    top = sorted({p.split("/", 1)[0].removesuffix(".py") for p in files})
    members[f"{dist_info}/top_level.txt"] = "".join(f"{t}\n" for t in top).encode()
    record = [f"{p},{_record_hash(d)},{len(d)}" for p, d in sorted(members.items())]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for arcname in sorted(members, key=lambda p: (p.endswith("RECORD"), p)):
            info = zipfile.ZipInfo(arcname, _ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, members[arcname])
    tmp.replace(path)  # a killed generator never leaves a half wheel under the final name
    return path


# --------------------------------------------------------------------------- contents

_WORDS = ["order", "customer", "invoice", "payment", "refund", "shipment", "inventory", "account", "session", "token", "event", "record", "batch", "report", "metric", "audit", "policy", "quota", "region", "tenant", "schedule", "window", "cursor", "page"]


def python_module(rng: random.Random, lines: int) -> bytes:
    """Plausible Python source of about ``lines`` lines (classes, functions, docstrings)."""
    out = ['"""Generated module."""', "", "from __future__ import annotations", ""]
    while len(out) < lines:
        w = rng.sample(_WORDS, 3)
        cls = "".join(x.title() for x in w[:2])
        out += [
            f"class {cls}:",
            f'    """A {w[0]} of a {w[1]}, keyed by {w[2]}."""',
            "",
            f"    def __init__(self, {w[2]}_id: str, limit: int = {rng.randint(1, 999)}) -> None:",
            f"        self.{w[2]}_id = {w[2]}_id",
            "        self.limit = limit",
            "",
            f"    def {w[0]}_{w[1]}(self, items: list[dict]) -> list[dict]:",
            f"        return [i for i in items if i.get({w[2]!r}) == self.{w[2]}_id][: self.limit]",
            "",
            "",
            f"def {w[1]}_{w[2]}_{rng.randint(0, 9999)}(value: str) -> str:",
            f'    return value.strip().lower().replace("{w[0]}", "{w[1]}")',
            "",
        ]
    return ("\n".join(out) + "\n").encode()


# Four bits of entropy per byte: deflate shrinks this about 2:1 and spends real CPU doing
# it, like the shared objects and data files of numpy or pandas. (Pure random bytes would
# be stored almost as is; zeros would compress to nothing.)
_NIBBLES = bytes((b & 0x0F) * 13 + 7 for b in range(256))


def data_blob(rng: random.Random, size: int) -> bytes:
    """``size`` bytes that deflate roughly 2:1."""
    return rng.randbytes(size).translate(_NIBBLES)


def elf_shared_object(payload: bytes = b"") -> bytes:
    """A minimal x86_64 ELF shared object header followed by ``payload``.

    Enough for lambdaforge's native-binary check to read the machine and find no versioned
    glibc symbols (no dynamic section); the payload makes it the size of a real extension.
    """
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        3,      # e_type ET_DYN
        62,     # e_machine EM_X86_64
        1,      # e_version
        0, 0, 0,  # entry, phoff, shoff: no program or section headers
        0, 64, 0, 0, 0, 0, 0,
    )
    return header + payload


@dataclass
class Dist:
    """A distribution of the hermetic wheelhouse, and the import name a handler uses."""

    name: str
    module: str
    requires: tuple[str, ...] = ()


def _pure_files(rng: random.Random, module: str, n_modules: int, lines: int) -> dict[str, bytes]:
    files = {f"{module}/__init__.py": b'"""Generated package."""\n__version__ = "1.0"\n'}
    for i in range(n_modules):
        files[f"{module}/mod_{i:02d}.py"] = python_module(rng, lines)
    return files


#: the pure distributions: name, dependencies
PURE = {
    "acme-core": (),
    "acme-json": ("acme-core",),
    "acme-http": ("acme-core", "acme-retry"),
    "acme-retry": (),
    "acme-web": ("acme-http", "acme-json", "acme-validate"),
    "acme-validate": ("acme-core",),
    "acme-events": ("acme-json",),
    "acme-log": (),
    "acme-config": ("acme-core",),
    "acme-trace": ("acme-log",),
    "acme-db": ("acme-core", "acme-retry"),
    "acme-cache": ("acme-db",),
}
#: small pure packages the "requirements changed" scenario adds, one per run
TINY = [f"tiny-{i}" for i in range(12)]


def build_wheelhouse(dest: Path, *, big: bool = False, seed: int = 6) -> list[Path]:
    """Write the hermetic wheelhouse into ``dest``; wheels that already exist are kept."""
    # One RNG per distribution: a wheel's bytes never depend on which others exist already.
    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}-{name}")

    wheels = []
    for name, requires in PURE.items():
        files = _pure_files(rng(name), _norm(name), 8, 200)
        wheels.append(build_wheel(dest, name, "1.0", files, requires=requires))
    for name in TINY:
        wheels.append(build_wheel(dest, name, "1.0", _pure_files(rng(name), _norm(name), 1, 30)))
    native = {
        "fastjson/__init__.py": b"from ._speedups import *  # noqa\n",
        "fastjson/_speedups.abi3.so": elf_shared_object(data_blob(rng("fastjson"), 2 * MB)),
    }
    wheels.append(build_wheel(dest, "fastjson", "1.0", native, tag=NATIVE_TAG))
    heavy = [("heavydata", 30)]
    if big:
        heavy += [(f"bigdeps-{p}", 24) for p in "abcd"] + [(f"hugedata-{p}", 56) for p in "ab"]
    for name, size in heavy:
        wheels.append(_heavy_wheel(dest, rng(name), name, size * MB))
    return wheels


def _heavy_wheel(dest: Path, rng: random.Random, name: str, size: int) -> Path:
    """About ``size`` bytes: a quarter Python modules, the rest 1 MB data files."""
    mod = _norm(name)
    stem = f"{mod}-1.0-py3-none-any.whl"
    if (dest / stem).exists():
        return dest / stem
    files = {f"{mod}/__init__.py": b'__version__ = "1.0"\n'}
    code = 0
    i = 0
    while code < size // 4:
        src = python_module(rng, 400)
        files[f"{mod}/core/m{i:04d}.py"] = src
        code += len(src)
        i += 1
    for j in range((size - code) // MB):
        files[f"{mod}/data/blob{j:03d}.bin"] = data_blob(rng, MB)
    return build_wheel(dest, name, "1.0", files, compresslevel=1)


# --------------------------------------------------------------------------- the repo

#: hermetic requirement sets, most used first; the share is of the functions
HERMETIC_SETS = [
    ("api", ["acme-web", "acme-validate"], 0.55),
    ("events", ["acme-events", "acme-http", "acme-retry"], 0.2),
    ("native", ["fastjson", "acme-http"], 0.15),
    ("data", ["heavydata", "acme-json"], 0.05),  # the 30 MB one: few functions, as in life
    ("db", ["acme-db", "acme-cache", "acme-json"], 0.05),
]
PYPI_SETS = [
    ("api", ["requests==2.32.3", "pydantic==2.9.2"], 0.55),
    ("events", ["attrs==24.2.0", "requests==2.32.3"], 0.2),
    ("native", ["orjson==3.10.7", "requests==2.32.3"], 0.15),
    ("data", ["numpy==2.1.2"], 0.05),
    ("db", ["pydantic==2.9.2", "python-ulid==3.0.0"], 0.05),
]
HERMETIC_LAYER_REQS = [["acme-log", "acme-config"], ["acme-trace"], ["acme-retry"]]
PYPI_LAYER_REQS = [["structlog==24.4.0"], ["wrapt==1.16.0"], ["tenacity==9.0.0"]]
HERMETIC_BIG = {"big-report": ["heavydata", "bigdeps-a", "bigdeps-b", "bigdeps-c"],
                "huge-etl": ["heavydata", "bigdeps-a", "bigdeps-b", "bigdeps-c", "bigdeps-d",
                             "hugedata-a", "hugedata-b"]}
PYPI_BIG = {"big-report": ["numpy==2.1.2", "pandas==2.2.3"],
            "huge-etl": ["numpy==2.1.2", "pandas==2.2.3", "scipy==1.14.1"]}


@dataclass
class Repo:
    """What was generated: where, and the functions and layers in it."""

    root: Path
    functions: dict[str, str] = field(default_factory=dict)  # name → source dir
    layers: dict[str, str] = field(default_factory=dict)
    requirement_sets: dict[str, list[str]] = field(default_factory=dict)  # function → set name


def _set_for(i: int, n: int, sets: list) -> int:
    """Which requirement set function ``i`` of ``n`` uses: by the sets' shares, every set
    used at least once (so K sets really means K installs)."""
    if i < len(sets):
        return i
    x = (i * 0.618034) % 1.0  # spread evenly over the shares, deterministically
    acc = 0.0
    for k, (_, _, share) in enumerate(sets):
        acc += share
        if x < acc:
            return k
    return 0


def generate(
    out: Path,
    *,
    functions: int = 50,
    layers: int = 2,
    req_sets: int = 4,
    big: bool = False,
    huge: bool = True,
    pypi: bool = False,
    wheelhouse: Path | None = None,
    seed: int = 6,
) -> Repo:
    """Write a monorepo of ``functions`` functions into ``out`` (which must not exist).

    ``big`` adds ``big-report`` (~100 MB of dependencies) and, unless ``huge`` is false,
    ``huge-etl`` (~240 MB).
    ``wheelhouse``: an existing folder of the hermetic wheels to hard-link from instead of
    building them (the benchmark generates several repos from one wheelhouse).
    """
    if out.exists():
        raise SystemExit(f"{out} exists; remove it first")
    if not 1 <= layers <= 3 or not 1 <= req_sets <= 5:
        raise SystemExit("--layers must be 1-3 and --req-sets 1-5")
    rng = random.Random(seed)
    repo = Repo(out)
    out.mkdir(parents=True)
    sets = (PYPI_SETS if pypi else HERMETIC_SETS)[:req_sets]
    layer_reqs = (PYPI_LAYER_REQS if pypi else HERMETIC_LAYER_REQS)[:layers]

    if not pypi:
        wheels = out / "wheels"
        if wheelhouse is not None:
            wheels.mkdir()
            for w in sorted(wheelhouse.glob("*.whl")):
                _link_or_copy(w, wheels / w.name)
        build_wheelhouse(wheels, big=big, seed=seed)  # fills in whatever is missing

    names = [f"common{'' if i == 0 else i}" for i in range(layers)]
    for name, reqs in zip(names, layer_reqs):
        src = f"layers/{name}"
        _write(out / src / f"{name}_util.py", python_module(rng, 150))
        _write(out / src / "requirements.txt", _req_text(reqs))
        repo.layers[name] = src

    # 80% of the functions are HTTP handlers under services/<service>/<fn> with the first
    # layer; the rest are jobs/<fn> using every layer.
    n_jobs = functions // 5
    for i in range(functions):
        if i < functions - n_jobs:
            service = f"svc{i // 10:02d}"
            fn_dir = f"handler_{i:03d}"
            src, name = f"services/{service}/{fn_dir}", f"{service}-{fn_dir}"
        else:
            fn_dir = f"job_{i:03d}"
            src, name = f"jobs/{fn_dir}", fn_dir
        k = _set_for(i, functions, sets)
        set_name, reqs, _ = sets[k]
        _write_function(out / src, rng, reqs, pypi)
        repo.functions[name] = src
        repo.requirement_sets[name] = [set_name]

    if big:
        for name, reqs in (PYPI_BIG if pypi else HERMETIC_BIG).items():
            if name == "huge-etl" and not huge:
                continue
            src = f"heavy/{name}"
            _write_function(out / src, rng, reqs, pypi)
            repo.functions[name] = src
            repo.requirement_sets[name] = [name]

    _write(out / "lambdaforge.toml", _config(repo, names, pypi, big).encode())
    _write(out / "functions.txt", "".join(
        f"{kind} {name} {src}\n"
        for kind, items in (("layer", repo.layers), ("function", repo.functions))
        for name, src in items.items()
    ).encode())
    _write(out / "baseline.sh", BASELINE_SH.encode(), mode=0o755)
    _write(out / "template.yaml", _sam_template(repo, names).encode())
    _write(out / ".gitignore", b".forge/\nbuild/\n.aws-sam/\n")
    return repo


def _req_text(reqs: list[str]) -> bytes:
    return "".join(f"{r}\n" for r in reqs).encode()


def _write_function(src: Path, rng: random.Random, reqs: list[str], pypi: bool) -> None:
    imports = [re.split(r"[=<>\[]", r)[0].replace("-", "_") for r in reqs]
    if pypi:
        imports = [{"python_ulid": "ulid"}.get(m, m) for m in imports]
    app = (
        '"""Lambda handler."""\n\n'
        + "".join(f"import {m}  # noqa: F401\n" for m in imports)
        + "\nfrom models import *  # noqa\nfrom util import *  # noqa\n\n\n"
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
    )
    _write(src / "app.py", app.encode())
    _write(src / "models.py", python_module(rng, 120))
    _write(src / "util.py", python_module(rng, 60))
    _write(src / "requirements.txt", _req_text(reqs))
    _write(src / "tests" / "__init__.py", b"")
    _write(src / "tests" / "test_app.py", b"from app import handler\n\n\ndef test_ok():\n"
           b"    assert handler({}, None)['statusCode'] == 200\n")


def _config(repo: Repo, layers: list[str], pypi: bool, big: bool) -> str:
    parts = [
        "# Generated by benchmarks/generate.py\n"
        f'[project]\nname = "bench-{len(repo.functions)}"\n\n'
        f'[defaults]\nruntime = "{RUNTIME}"\narchitecture = "x86_64"\n'
        + ("" if pypi else 'no-index = true\nfind-links = ["wheels"]\n')
    ]
    for name, src in repo.layers.items():
        parts.append(f'[layers.{name}]\nsource = "{src}"\nrequirements = "{src}/requirements.txt"\n')
    parts.append(textwrap.dedent(f"""\
        [[discover]]
        path = "services/*/*"
        name = "{{parent}}-{{dir}}"
        handler = "app.handler"
        layers = ["{layers[0]}"]
        """))
    if any(src.startswith("jobs/") for src in repo.functions.values()):
        parts.append(textwrap.dedent(f"""\
            [[discover]]
            path = "jobs/*"
            handler = "app.handler"
            layers = [{", ".join(f'"{n}"' for n in layers)}]
            """))
    if big:
        parts.append("[[discover]]\npath = \"heavy/*\"\nhandler = \"app.handler\"\n")
    return "\n".join(parts)


def _sam_template(repo: Repo, layers: list[str]) -> str:
    """The equivalent AWS SAM template, for ``sam build --parallel --cached``.

    Logical ids: ``svc00-handler_000`` → ``Svc00Handler000Function``, ``common`` →
    ``CommonLayer``, ``big-report`` → ``BigReportFunction`` (``run.py`` builds that one by
    id). sam finds each function's ``requirements.txt`` in its ``CodeUri`` and each layer's
    in its ``ContentUri``; the wheelhouse is passed to its pip through the environment
    (``PIP_FIND_LINKS``/``PIP_NO_INDEX``, see ``run.py``), not written here.
    """
    def logical(name: str) -> str:
        return "".join(p.title() for p in re.split(r"[-_]", name))

    lines = ["AWSTemplateFormatVersion: '2010-09-09'", "Transform: AWS::Serverless-2016-10-31",
             "Resources:"]
    for name, src in repo.layers.items():
        lines += [f"  {logical(name)}Layer:", "    Type: AWS::Serverless::LayerVersion",
                  "    Properties:", f"      ContentUri: {src}", "      CompatibleRuntimes:",
                  f"        - {RUNTIME}", "      CompatibleArchitectures: [x86_64]",
                  # BuildMethod makes sam install the layer's requirements.txt and copy its
                  # code under python/, like forge; BuildArchitecture is x86_64 by default.
                  "    Metadata:", f"      BuildMethod: {RUNTIME}",
                  "      BuildArchitecture: x86_64"]
    for name, src in repo.functions.items():
        uses = layers if src.startswith("jobs/") else layers[:1]
        if src.startswith("heavy/"):
            uses = []
        lines += [f"  {logical(name)}Function:", "    Type: AWS::Serverless::Function",
                  "    Properties:", f"      CodeUri: {src}", "      Handler: app.handler",
                  f"      Runtime: {RUNTIME}", "      Architectures: [x86_64]"]
        if uses:
            lines.append("      Layers:")
            lines += [f"        - !Ref {logical(n)}Layer" for n in uses]
    return "\n".join(lines) + "\n"


# The approach every team writes first: per function, pip install into a folder, copy the
# sources over, zip. No caching, no sharing of identical installs; host-Python bytecode
# compiled by pip (its default). `baseline.sh NAME…` builds only those.
BASELINE_SH = r"""#!/usr/bin/env bash
# Hand-written build: pip install -r requirements.txt -t build/NAME && cp && zip, per target.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
PIPFLAGS=(--quiet --disable-pip-version-check --platform manylinux2014_x86_64
          --only-binary=:all: --python-version 3.12 --implementation cp)
if [ -d wheels ]; then PIPFLAGS+=(--no-index --find-links wheels); fi
mkdir -p build
while read -r kind name src; do
  if [ "$#" -gt 0 ] && [[ ! " $* " == *" $name "* ]]; then continue; fi
  out="build/$name"; rm -rf "$out" "$out.zip"
  dest="$out"; [ "$kind" = layer ] && dest="$out/python"
  mkdir -p "$dest"
  if [ -f "$src/requirements.txt" ]; then
    "$PYTHON" -m pip install "${PIPFLAGS[@]}" -r "$src/requirements.txt" -t "$dest"
  fi
  cp -r "$src"/* "$dest"/
  (cd "$out" && zip -qr "../$name.zip" .)
done < functions.txt
"""


def _write(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mode is not None:
        path.chmod(mode)


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``generate.py OUT [options]``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="directory to create")
    p.add_argument("--functions", "-n", type=int, default=50)
    p.add_argument("--layers", type=int, default=2, help="1-3 (default 2)")
    p.add_argument("--req-sets", type=int, default=4, help="distinct requirement sets, 1-5 (default 4)")
    p.add_argument("--big", action="store_true",
                   help="add big-report (~100 MB of deps) and huge-etl (~240 MB) functions")
    p.add_argument("--no-huge", action="store_true", help="with --big: leave out huge-etl")
    p.add_argument("--pypi", action="store_true", help="real packages from PyPI, no wheelhouse")
    p.add_argument("--wheelhouse", type=Path, help="hard-link wheels from this folder first")
    p.add_argument("--seed", type=int, default=6)
    a = p.parse_args(argv)
    repo = generate(a.out, functions=a.functions, layers=a.layers, req_sets=a.req_sets,
                    big=a.big, huge=not a.no_huge, pypi=a.pypi, wheelhouse=a.wheelhouse, seed=a.seed)
    print(f"{repo.root}: {len(repo.functions)} functions, {len(repo.layers)} layers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
