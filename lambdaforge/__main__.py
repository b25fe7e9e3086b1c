"""Allow ``python -m lambdaforge``: what the ``forge`` executable does."""

from lambdaforge.noop import main

raise SystemExit(main())
