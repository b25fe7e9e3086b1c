"""A stand-in container engine for tests: a small ``docker`` (or ``podman``) program.

``info`` answers like an engine that is up (``up=True``) or like a CLI whose daemon is not
running. ``run`` executes the container's command on this machine with every mount target
rewritten to its host source (arguments, environment values, the working directory), the
environment reduced to the ``--env`` entries (by name: taken from the engine's own
environment), and ``pythonX.Y`` found in pyenv as the image would have it on PATH. Each call's
argv is appended to a JSON-lines log for the test to read. It checks nothing itself: the
tests assert the command line (image, platform, mounts, user, network) from the log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SCRIPT = r'''#!{python}
import csv, glob, json, os, subprocess, sys

LOG, UP = {log!r}, {up!r}
args = sys.argv[1:]
with open(LOG, "a") as f:
    f.write(json.dumps(sys.argv) + "\n")
if args[:1] == ["info"]:
    if not UP:
        sys.stderr.write("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                         "Is the docker daemon running?\n")
        sys.exit(1)
    print("99.0-fake")
    sys.exit(0)
if args[:1] != ["run"]:
    sys.exit("fake engine: only info and run")
valued = {{"--platform", "--network", "--user", "--userns", "--security-opt", "--mount",
          "--env", "--workdir"}}
mounts, env, workdir, i = [], {{}}, "/", 1
while args[i].startswith("--"):
    name = args[i]
    if name in valued:
        value = args[i + 1]
        i += 2
        if name == "--mount":
            fields = dict(f.partition("=")[::2] for f in next(csv.reader([value])))
            mounts.append((fields["target"], fields["source"]))
        elif name == "--env":
            key, eq, val = value.partition("=")
            if eq:
                env[key] = val
            elif key in os.environ:
                env[key] = os.environ[key]
        elif name == "--workdir":
            workdir = value
    else:
        i += 1
image, command = args[i], args[i + 1:]
mounts.sort(key=lambda m: -len(m[0]))

def host(text):
    for target, source in mounts:
        if text == target or text.startswith(target + "/"):
            return source + text[len(target):]
    return text

command = [host(a) for a in command]
if command[0].startswith("python3"):
    version = command[0][len("python"):]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{{root}}/versions/{{version}}.*/bin/{{command[0]}}"))
    if found:
        command[0] = found[-1]
env = {{k: " ".join(host(t) for t in v.split(" ")) for k, v in env.items()}}
env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
sys.exit(subprocess.run(command, cwd=host(workdir), env=env).returncode)
'''


def install_fake_engine(bin_dir: Path, *, name: str = "docker", up: bool = True) -> Path:
    """Write the fake engine as ``bin_dir/name``; returns the log its calls go to."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / f"{name}-calls.jsonl"
    script = bin_dir / name
    script.write_text(_SCRIPT.format(python=sys.executable, log=str(log), up=up))
    script.chmod(0o755)
    return log


def calls(log: Path, command: str = "run") -> list[list[str]]:
    """The recorded argv of every ``command`` call (``run`` or ``info``)."""
    if not log.is_file():
        return []
    found = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [argv for argv in found if argv[1:2] == [command]]


def option_values(argv: list[str], option: str) -> list[str]:
    """Every value given to ``option`` in a recorded ``run`` argv."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == option]
