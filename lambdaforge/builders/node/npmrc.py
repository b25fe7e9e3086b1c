"""The settings of an ``.npmrc`` that change which tree an install makes, for its key.

The ``.npmrc`` beside the lockfile is staged with the install (registry and auth settings are
needed to fetch). The flags that shape the tree for Lambda are on the command line, which
beats it (``--omit=dev``, ``--install-strategy=hoisted``, ``--install-links``, the platform);
the others still apply: ``legacy-peer-deps=true`` leaves peers out, ``include=dev`` wins over
``--omit=dev`` (npm's docs: "If a package type appears in both the --include and --omit
lists, then it will be included"), ``engine-strict`` or ``strict-peer-deps`` fail an install
that would pass, pnpm's ``shamefully-hoist`` or ``public-hoist-pattern`` move packages. Those
go into the install key, normalised (names lower case, ``_`` as ``-``, booleans lower case,
the last of repeated keys, ``key[]`` lists in order), so an edit re-installs and two checkouts
with different settings never share an install.

Only the names below are read: an allow-list, so tokens (``//host/:_authToken``,
``_auth``, ``_password``), registries and certificates never reach a key, the state or a log;
a value that holds a credential anyway (a URL with a password) is keyed in its
``redact.key_form``.
"""

from __future__ import annotations

from lambdaforge.redact import key_form

#: npm's settings that change what ``npm ci`` puts on disk or whether it succeeds, and are
#: not given on forge's command line (or are, but a value here could add to it: ``include``).
#: Deprecated aliases are in too: npm still honours them.
NPM_TREE_SETTINGS = frozenset({
    "legacy-peer-deps", "strict-peer-deps", "install-strategy", "legacy-bundling", "global-style",
    "install-links", "omit", "include", "production", "only", "also", "dev", "optional",
    "os", "cpu", "libc", "engine-strict", "force", "ignore-scripts", "package-lock",
    "package-lock-only", "dry-run", "workspaces", "include-workspace-root",
})
#: pnpm's (it reads ``.npmrc`` too): how node_modules is laid out and peers are resolved.
PNPM_TREE_SETTINGS = frozenset({
    "node-linker", "shamefully-hoist", "public-hoist-pattern", "hoist-pattern", "hoist",
    "hoist-workspace-packages", "dedupe-peer-dependents", "dedupe-direct-deps",
    "auto-install-peers", "strict-peer-dependencies", "resolve-peers-from-workspace-root",
    "inject-workspace-packages", "package-import-method", "modules-dir", "virtual-store-dir",
    "symlink", "supported-architectures", "node-version", "side-effects-cache",
})
TREE_SETTINGS = NPM_TREE_SETTINGS | PNPM_TREE_SETTINGS


def _value(raw: str) -> str:
    """An ini value as npm reads it: unquoted, a boolean in lower case."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.lower() if value.lower() in ("true", "false") else value


def tree_settings(text: str) -> str:
    """The tree-affecting settings of an ``.npmrc``'s text as sorted ``name=value`` lines
    (``name[]=a,b`` for a list); empty when it has none (then the key is as without it)."""
    found: dict[str, str | list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        raw_name, _, raw_value = line.partition("=")
        name = raw_name.strip().lower()
        listed = name.endswith("[]")
        name = name.removesuffix("[]").replace("_", "-")
        if name not in TREE_SETTINGS:
            continue
        value = _value(raw_value)
        if listed:
            previous = found.get(name)
            found[name] = [*(previous if isinstance(previous, list) else []), value]
        else:
            found[name] = value
    lines = []
    for name in sorted(found):
        value = found[name]
        shown = f"{name}[]={','.join(value)}" if isinstance(value, list) else f"{name}={value}"
        lines.append(key_form(shown))
    return "\n".join(lines)
