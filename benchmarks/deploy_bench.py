"""Benchmark ``forge deploy`` of a generated 200-function repo against moto on loopback.

    python benchmarks/deploy_bench.py [--functions 200] [--jobs 4] [--workdir DIR]

moto's server (Lambda, IAM) runs in this process on a free loopback port, behind the
recording proxy of the deploy tests (``tests/deploy/aws_proxy.py``), so every API call
forge makes is counted by operation. Each scenario is one fresh ``forge deploy``
subprocess, as a user runs it (build included: the repo is built once before, so the
deploys find it up to date except for what a scenario edits):

- first deploy: every layer published, every function created;
- nothing changed: the plan reads the live state and writes nothing (and, for reference,
  the no-op ``forge build`` every deploy starts with);
- one function changed: one source file edited, one UpdateFunctionCode;
- the same with ``--jobs 1``: what parallel reads are worth;
- the first ``--publish``: a version of every function, its alias created;
- nothing changed with ``--publish``: the aliases' versions read, nothing published;
- one function changed with ``--publish``: its code, one version, its alias moved.

Prints a Markdown table: seconds and calls by API per scenario. moto answers in about a
millisecond; against AWS each call costs ~20-100 ms more, which is where the call counts
matter more than the seconds here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from tests.deploy.aws_proxy import Proxy, start_proxy  # noqa: E402

REGION = "eu-west-1"
ROLE_NAME = "forge-bench"
ROLE = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"

#: (method, path pattern) → Lambda API operation, for the paths forge deploy calls.
OPERATIONS = [
    ("GET", r"/2015-03-31/functions/[^/]+$", "GetFunction"),
    ("GET", r"/2015-03-31/functions/[^/]+/configuration$", "GetFunctionConfiguration"),
    ("POST", r"/2015-03-31/functions$", "CreateFunction"),
    ("PUT", r"/2015-03-31/functions/[^/]+/code$", "UpdateFunctionCode"),
    ("PUT", r"/2015-03-31/functions/[^/]+/configuration$", "UpdateFunctionConfiguration"),
    ("POST", r"/2015-03-31/functions/[^/]+/versions$", "PublishVersion"),
    ("GET", r"/2015-03-31/functions/[^/]+/aliases/[^/]+$", "GetAlias"),
    ("POST", r"/2015-03-31/functions/[^/]+/aliases$", "CreateAlias"),
    ("PUT", r"/2015-03-31/functions/[^/]+/aliases/[^/]+$", "UpdateAlias"),
    ("GET", r"/2018-10-31/layers/[^/]+/versions$", "ListLayerVersions"),
    ("GET", r"/2018-10-31/layers/[^/]+/versions/\d+$", "GetLayerVersion"),
    ("POST", r"/2018-10-31/layers/[^/]+/versions$", "PublishLayerVersion"),
    ("GET", r"/2017-03-31/tags/.+$", "ListTags"),
    ("POST", r"/2017-03-31/tags/.+$", "TagResource"),
    ("DELETE", r"/2017-03-31/tags/.+$", "UntagResource"),
]


def operation(method: str, path: str) -> str:
    """The Lambda operation of one request (``METHOD path`` when it is none of them)."""
    path = path.split("?", 1)[0]
    for m, pattern, name in OPERATIONS:
        if m == method and re.fullmatch(pattern, path):
            return name
    return f"{method} {path}"


@dataclass
class Row:
    """One scenario's figures."""

    scenario: str
    seconds: float
    calls: Counter
    summary: str


