"""Allow ``python -m lambdaforge``."""

from lambdaforge.cli import main

raise SystemExit(main())
