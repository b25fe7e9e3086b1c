"""Poetry and Pipenv projects built end to end: locks read directly, real uv installs from
a local wheel folder, hashes checked by the installer, dev groups never shipped."""

from __future__ import annotations

from tests.e2e.conftest import LOCAL_INDEX
from tests.support import locks

HANDLER = "import dep_a, purelib\n\ndef handler(event, context):\n    return 'ok'\n"
CONFIG = LOCAL_INDEX + """
[functions.fn]
source = "fn"
handler = "app.handler"
"""


def test_a_poetry_project_builds_its_main_group(deps_project):
    deps_project.config(CONFIG)
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/pyproject.toml", locks.POETRY_PYPROJECT)
    deps_project.write("fn/poetry.lock", locks.poetry_lock(deps_project.root / "wheels"))
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = deps_project.zip_names("function", "fn")
    assert {"dep_a/__init__.py", "dep_b/__init__.py", "purelib/__init__.py"} <= shipped
    assert not any(n.startswith("markered") for n in shipped)  # the dev group


def test_a_pipenv_project_builds_default_and_a_wrong_hash_fails(deps_project):
    deps_project.config(CONFIG)
    deps_project.write("fn/app.py", HANDLER)
    deps_project.write("fn/Pipfile", locks.PIPFILE)
    lock = locks.pipfile_lock(deps_project.root / "wheels")
    deps_project.write("fn/Pipfile.lock", lock)
    out = deps_project.build()
    assert out.ok, [r.error for r in out.failures()]
    shipped = deps_project.zip_names("function", "fn")
    assert {"dep_a/__init__.py", "dep_b/__init__.py", "purelib/__init__.py"} <= shipped
    assert not any(n.startswith("markered") for n in shipped)  # develop
    # the lock's hashes reach the installer: a wheel that is not the locked one is refused
    purelib = locks.sha256_of(deps_project.root / "wheels", "purelib")
    deps_project.write("fn/Pipfile.lock", lock.replace(purelib, "sha256:" + "0" * 64))
    out = deps_project.build()
    assert not out.ok
    assert any("hash" in (r.error or "").lower() for r in out.failures())


def test_plan_and_explain_name_the_declaration_used(deps_project, capsys):
    from lambdaforge.cli import main

    deps_project.config(CONFIG + """
[functions.other]
source = "other"
handler = "app.handler"
""")
    for fn in ("fn", "other"):
        deps_project.write(f"{fn}/app.py", HANDLER)
        deps_project.write(f"{fn}/pyproject.toml", locks.POETRY_PYPROJECT)
        deps_project.write(f"{fn}/poetry.lock", locks.poetry_lock(deps_project.root / "wheels"))
    deps_project.write("other/Pipfile.lock", "{}")  # poetry.lock comes first
    install = "install:fn/poetry.lock@python3.12-x86_64"
    assert main(["-C", str(deps_project.root), "plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{'build':>18}  {install}  [declared in fn/poetry.lock, used by 2]  " \
           "(no previous build)" in lines
    assert main(["-C", str(deps_project.root), "build"]) == 0
    capsys.readouterr()
    assert main(["-C", str(deps_project.root), "explain", "other"]) == 0
    assert f"{install}: up to date [declared in fn/poetry.lock, used by 2]" in \
        capsys.readouterr().out.splitlines()


def test_validate_reports_every_input_problem_at_once(deps_project, capsys):
    from lambdaforge.cli import main

    config = LOCAL_INDEX + """
[functions.reqs]
source = "reqs"
handler = "app.handler"

[functions.poetry]
source = "poetry"
handler = "app.handler"

[functions.pipenv]
source = "pipenv"
handler = "app.handler"

[functions.nohandler]
source = "nohandler"
handler = "main.handler"
"""
    deps_project.config(config)
    handler_line = config.splitlines().index('handler = "main.handler"') + 1
    for fn in ("reqs", "poetry", "pipenv", "nohandler"):
        deps_project.write(f"{fn}/app.py", HANDLER)
    deps_project.write("reqs/requirements.txt", "purelib==1.0\nrequests>=\n\ndep-a ==\n")
    deps_project.write("poetry/pyproject.toml", locks.POETRY_PYPROJECT.replace('"^1.0"', '"^1.1"'))
    lock = locks.poetry_lock(deps_project.root / "wheels")
    deps_project.write("poetry/poetry.lock", lock)
    deps_project.write("pipenv/Pipfile", locks.PIPFILE)
    assert main(["-C", str(deps_project.root), "validate"]) == 2
    hash_line = next(i for i, t in enumerate(lock.splitlines(), 1) if t.startswith("content-hash"))
    assert capsys.readouterr().err.splitlines() == [
        f"lambdaforge.toml:{handler_line}: functions.nohandler.handler: `main.handler`: no main.py or "
        "main/__init__.py in `nohandler`",
        "pipenv/Pipfile: no Pipfile.lock beside it: run `pipenv lock` (lambdaforge installs "
        "the locked versions)",
        f"poetry/poetry.lock:{hash_line}: out of date with pyproject.toml (its content-hash "
        "differs): run `poetry lock`",
        "reqs/requirements.txt:2: `requests>=`: not a valid requirement",
        "reqs/requirements.txt:4: `dep-a ==`: not a valid requirement",
    ]
    # fixed, it says ok
    deps_project.write("reqs/requirements.txt", "purelib==1.0\n")
    deps_project.write("poetry/pyproject.toml", locks.POETRY_PYPROJECT)
    deps_project.write("pipenv/Pipfile.lock", locks.pipfile_lock(deps_project.root / "wheels"))
    deps_project.write("nohandler/main.py", HANDLER)
    assert main(["-C", str(deps_project.root), "validate"]) == 0
    assert capsys.readouterr().out == "lambdaforge.toml: ok (4 functions, 0 layers)\n"