def start_moto() -> tuple[object, tuple[str, int]]:
    """moto's threaded server on loopback, with the role the functions run as."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    iam = boto3.client("iam", endpoint_url=f"http://{host}:{port}", region_name=REGION,
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    return server, (host, port)


def forge_env(workdir: Path, proxy: Proxy) -> dict[str, str]:
    """The machine's environment without its pip configuration, and an AWS chain that
    points at the proxy with dummy credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
               FORGE_CACHE_DIR=str(workdir / "cache"), AWS_ENDPOINT_URL=proxy.url,
               AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def run(repo: Path, env: dict[str, str], proxy: Proxy, scenario: str, *args: str) -> Row:
    """One ``forge deploy`` subprocess: its wall time and the calls the proxy saw."""
    proxy.reset()
    cmd = [sys.executable, "-m", "lambdaforge", "-C", str(repo), "deploy", *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{scenario}: forge deploy exited {done.returncode}:\n{done.stderr[-3000:]}")
    lines = [x for x in done.stderr.splitlines() if x.startswith("deploy: ")]
    calls = Counter(operation(m, p) for m, p in proxy.requests)
    return Row(scenario, seconds, calls, lines[-1] if lines else "no writes")


def table(rows: list[Row]) -> str:
    """The Markdown table: one row per scenario, calls by API in one cell."""
    out = ["| scenario | seconds | calls | by API | forge's summary |", "|---|---|---|---|---|"]
    for row in rows:
        by_api = ", ".join(f"{name} {n}" for name, n in sorted(row.calls.items()))
        out.append(f"| {row.scenario} | {row.seconds:.2f} | {sum(row.calls.values())} | "
                   f"{by_api} | {row.summary} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--functions", type=int, default=200)
    p.add_argument("--jobs", type=int, default=4, help="forge deploy --jobs (default 4)")
    p.add_argument("--workdir", type=Path, help="where to generate (default: a temp dir)")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="forge-deploy-bench-"))
    repo = workdir / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    generated = generate.generate(repo, functions=args.functions, layers=2)
    toml = repo / "lambdaforge.toml"
    toml.write_text(toml.read_text() + f'\n[deploy]\nname = "{{project}}-{{function}}"\n'
                    f'role = "{ROLE}"\n\n[defaults.tags]\nteam = "bench"\n')
    # every function gets the alias --publish moves (tags: GetFunction answers them)
    toml.write_text(toml.read_text().replace("[defaults]\n", '[defaults]\nalias = "live"\n', 1))
    server, upstream = start_moto()
    proxy = start_proxy(upstream)
    env = forge_env(workdir, proxy)
    try:
        build = subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(repo), "build"],
                               env=env, capture_output=True, text=True, check=False)
        if build.returncode != 0:
            raise SystemExit(f"forge build failed:\n{build.stderr[-3000:]}")
        jobs = ["--jobs", str(args.jobs)]
        name, source = next(iter(generated.functions.items()))
        app = repo / source / "app.py"
        rows = [run(repo, env, proxy, f"first deploy ({args.functions} created)", *jobs),
                run(repo, env, proxy, "nothing changed", *jobs)]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lambdaforge", "-C", str(repo), "build"],
                       env=env, capture_output=True, check=True)
        rows.append(Row("(reference: `forge build`, nothing changed)",
                        time.perf_counter() - start, Counter(), "no AWS call"))
        app.write_text(app.read_text() + "\n# edit 1\n")
        rows.append(run(repo, env, proxy, "one function changed", *jobs))
        app.write_text(app.read_text() + "\n# edit 2\n")
        rows.append(run(repo, env, proxy, "one function changed, --jobs 1", "--jobs", "1"))
        rows.append(run(repo, env, proxy, "first --publish (a version and alias each)",
                        "--publish", *jobs))
        rows.append(run(repo, env, proxy, "nothing changed, --publish", "--publish", *jobs))
        app.write_text(app.read_text() + "\n# edit 3\n")
        rows.append(run(repo, env, proxy, "one function changed, --publish", "--publish", *jobs))
    finally:
        proxy.server.shutdown()
        server.stop()
    print(f"forge deploy, {args.functions} functions + 2 layers (generated by "
          f"benchmarks/generate.py), moto {_version('moto')} on loopback, --jobs {args.jobs}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}")
    print()
    print(table(rows))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    raise SystemExit(main())
