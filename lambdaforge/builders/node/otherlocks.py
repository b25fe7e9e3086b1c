"""What a ``pnpm-lock.yaml`` or ``yarn.lock`` was made for, read without a YAML library.

``forge validate`` must say which lockfiles are stale without running pnpm or yarn (and
without PyYAML, an optional dependency), so this reads just the parts that record the
root package's declared dependencies:

- pnpm (lockfile v6 and v9): ``importers: '.': dependencies: <name>: specifier: <spec>``
  (v6 without ``importers`` keeps the same sections at the top level). ``pnpm install
  --frozen-lockfile`` refuses a lockfile whose specifiers differ from package.json's.
- Yarn classic: every entry's key is a list of ``name@range`` patterns; ``yarn install
  --frozen-lockfile`` refuses a package.json with a pattern the lockfile lacks.
- Yarn berry: keys are descriptors (``name@npm:range``, or the range's own protocol), and
  the root workspace entry (``name@workspace:.``) lists its dependencies.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"^(?P<indent> *)(?P<key>'[^']*'|\"[^\"]*\"|[^:#\s][^:#]*?):(?:\s+(?P<value>.*?))?\s*$")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def pnpm_lock_version(text: str) -> float | None:
    """``lockfileVersion`` of a pnpm lockfile (``'9.0'`` → 9.0), ``None`` when unreadable."""
    match = re.search(r"^lockfileVersion:\s*['\"]?([0-9.]+)", text, re.MULTILINE)
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


def pnpm_specifiers(text: str, importer: str = ".") -> dict[str, str]:
    """Declared name → specifier that the lockfile's ``importer`` (``.``: the package
    itself) was resolved for, over ``dependencies``, ``devDependencies`` and
    ``optionalDependencies``."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    parsed = [(m.group("indent"), _unquote(m.group("key")), m.group("value")) for m in map(_KEY.match, lines) if m]
    # Where the importer's sections start, and at which indentation.
    base = 0
    start = 0
    if any(ind == "" and key == "importers" for ind, key, _ in parsed):
        for i, (ind, key, _) in enumerate(parsed):
            if ind == "" and key == "importers":
                start = i + 1
                break
        for i in range(start, len(parsed)):
            ind, key, _ = parsed[i]
            if ind == "":
                return {}
            if key == importer and len(ind) == 2:
                start, base = i + 1, 4
                break
        else:
            return {}
    out: dict[str, str] = {}
    section: str | None = None
    name: str | None = None
    for ind, key, value in parsed[start:]:
        depth = len(ind)
        if depth < base or (base and depth == base - 2):
            break
        if depth == base:
            section = key if key in ("dependencies", "devDependencies", "optionalDependencies") else None
            name = None
        elif section and depth == base + 2:
            name = key
        elif section and name and depth == base + 4 and key == "specifier" and value is not None:
            out.setdefault(name, _unquote(value))
    return out


def yarn_patterns(text: str) -> set[str]:
    """Every ``name@range`` pattern (classic) or descriptor (berry) the lockfile has an
    entry for."""
    patterns: set[str] = set()
    for line in text.splitlines():
        if not line or line[0] in " #\t" or not line.rstrip().endswith(":"):
            continue
        for part in line.rstrip()[:-1].split(","):
            part = _unquote(part)
            if part and part != "__metadata":
                patterns.add(part)
    return patterns


def yarn_missing(declared: dict[str, str], patterns: set[str], berry: bool) -> list[str]:
    """The declared ``name`` entries whose pattern the lockfile lacks: classic records
    ``name@range`` literally; berry ``name@npm:range`` for a semver range or tag and the
    spec itself when it has a protocol (``workspace:``, ``patch:``, ``npm:alias@…``)."""
    missing = []
    for name, spec in declared.items():
        candidates = {f"{name}@{spec}"}
        if berry and not re.match(r"^[a-z+]+:", spec):
            candidates.add(f"{name}@npm:{spec}")
        if not candidates & patterns:
            missing.append(name)
    return missing
