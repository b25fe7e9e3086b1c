"""Generate a bundled TypeScript Lambda function with a ~100 MB ``node_modules``, offline.

    python benchmarks/node_generate.py OUT [--mb 100] [--files 27000]

It has the shape of the real projects that made a one-line change take a minute to rebuild
(issue 12): a TypeScript handler (``functions/orders/app.ts`` with two modules of its own
under ``lib/``) bundled with esbuild, importing a few ordinary packages and the AWS SDK v3,
whose ``@aws-sdk/*`` and ``@smithy/*`` packages are most of the install (external to the
bundle: the runtime ships them). Every package is a local tarball under ``OUT/vendor`` built
here (npm's ``package/…`` layout, fixed mtimes), and the lockfile is made with ``npm install
--package-lock-only --offline --install-links``, so neither generating nor building needs
a registry.

- filler: ``@aws-sdk/client-svc-NN`` and ``@smithy/part-NN`` packages of JavaScript-looking
  modules (``dist-cjs/…``, ``dist-es/…``, ``dist-types/….d.ts``), about ``--files`` files
  and ``--mb`` MB in all;
- real-ish modules the handler imports: ``acme-money`` (CommonJS, two files), ``acme-ids``
  (an ES module with an ``exports`` map) and ``acme-validate`` (requires ``acme-money``).

Output is deterministic for given arguments (seeded RNG, fixed tarball timestamps).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path

MB = 1_000_000
#: npm's own "package time" default in tarballs it packs (1985-10-26)
_TAR_MTIME = 499162500
RUNTIME = "nodejs22.x"
FUNCTION = "orders"
FUNCTION_DIR = f"functions/{FUNCTION}"
#: how many filler packages of each family the size is spread over
_SDK_PACKAGES = 24
_SMITHY_PACKAGES = 8


def write_tarball(path: Path, manifest: Mapping[str, object], files: Mapping[str, bytes]) -> Path:
    """An npm package tarball (``package/…``, fixed mtimes, gzip without a timestamp);
    an existing one is reused (same arguments, same bytes)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {"package.json": json.dumps(manifest, indent=2).encode(), **files}
    buf = io.BytesIO()
    # level 1: these are big, and npm does not care how its tarballs were compressed
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=1) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel, data in sorted(entries.items()):
            info = tarfile.TarInfo(f"package/{rel}")
            info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return path


def filler_module(rng: random.Random, size: int) -> bytes:
    """About ``size`` bytes of JavaScript that looks like generated SDK code."""
    out = ['"use strict";', 'Object.defineProperty(exports, "__esModule", { value: true });']
    length = 40
    while length < size:
        name = f"se_{rng.getrandbits(32):08x}"
        line = (f"const {name} = async (input, context) => ({{ $metadata: {{}}, "
                f"token: \"{rng.randbytes(24).hex()}\", size: {rng.randint(0, 1 << 20)} }});\n"
                f"exports.{name} = {name};")
        out.append(line)
        length += len(line) + 1
    return ("\n".join(out) + "\n").encode()


