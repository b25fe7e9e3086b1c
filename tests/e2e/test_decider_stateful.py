"""Random sequences of changes never make forge keep a stale zip, and its two answers agree.

A hypothesis state machine edits a small project (two functions, a layer, ``[[discover]]``
services, a team standards file it ``extends``) the ways real checkouts change: edits,
same-size edits with the mtime put back, touches, files added, removed, renamed, replaced
by directories, symlinks retargeted, exec bits flipped, config and ``extends`` edits,
discover matches coming and going, the cache pruned, artifacts deleted or edited in place.
After every step it asserts

(b) the replay record answers "up to date" only when the full planner would (it may say
    "don't know" and leave the decision to the planner, never the reverse), then
(a) after ``forge build``, every zip is byte-identical to a clean build's from scratch (a
    copy of the tree, built in another directory with an empty cache), with the same exit
    code.

Part of it runs on a 1-second-timestamp file system (a loop-mounted ext4 with 128-byte
inodes) when the tests run as root; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lambdaforge import replay
from lambdaforge.build import BuildOptions, BuildSession
from lambdaforge.cli import main
from lambdaforge.config import load_project
from lambdaforge.errors import ForgeError
from lambdaforge.executor import Status

CONFIG = """\
[project]
extends = ["team.toml"]

[defaults]
runtime = "python3.12"

[layers.shared]
source = "layers/shared"

[functions.alpha]
source = "functions/alpha"
handler = "app.handler"
layers = ["shared"]

[functions.beta]
source = "functions/beta"
handler = "app.handler"
{beta_extra}

[[discover]]
path = "services/*"
handler = "app.handler"
"""

TEAM = """\
[defaults]
strip = ["standard", "team"]

