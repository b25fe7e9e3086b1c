"""What ``forge validate`` checks beyond the config: the files builders will read (dependency
declarations and lockfiles, handler modules), asked of their builders
(``Builder.validate_inputs``).

A build stops at the first function whose lockfile is missing; a project of five Node.js
functions without lockfiles would then fail five builds in a row, one folder at a time.
``forge validate`` asks every builder about every function and layer instead and reports
all the problems at once, each located in its file and with the command that fixes it.
"""

from __future__ import annotations

from lambdaforge.builders import BuilderRegistry
from lambdaforge.config.specs import Project
from lambdaforge.errors import ConfigIssue


def dependency_issues(project: Project, registry: BuilderRegistry | None = None) -> list[ConfigIssue]:
    """Every problem (and warning) with the dependency declarations of the project's layers
    and functions, sorted by file and line; one declaration used by several functions is
    reported once."""
    registry = registry or BuilderRegistry()
    found: dict[str, ConfigIssue] = {}
    specs = [*sorted(project.layers.items()), *sorted(project.functions.items())]
    for _, spec in specs:
        for issue in registry.for_spec(spec).validate_inputs(spec, project):
            found.setdefault(str(issue), issue)
    return sorted(found.values(), key=lambda i: (i.file, i.line or 0, i.key, i.message))
