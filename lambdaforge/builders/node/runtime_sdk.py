"""The AWS SDK for JavaScript v3 a Node.js runtime ships, installed for the import smoke test.

A zip leaves ``@aws-sdk/*`` out because the runtime has it (``/var/runtime/node_modules``);
the smoke test must then give the handler the runtime's copy, or every handler using the
SDK goes untested. The SDK is a few hundred packages, and a function uses a handful, so
only the ``@aws-sdk/*`` packages the code imports are installed, each at the runtime's SDK
version (``lambdaforge.runtime_packages.node_sdk``), each in its own tool-cache directory
(``toolcache.published``) shared by every function and build that imports it.

Which packages: ``imported_sdk_packages`` reads every JavaScript file of the extracted
function and layers for ``require("@aws-sdk/…")``, ``import … from "@aws-sdk/…"``,
``import("@aws-sdk/…")`` and ``export … from "@aws-sdk/…"`` (a bundle's externals are
such calls too). Static reading finds what is imported anywhere, also inside a function
body that the import alone would not run, and costs one pass over the text; it cannot see
a computed name (``require("@aws-sdk/" + name)``), so the smoke test also installs a
package the import then reports missing and tries again (``NodeBuilder.smoke_test``).
Packages the function or a layer ships itself (pinned on purpose) are not installed: their
copy comes first on the path anyway. The SDK's own packages (``@aws-sdk/*``, ``@smithy/*``
inside ``node_modules``) are not read: they name each other, and npm installs what each
needs.

npm runs with the platform flags of the function's install (``--os=linux --cpu --libc``),
scripts off, and npm's own registry configuration (environment, ``~/.npmrc``, and the
``.npmrc`` next to the function's package.json), like the function's dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from msgspec import Struct, field

from lambdaforge.builders.base import BuildContext
from lambdaforge.builders.node.install import platform_flags
from lambdaforge.redact import redact_text
from lambdaforge.runtime_packages import NodeSdk
from lambdaforge.toolcache import ToolCacheError, digest_name, published

#: bump when the layout of an installed package directory changes
_FORMAT = 1
_SOURCE_SUFFIXES = (".js", ".mjs", ".cjs")
#: larger files are generated data (source maps inlined, vendored blobs), not code to read
_MAX_SOURCE_BYTES = 4 * 1024 * 1024
_SPECIFIER = re.compile(
    r"""(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s*|\bimport\s+)["'](@aws-sdk/[a-z0-9][a-z0-9._-]*)"""
)


def imported_sdk_packages(roots: Iterable[Path]) -> set[str]:
    """``@aws-sdk/*`` package names the JavaScript under ``roots`` imports."""
    found: set[str] = set()
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            if Path(directory).name == "node_modules":  # the SDK's own packages name each other
                dirnames[:] = [d for d in dirnames if d not in ("@aws-sdk", "@smithy")]
            for name in filenames:
                path = Path(directory, name)
                if not name.endswith(_SOURCE_SUFFIXES) or path.stat().st_size > _MAX_SOURCE_BYTES:
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
                if "@aws-sdk/" in text:
                    found.update(_SPECIFIER.findall(text))
    return found


def shipped_packages(roots: Iterable[Path]) -> set[str]:
    """``@aws-sdk/*`` packages present in a ``node_modules`` directly under ``roots`` (the
    function's ``node_modules``, a layer's ``nodejs/node_modules``…)."""
    return {f"@aws-sdk/{p.name}" for root in roots for p in (root / "@aws-sdk").glob("*")
            if (p / "package.json").is_file()}


