"""The container engine: which one is used (only one whose engine answers), and the exact
``run`` command line (platform, network, user mapping, mounts, environment by name)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from lambdaforge import containers
from lambdaforge.containers import ContainerEngine, Mount, find_engine, forget_probes, run_argv
from lambdaforge.runner import Runner
from tests.support.fake_engine import install_fake_engine, option_values


@pytest.fixture(autouse=True)
def _fresh_probes():
    forget_probes()
    yield
    forget_probes()


def test_the_first_engine_that_answers_is_chosen(tmp_path: Path) -> None:
    install_fake_engine(tmp_path, name="docker", up=False)
    install_fake_engine(tmp_path, name="podman", up=True)
    engine, why = find_engine(Runner(), {"PATH": str(tmp_path)})
    assert (engine.kind, engine.binary, engine.version, why) == (
        "podman", str(tmp_path / "podman"), "99.0-fake", "")
    named, _ = find_engine(Runner(), {"PATH": str(tmp_path), "FORGE_CONTAINER_ENGINE": "docker"})
    assert named is None  # the named one is down: no falling back to another


def test_why_there_is_no_engine(tmp_path: Path) -> None:
    assert find_engine(Runner(), {"PATH": str(tmp_path)}) == (
        None, "neither docker nor podman is on PATH")
    assert find_engine(Runner(), {"PATH": str(tmp_path), "FORGE_CONTAINER_ENGINE": "nerdctl"}) == (
        None, "FORGE_CONTAINER_ENGINE=nerdctl is not a program on PATH")
    install_fake_engine(tmp_path, name="docker", up=False)
    forget_probes()  # a CLI installed meanwhile: seen by the next build
    engine, why = find_engine(Runner(), {"PATH": str(tmp_path)})
    assert engine is None and why == (
        f"docker is on PATH ({tmp_path / 'docker'}) but its engine is not reachable (Cannot "
        "connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)")


def test_run_argv_maps_the_user_and_passes_secrets_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "host_user", lambda: (1000, 100))
    mounts = [Mount(Path("/s/out"), "/forge/out", read_only=False), Mount(Path("/s/a,b"), "/forge/links/0")]
    docker = ContainerEngine("docker", "/usr/bin/docker", "27.0")
    argv = run_argv(docker, "img:tag", architecture="arm64", mounts=mounts, command=["python3.12", "-V"],
                    workdir="/tmp", env={"PIP_INDEX_URL": None, "A": "1"}, network=True)
    assert argv == [
        "/usr/bin/docker", "run", "--rm", "--platform", "linux/arm64", "--network", "default",
        "--user", "1000:100", "--security-opt", "label=disable",
        "--mount", "type=bind,source=/s/out,target=/forge/out",
        "--mount", 'type=bind,"source=/s/a,b",target=/forge/links/0,readonly',
        "--env", "HOME=/tmp", "--env", "A=1", "--env", "PIP_INDEX_URL",
        "--workdir", "/tmp", "img:tag", "python3.12", "-V"]
    # the quoted field reads back as one path, as docker's and podman's CSV parsers read it
    assert next(csv.reader([option_values(argv, "--mount")[1]]))[1] == "source=/s/a,b"
    podman = ContainerEngine("podman", "/usr/bin/podman", "5.0")
    rootless = run_argv(podman, "img", architecture="x86_64", mounts=[], command=["true"], workdir="/")
    assert "--userns" in rootless and "--user" not in rootless  # keep-id maps our uid
    assert rootless[rootless.index("--network") + 1] == "none"
    assert rootless[rootless.index("--platform") + 1] == "linux/amd64"


def test_the_probe_is_asked_once_per_build(tmp_path: Path) -> None:
    log = install_fake_engine(tmp_path, name="docker")
    for _ in range(3):
        find_engine(Runner(), {"PATH": str(tmp_path) + os.pathsep + "/usr/bin"})
    assert len(log.read_text().splitlines()) == 1
