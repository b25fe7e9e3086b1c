"""Time ``forge build`` on generated monorepos against the hand-written pip/cp/zip loop.

    python benchmarks/run.py [--sizes 10,50,200] [--runs 3] [--quick] [--workdir DIR]

Every measurement is one fresh ``forge build --jobs 2`` subprocess, as a user runs it: wall
time, and peak RSS of the biggest process in its tree (GNU time's ``%M``: ``ru_maxrss`` of
the command, which the kernel folds in from every descendant it reaped: forge itself or
one of the uv processes it starts, whichever peaked higher).

Scenarios, per repo size (see benchmarks/README.md for what each one means):

- ``cold``: empty ``.forge`` and empty cache entries, installer cache warm (uv's cache lives
  in ``<cache>/tools/uv``, which is kept; only ``<cache>/v1`` is deleted);
- ``no-op``: nothing changed;
- ``no-op, 1 file touched``: one file's mtime changed, not its content (defeats the
  stat-only fast path: the full up-to-date check);
- ``source``: one source file of one function changed;
- ``requirements``: one function's requirements.txt gains a package;
- ``layer``: one source file of the layer most functions use changed.

And on a separate repo with two big functions: ``source, ~100 MB deps`` (one file of
``big-report`` changed), ``source, ~240 MB function`` (peak memory while packaging
``huge-etl``) and ``cold, ~240 MB function`` (install + package). On a Node.js repo
(``node_generate.py``): one line of a bundled TypeScript function changed next to a ~100 MB
``node_modules`` (at least 5 runs; needs node, npm and ``FORGE_ESBUILD``).

Baselines run in the same session: ``baseline.sh`` (generated next to the repo: pip install
-r requirements.txt -t build/NAME, cp, zip, per function in a shell loop) and ``sam build
--parallel --cached`` on the generated ``template.yaml`` after the same change, when sam is
found (``--sam PATH``, ``$FORGE_BENCH_SAM`` or ``sam`` on PATH). A shell loop has no idea
what changed, so its time is the same for every repo-wide scenario; for the big-function
rows it (and sam) gets the benefit of the doubt and builds only that function.

sam runs hermetically like the rest: its pip is pointed at the repo's wheelhouse through
the environment (``PIP_NO_INDEX=1``, ``PIP_FIND_LINKS=<repo>/wheels``,
``PIP_CONFIG_FILE=/dev/null``; aws-lambda-builders runs ``python -m pip download`` with the
inherited environment), with telemetry off, and with a ``python3.12`` first on its PATH (it
builds with the local interpreter matching the runtime; ``--sam-python DIR``, else found on
PATH or under ``~/.pyenv/versions/3.12*``). Its cold start deletes ``.aws-sam/`` (build
output, ``cache/`` and the per-function ``deps/``), the counterpart of forge's ``.forge`` and
cache entries; pip's own cache plays no part with a local ``--find-links``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate
import node_generate

REPO_ROOT = Path(__file__).resolve().parent.parent
JOBS = "2"
#: the runtime of the generated functions; sam builds with a local interpreter of this version
SAM_PYTHON = f"python{generate.RUNTIME.removeprefix('python')}"


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    """One run of one command."""

    seconds: float
    rss_mb: float
    returncode: int
    stderr: str
    stdout: str = ""


#: GNU time: reports the peak RSS of the command it runs. Measuring through it matters:
#: ``ru_maxrss`` of a child forked from this (~50 MB) Python keeps the high-water mark of
#: the moment before ``exec``, so a 15 MB forge would read as 50 MB.
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Run ``argv`` to completion; wall time and peak RSS (MB) of its process tree.

    Peak RSS is the largest process of the tree (forge itself, or a uv it started): GNU
    time's ``%M``, which is ``ru_maxrss`` of its child including reaped descendants. Without
    GNU time it falls back to ``os.wait4`` on the child (which overstates small processes,
    see ``GNU_TIME``). Output goes to temp files rather than pipes, so nothing has to be read
    while waiting.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss_file:
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *argv] if GNU_TIME else argv
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
        err.seek(0)
        text = err.read().decode(errors="replace")
        out.seek(0)
        stdout = out.read().decode(errors="replace")
        rss_kb = usage.ru_maxrss
        if GNU_TIME:
            lines = rss_file.read().split()
            rss_kb = int(lines[-1]) if lines and lines[-1].isdigit() else rss_kb
    return Sample(seconds, rss_kb / 1024, proc.returncode, text, stdout)


def rebuilt(stderr: str) -> str:
    """``"1 install, 2 fn"``: what a forge run built, from its plain progress lines."""
    counts: dict[str, int] = {}
    for kind in re.findall(r"^\s+built\s+(install|layer|function):", stderr, re.MULTILINE):
        counts[kind] = counts.get(kind, 0) + 1
    short = {"install": "inst", "layer": "layer", "function": "fn"}
    return ", ".join(f"{n} {short[k]}" for k, n in counts.items()) or "nothing"


def sam_rebuilt(log: str) -> str:
    """``"1 inst, 12 copied"``: what a ``sam build --cached`` run did, from its log lines.

    With ``--cached`` sam builds Python functions and layers "incrementally": dependencies
    are reinstalled only when the requirements file's hash changed ("Manifest file is
    changed … or dependency folder … is missing"), but every target's source (and its
    cached dependencies) is copied into ``.aws-sam/build`` again on every run.
    """
    installs = len(re.findall(r"^Manifest file is changed", log, re.MULTILINE))
    reused = len(re.findall(r"^Manifest is not changed", log, re.MULTILINE))
    cached = len(re.findall(r"^Valid cache found", log, re.MULTILINE))
    parts = [f"{installs} inst"] if installs else []
    if reused:
        parts.append(f"{reused} copied")
    if cached:
        parts.append(f"{cached} cached")
    return ", ".join(parts) or "?"


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    functions: int
    forge: list[Sample] = field(default_factory=list)
    baseline: list[Sample] = field(default_factory=list)
    baseline_label: str = "loop"
    sam: list[Sample] = field(default_factory=list)
    sam_label: str = "sam"
    sam_note: str = ""
    note: str = ""

    def forge_seconds(self) -> list[float]:
        return [s.seconds for s in self.forge]


# --------------------------------------------------------------------------- the bench


class Bench:
    """A work directory with generated repos, the shared cache and the commands to run."""

    def __init__(self, workdir: Path, runs: int, baseline_runs: int, forge: list[str],
                 python: str, *, quick: bool = False, full_baseline: bool = False,
                 sam: str | None = None, sam_python: str | None = None,
                 sam_runs: int | None = None, sam_max_functions: int = 200,
                 full_sam: bool = False) -> None:
        self.workdir = workdir
        self.quick = quick
        self.full_baseline = full_baseline
        self.runs = runs
        self.baseline_runs = baseline_runs
        self.forge = forge
        self.python = python
        self.wheelhouse = workdir / "wheelhouse"
        self.sam = sam
        self.sam_python = sam_python  # a directory holding python3.12, first on sam's PATH
        self.sam_runs_option = sam_runs
        self.sam_runs = runs if sam_runs is None else sam_runs  # of the current repo
        self.sam_cold_runs = self.sam_runs
        self.full_sam = full_sam
        # Above 50 functions (unless --full-sam) sam builds a sample template (the layers
        # and every 4th function) and its times are scaled by targets, like the loop.
        self.sam_template = "template.yaml"
        self.sam_scale = 1.0
        self.generated: dict[Path, generate.Repo] = {}
        self.sam_warm = False
        self.sam_max_functions = sam_max_functions
        self.rows: list[Row] = []
        self.failures: list[str] = []
        # The machine's pip configuration (PIP_FIND_LINKS, /etc/pip.conf indexes) must not
        # leak into either side: both install from the repo's own wheelhouse only.
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("PIP_", "UV_")) and k != "PYTHONDONTWRITEBYTECODE"}
        base.update(PIP_CONFIG_FILE=os.devnull, PYTHON=python)
        self.baseline_env = base
        # forge runs from an editable checkout here; a machine that forbids bytecode
        # (PYTHONDONTWRITEBYTECODE) would recompile its modules on every run, ~150 ms that
        # no installed copy pays. Its bytecode goes to the work directory, not the checkout.
        self.env = dict(base, PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
        # sam: the same neutralised pip, telemetry off, and the runtime's Python first on
        # PATH (sam's Python workflow runs `python3.12 -m pip`, found on PATH).
        self.sam_env_base = dict(base, SAM_CLI_TELEMETRY="0")
        if sam_python:
            self.sam_env_base["PATH"] = f"{sam_python}{os.pathsep}{base.get('PATH', '')}"

    # -- repos ---------------------------------------------------------------------------

    def repo(self, name: str, **options) -> Path:
        """A freshly generated repo under the work directory (wheels hard-linked from the
        shared wheelhouse, which is filled on first use)."""
        path = self.workdir / name
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(self.cache(path) / "v1", ignore_errors=True)  # entries of the old repo
        big = options.get("big", False)
        generate.build_wheelhouse(self.wheelhouse, big=big)
        self.generated[path] = generate.generate(path, wheelhouse=self.wheelhouse, **options)
        return path

    # -- commands ------------------------------------------------------------------------

    def cache(self, repo: Path) -> Path:
        """The cache of one repo. Kept apart per repo (and outside it, so a cold start can
        keep uv's cache) so that no repo is served another's entries."""
        return self.workdir / f"cache-{repo.name}"

    def build(self, repo: Path, *names: str) -> Sample:
        """One ``forge build``; a failure is recorded, not raised (the table says so)."""
        env = dict(self.env, FORGE_CACHE_DIR=str(self.cache(repo)))
        s = measure([*self.forge, "-C", str(repo), "build", "--jobs", JOBS, *names], repo, env)
        if s.returncode != 0:
            self.failures.append(f"forge build {' '.join(names)} in {repo.name} exited "
                                 f"{s.returncode}:\n{s.stderr[-2000:]}")
        return s

    def baseline(self, repo: Path, *names: str) -> Sample:
        """One run of the hand-written loop, from a clean ``build/``."""
        shutil.rmtree(repo / "build", ignore_errors=True)
        s = measure(["bash", str(repo / "baseline.sh"), *names], repo, self.baseline_env)
        if s.returncode != 0:
            self.failures.append(f"baseline.sh {' '.join(names)} in {repo.name} exited "
                                 f"{s.returncode}:\n{s.stderr[-2000:]}")
        return s

    def sam_env(self, repo: Path) -> dict[str, str]:
        """sam's environment for ``repo``: its pip installs from the repo's wheelhouse only.

        aws-lambda-builders runs ``python3.12 -m pip download -r requirements.txt`` (and
        ``pip download --platform manylinux… --only-binary=:all:`` per package) with the
        inherited environment, so pip's own variables reach it; without them the build
        fails ("Could not satisfy the requirement: acme-log"), which is how we know.
        """
        env = dict(self.sam_env_base)
        if (repo / "wheels").is_dir():
            env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(repo / "wheels"))
        return env

    def sam_build(self, repo: Path, *resources: str) -> Sample:
        """``sam build --parallel --cached`` of the whole template, or only ``resources``
        (logical ids); a failure is recorded, not raised."""
        s = measure([self.sam, "build", "--parallel", "--cached", "--template",
                     self.sam_template, *resources], repo, self.sam_env(repo))
        if s.returncode != 0:
            self.failures.append(f"sam build {' '.join(resources)} in {repo.name} exited "
                                 f"{s.returncode}:\n{(s.stdout + s.stderr)[-2000:]}")
        s.seconds *= self.sam_scale
        return s

    def sam_sample(self, repo: Path, n: int) -> str:
        """Point sam at the whole template, or above 50 functions (unless ``--full-sam``)
        at ``template-sample.yaml``: the layers and every 4th function (the edited
        ``handler_000`` among them), times scaled by targets. sam's cost is linear in
        targets on every scenario (it installs per function, and with ``--cached`` still
        copies every target's source and dependencies into .aws-sam/build), but the scale
        also multiplies its ~1 s start-up: the estimate errs in forge's favour on the
        cheap rows. A full cold ``sam build`` of 200 functions is ~10 minutes here."""
        self.sam_template, self.sam_scale = "template.yaml", 1.0
        if n <= 50 or self.full_sam:
            return "sam"
        full = self.generated[repo]
        names = list(full.functions)[::4]
        sample = generate.Repo(repo, {k: full.functions[k] for k in names}, dict(full.layers))
        (repo / "template-sample.yaml").write_text(
            generate._sam_template(sample, list(full.layers)))
        targets = len(full.functions) + len(full.layers)
        picked = len(names) + len(full.layers)
        self.sam_template, self.sam_scale = "template-sample.yaml", targets / picked
        return f"sam, est. from {picked}/{targets}"

    def sam_wipe(self, repo: Path) -> None:
        """sam's cold start: no build output, no ``.aws-sam/cache`` or ``deps``."""
        shutil.rmtree(repo / ".aws-sam", ignore_errors=True)

    def sam_for(self, n: int) -> bool:
        """Whether sam runs on a repo of ``n`` functions, and how often (unless
        ``--sam-runs``): as often as forge, except its cold build, which runs once above 10
        functions (a cold ``sam build`` takes ~2.5 minutes for 50 functions on 2 cores)."""
        if self.sam is None or n > self.sam_max_functions:
            return False
        self.sam_runs = self.sam_runs_option or self.runs
        self.sam_cold_runs = self.sam_runs_option or (self.runs if n <= 10 else 1)
        return True

    def wipe(self, repo: Path) -> None:
        """Back to a cold start: no build output, no cache entries; uv's cache stays."""
        shutil.rmtree(repo / ".forge", ignore_errors=True)
        shutil.rmtree(self.cache(repo) / "v1", ignore_errors=True)

    # -- scenarios -----------------------------------------------------------------------

    def scenario(self, row: Row, repo: Path, change: Callable[[int], None],
                 names: tuple[str, ...] = (), sam_cold: bool = False,
                 sam: bool = False, sam_resources: tuple[str, ...] = (),
                 runs: int | None = None) -> Row:
        """``runs`` (default ``--runs``) times: apply ``change(run)``, then time forge, and
        then sam (with ``sam``, on its first ``sam_runs`` runs) after the same change."""
        for r in range(self.runs if runs is None else runs):
            change(r)
            row.forge.append(self.build(repo, *names))
            if sam and r < (self.sam_cold_runs if sam_cold else self.sam_runs):
                if sam_cold:
                    self.sam_wipe(repo)
                row.sam.append(self.sam_build(repo, *sam_resources))
        row.note = row.note or rebuilt(row.forge[-1].stderr)
        if row.sam:
            row.sam_note = sam_rebuilt(row.sam[-1].stdout + row.sam[-1].stderr)
        self.rows.append(row)
        sam_text = (f"; sam {statistics.median(s.seconds for s in row.sam):.2f}s "
                    f"({row.sam_note})" if row.sam else "")
        print(f"  {row.scenario:<28} n={row.functions:<4} median "
              f"{statistics.median(row.forge_seconds()):.2f}s  ({row.note}){sam_text}",
              file=sys.stderr)
        return row

    def monorepo(self, n: int) -> None:
        """The five repo-wide scenarios on a repo of ``n`` functions, and the loop baseline."""
        print(f"{n} functions:", file=sys.stderr)
        repo = self.repo(f"repo-{n}", functions=n)
        self.build(repo)  # warm uv's cache for this repo's wheel paths; not timed
        sam = self.sam_for(n)
        sam_label = self.sam_sample(repo, n) if sam else "sam"
        if sam and not self.sam_warm:
            # Once per session, the same for sam: page cache, its weekly version check.
            # Not timed. (Its cold rows delete .aws-sam/ first anyway.)
            self.sam_build(repo)
            self.sam_warm = True
        # One source file changed: a function of the most common requirement set.
        fn = repo / "services" / "svc00" / "handler_000"
        layer = repo / "layers" / "common" / "common_util.py"
        reqs = (fn / "requirements.txt").read_text()
        token = f"{time.time_ns()}"  # unique per session: a change is never a cache hit

        def append(path: Path, r: int) -> None:
            with open(path, "a") as f:
                f.write(f"\n# benchmark edit {token}-{r}\n")

        rows = [
            self.scenario(Row("cold", n), repo, lambda r: self.wipe(repo), sam=sam,
                          sam_cold=True),
            self.scenario(Row("no-op", n), repo, lambda r: None, sam=sam),
            # mtime changed, content not (a git checkout, a formatter): the stat-only fast
            # path cannot answer, so this is the full no-op: config, graph, keys, plan.
            self.scenario(Row("no-op, 1 file touched", n), repo,
                          lambda r: os.utime(fn / "models.py"), sam=sam),
            self.scenario(Row("source changed (1 fn)", n), repo,
                          lambda r: append(fn / "util.py", r), sam=sam),
            self.scenario(Row("requirements changed (1 fn)", n), repo, lambda r: (
                (fn / "requirements.txt").write_text(
                    f"{reqs}{generate.TINY[r % len(generate.TINY)]}\n# {token}-{r}\n")),
                sam=sam),
            self.scenario(Row("layer changed", n), repo, lambda r: append(layer, r), sam=sam),
        ]
        # A shell loop rebuilds everything whatever changed: one measurement serves all rows.
        base, label = self.loop_baseline(repo, n)
        for row in rows:
            row.baseline, row.baseline_label = base, label
            row.sam_label = sam_label
        self.sam_template, self.sam_scale = "template.yaml", 1.0

    def loop_baseline(self, repo: Path, n: int) -> tuple[list[Sample], str]:
        """The hand-written loop over the whole repo. Above 50 functions (unless
        ``--full-baseline``) it runs over every 4th function plus the layers and the time is
        scaled by targets: the loop is linear in them, and 200 pip installs take 5 minutes."""
        if self.quick and n > 50:
            return [], "loop"
        targets = [line.split() for line in (repo / "functions.txt").read_text().splitlines()]
        if n <= 50 or self.full_baseline:
            return [self.baseline(repo) for _ in range(self.baseline_runs)], "loop"
        fns = [name for kind, name, _ in targets if kind == "function"]
        sample = [name for kind, name, _ in targets if kind == "layer"] + fns[::4]
        scale = len(targets) / len(sample)
        runs = []
        for _ in range(self.baseline_runs):
            s = self.baseline(repo, *sample)
            runs.append(Sample(s.seconds * scale, s.rss_mb, s.returncode, s.stderr))
        return runs, f"loop, est. from {len(sample)}/{len(targets)}"

    def node_bundle(self) -> None:
        """One line of a bundled TypeScript function changed, next to a ~100 MB
        ``node_modules`` (27,000 files, mostly the AWS SDK, external to the bundle): the
        rebuild that took 43-81 s when every bundle unzipped and copied the install tree."""
        print("node.js:", file=sys.stderr)
        if not (shutil.which("node") and shutil.which("npm") and os.environ.get("FORGE_ESBUILD")):
            self.failures.append("node.js row skipped: it needs node, npm and FORGE_ESBUILD "
                                 "(an esbuild 0.28.2 binary)")
            return
        repo = self.workdir / "node-repo"
        shutil.rmtree(repo / ".forge", ignore_errors=True)
        fn = node_generate.generate(repo)  # the tarballs and the lockfile are kept between runs
        app = fn / "app.ts"
        app.write_text(node_generate.HANDLER)
        self.build(repo)  # warm-up: the install, and the tree bundles resolve against; not timed
        token = f"{time.time_ns()}"

        def one_line(r: int) -> None:
            app.write_text(node_generate.HANDLER.replace('nextId("ord")', f'nextId("ord-{token}-{r}")'))

        self.scenario(Row("one line of a bundled TypeScript function with a ~100 MB node_modules", 1), repo, one_line,
                      runs=max(5, self.runs))

    def big(self) -> None:
        """The big-function scenarios: incremental build next to ~100 MB of dependencies,
        and memory while packaging a ~240 MB function."""
        print("big functions:", file=sys.stderr)
        # --quick leaves out the ~240 MB function: installing it alone takes ~15 s.
        repo = self.repo("repo-big", functions=2, big=True, huge=not self.quick)
        self.build(repo)  # warm-up: installs the big dependency sets once
        n = sum(1 for line in (repo / "functions.txt").read_text().splitlines()
                if line.startswith("function "))
        # sam, like the loop, gets the benefit of the doubt: it builds only the function
        # that changed (`sam build ID`), not the whole template (which would copy the other
        # big function's dependencies into .aws-sam/build again too).
        sam = self.sam_for(n)
        if sam:
            # The whole template first: a build of one resource id neither writes
            # .aws-sam/build.toml nor records the requirements' hash, so a first
            # `sam build BigReportFunction` would reinstall it on every run.
            self.sam_build(repo)
        token = f"{time.time_ns()}"

        def edit(name: str) -> Callable[[int], None]:
            def change(r: int) -> None:
                with open(repo / "heavy" / name / "util.py", "a") as f:
                    f.write(f"\n# benchmark edit {token}-{r}\n")
            return change

        row = self.scenario(Row("source changed, ~100 MB deps", n), repo, edit("big-report"),
                            sam=sam, sam_resources=("BigReportFunction",))
        row.sam_label = "sam, that fn only"
        row.baseline = [self.baseline(repo, "big-report")
                        for _ in range(0 if self.quick else self.baseline_runs)]
        row.baseline_label = "loop, that fn only"
        if self.quick:
            return
        row = self.scenario(Row("source changed, ~240 MB fn", n), repo, edit("huge-etl"),
                            sam=sam, sam_resources=("HugeEtlFunction",))
        row.sam_label = "sam, that fn only"
        row.baseline = [self.baseline(repo, "huge-etl") for _ in range(self.baseline_runs)]
        row.baseline_label = "loop, that fn only"
        row = Row("cold, ~240 MB fn (install+zip)", n)
        for r in range(max(1, self.runs - 1)):  # expensive; fewer runs
            self.wipe(repo)
            row.forge.append(self.build(repo, "huge-etl"))
            if sam and r < self.sam_cold_runs:
                self.sam_wipe(repo)
                row.sam.append(self.sam_build(repo, "HugeEtlFunction"))
        row.note = rebuilt(row.forge[-1].stderr)
        if row.sam:
            row.sam_note = sam_rebuilt(row.sam[-1].stdout + row.sam[-1].stderr)
            row.sam_label = "sam, that fn only"
        row.baseline = list(self.rows[-1].baseline)
        row.baseline_label = "loop, that fn only"
        self.rows.append(row)


# --------------------------------------------------------------------------- reporting


def machine(python: str, sam: str | None = None,
            sam_python: str | None = None) -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def out(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    uv = out([python, "-c", ("import uv, subprocess; print(subprocess.run([uv.find_uv_bin(), "
                            "'--version'], capture_output=True, text=True).stdout.split()[1])")])
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.0f} GB"
    except (OSError, AttributeError):
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": out([python, "-c", "import platform; print(platform.python_version())"]),
        "uv": uv,
        "pip": (out([python, "-m", "pip", "--version"]).split(" ") + ["?", "?"])[1],
        "lambdaforge": out(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"]),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?",
        "sam": "not installed (baseline skipped)" if not sam else (
            out([sam, "--version"]).removeprefix("SAM CLI, ") + ", building with "
            + out([str(Path(sam_python) / SAM_PYTHON) if sam_python else SAM_PYTHON,
                   "-c", ("import platform, pip; print('Python', platform.python_version(), "
                          "'pip', pip.__version__)")])),
    }


#: A fixed pure-Python loop: its time says how fast this (shared, virtual) machine was while
#: the benchmark ran, so runs made at different moments can be compared.
SPEED_PROBE = "import time; t = time.perf_counter(); s = 0\nfor i in range(3_000_000): s += i\nprint(time.perf_counter() - t)"


def speed_probe(python: str) -> float:
    """Seconds of ``SPEED_PROBE`` in a fresh interpreter, median of 3."""
    times = []
    for _ in range(3):
        done = subprocess.run([python, "-c", SPEED_PROBE], capture_output=True, text=True,
                              timeout=60, check=False)
        try:
            times.append(float(done.stdout.strip()))
        except ValueError:
            return float("nan")
    return statistics.median(times)


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}" if xs else "-"


def table(rows: list[Row], with_sam: bool) -> str:
    """The markdown results table."""
    head = ["scenario", "fns", "forge median s", "min", "max", "peak RSS MB", "rebuilt",
            "baseline median s", "ratio"]
    if with_sam:
        head += ["sam median s", "sam ratio", "sam did"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        f = r.forge_seconds()
        med = statistics.median(f)
        base = [s.seconds for s in r.baseline]
        ratio = f"{statistics.median(base) / med:.1f}×" if base else "-"
        cells = [r.scenario, str(r.functions), f"{med:.2f}", f"{min(f):.2f}", f"{max(f):.2f}",
                 f"{max(s.rss_mb for s in r.forge):.0f}", r.note,
                 f"{_fmt(base)} ({r.baseline_label})" if base else "-", ratio]
        if with_sam:
            sam = [s.seconds for s in r.sam]
            label = "" if r.sam_label == "sam" else f" ({r.sam_label.removeprefix('sam, ')})"
            runs = f", {len(sam)} run{'s' if len(sam) > 1 else ''}" if sam and len(sam) != len(f) else ""
            cells += [f"{_fmt(sam)}{label}" if sam else "-",
                      f"{statistics.median(sam) / med:.1f}×" if sam else "-",
                      f"{r.sam_note}{runs}" if sam else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(bench: Bench, info: dict[str, str], seconds: float) -> str:
    """Machine, table and failures, as markdown."""
    parts = [
        (f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, {info['memory']} "
         f"RAM, {info['os']}, load average {info['load']} at the end; Python {info['python']}, "
         f"uv {info['uv']}, pip {info['pip']}, lambdaforge {info['lambdaforge']}; "
         f"sam: {info['sam']}. Speed probe (a 3M-iteration Python loop, lower is faster): "
         f"{info.get('probe', '?')}."),
        (f"`forge build --jobs {JOBS}`, {bench.runs} runs per scenario (median, min, max); "
         f"baseline {bench.baseline_runs} run(s)"
         + (("; `sam build --parallel --cached` "
             + (f"{bench.sam_runs_option} run(s) per scenario" if bench.sam_runs_option else
                "as many runs as forge (cold: 1 above 10 functions); see "
                "\"sam did\"")
             + (f", up to {bench.sam_max_functions} functions"
                if bench.sam_max_functions < 200 else "")) if bench.sam else "")
         + ". Ratio = baseline median / forge median (sam ratio: sam / forge). "
         f"Benchmark took {seconds / 60:.1f} min."),
        "",
        table(bench.rows, bench.sam is not None),
    ]
    if bench.failures:
        parts += ["", "**Failures:**", ""] + [f"```\n{f}\n```" for f in bench.failures]
    return "\n".join(parts) + "\n"


def find_sam_python(explicit: str | None) -> str | None:
    """The directory whose ``python3.12`` sam should find first on PATH.

    A pyenv shim named ``python3.12`` may be on PATH and still not run (pyenv's global
    version is another one), so a candidate counts only if it runs.
    """
    def works(exe: str) -> bool:
        try:
            return subprocess.run([exe, "-c", "import pip"], capture_output=True,
                                  timeout=30, check=False).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    if explicit:
        return explicit
    found = shutil.which(SAM_PYTHON)
    if found and works(found):
        return str(Path(found).parent)
    pattern = str(Path.home() / ".pyenv" / "versions" / f"{SAM_PYTHON.removeprefix('python')}*"
                  / "bin" / SAM_PYTHON)
    for exe in sorted(glob.glob(pattern), reverse=True):
        if works(exe):
            return str(Path(exe).parent)
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the markdown report on stdout."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10,50,200", help="functions per repo, comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per forge scenario (default 3)")
    p.add_argument("--baseline-runs", type=int, default=1,
                   help="runs of the hand-written loop per repo (default 1: it is slow)")
    p.add_argument("--full-baseline", action="store_true",
                   help="run the loop over every function above 50 too (200: ~5 min)")
    p.add_argument("--quick", action="store_true",
                   help="10 and 200 functions, 2 runs, baseline at 10 only, no ~240 MB function: "
                        "under 2 minutes")
    p.add_argument("--no-big", action="store_true", help="skip the ~100/240 MB function scenarios")
    p.add_argument("--no-node", action="store_true",
                   help="skip the bundled Node.js function next to ~100 MB of node_modules")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lambdaforge-bench",
                   help="generated repos, wheelhouse and cache (reused between runs)")
    p.add_argument("--forge", default=None, help="forge command (default: the venv's forge)")
    p.add_argument("--output", type=Path, help="also write the report to this file")
    p.add_argument("--sam", default=os.environ.get("FORGE_BENCH_SAM"),
                   help="sam executable (default: $FORGE_BENCH_SAM, else `sam` on PATH)")
    p.add_argument("--no-sam", action="store_true", help="skip the sam baseline")
    p.add_argument("--sam-python", default=os.environ.get("FORGE_BENCH_SAM_PYTHON"),
                   help=f"directory with a {SAM_PYTHON} to put first on sam's PATH (default: "
                        f"$FORGE_BENCH_SAM_PYTHON, else a working {SAM_PYTHON} on PATH, else "
                        "~/.pyenv/versions/3.12*/bin)")
    p.add_argument("--sam-runs", type=int, default=None,
                   help="runs of sam per scenario (default: as many as forge; cold: "
                        "1 above 10 functions)")
    p.add_argument("--full-sam", action="store_true",
                   help="sam over the whole template above 50 functions too (200: ~10 min "
                        "cold) instead of a 1-in-4 sample scaled by targets")
    p.add_argument("--sam-max-functions", type=int, default=200,
                   help="run sam only on repos of at most this many functions (default 200)")
    a = p.parse_args(argv)

    sizes = [int(s) for s in a.sizes.split(",") if s]
    runs = a.runs
    if a.quick:
        sizes, runs = [10, 200], 2
    venv = REPO_ROOT / ".venv" / "bin"
    forge = a.forge.split() if a.forge else [str(venv / "forge") if (venv / "forge").exists()
                                             else shutil.which("forge") or "forge"]
    python = str(venv / "python") if (venv / "python").exists() else sys.executable
    a.workdir.mkdir(parents=True, exist_ok=True)
    sam = None if a.no_sam else (a.sam or shutil.which("sam"))
    sam_python = find_sam_python(a.sam_python) if sam else None
    if sam and sam_python is None:
        print(f"sam: no working {SAM_PYTHON} found (--sam-python DIR); sam may fail to build",
              file=sys.stderr)
    bench = Bench(a.workdir, runs, a.baseline_runs, forge, python, quick=a.quick,
                  full_baseline=a.full_baseline, sam=sam, sam_python=sam_python,
                  sam_runs=a.sam_runs, sam_max_functions=a.sam_max_functions,
                  full_sam=a.full_sam)

    probe_start = speed_probe(python)
    start = time.perf_counter()
    for n in sizes:
        bench.monorepo(n)
    if not a.no_big:
        bench.big()
    if not (a.no_node or a.quick):
        bench.node_bundle()
    seconds = time.perf_counter() - start
    info = machine(python, sam, sam_python)
    info["probe"] = f"{probe_start:.2f} s at the start, {speed_probe(python):.2f} s at the end"
    text = report(bench, info, seconds)
    (a.workdir / "results.json").write_text(json.dumps(
        [{"scenario": r.scenario, "functions": r.functions, "forge": [s.__dict__ | {"stderr": "", "stdout": ""}
          for s in r.forge], "baseline": [s.seconds for s in r.baseline], "note": r.note}
          | {"sam": [s.seconds for s in r.sam], "sam_note": r.sam_note}
         for r in bench.rows], indent=2))
    print(text)
    if a.output:
        a.output.write_text(text)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