def filler_package(rng: random.Random, name: str, files: int, size: int) -> dict[str, bytes]:
    """The files of one filler package: ``files`` modules of ``size`` bytes in all, in the
    ``dist-cjs``/``dist-es``/``dist-types`` layout of the AWS SDK v3."""
    out: dict[str, bytes] = {}
    per_file = max(200, size // max(files, 1))
    for i in range(files):
        folder = ("dist-cjs/commands", "dist-es/commands", "dist-types/commands", "dist-cjs/models")[i % 4]
        ext = ".d.ts" if folder.startswith("dist-types") else ".js"
        out[f"{folder}/Op{i:04d}Command{ext}"] = filler_module(rng, per_file)
    out["dist-cjs/index.js"] = (
        '"use strict";\n'
        f"exports.name = {json.dumps(name)};\n"
        "exports.Client = class Client { constructor(config) { this.config = config; }\n"
        "  async send(command) { return { $metadata: {}, command: command.constructor.name }; } };\n"
    ).encode()
    return out


#: the packages the handler itself imports, which esbuild bundles
REAL_PACKAGES: dict[str, tuple[dict[str, object], dict[str, bytes]]] = {
    "acme-money": (
        {"main": "index.js"},
        {
            "index.js": b"const { round } = require('./round');\n"
                        b"exports.cents = (amount) => round(amount * 100);\n"
                        b"exports.format = (cents, currency = 'EUR') => `${(cents / 100).toFixed(2)} ${currency}`;\n",
            "round.js": b"exports.round = (x) => Math.round(x);\n",
        },
    ),
    "acme-ids": (
        {"type": "module", "exports": {".": {"import": "./index.js", "require": "./index.cjs"}}},
        {
            "index.js": b"let n = 0;\nexport const nextId = (prefix) => `${prefix}-${(++n).toString(36)}`;\n",
            "index.cjs": b"let n = 0;\nexports.nextId = (prefix) => `${prefix}-${(++n).toString(36)}`;\n",
        },
    ),
    "acme-validate": (
        # a range the top-level acme-money satisfies: npm dedupes it, no registry asked
        {"main": "lib/index.js", "dependencies": {"acme-money": "^1.0.0"}},
        {
            "lib/index.js": b"const { cents } = require('acme-money');\n"
                            b"exports.validateOrder = (o) => {\n"
                            b"  if (!o || typeof o.id !== 'string') throw new Error('order.id missing');\n"
                            b"  return { ...o, totalCents: cents(o.total || 0) };\n};\n",
        },
    ),
}

HANDLER = """\
import { Client } from "@aws-sdk/client-svc-00";
import { format } from "acme-money";
import { nextId } from "acme-ids";
import { validateOrder } from "acme-validate";
import { describe } from "./lib/describe";
import type { Order } from "./lib/types";

const client = new Client({});

export const handler = async (event: { order: Order }) => {
  const order = validateOrder(event.order);
  const id = nextId("ord");
  return { id, text: describe(order, format(order.totalCents)), client: typeof client.send };
};
"""

LIB_TYPES = """\
export interface Order {
  id: string;
  total: number;
  totalCents?: number;
}
"""

LIB_DESCRIBE = """\
import type { Order } from "./types";

export function describe(order: Order, amount: string): string {
  return `order ${order.id}: ${amount}`;
}
"""


def generate(out: Path, *, mb: int = 100, files: int = 27_000, seed: int = 12) -> Path:
    """Write the project into ``out`` (tarballs reused when present); returns the
    function's directory. Needs ``npm`` (offline) for the lockfile."""
    rng = random.Random(seed)
    vendor = out / "vendor"
    deps: dict[str, str] = {}
    families = [("@aws-sdk/client-svc", _SDK_PACKAGES, 0.8), ("@smithy/part", _SMITHY_PACKAGES, 0.2)]
    for prefix, count, share in families:
        for i in range(count):
            name = f"{prefix}-{i:02d}"
            tgz = vendor / f"{name.replace('/', '-').lstrip('@')}-3.600.0.tgz"
            body = filler_package(rng, name, int(files * share / count), int(mb * MB * share / count))
            manifest = {"name": name, "version": "3.600.0", "main": "dist-cjs/index.js"}
            write_tarball(tgz, manifest, body)
            deps[name] = f"file:../../vendor/{tgz.name}"
    for name, (extra, body) in REAL_PACKAGES.items():
        tgz = vendor / f"{name}-1.0.0.tgz"
        manifest = {"name": name, "version": "1.0.0", **extra}
        write_tarball(tgz, manifest, body)
        deps[name] = f"file:../../vendor/{tgz.name}"
    fn = out / FUNCTION_DIR
    (fn / "lib").mkdir(parents=True, exist_ok=True)
    (fn / "package.json").write_text(json.dumps(
        {"name": FUNCTION, "version": "1.0.0", "private": True, "dependencies": dict(sorted(deps.items()))},
        indent=2) + "\n")
    (fn / "app.ts").write_text(HANDLER)
    (fn / "lib/types.ts").write_text(LIB_TYPES)
    (fn / "lib/describe.ts").write_text(LIB_DESCRIBE)
    (out / "lambdaforge.toml").write_text(
        f'[project]\nname = "node-bench"\n\n'
        f'[functions.{FUNCTION}]\nsource = "{FUNCTION_DIR}"\nhandler = "app.handler"\n'
        f'runtime = "{RUNTIME}"\nbundle = "esbuild"\n')
    if not (fn / "package-lock.json").exists():
        env = {**os.environ, "npm_config_cache": str(out.parent / "npm-cache"),
               "npm_config_update_notifier": "false"}
        subprocess.run(["npm", "install", "--package-lock-only", "--offline", "--install-links",
                        "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=fn, env=env, check=True, capture_output=True, text=True)
    return fn


def main(argv: list[str] | None = None) -> int:
    """Command line: write the project, print where."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--mb", type=int, default=100, help="size of the filler packages (MB)")
    p.add_argument("--files", type=int, default=27_000, help="number of filler files")
    a = p.parse_args(argv)
    print(generate(a.out, mb=a.mb, files=a.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
