"""What ``forge validate`` checks beyond the config: the files builders will read.

Each function and layer is handed to its builder's ``Builder.validate_inputs`` (Python:
requirement and lock files parse and are current, the handler's module exists); every
problem of every target is gathered, so one run lists them all. A file shared by several
functions is reported once.
"""

from __future__ import annotations

from lambdaforge.builders import BuilderRegistry
from lambdaforge.config.specs import Project
from lambdaforge.errors import ConfigIssue


def input_issues(project: Project, registry: BuilderRegistry | None = None) -> list[ConfigIssue]:
    """Every problem the builders find in their inputs, in a stable order, duplicates once."""
    registry = registry or BuilderRegistry()
    seen: set[ConfigIssue] = set()
    issues: list[ConfigIssue] = []
    specs = [*sorted(project.layers.items()), *sorted(project.functions.items())]
    for _, spec in specs:
        for issue in registry.for_spec(spec).validate_inputs(spec, project):
            if issue not in seen:
                seen.add(issue)
                issues.append(issue)
    return issues
