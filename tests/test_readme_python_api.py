"""README's "Using it from Python" snippet runs as written (on a project of its own here:
the example it names needs PyPI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_snippet_builds_the_named_function(tmp_path: Path) -> None:
    section = README.read_text().split("## Using it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'Path("example-projects/monorepo")' in code
    project = tmp_path / "proj"
    (project / "orders").mkdir(parents=True)
    (project / "orders" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (project / "lambdaforge.toml").write_text(
        '[functions.orders-api]\nsource = "orders"\nhandler = "app.handler"\n')
    code = code.replace('Path("example-projects/monorepo")', repr(str(project)).join(("Path(", ")")))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, FORGE_CACHE_DIR=str(tmp_path / "cache")))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "function:orders-api built .forge/build/functions/orders-api.zip" in lines
    assert lines[-1] == "ok"
    assert (project / ".forge/build/functions/orders-api.zip").is_file()
