"""Allow ``python -m lambdaforge``."""

from lambdaforge.cli import entry

raise SystemExit(entry())
