"""Time ``forge build`` against a remote cache on S3's API (moto's server on loopback).

    python benchmarks/remote_bench.py [--functions 200] [--shards 4] [--runs 3] [--workdir DIR]

Rows (see benchmarks/README.md):

- ``fresh checkout, warm remote``: a copy of the repo without ``.forge`` and an empty local
  cache, the remote already holding every target (a CI runner's first build on a commit
  ``main`` built): everything is downloaded and verified, nothing built;
- ``--shard I/N``: N fresh checkouts with empty local caches build one part each into an
  empty bucket (read-write), one after the other on this machine: each row is what one of N
  CI runners would spend;
- ``assembly after the shards``: one more fresh checkout builds everything, read only: the
  final CI job that collects every zip and the manifest from the remote.

The moto server runs as its own process (``moto_server``, as a real endpoint would), each
forge build is a fresh subprocess (``run.measure``). Installer caches (uv's) are kept
between runs; only cache entries are new. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate
from run import JOBS, Sample, machine, measure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(python: str) -> tuple[subprocess.Popen, str]:
    """A moto server process on a free loopback port, and its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto server did not start")


class RemoteBench:
    """The repo, the moto server and the environment the builds run with."""

    def __init__(self, workdir: Path, functions: int, python: str) -> None:
        self.workdir = workdir
        self.python = python
        self.forge = [python, "-m", "lambdaforge"]
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("PIP_", "UV_", "AWS_", "FORGE_"))
                and k != "PYTHONDONTWRITEBYTECODE"}
        base.update(PIP_CONFIG_FILE=os.devnull, AWS_ACCESS_KEY_ID="bench",
                    AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                    AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                    PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
        self.env = base
        self.moto, self.endpoint = start_moto(python)
        wheelhouse = workdir / "wheelhouse"
        generate.build_wheelhouse(wheelhouse)
        self.repo = workdir / "repo"
        shutil.rmtree(self.repo, ignore_errors=True)
        generate.generate(self.repo, functions=functions, wheelhouse=wheelhouse)
        self.uv_cache = workdir / "uv-cache"  # kept: installs are real, installer warm
        self.checkouts = 0

    def close(self) -> None:
        self.moto.terminate()
        self.moto.wait()

    def bucket(self, name: str) -> str:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench"
                     ).create_bucket(Bucket=name)
        return name

    def checkout(self, bucket: str, mode: str) -> tuple[Path, Path]:
        """A fresh copy of the repo (no ``.forge``) with the remote configured, and an empty
        local cache for it (uv's cache linked in, warm)."""
        self.checkouts += 1
        path = self.workdir / f"checkout-{self.checkouts}"
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(self.repo, path, ignore=shutil.ignore_patterns(".forge"), symlinks=True)
        with open(path / "lambdaforge.toml", "a") as f:
            f.write(f'\n[cache]\nremote = "s3://{bucket}/bench"\nregion = "us-east-1"\n'
                    f'endpoint-url = "{self.endpoint}"\nmode = "{mode}"\n')
        cache = self.workdir / f"cache-{self.checkouts}"
        shutil.rmtree(cache, ignore_errors=True)
        (cache / "tools").mkdir(parents=True)
        self.uv_cache.mkdir(exist_ok=True)
        (cache / "tools" / "uv").symlink_to(self.uv_cache)
        return path, cache

    def build(self, checkout: Path, cache: Path, *args: str) -> tuple[Sample, dict]:
        env = dict(self.env, FORGE_CACHE_DIR=str(cache))
        s = measure([*self.forge, "-C", str(checkout), "build", "--jobs", JOBS, "--json", *args],
                    checkout, env)
        if s.returncode != 0:
            raise SystemExit(f"forge build {' '.join(args)} failed:\n{s.stderr[-3000:]}")
        return s, json.loads(s.stdout)


def _what(report: dict) -> str:
    stats = report["cache_stats"]
    return (f"{stats['remote_hits']} remote hits, {stats['misses']} built, "
            f"{stats['bytes_down'] / 2**20:.1f} MiB down, {stats['bytes_up'] / 2**20:.1f} MiB up")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--functions", type=int, default=200)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--runs", type=int, default=3, help="fresh-checkout runs (median shown)")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="forge-remote-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = RemoteBench(workdir, args.functions, args.python)
    rows: list[tuple[str, str, str]] = []
    try:
        warm_bucket = bench.bucket("warm")
        writer, cache = bench.checkout(warm_bucket, "read-write")
        s, report = bench.build(writer, cache)
        rows.append(("warm the remote: full build, read-write", f"{s.seconds:.2f}", _what(report)))
        times, what = [], ""
        for _ in range(args.runs):
            fresh, cache = bench.checkout(warm_bucket, "read")
            s, report = bench.build(fresh, cache)
            times.append(s.seconds)
            what = _what(report)
        rows.append((f"fresh checkout, empty local cache, warm remote ({args.functions} functions)",
                     f"{statistics.median(times):.2f}", what))
        shard_bucket = bench.bucket("shards")
        for i in range(1, args.shards + 1):
            runner, cache = bench.checkout(shard_bucket, "read-write")
            s, report = bench.build(runner, cache, "--shard", f"{i}/{args.shards}")
            units = len(report["shard"]["units"])
            rows.append((f"--shard {i}/{args.shards} (fresh runner, {units} functions/layers)",
                         f"{s.seconds:.2f}", _what(report)))
        assembler, cache = bench.checkout(shard_bucket, "read")
        s, report = bench.build(assembler, cache)
        rows.append(("assembly after the shards (fresh runner, read)", f"{s.seconds:.2f}",
                     _what(report)))
    finally:
        bench.close()
    info = machine(args.python)
    print(f"remote cache benchmark, {info['date']}, {info['cpu']}, {info['cores']} cores, "
          f"load {info['load']}, lambdaforge {info['lambdaforge']}, moto on loopback\n")
    print("| scenario | seconds | what it did |\n|---|---:|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