def install_sdk_package(package: str, sdk: NodeSdk, runtime: str, architecture: str,
                        npmrc: Path | None, npm_version: str, ctx: BuildContext) -> Path:
    """The ``node_modules`` directory holding ``package`` at the runtime's version (and
    what it requires), installed on first use. Raises ``ToolCacheError`` saying why not."""
    spec = sdk.spec(package)
    material = {"format": _FORMAT, "runtime": runtime, "architecture": architecture,
                "spec": spec, "npm": npm_version}

    def install(tmp: Path) -> None:
        if npmrc is not None:
            shutil.copyfile(npmrc, tmp / ".npmrc")
        cache = ctx.tool_cache / "npm-cache"
        cache.mkdir(parents=True, exist_ok=True)
        argv = ["npm", "install", "--prefix", str(tmp), "--no-save", "--no-package-lock",
                "--omit=dev", "--ignore-scripts", "--install-strategy=hoisted", "--no-audit",
                "--no-fund", "--no-update-notifier", f"--cache={cache}",
                *platform_flags(architecture), spec]
        if ctx.offline:
            argv.append("--offline")
        result = ctx.runner.run(argv, cwd=tmp, timeout=900, env={
            "npm_config_update_notifier": "false", "npm_config_logs_dir": str(tmp / ".logs")})
        if not result.ok or not (tmp / "node_modules" / package / "package.json").is_file():
            why = _npm_reason(result.stderr) or f"npm exited {result.returncode}"
            raise ToolCacheError(redact_text(
                f"installing {spec} for {runtime} {architecture} failed ({why}); it is fetched "
                "with npm's registry configuration (npm_config_registry, ~/.npmrc, the .npmrc "
                "next to package.json): point it at a registry that has it, or pick the version "
                "with `[check] runtime-packages`"))
        shutil.rmtree(tmp / ".logs", ignore_errors=True)

    slug = package.removeprefix("@aws-sdk/")
    name = digest_name(f"node-{runtime}-{architecture}-{slug}", material)
    return published(ctx.tool_cache / "runtime-packages", name, install) / "node_modules"


class SdkSupply(Struct):
    """The runtime's SDK packages for one extracted function: each ``fetch``ed package the
    function and its layers do not ship is installed (``install_sdk_package``) or, when it
    cannot be, remembered with the reason. Shared by the smoke test and ``forge invoke``."""

    sdk: NodeSdk
    runtime: str
    architecture: str
    npmrc: Path | None
    npm_version: str
    ctx: BuildContext
    #: the packages the function or its layers ship themselves (their copy wins anyway)
    own: set[str] = field(default_factory=set)
    #: package → its installed ``node_modules`` directory
    installed: dict[str, Path] = field(default_factory=dict)
    #: package → why it could not be installed
    unavailable: dict[str, str] = field(default_factory=dict)

    def fetch(self, packages: Iterable[str]) -> None:
        """Install those of ``packages`` not shipped, installed or given up on already."""
        for package in sorted(set(packages) - self.own - self.installed.keys()
                              - self.unavailable.keys()):
            try:
                self.installed[package] = install_sdk_package(
                    package, self.sdk, self.runtime, self.architecture, self.npmrc,
                    self.npm_version, self.ctx)
            except ToolCacheError as exc:
                self.unavailable[package] = str(exc)

    def modules(self) -> list[Path]:
        """The installed packages' ``node_modules`` directories, by package name (what
        ``NODE_PATH`` takes where Lambda has ``/var/runtime/node_modules``)."""
        return [self.installed[p] for p in sorted(self.installed)]


def sdk_supply(sandbox_task: Path, sandbox_opt: Path, sdk: NodeSdk, runtime: str,
               architecture: str, major: str, npmrc: Path | None, npm_version: str,
               ctx: BuildContext) -> SdkSupply:
    """The SDK supply of an extracted function, with the ``@aws-sdk/*`` packages its code
    imports already fetched."""
    own = shipped_packages([sandbox_task / "node_modules", sandbox_opt / "nodejs/node_modules",
                            sandbox_opt / f"nodejs/node{major}/node_modules"])
    supply = SdkSupply(sdk, runtime, architecture, npmrc, npm_version, ctx, own=own)
    supply.fetch(imported_sdk_packages([sandbox_task, sandbox_opt]))
    return supply


#: npm's error lines that name a code, not a reason
_NPM_DETAIL = ("code ", "errno ", "syscall ", "path ", "A complete log", "at ", "Log files")


def _npm_reason(stderr: str) -> str | None:
    """npm's own reason from its error output (``request to … failed, reason: …``, ``404 Not
    Found - GET …``), without the error-code lines and stack frames around it."""
    for line in stderr.splitlines():
        text = line.removeprefix("npm error").strip()
        if line.startswith("npm error") and text and not text.startswith(_NPM_DETAIL):
            return text.removeprefix("FetchError: ")
    return None
