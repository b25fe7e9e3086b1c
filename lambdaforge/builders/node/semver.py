"""Whether an npm version range (``^3.600.0``, ``~1.2``, ``>=3 <4``, ``1.x || 2``) allows a
release version, as node-semver decides it.

Used for one question: does the AWS SDK version a Node.js runtime ships satisfy the range a
``package.json`` declares for an ``@aws-sdk/*`` package (``builder.runtime_provided``)? So
only release versions (``3.462.0``) are tested, and a spec that is no range (a tag such as
``latest``, a URL, ``npm:``/``workspace:``/``file:`` specs) answers ``None``: unknown.
"""

from __future__ import annotations

import re

_PARTIAL = r"[vV=]?\s*(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
_COMPARATOR = re.compile(rf"^(<=|>=|<|>|=|\^|~>|~)?\s*{_PARTIAL}$")
_HYPHEN = re.compile(rf"^\s*({_PARTIAL})\s+-\s+({_PARTIAL})\s*$")

Version = tuple[int, int, int]


def allows(spec: str, version: str) -> bool | None:
    """Whether ``spec`` (an npm range) allows release ``version`` (``x.y.z``); ``None`` when
    ``spec`` is not a range this reads (a tag, a URL, a protocol)."""
    target = _release(version)
    if target is None:
        return None
    results = []
    for alternative in spec.split("||"):
        bounds = _alternative(alternative.strip())
        if bounds is None:
            return None
        results.append(all(_holds(op, bound, target) for op, bound in bounds))
    return any(results)


def _release(version: str) -> Version | None:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _alternative(text: str) -> list[tuple[str, Version]] | None:
    """One ``||`` alternative as ``(operator, version)`` bounds that must all hold."""
    if text in ("", "*", "x", "X"):
        return []
    hyphen = _HYPHEN.match(text)
    if hyphen:
        low, high = _parts(hyphen.group(1)), _parts(hyphen.group(5))
        if low is None or high is None:
            return None
        return _bounds(">=", low) + _bounds("<=", high)
    text = re.sub(r"(<=|>=|<|>|=|\^|~>|~)\s+", r"\1", text)  # ">= 1.2" is ">=1.2"
    out: list[tuple[str, Version]] = []
    for token in text.split():
        m = _COMPARATOR.match(token)
        if m is None:
            return None
        parts = _parts(token[len(m.group(1) or ""):])
        if parts is None:
            return None
        out += _bounds(m.group(1) or "=", parts)
    return out


def _parts(text: str) -> list[int | None] | None:
    """``1.2.x`` → ``[1, 2, None]``; a wildcard ends the version."""
    m = re.fullmatch(_PARTIAL, text.strip())
    if m is None:
        return None
    parts: list[int | None] = []
    for group in m.groups():
        if group is None or group in ("x", "X", "*"):
            break
        parts.append(int(group))
    return parts + [None] * (3 - len(parts))


def _bounds(op: str, parts: list[int | None]) -> list[tuple[str, Version]]:
    """A comparator with a possibly partial version, desugared as node-semver does."""
    known = [p for p in parts if p is not None]
    if not known:  # "*", ">=x": anything; "<x": nothing
        return [("<", (0, 0, 0))] if op in ("<", ">") else []
    full = tuple(known + [0] * (3 - len(known)))
    major, minor, patch = full
    if op == "^":
        if major or len(known) == 1:
            upper = (major + 1, 0, 0)
        elif minor or len(known) == 2:
            upper = (0, minor + 1, 0)
        else:
            upper = (0, 0, patch + 1)
        return [(">=", full), ("<", upper)]
    if op in ("~", "~>"):
        upper = (major + 1, 0, 0) if len(known) == 1 else (major, minor + 1, 0)
        return [(">=", full), ("<", upper)]
    if len(known) == 3:
        return [(op, full)]
    upper = (major + 1, 0, 0) if len(known) == 1 else (major, minor + 1, 0)
    if op == "=":
        return [(">=", full), ("<", upper)]
    if op == ">":
        return [(">=", upper)]
    if op == "<=":
        return [("<", upper)]
    return [(op, full)]  # ">=1.2" is ">=1.2.0", "<1.2" is "<1.2.0"


def _holds(op: str, bound: Version, version: Version) -> bool:
    return {"<": version < bound, "<=": version <= bound, ">": version > bound,
            ">=": version >= bound, "=": version == bound}[op]
