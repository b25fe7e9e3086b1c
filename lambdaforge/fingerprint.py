"""Cache keys: a canonical record of everything that can change a target's output.

A target's key is ``sha256`` of the canonical JSON of its ``KeyMaterial`` (design §3, house
style 1): key-format version, lambdaforge version, target kind, builder name and
``VERSION``, the canonical config slice, the platform (runtime, architecture, tool versions),
every input file as (relative path, exec bit, digest), the upstream targets' keys and the
project's ``cache-salt``. Nothing else: no absolute path, no mtime, no host name. The same
inputs give the same key in any directory on any machine; touching a file changes nothing;
reverting a change gives the old key back. Credentials in URLs are never material, only a
digest of them (``lambdaforge.redact.key_form``).

``diff_key_material`` turns two records into the reasons a target is stale, for
``forge explain`` and the build report (house style 2, ninja ``-d explain``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Union

from msgspec import Struct, field
from msgspec.structs import force_setattr

from lambdaforge import __version__
from lambdaforge.redact import key_form, strip_digest

#: bump when the layout or meaning of key material changes: every key changes with it
KEY_FORMAT_VERSION = 1

#: JSON-compatible values after canonicalisation (mappings are read-only, sequences tuples)
Canonical = Union[None, bool, int, float, str, tuple["Canonical", ...], Mapping[str, "Canonical"]]


def canonicalize(value: object) -> Canonical:
    """A deep, read-only, JSON-compatible copy of a config value.

    Mappings keep str keys (sorted when serialised), lists and tuples become tuples (order is
    meaningful: strip rule sets apply in order), sets become sorted tuples, enums their
    value, Pydantic models their JSON dump. A ``Path`` must be relative (it becomes POSIX
    text): an absolute path would tie the key to one machine, so it is refused. A string
    holding a credential (``https://user:pass@host/simple``) becomes its ``redact.key_form``:
    the key still changes with the password, the material (stored, shown by ``explain``,
    shared with a remote cache) never holds it.
    """
    if isinstance(value, str):
        return key_form(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return canonicalize(value.value)
    if isinstance(value, int):
        return int(value)  # ByteSize and other int subclasses serialise as plain numbers
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"key material cannot hold {value!r}")
        return value
    if isinstance(value, PurePath):
        if value.is_absolute():
            raise ValueError(f"key material must not contain an absolute path: {value}")
        return value.as_posix()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"config keys must be strings, got {k!r}")
            out[k] = canonicalize(v)
        return MappingProxyType(out)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((canonicalize(v) for v in value), key=_sort_key))
    if isinstance(value, (list, tuple)):
        return tuple(canonicalize(v) for v in value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return canonicalize(dump(mode="json"))
    raise TypeError(f"cannot put a {type(value).__name__} into key material: {value!r}")


def _sort_key(v: Canonical) -> str:
    return canonical_json(v)


def _json_default(o: object) -> object:
    if isinstance(o, MappingProxyType):
        return dict(o)
    raise TypeError(f"not JSON-serialisable: {o!r}")


def canonical_json(value: object) -> str:
    """The one serialisation keys are hashed from: sorted keys, no whitespace, UTF-8 text."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def config_slice(prefix: str, values: Mapping[str, object]) -> dict[str, Canonical]:
    """A config slice with dotted TOML keys: ``config_slice("functions.api", {"max_size": 1})``
    → ``{"functions.api.max-size": 1}``. Keys become kebab-case as the user wrote them, so
    ``explain`` names the key the user would edit."""
    return {f"{prefix}.{k.replace('_', '-')}": canonicalize(v) for k, v in values.items()}


class FileInput(Struct, frozen=True, order=True):
    """One input file: project-relative POSIX path, exec bit, sha256 hex of its content."""

    path: str
    executable: bool
    digest: str


class Platform(Struct, frozen=True):
    """What the output is built for and with: Lambda runtime, architecture, and the name →
    version of every external tool that can change the output (installer, bundler)."""

    runtime: str | None = None
    architecture: str | None = None
    tools: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        tools = self.tools.items() if isinstance(self.tools, Mapping) else self.tools
        force_setattr(self, "tools", tuple(sorted((str(k), str(v)) for k, v in tools)))

    @classmethod
    def coerce(cls, value: Platform | Mapping[str, Any] | None) -> Platform:
        """A ``Platform`` from itself or a mapping with keys ``runtime``, ``architecture``
        and ``tools`` (a name → version mapping)."""
        if value is None:
            return cls()
        if isinstance(value, Platform):
            return value
        unknown = set(value) - {"runtime", "architecture", "tools"}
        if unknown:
            raise TypeError(f"unknown platform fields: {sorted(unknown)} (tools go under 'tools')")
        return cls(value.get("runtime"), value.get("architecture"), value.get("tools", ()))


FilesArg = Union[Mapping[str, "tuple[str, bool]"], Iterable[FileInput]]


class KeyMaterial(Struct, frozen=True, dict=True):
    """Everything that can change a target's output, in canonical form; ``key`` hashes it.

    Constructor arguments are normalised (sorted, deep-copied, read-only), so two records
    built from the same inputs in any order are equal and have the same key:

    - ``config``: the config slice, a mapping of (usually dotted) keys to values; see
      ``config_slice``;
    - ``platform``: a ``Platform`` or a mapping ``{"runtime", "architecture", "tools"}``;
    - ``files``: ``{relpath: (digest, executable)}`` (what ``statcache.digest_files``
      returns) or ``FileInput`` records;
    - ``upstream``: upstream target name → its key.
    """

    kind: str
    builder: str
    builder_version: str
    config: Mapping[str, Canonical] = field(default_factory=dict)
    platform: Platform = field(default_factory=Platform)
    files: tuple[FileInput, ...] = ()
    upstream: tuple[tuple[str, str], ...] = ()
    cache_salt: str = ""
    lambdaforge_version: str = __version__
    format_version: int = KEY_FORMAT_VERSION

    def __post_init__(self) -> None:
        config = canonicalize(self.config)
        if not isinstance(config, Mapping):
            raise TypeError("config must be a mapping")
        force_setattr(self, "config", config)
        force_setattr(self, "platform", Platform.coerce(self.platform))
        force_setattr(self, "files", _files(self.files))
        upstream = self.upstream.items() if isinstance(self.upstream, Mapping) else self.upstream
        force_setattr(self, "upstream", tuple(sorted((str(n), str(k)) for n, k in upstream)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, hashed for the key and stored in the last-build state."""
        return {
            "format": self.format_version,
            "lambdaforge": self.lambdaforge_version,
            "kind": self.kind,
            "builder": {"name": self.builder, "version": self.builder_version},
            "platform": {
                "runtime": self.platform.runtime,
                "architecture": self.platform.architecture,
                "tools": dict(self.platform.tools),
            },
            "config": self.config,
            "files": [[f.path, f.executable, f.digest] for f in self.files],
            "upstream": dict(self.upstream),
            "cache-salt": self.cache_salt,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyMaterial:
        """Inverse of ``to_dict``; raises ``ValueError`` on anything malformed (the caller
        treats that as "no previous build")."""
        try:
            builder = data["builder"]
            platform = data["platform"]
            return cls(
                format_version=int(data["format"]),
                lambdaforge_version=str(data["lambdaforge"]),
                kind=str(data["kind"]),
                builder=str(builder["name"]),
                builder_version=str(builder["version"]),
                platform=Platform(
                    platform["runtime"], platform["architecture"], platform["tools"]
                ),
                config=data["config"],
                files=[FileInput(str(p), bool(x), str(d)) for p, x, d in data["files"]],
                upstream=data["upstream"],
                cache_salt=str(data["cache-salt"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed key material: {exc}") from exc

    @cached_property
    def canonical(self) -> str:
        """The canonical JSON text the key is the sha256 of."""
        return canonical_json(self.to_dict())

    @cached_property
    def key(self) -> str:
        """The target's cache key: sha256 hex of ``canonical``."""
        return hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()

    def __hash__(self) -> int:
        return hash(self.key)


def _files(value: FilesArg) -> tuple[FileInput, ...]:
    if isinstance(value, Mapping):
        items = [FileInput(p, bool(x), d) for p, (d, x) in value.items()]
    else:
        items = list(value)
    items.sort()
    for prev, cur in zip(items, items[1:]):
        if prev.path == cur.path:
            raise ValueError(f"input file listed twice: {cur.path}")
    for f in items:
        if f.path.startswith("/") or "\\" in f.path or ".." in f.path.split("/"):
            raise ValueError(f"input file path must be project-relative POSIX: {f.path!r}")
    return tuple(items)


# --------------------------------------------------------------------------- reasons


def diff_key_material(old: KeyMaterial | None, new: KeyMaterial) -> list[str]:
    """Why a target whose last build had ``old`` must be rebuilt for ``new``: one line per
    difference, in a fixed order (versions, kind, builder, platform, config, files,
    upstream, salt); empty when the keys are equal."""
    if old is None:
        return ["no previous build"]
    if old.key == new.key:
        return []
    reasons: list[str] = []
    if old.format_version != new.format_version:
        reasons.append(f"key format changed: {old.format_version} → {new.format_version}")
    if old.lambdaforge_version != new.lambdaforge_version:
        reasons.append("lambdaforge version changed")
    if old.kind != new.kind:
        reasons.append(f"target kind changed: {old.kind} → {new.kind}")
    if old.builder != new.builder:
        reasons.append(f"builder changed: {old.builder} → {new.builder}")
    elif old.builder_version != new.builder_version:
        reasons.append(f"builder {new.builder} VERSION changed")
    for what in ("runtime", "architecture"):
        a, b = getattr(old.platform, what), getattr(new.platform, what)
        if a != b:
            reasons.append(f"{what} changed: {a} → {b}")
    reasons += _diff_pairs(
        dict(old.platform.tools),
        dict(new.platform.tools),
        added="tool added: {k} {new}",
        removed="tool removed: {k}",
        changed="tool version changed: {k} {old} → {new}",
    )
    reasons += _diff_config(old.config, new.config)
    reasons += _diff_files(old.files, new.files)
    reasons += _diff_pairs(
        dict(old.upstream),
        dict(new.upstream),
        added="upstream added: {k}",
        removed="upstream removed: {k}",
        changed="upstream changed: {k}",
    )
    if old.cache_salt != new.cache_salt:
        reasons.append("cache-salt changed")
    return reasons


def _diff_pairs(
    old: Mapping[str, str], new: Mapping[str, str], *, added: str, removed: str, changed: str
) -> list[str]:
    out = []
    for k in sorted(old.keys() | new.keys()):
        if k not in old:
            out.append(added.format(k=k, new=new[k]))
        elif k not in new:
            out.append(removed.format(k=k))
        elif old[k] != new[k]:
            out.append(changed.format(k=k, old=old[k], new=new[k]))
    return out


_UNSET = object()


def _flatten(value: Canonical, prefix: str, out: dict[str, Canonical]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else k, out)
    else:
        out[prefix] = value


def _diff_config(old: Mapping[str, Canonical], new: Mapping[str, Canonical]) -> list[str]:
    a: dict[str, Canonical] = {}
    b: dict[str, Canonical] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    out = []
    for k in sorted(a.keys() | b.keys()):
        va, vb = a.get(k, _UNSET), b.get(k, _UNSET)
        if va != vb or type(va) is not type(vb):
            shown_a, shown_b = _without_digests(va), _without_digests(vb)
            if shown_a == shown_b:  # only a password or token changed: the digest says so
                out.append(f"config changed: {k}: credentials changed in {render_value(shown_a)}")
            else:
                out.append(f"config changed: {k}: {render_value(shown_a)} → {render_value(shown_b)}")
    return out


def _without_digests(value: object) -> object:
    """A config value as a reason shows it: key forms without their credential digest."""
    if isinstance(value, str):
        return strip_digest(value)
    if isinstance(value, tuple):
        return tuple(_without_digests(v) for v in value)
    return value


#: Longer renderings (a whole lockfile in an install's canonical inputs) are abbreviated.
MAX_RENDERED = 80


def render_value(value: object) -> str:
    """A config value as a reason shows it: strings quoted, booleans as in TOML, a missing
    or ``None`` value as ``(unset)``; anything long as its size and a short digest, so a
    changed lockfile reads ``<2301 chars, sha256 1a2b3c4d>`` rather than the whole file."""
    text = _render(value)
    if len(text) <= MAX_RENDERED:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"<{len(text)} chars, sha256 {digest}>"


def _render(value: object) -> str:
    if value is _UNSET or value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _diff_files(old: tuple[FileInput, ...], new: tuple[FileInput, ...]) -> list[str]:
    a = {f.path: f for f in old}
    b = {f.path: f for f in new}
    out = []
    for path in sorted(a.keys() | b.keys()):
        fa, fb = a.get(path), b.get(path)
        if fa is None:
            out.append(f"file added: {path}")
        elif fb is None:
            out.append(f"file removed: {path}")
        else:
            if fa.digest != fb.digest:
                out.append(f"file changed: {path}")
            if fa.executable != fb.executable:
                out.append(f"exec bit changed: {path}")
    return out
