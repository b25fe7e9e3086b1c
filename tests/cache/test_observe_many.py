"""``observe.check_many`` is ``check`` of each observation: same answers in every state a
recorded input can be found in (the replay's one decider, only with less overhead)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaforge import observe

NAMES = ["a.txt", "b.txt", "sub", "gone.txt", "/abs-missing"]


def _recorded(root: Path, reference_ns: int) -> list[observe.Observation]:
    """Observations of a small tree as a planner would record them."""
    obs: list[observe.Observation] = []
    for name in ("a.txt", "b.txt"):
        p = root / name
        st_ = os.stat(p)
        obs.append(observe.file_obs(name, observe.stat_tuple(st_), observe.sha256_path(str(p))))
        obs.append(["t", str(p), observe.stat_tuple(st_)])
        obs.append(observe.output_obs(name, str(root)))
    sub = root / "sub"
    obs.append(observe.dir_obs("sub", observe.stat_tuple(os.stat(sub)),
                               observe.listing_digest(str(sub))))
    obs.append(observe.missing_obs("gone.txt"))
    obs.append(observe.env_obs("FORGE_TEST_OBSERVE_MANY"))
    return obs


change = st.sampled_from(["none", "rewrite same", "rewrite other", "touch old", "remove",
                          "add to sub", "mtime racy", "hard link"])
damage = st.sampled_from(["none", "stat not a list", "short stat", "path not str",
                          "unknown kind", "empty"])


@settings(max_examples=40, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(["a.txt", "b.txt"]), change), max_size=3),
       damages=st.lists(st.tuples(st.integers(0, 10), damage), max_size=3),
       reference_shift=st.sampled_from([0, -observe.RACY_WINDOW_NS, 10**12]))
def test_check_many_answers_as_check(tmp_path_factory, changes, damages, reference_shift) -> None:
    root = tmp_path_factory.mktemp("obs")
    (root / "a.txt").write_text("alpha")
    (root / "b.txt").write_text("beta")
    (root / "sub").mkdir()
    old = 1_600_000_000_000_000_000
    for name in ("a.txt", "b.txt", "sub"):
        os.utime(root / name, ns=(old, old))
    reference = max(os.stat(root / n).st_ctime_ns for n in ("a.txt", "b.txt", "sub")) + 1
    reference += 10 * observe.COARSE_RACY_WINDOW_NS + reference_shift
    obs = _recorded(root, reference)
    for name, what in changes:
        p = root / name
        if what == "rewrite same" and p.exists():
            p.write_text(p.read_text())
        elif what == "rewrite other":
            p.write_text("changed!")
        elif what == "touch old" and p.exists():
            os.utime(p, ns=(old + 1, old + 1))
        elif what == "remove":
            p.unlink(missing_ok=True)
        elif what == "add to sub":
            (root / "sub" / name).write_text("x")
        elif what == "mtime racy" and p.exists():
            os.utime(p, ns=(reference, reference))
        elif what == "hard link" and p.exists() and not (root / f"{name}.link").exists():
            os.link(p, root / f"{name}.link")  # an output's link count moves, nothing else
    for index, what in damages:
        o = list(obs[index % len(obs)])
        if what == "stat not a list" and len(o) > 2:
            o[2] = "stat"
        elif what == "short stat" and len(o) > 2 and isinstance(o[2], list):
            o[2] = o[2][:3]
        elif what == "path not str" and len(o) > 1:
            o[1] = 7
        elif what == "unknown kind" and o:
            o[0] = "z"
        elif what == "empty":
            o = []
        obs[index % len(obs)] = o
    assert observe.check_many(obs, str(root), reference) == [
        observe.check(o, str(root), reference) for o in obs]
