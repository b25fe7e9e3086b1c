"""The example CI workflow (example-projects/ci/github-actions.yml) is valid YAML with the
shape the README describes: OIDC, a matrix of shards, read-write only on main, assembly."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

WORKFLOW = Path(__file__).resolve().parents[2] / "example-projects" / "ci" / "github-actions.yml"


def test_the_example_workflow_shards_on_oidc_and_assembles_from_the_cache():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow["permissions"]["id-token"] == "write"
    mode = flow["env"]["FORGE_MODE"]
    assert "refs/heads/main" in mode and "'read-write'" in mode and "'read'" in mode
    shard = flow["jobs"]["shard"]
    counts = shard["strategy"]["matrix"]["shard"]
    assert counts == list(range(1, len(counts) + 1))
    steps = {s.get("name", s.get("uses", s.get("run"))): s for s in shard["steps"]}
    build = next(s for n, s in steps.items() if n and n.startswith("forge build --shard"))
    assert f"--shard ${{{{ matrix.shard }}}}/{len(counts)}" in build["run"]
    assert "--remote-mode ${{ env.FORGE_MODE }}" in build["run"]
    creds = next(s for s in shard["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert creds["with"]["role-to-assume"] == "${{ env.ROLE }}"
    assemble = flow["jobs"]["assemble"]
    assert assemble["needs"] == "shard"
    runs = " ".join(s.get("run", "") for s in assemble["steps"])
    assert "forge build --remote-mode read" in runs and "--shard" not in runs
