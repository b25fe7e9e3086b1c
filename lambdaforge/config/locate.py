"""Find the line of every key in a TOML document.

``tomllib`` returns values without positions, yet every config error must name its line.
Instead of searching the text once per error (quadratic on a 200-function file), one
linear scan over the text builds a map from key path to line. Paths are tuples of keys and
array indices, exactly as they appear in the parsed data: ``("functions", "api",
"runtime")``, ``("discover", 0, "path")``, ``("functions", "api", "layers", 1)``.

The scanner only runs on text ``tomllib`` has already accepted, so it skips values without
checking them; if it still meets something it does not understand it stops and returns
what it has, because a missing line degrades a message while an exception would hide it.
"""

from __future__ import annotations

import bisect
import json
import re

KeyPath = tuple["str | int", ...]

_BLANK = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_SPACE = re.compile(r"[ \t]*")
_KEY_PART = re.compile(
    r"[ \t]*(?:(?P<bare>[A-Za-z0-9_-]+)|\"(?P<basic>(?:[^\"\\\n]|\\.)*)\"|'(?P<literal>[^'\n]*)')[ \t]*"
)
_STRINGS = (
    ('"""', re.compile(r'"""(?:[^"\\]|\\[\s\S]|"{1,2}(?!"))*""""{0,2}')),
    ("'''", re.compile(r"'''[\s\S]*?''''{0,2}")),
    ('"', re.compile(r'"(?:[^"\\\n]|\\.)*"')),
    ("'", re.compile(r"'[^'\n]*'")),
)
# Numbers, booleans, dates; a local date-time may contain one space (``1979-05-27 07:32:00``).
_SCALAR = re.compile(r"[^\s,\]}#]+(?: [0-9][^\s,\]}#]*)?")
_UNICODE_ESCAPE = re.compile(r"\\U([0-9A-Fa-f]{8})")


class _Stop(Exception):
    """The scanner met text it does not understand: keep what was found so far."""


def _unescape(basic: str) -> str:
    """Value of a basic-string key: TOML escapes are JSON's plus ``\\UXXXXXXXX``."""
    if "\\" not in basic:
        return basic
    basic = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), basic)
    try:
        return json.loads(f'"{basic}"')
    except ValueError:
        return basic


class _Scanner:
    """One pass over the text; see the module docstring."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[KeyPath, int] = {}
        # array-of-tables path → index of its current (last) element
        self.aot_index: dict[KeyPath, int] = {}

    # -- helpers
    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def record(self, path: KeyPath, pos: int) -> None:
        # The first mention wins: ``[a.b]`` implicitly defines ``a`` where ``a`` first shows.
        self.lines.setdefault(path, self.line(pos))

    def skip(self, pattern: re.Pattern[str]) -> None:
        self.pos = pattern.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise _Stop
        self.pos += len(token)

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            m = _KEY_PART.match(self.text, self.pos)
            if m is None:
                raise _Stop
            if m.group("bare") is not None:
                parts.append(m.group("bare"))
            elif m.group("basic") is not None:
                parts.append(_unescape(m.group("basic")))
            else:
                parts.append(m.group("literal"))
            self.pos = m.end()
            if not self.text.startswith(".", self.pos):
                return parts
            self.pos += 1

    def resolve(self, parts: list[str]) -> KeyPath:
        """Header keys → data path, stepping into the current element of arrays of tables."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.aot_index:
                path = (*path, self.aot_index[path])
        return path

    # -- grammar
    def document(self) -> None:
        table: KeyPath = ()
        text = self.text
        while True:
            self.skip(_BLANK)
            if self.pos >= len(text):
                return
            start = self.pos
            if text.startswith("[[", start):
                self.pos += 2
                parts = self.key()
                self.expect("]]")
                array = (*self.resolve(parts[:-1]), parts[-1])
                index = self.aot_index.get(array, -1) + 1
                self.aot_index[array] = index
                for depth in range(1, len(array)):  # tables the header implies
                    self.record(array[:depth], start)
                self.record(array, start)
                table = (*array, index)
                self.record(table, start)
            elif text.startswith("[", start):
                self.pos += 1
                parts = self.key()
                self.expect("]")
                table = self.resolve(parts)
                for depth in range(1, len(table) + 1):
                    self.record(table[:depth], start)
            else:
                self.key_value(table)

    def key_value(self, table: KeyPath) -> None:
        start = self.pos
        parts = self.key()
        self.expect("=")
        path = table
        for part in parts:
            path = (*path, part)
            self.record(path, start)
        self.value(path)

    def value(self, path: KeyPath) -> None:
        self.skip(_SPACE)
        text, pos = self.text, self.pos
        if text.startswith("[", pos):
            self.pos += 1
            index = 0
            while True:
                self.skip(_BLANK)
                if text.startswith("]", self.pos):
                    self.pos += 1
                    return
                element = (*path, index)
                self.record(element, self.pos)
                self.value(element)
                self.skip(_BLANK)
                if text.startswith(",", self.pos):
                    self.pos += 1
                index += 1
        if text.startswith("{", pos):
            self.pos += 1
            while True:
                self.skip(_BLANK)
                if text.startswith("}", self.pos):
                    self.pos += 1
                    return
                self.key_value(path)
                self.skip(_BLANK)
                if text.startswith(",", self.pos):
                    self.pos += 1
        for opener, pattern in _STRINGS:
            if text.startswith(opener, pos):
                m = pattern.match(text, pos)
                if m is None:
                    raise _Stop
                self.pos = m.end()
                return
        m = _SCALAR.match(text, pos)
        if m is None:
            raise _Stop
        self.pos = m.end()


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path of a (valid) TOML document to the 1-based line that defines it.

    Tables map to their header line (or, when only implied by a dotted key, the line that
    first mentions them), array elements to the line their value starts on.
    """
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (_Stop, IndexError, AttributeError):
        pass
    return scanner.lines


def nearest_line(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """Line of ``path``, or of its closest ancestor that has one (a missing key's table)."""
    for depth in range(len(path), 0, -1):
        line = lines.get(path[:depth])
        if line is not None:
            return line
    return None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(path: KeyPath) -> str:
    """A key path as users write it: ``functions.api.layers[1]``, quoting keys that need it."""
    if all(type(p) is str and _BARE_KEY.fullmatch(p) for p in path):
        return ".".join(path)  # type: ignore[arg-type]  # the common case, kept fast
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{key}" if out else key
    return out