[strip-rules.team]
exclude = [{team_excludes}]
"""

HANDLER = "def handler(event, context):\n    return {value!r}\n"
SOURCE_DIRS = ("functions/alpha", "functions/beta", "layers/shared")
NAMES = ("a.py", "b.txt", "notes.md", "data.json")


def _zips(root: Path) -> dict[str, bytes]:
    build = root / ".forge" / "build"
    return {p.relative_to(build).as_posix(): p.read_bytes() for p in sorted(build.rglob("*.zip"))}


def _forge(root: Path, *args: str) -> int:
    return main(["-C", str(root), *args])


class ChangingCheckout(RuleBasedStateMachine):
    """One checkout, changed step by step; see the module docstring."""

    base: Path | None = None  # where projects go (a 1-second file system for that variant)

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(dir=self.base, prefix="forge-stateful-"))
        self.root = self.tmp / "proj"
        self.cache = self.tmp / "cache"
        self.counter = 0
        self.beta_extra = ""
        self.team_excludes = '"*.md"'
        self._old_cache = os.environ.get("FORGE_CACHE_DIR")
        os.environ["FORGE_CACHE_DIR"] = str(self.cache)
        self.write_config()
        for d in SOURCE_DIRS:
            self.write(f"{d}/app.py" if "functions" in d else f"{d}/shared_util.py",
                       HANDLER.format(value=d))
        self.write("functions/alpha/helper.py", "X = 1\n")
        self.write("functions/alpha/notes.md", "# notes\n")
        self.write("services/one/app.py", HANDLER.format(value="one"))
        os.symlink("helper.py", self.root / "functions/alpha/link.py")
        self.build()

    def teardown(self) -> None:
        if self._old_cache is None:
            os.environ.pop("FORGE_CACHE_DIR", None)
        else:
            os.environ["FORGE_CACHE_DIR"] = self._old_cache
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ helpers

    def write(self, rel: str, text: str) -> Path:
        """Write a file, replacing a directory of that name (``file_becomes_directory`` made
        one: writing it back is the directory-to-file change)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        path.write_text(text)
        return path

    def write_config(self) -> None:
        self.write("lambdaforge.toml", CONFIG.format(beta_extra=self.beta_extra))
        self.write("team.toml", TEAM.format(team_excludes=self.team_excludes))

    def files(self) -> list[str]:
        """Source files a step may change (never the handlers: a project that always builds
        keeps every step meaningful)."""
        out = []
        for d in (*SOURCE_DIRS, "services"):
            top = self.root / d
            for p in sorted(top.rglob("*")):
                rel = p.relative_to(self.root).as_posix()
                if p.is_file() and not p.is_symlink() and p.name not in ("app.py", "shared_util.py"):
                    out.append(rel)
        return out

    def build(self) -> int:
        code = _forge(self.root, "build")
        self.last_code = code
        return code

    def fresh(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    # ------------------------------------------------------------------ invariant

    @invariant()
    def decisions_agree_and_zips_are_right(self) -> None:
        identity = replay.build_identity((), smoke=False, checks=True, config="lambdaforge.toml")
        replayed = replay.replay(self.root, identity) is not None
        try:
            session = BuildSession(load_project(self.root / "lambdaforge.toml"),
                                   BuildOptions(jobs=2))
            planned = all(p.action is Status.UP_TO_DATE for p in session.plan())
        except ForgeError:
            planned = False
        # The replay answers "up to date" only when the planner would; it may say "don't
        # know" where the planner then finds nothing to do (an excluded entry of a walked
        # directory changed: listings cover every entry), never the other way round.
        assert planned or not replayed, "the replay says up to date, the planner does not"
        code = self.build()
        clean = self.tmp / f"clean-{self.counter}"
        shutil.copytree(self.root, clean, symlinks=True, ignore=shutil.ignore_patterns(".forge"))
        os.environ["FORGE_CACHE_DIR"] = str(self.tmp / f"clean-cache-{self.counter}")
        try:
            assert _forge(clean, "build") == code
            assert _zips(self.root) == _zips(clean)
        finally:
            os.environ["FORGE_CACHE_DIR"] = str(self.cache)
            shutil.rmtree(clean, ignore_errors=True)
            shutil.rmtree(self.tmp / f"clean-cache-{self.counter}", ignore_errors=True)
        if code == 0:  # and the record that build left answers for the tree as it is
            assert replay.replay(self.root, identity) is not None

    # ------------------------------------------------------------------ changes

    @rule(where=st.sampled_from((*SOURCE_DIRS, "services/one")), name=st.sampled_from(NAMES))
    def add_or_edit(self, where: str, name: str) -> None:
        self.write(f"{where}/{name}", f"# {self.fresh()}\n")

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    def same_size_edit_with_mtime_restored(self, data: st.DataObject) -> None:
        rel = data.draw(st.sampled_from(self.files()))
        path = self.root / rel
        before = path.stat()
        content = bytearray(path.read_bytes() or b"x")
        content[0] = (content[0] + 1) % 128 or 65
        with open(path, "r+b") as f:
            f.write(content)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    def touch(self, data: st.DataObject) -> None:
        os.utime(self.root / data.draw(st.sampled_from(self.files())))

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        (self.root / data.draw(st.sampled_from(self.files()))).unlink()

    @precondition(lambda self: self.files())
    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def rename(self, data: st.DataObject, name: str) -> None:
        src = self.root / data.draw(st.sampled_from(self.files()))
        dest = src.with_name(f"renamed-{name}")
        if not dest.exists():
            src.rename(dest)

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    def file_becomes_directory(self, data: st.DataObject) -> None:
        path = self.root / data.draw(st.sampled_from(self.files()))
        path.unlink()
        (path / "inner.py").parent.mkdir()
        (path / "inner.py").write_text(f"# {self.fresh()}\n")

    @rule(target_name=st.sampled_from(("helper.py", "notes.md", "app.py")))
    def retarget_symlink(self, target_name: str) -> None:
        link = self.root / "functions/alpha/link.py"
        if (link.parent / target_name).is_file():
            tmp = link.with_name(".link.tmp")
            os.symlink(target_name, tmp)
            os.replace(tmp, link)

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    def flip_exec_bit(self, data: st.DataObject) -> None:
        path = self.root / data.draw(st.sampled_from(self.files()))
        path.chmod(path.stat().st_mode ^ 0o100)

    @rule(extra=st.sampled_from(("", 'exclude = ["*.txt"]', 'include = ["*.py"]')))
    def edit_config(self, extra: str) -> None:
        self.beta_extra = extra
        self.write_config()

    @rule(excludes=st.sampled_from(('"*.md"', '"*.json"', '')))
    def edit_extended_standards(self, excludes: str) -> None:
        self.team_excludes = excludes
        self.write_config()

    @rule(name=st.sampled_from(("two", "three")))
    def discover_match_comes_or_goes(self, name: str) -> None:
        folder = self.root / "services" / name
        if folder.exists():
            shutil.rmtree(folder)
        else:
            self.write(f"services/{name}/app.py", HANDLER.format(value=name))

    @rule()
    def prune_the_cache(self) -> None:
        assert _forge(self.root, "cache", "prune", "--max-size", "0") == 0

    @rule(name=st.sampled_from(("functions/alpha", "functions/beta", "layers/shared")))
    def delete_an_artifact(self, name: str) -> None:
        (self.root / ".forge/build" / f"{name}.zip").unlink(missing_ok=True)

    @rule(name=st.sampled_from(("functions/alpha", "functions/beta", "layers/shared")))
    def edit_an_artifact_in_place(self, name: str) -> None:
        path = self.root / ".forge/build" / f"{name}.zip"
        if not path.exists():
            return
        before = path.stat()
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF
        with open(path, "r+b") as f:
            f.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


#: No shrinking: a failure prints its steps, and the suite's time stays bounded.
STATEFUL = settings(max_examples=int(os.environ.get("FORGE_STATEFUL_EXAMPLES", "6")), stateful_step_count=6, deadline=None, database=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
COARSE = settings(STATEFUL, max_examples=3)


def test_on_the_file_system_the_tests_run_on() -> None:
    """Random change sequences on the usual (nanosecond-timestamp) file system."""
    run_state_machine_as_test(ChangingCheckout, settings=STATEFUL)


def test_on_a_1_second_file_system(coarse_fs: Path) -> None:
    """The same machine on a file system with 1-second timestamps: changes land in the
    same second as the build that recorded them, so only the racy rule can notice some."""

    class OnCoarseFs(ChangingCheckout):
        base = coarse_fs

    run_state_machine_as_test(OnCoarseFs, settings=COARSE)


@pytest.fixture(scope="module")
def coarse_fs(tmp_path_factory: pytest.TempPathFactory):
    from tests.support.coarsefs import mount_coarse_fs

    yield from mount_coarse_fs(tmp_path_factory)
