"""A native sdist or local package built inside the runtime's build image (docker/podman).

The image is SAM's build image of the runtime and architecture
(``public.ecr.aws/sam/build-python3.12:latest-arm64``): Amazon Linux with the runtime's
Python, its glibc and a compiler, as ``sam build --use-container`` uses. The container gets:

- ``/forge/out`` (read-write, empty): where ``pip wheel`` writes the one wheel;
- ``/forge/src`` (read-write): a scratch copy of a local package, never the user's folder;
- ``/forge/links/N`` (read-only): the install's local ``find-links`` folders and the wheels
  built so far, so build dependencies come from where the install's come from;
- ``/forge/cache`` (read-write): pip's cache inside the tool cache, so repeated builds are warm;
- ``/forge/ca.pem`` (read-only): the CA bundle the installers trust (``trust.ca_bundle``).

No network when the install uses only local folders (``no-index``); otherwise the default
network, with the index URLs passed as ``PIP_INDEX_URL``/``PIP_EXTRA_INDEX_URL`` by name only,
(``PIP_FIND_LINKS`` too), so a URL holding a password is never in argv or the log. Nothing else of this machine's
environment goes in. The container runs as this user (``containers.run_argv``), so the
wheel it writes is not root's. The wheel is then checked exactly as a host-built one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lambdaforge.builders.python.requirements import resolve_local
from lambdaforge.builders.python.trust import ca_bundle
from lambdaforge.containers import ContainerEngine, Mount, run_argv
from lambdaforge.runner import CommandResult

_TIMEOUT = 1800.0
_OUT, _SRC, _CACHE, _CA = "/forge/out", "/forge/src", "/forge/cache", "/forge/ca.pem"


def build_image(target: Any) -> str:
    """SAM's build image for the target: ``public.ecr.aws/sam/build-python3.12:latest-x86_64``."""
    architecture = "arm64" if target.machine == "aarch64" else "x86_64"
    return f"public.ecr.aws/sam/build-{target.runtime}:latest-{architecture}"


def container_wheel(job: Any, engine: ContainerEngine, name: str, source: str | Path,
                    out: Path) -> CommandResult:
    """Run ``pip wheel`` for ``source`` (a requirement, or a local package tree to mount) in
    the target's build image with ``engine``, writing into the empty folder ``out``."""
    target = job.target
    reqs = job.reqs
    mounts = [Mount(out, _OUT, read_only=False)]
    cache = job.ctx.tool_cache / "container-pip"
    cache.mkdir(parents=True, exist_ok=True)
    mounts.append(Mount(cache, _CACHE, read_only=False))
    flags = ["--no-deps", "--no-binary", name, "--wheel-dir", _OUT, "--cache-dir", _CACHE,
             "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    network = not reqs.no_index
    links = [resolve_local(link, job.ctx.project.root) for link in reqs.find_links]
    if job.built is not None:
        links.append(str(job.built))
    find_links = []
    for i, link in enumerate(links):
        if link.startswith(("http://", "https://")):
            find_links.append(link)
            network = True
        elif Path(link).is_dir():
            mounts.append(Mount(Path(link), f"/forge/links/{i}"))
            find_links.append(f"/forge/links/{i}")
    if reqs.no_index:
        flags.append("--no-index")
    if reqs.pre:
        flags.append("--pre")
    env: dict[str, str | None] = {"PIP_CONFIG_FILE": "/dev/null", "PYTHONDONTWRITEBYTECODE": "1"}
    engine_env: dict[str, str | None] = {}
    if find_links:  # by name too: a find-links URL may hold a token
        env["PIP_FIND_LINKS"] = None
        engine_env["PIP_FIND_LINKS"] = " ".join(find_links)
    if network:
        if reqs.index_url:
            env["PIP_INDEX_URL"] = None
            engine_env["PIP_INDEX_URL"] = reqs.index_url
        if reqs.extra_index_urls:
            env["PIP_EXTRA_INDEX_URL"] = None
            engine_env["PIP_EXTRA_INDEX_URL"] = " ".join(reqs.extra_index_urls)
        bundle = ca_bundle()
        if bundle:
            mounts.append(Mount(Path(bundle), _CA))
            env["PIP_CERT"] = _CA
    if isinstance(source, Path):
        mounts.append(Mount(source, _SRC, read_only=False))
        what = _SRC
    else:
        what = source
    command = [f"python{target.python_version}", "-m", "pip", "wheel", *flags, what]
    argv = run_argv(engine, build_image(target), architecture="arm64" if target.machine == "aarch64" else "x86_64",
                    mounts=mounts, command=command, workdir="/tmp", env=env, network=network)
    return job.runner.run(argv, env=engine_env, timeout=_TIMEOUT)


def scratch_dir(job: Any, prefix: str) -> Path:
    """A new empty folder in the install's scratch space."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=job.work))
