"""The Python runtime's own packages (boto3 & co.) installed for the import smoke test.

A zip leaves boto3 out because the runtime has it; the smoke test must then give the
handler the runtime's copy, or every handler importing boto3 goes untested. The list comes
from ``lambdaforge.runtime_packages`` (``lambda_facts`` or ``[check] runtime-packages``);
it is installed with the same machinery as the function's dependencies
(``install.install_requirements``: the target's platform tags and Python version, binary
only, the machine's pip/uv configuration ignored) from the function's own index settings
(``index-url``, ``extra-index-urls``, ``find-links``, ``no-index``), into the tool cache,
once per distinct set (``toolcache.published``).

The set's directory name digests what decides its content: runtime, architecture, the
requirement lines, the installer and its version, and the index settings with local
folders as absolute paths (a cache shared by two projects must not mix their wheelhouses).
The versions the installer picks within the lines (an unpinned ``urllib3``) are fixed by
the first install; ``forge clean --cache`` starts over.
"""

from __future__ import annotations

from pathlib import Path

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.python.requirements import RequirementSet, requirement_inputs, resolve_local
from lambdaforge.builders.python.tools import tool_version
from lambdaforge.config.specs import BuildSettings
from lambdaforge.errors import BuildError, ConfigError
from lambdaforge.runtime_packages import python_requirements
from lambdaforge.toolcache import ToolCacheError, digest_name, published

#: bump when the layout of an installed set changes
_FORMAT = 1


def runtime_site_packages(spec: BuildSettings, ctx: BuildContext, python: str | None = None) -> Path:
    """The directory holding the runtime's own packages for ``spec``'s runtime and
    architecture, installed on first use and, with ``python`` (an interpreter of the
    runtime's version), compiled to bytecode as the runtime has it: botocore imports in
    under a second then, from source in three. Raises ``ToolCacheError`` naming why it
    cannot be had (no list for the runtime, the index does not have them, offline…)."""
    requirements = python_requirements(spec.runtime, ctx.project.check.runtime_packages)
    if not requirements:
        raise ToolCacheError(f"lambdaforge has no list of {spec.runtime}'s own packages: name "
                             "them in `[check] runtime-packages`")
    try:
        inputs = requirement_inputs(requirements, spec, ctx.project)
    except ConfigError as exc:
        raise ToolCacheError(f"`[check] runtime-packages`: {exc}") from None
    reqs = RequirementSet.of(inputs)
    root = ctx.project.root
    material = {
        "format": _FORMAT, "runtime": inputs.runtime, "architecture": inputs.architecture,
        "installer": [reqs.installer, tool_version(reqs.installer, ctx.runner)],
        # local folders absolute (two projects' wheelhouses never share a set); URLs as
        # canonical holds them, credentials as key forms only
        "canonical": [[k, resolve_local(v, root)] for k, v in inputs.canonical],
    }

    def install(tmp: Path) -> None:
        from lambdaforge.builders.python.install import install_requirements

        site = tmp / "site-packages"
        try:
            install_requirements(inputs, site, ctx)
        except BuildError as exc:
            raise ToolCacheError(
                f"installing {', '.join(requirements)} for {inputs.runtime} "
                f"{inputs.architecture} failed ({_reason(str(exc))}); they are fetched with the "
                "function's index settings (`index-url`, `find-links`, `no-index`): point them "
                "at an index or wheel folder that has them, or change the list with `[check] "
                "runtime-packages`") from None
        if python is not None:  # only speed is at stake: a failure leaves the sources
            ctx.runner.run([python, "-I", "-m", "compileall", "-q", "-j0", str(site)],
                           timeout=900)

    name = digest_name(f"python-{inputs.runtime}-{inputs.architecture}", material)
    return published(ctx.tool_cache / "runtime-packages", name, install) / "site-packages"


def _reason(message: str) -> str:
    """The installer's own words from an ``InstallError`` message (its output lines are
    indented under a heading): uv's ``cause:`` and ``hint:`` lines (``Because there is no
    version of boto3==…``, ``…the network was disabled…``), else its last line."""
    lines = [ln.strip() for ln in message.splitlines()[1:] if ln.startswith("  ") and ln.strip()]
    said = [ln.removeprefix("cause: ").removeprefix("hint: ") for ln in lines
            if ln.startswith(("cause: ", "hint: "))]
    return " ".join(said) if said else lines[-1] if lines else message.splitlines()[0]
