"""Does a built Node.js artifact have the handler Lambda will look for?

Two ways to answer, because running the artifact's code needs a Node of the runtime's major:

- **static**: the handler file (``index.handler`` → ``index.js``, ``.mjs`` or ``.cjs``, in
  the order the Lambda runtime tries them) is read and its exports recognised by pattern
  (``exports.NAME =``, ``module.exports = {NAME}``, ``export const NAME``, ``export { NAME }``,
  esbuild's ``__export(…, {NAME: …})``…). Code whose exports cannot be known without running
  it (``export * from``, ``module.exports = require(…)``) is given the benefit of the doubt.
- **import**: a ``node`` subprocess loads the file the way the runtime does (``require``,
  falling back to ``import()`` for ES modules), from a directory holding only the
  extracted artifact, with ``NODE_PATH`` set to the layers' ``nodejs/node_modules`` as on
  Lambda (searched by ES module imports too, as Lambda's runtime does), no
  ``NODE_OPTIONS``, and sockets disabled, then reports what it exports. The smoke test
  runs it with Lambda's whole environment (``lambda_env``) and the runtime's SDK.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath

from msgspec import Struct, field

from lambdaforge.lambda_facts import NODE_DISABLED_EXPERIMENTS
from lambdaforge.lambda_env import Sandbox, interpreter_prefix, lambda_environment
from lambdaforge.runner import CommandResult, Runner

#: Lambda's Node.js runtime tries these extensions, in this order, for ``file.export``.
HANDLER_EXTENSIONS = (".js", ".mjs", ".cjs")
_ID = r"[A-Za-z_$][\w$]*"
_MARKER = "@@FORGE-HANDLER@@"


def split_handler(handler: str) -> tuple[str, str]:
    """``src/app.handler`` → (``src/app``, ``handler``); ``index.a.b`` → (``index``, ``a.b``).

    The module ends at the first dot after the last slash, as in the Lambda runtime.
    """
    slash = handler.rfind("/")
    dot = handler.find(".", slash + 1)
    if dot <= slash + 1 or dot == len(handler) - 1:
        raise ValueError(f"handler `{handler}` is not of the form `file.export`")
    return handler[:dot], handler[dot + 1:]


def find_handler_file(names: Collection[str], module: str) -> str | None:
    """The file among ``names`` (artifact-relative POSIX paths) Lambda would load for ``module``."""
    for ext in HANDLER_EXTENSIONS:
        if module + ext in names:
            return module + ext
    return None


def handler_file(names: Collection[str], module: str, read: Callable[[str], bytes],
                 runtime_major: int) -> str | None:
    """The file Lambda's runtime loads for ``module`` (``names``: artifact-relative POSIX
    paths): one named like it (``find_handler_file``), else, up to Node.js 22, whose runtime
    requires the path without an extension first, the JavaScript file ``require`` of a
    folder named like it loads (its package.json ``main``, else ``index.js``): a handler
    ``app.handler`` served by ``app/index.js``."""
    file = find_handler_file(names, module)
    if file is None and runtime_major < 24 and any(n.startswith(module + "/") for n in names):
        main = _folder_main(module, names, read)
        if main is not None and main.endswith(HANDLER_EXTENSIONS):
            file = main
    return file


def load_path(module: str, file: str) -> str:
    """What a loader that does as Lambda's runtime does is given: the folder, for a handler
    a folder serves (``require`` of the folder is what the runtime runs), else the file."""
    return module if file.startswith(module + "/") else file


def folder_main_problem(handler: str, module: str, file: str, system: ModuleSystem,
                        node_major: int) -> str | None:
    """Why a folder's main file cannot serve the handler, or ``None``: the runtime loads the
    folder with ``require``, and ``require`` of an ES module fails before Node.js 22
    (``ERR_REQUIRE_ESM``; 22 loads it)."""
    if not file.startswith(module + "/") or system.kind != "esm" or node_major >= 22:
        return None
    _, export = split_handler(handler)
    return (f"handler `{handler}`: Lambda's runtime loads the folder {module}/ with require(), "
            f"and {file} is an ES module ({system.why}), which require() cannot load on "
            f"Node.js {node_major} (ERR_REQUIRE_ESM); name the file in the handler "
            f"(`{file.rsplit('.', 1)[0]}.{export}`)")


def folder_problem(handler: str, module: str, file: str, names: Collection[str],
                   read: Callable[[str], bytes], runtime_major: int) -> str | None:
    """Why a folder named like the handler file (``app/`` beside ``app.mjs``) breaks the
    handler, or ``None``: Lambda's runtime (Node.js 20 and 22) first requires the path
    without an extension, so ``require('/var/task/app')`` runs before ``app.mjs`` is tried,
    and loads ``app.js``, else the folder's ``package.json`` ``main`` or ``index.js``, else
    fails with "Cannot find module" (aws-lambda-nodejs-runtime-interface-client issue 93)."""
    prefix = module + "/"
    if runtime_major >= 24 or not any(n.startswith(prefix) for n in names):
        return None
    if file.startswith(prefix):
        return None  # the folder's own main serves the handler (``handler_file``)
    if f"{module}.js" in names or f"{module}.json" in names or f"{module}.node" in names:
        return None  # require resolves the file first: the one find_handler_file chose
    loaded = _folder_main(module, names, read)
    if loaded is not None:
        return (f"handler `{handler}`: Lambda's runtime loads {loaded}, not {file}: it requires "
                f"'{module}' without an extension first, and the folder {prefix} resolves to "
                f"that file; rename the folder or the handler file")
    return (f"handler `{handler}`: the folder {prefix} beside {file} fails it on Lambda: the "
            f"runtime requires '{module}' without an extension before it tries {file}, and "
            f"the folder has no index.js (Cannot find module '/var/task/{module}'); rename "
            "the folder or the handler file")


def _folder_main(folder: str, names: Collection[str], read: Callable[[str], bytes]) -> str | None:
    """The file ``require`` of a folder loads (its package.json ``main``, else
    ``index.js``/``.json``/``.node``), or ``None``."""
    candidates: list[str] = []
    if f"{folder}/package.json" in names:
        try:
            main = json.loads(read(f"{folder}/package.json")).get("main")
        except (ValueError, AttributeError):
            main = None
        if isinstance(main, str) and main.strip():
            target = (PurePosixPath(folder) / main).as_posix()
            candidates += [target, *(target + ext for ext in (".js", ".json", ".node")),
                           *(f"{target}/index{ext}" for ext in (".js", ".json", ".node"))]
    candidates += [f"{folder}/index{ext}" for ext in (".js", ".json", ".node")]
    return next((c for c in candidates if c in names), None)


def missing_file_message(handler: str, module: str) -> str:
    """The problem reported when no handler file exists at the artifact root."""
    files = ", ".join(module + ext for ext in HANDLER_EXTENSIONS[:-1])
    return f"handler `{handler}`: no {files} or {module}{HANDLER_EXTENSIONS[-1]} at the root of the artifact"


# ----------------------------------------------------------------------------- static


class StaticExports(Struct):
    """Export names found by pattern, and whether the file may export more than that;
    also which module system each was found through (a file Lambda loads as an ES module
    has no ``exports``, one it loads as CommonJS cannot hold ``export``)."""

    names: set[str] = field(default_factory=set)
    #: True when some export cannot be known without running the code
    opaque: bool = False
    #: names exported with ES module syntax (``export …``), and whether more may be
    #: (``export * from``)
    esm: set[str] = field(default_factory=set)
    esm_opaque: bool = False
    #: names exported through ``exports``/``module.exports`` (esbuild's CommonJS wrapper
    #: included), and whether more may be (``module.exports = require(…)``)
    cjs: set[str] = field(default_factory=set)
    cjs_opaque: bool = False
    #: ES module syntax at the start of a line: ``export …``, a static ``import``, ``import.meta``
    esm_syntax: bool = False


def strip_comments(source: str) -> str:
    """The source with comments blanked and string contents kept, so commented-out exports
    do not count and ``"http://…"`` is not mistaken for a comment."""
    out: list[str] = []
    i, n = 0, len(source)
    quote: str | None = None
    while i < n:
        c = source[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(source[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
        elif c in "'\"`":
            quote = c
            out.append(c)
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _braced(text: str, start: int) -> str:
    """The text inside the brace pair that opens at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "{([":
            depth += 1
        elif text[i] in "})]":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    return text[start + 1:]


def _top_level_items(body: str) -> list[str]:
    """Split an object literal's body at commas that are not nested."""
    items, depth, current = [], 0, []
    for c in body:
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        if c == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(c)
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def _object_keys(body: str, found: StaticExports) -> None:
    for item in _top_level_items(body):
        if item.startswith("..."):
            found.opaque = True
            continue
        m = re.match(rf"(?:async\s+)?\*?\s*(?:['\"]({_ID})['\"]|({_ID}))\s*(?::|\(|$)", item)
        if m:
            found.names.add(m.group(1) or m.group(2))


def static_exports(source: str) -> StaticExports:
    """The names a CommonJS or ES module exports, as far as patterns can tell."""
    text = strip_comments(source)
    found = StaticExports()
    for pattern in (
        rf"(?:module\.)?exports\.({_ID})\s*=",
        rf"(?:module\.)?exports\[\s*['\"]({_ID})['\"]\s*\]\s*=",
        rf"Object\.defineProperty\(\s*(?:module\.)?exports\s*,\s*['\"]({_ID})['\"]",
    ):
        found.cjs.update(re.findall(pattern, text))
    for pattern in (
        rf"\bexport\s+(?:async\s+)?function\s*\*?\s*({_ID})",
        rf"\bexport\s+(?:const|let|var|class)\s+({_ID})",
    ):
        found.esm.update(re.findall(pattern, text))
    if re.search(r"\bexport\s+default\b", text):
        found.esm.add("default")
    for m in re.finditer(r"\bexport\s*\{", text):
        for item in _top_level_items(_braced(text, m.end() - 1)):
            alias = re.match(rf"(?:{_ID}|['\"][^'\"]+['\"])\s+as\s+['\"]?({_ID}|default)['\"]?$", item)
            if alias:
                found.esm.add(alias.group(1))
            elif re.fullmatch(_ID, item):
                found.esm.add(item)
    # module.exports = { … } and esbuild's CommonJS wrapper __export(target, { name: () => … })
    for m in re.finditer(r"module\.exports\s*=\s*\{|\b__export\(\s*[\w$]+\s*,\s*\{", text):
        keys = StaticExports()
        _object_keys(_braced(text, m.end() - 1), keys)
        found.cjs |= keys.names
        found.cjs_opaque |= keys.opaque
    found.esm_opaque = bool(re.search(r"\bexport\s*\*\s*from|\bexport\s*\*\s*as\b", text))
    found.cjs_opaque |= bool(re.search(r"module\.exports\s*=(?!\s*\{)", text)) or (
        "Object.assign(module.exports" in text or "Object.assign(exports" in text)
    found.esm_syntax = bool(_ESM_SYNTAX.search(text))
    found.names = found.esm | found.cjs
    found.opaque = found.esm_opaque or found.cjs_opaque
    return found


#: ES module syntax a CommonJS parse refuses: ``export`` or a static ``import`` starting a
#: line or a statement after ``;`` (``const h = …; export { h };``), or ``import.meta`` (a
#: dynamic ``import(…)`` is fine in CommonJS)
_ESM_SYNTAX = re.compile(
    r"(?m)(?:^|;)[ \t]*(?:export\s*(?:default\b|const\b|let\b|var\b|function\b|async\b|class\b|\{|\*)"
    r"|import\s*(?:[{*'\"]|[A-Za-z_$][\w$]*\s*(?:,|\bfrom\b)))|\bimport\.meta\b")


class ModuleSystem(Struct, frozen=True):
    """How Lambda's Node.js runtime loads a handler file: ``esm`` (``import()``) or ``cjs``
    (``require``), and what decided it."""

    kind: str
    #: ``a .mjs file``, ``package.json has "type": "module"``, ``no package.json above it``…
    why: str
    #: the ``"type"`` of the package.json that decided (``None``: none, or no field)
    type_field: str | None = None


def module_system(file: str, names: Collection[str], read: Callable[[str], bytes]) -> ModuleSystem:
    """The module system Lambda loads ``file`` (artifact-relative) with: ``.mjs`` and
    ``.cjs`` by extension, a ``.js`` by the ``"type"`` of the nearest ``package.json`` above
    it in the artifact (the runtime's own rule; one that does not parse counts as none)."""
    if file.endswith(".mjs"):
        return ModuleSystem("esm", "a .mjs file")
    if file.endswith(".cjs"):
        return ModuleSystem("cjs", "a .cjs file")
    folder = PurePosixPath(file).parent
    while True:
        pj = (folder / "package.json").as_posix()
        if pj in names:
            try:
                data = json.loads(read(pj))
            except ValueError:
                data = None
            kind = data.get("type") if isinstance(data, dict) else None
            kind = kind if isinstance(kind, str) else None
            if kind == "module":
                return ModuleSystem("esm", f'{pj} has "type": "module"', kind)
            said = f'"type": "{kind}"' if kind else 'no "type": "module"'
            return ModuleSystem("cjs", f"{pj} has {said}", kind)
        if folder == PurePosixPath("."):
            return ModuleSystem("cjs", "no package.json above it says \"type\": \"module\"")
        folder = folder.parent


def module_system_problem(handler: str, file: str, source: str, system: ModuleSystem,
                          node_major: int) -> str | None:
    """Why Lambda cannot load the handler file with the module system it uses for it
    (``module_system``), or ``None``: CommonJS exports in a file loaded as an ES module
    (``exports is not defined``), or ES module syntax in one loaded as CommonJS (a
    ``SyntaxError``; Node.js 24 detects it in a ``.js`` whose package.json has no
    ``"type"``, so that loads there; Lambda runs Node.js 22 with that detection turned off,
    ``lambda_facts.NODE_DISABLED_EXPERIMENTS``)."""
    _, export = split_handler(handler)
    name = export.split(".")[0]
    found = static_exports(source)
    stem = file.rsplit(".", 1)[0]
    if system.kind == "esm":
        if (found.cjs or found.cjs_opaque) and name not in found.esm and not found.esm_opaque:
            return (f"handler `{handler}`: {file} is loaded as an ES module ({system.why}) but "
                    f"exports with CommonJS (`exports`, `module.exports`), which an ES module does "
                    f"not have: export it with `export`, or rename the file {stem}.cjs")
        return None
    if not found.esm_syntax:
        return None
    typeless_js = file.endswith(".js") and system.type_field is None
    detection_off = "--no-experimental-detect-module" in NODE_DISABLED_EXPERIMENTS.get(str(node_major), ())
    if typeless_js and not detection_off and node_major >= 22:
        return None  # Node.js 24's require() detects ES module syntax in a typeless .js
    why = system.why
    if typeless_js:
        why += (f", and Lambda runs Node.js {node_major} with --no-experimental-detect-module "
                "(NODE_OPTIONS=--experimental-detect-module turns it back on)" if detection_off
                else f", and Node.js {node_major} does not detect ES module syntax")
    if file.endswith(".cjs"):
        fix = f"rename it {stem}.mjs (a .cjs file is CommonJS whatever package.json says)"
    elif system.type_field == "commonjs":
        fix = f'rename it {stem}.mjs or change "type" to "module" in package.json'
    else:
        fix = f'rename it {stem}.mjs or add "type": "module" to package.json'
    return (f"handler `{handler}`: {file} is loaded as CommonJS ({why}) but uses ES module "
            f"syntax (`export`, `import`), which CommonJS cannot parse: {fix}")


def static_problem(handler: str, file: str, source: str) -> str | None:
    """The static check's verdict on one handler file: a problem, or None when it passes
    (or cannot be decided without running the code)."""
    _, export = split_handler(handler)
    name = export.split(".")[0]
    found = static_exports(source)
    if name in found.names or found.opaque:
        return None
    listing = ", ".join(sorted(found.names)) or "nothing"
    return f"handler `{handler}`: {file} does not export `{name}` (static check; it exports: {listing})"


# ----------------------------------------------------------------------------- import

#: the checking script and its ES module resolve hook, written into the work directory
SCRIPT_NAME = "forge-handler-check.cjs"
HOOK_NAME = "forge-node-path-hook.mjs"

#: Lambda's Node.js 18+ runtimes search ``NODE_PATH`` for ES module imports too (Node.js
#: itself does not): a resolve hook that, when a bare specifier is not found the usual way,
#: resolves it from each ``NODE_PATH`` directory named ``node_modules`` (the layers', the
#: runtime's SDK), in order.
NODE_PATH_HOOK = r"""
import { pathToFileURL } from 'node:url';
import { basename, dirname, join } from 'node:path';
const roots = (process.env.NODE_PATH || '').split(':').filter((d) => basename(d) === 'node_modules');
const bare = (s) => !/^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(s);
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!bare(specifier) || !error || error.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const root of roots) {
      const parentURL = pathToFileURL(join(dirname(root), 'forge-node-path.js')).href;
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (e) {
        if (!e || e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
      }
    }
    throw error;
  }
}
"""

#: Loads the handler as the Lambda runtime does and prints one JSON line after a marker.
_IMPORT_SCRIPT = r"""
'use strict';
const { pathToFileURL } = require('node:url');
const nodeModule = require('node:module');
if (process.argv[4] && typeof nodeModule.register === 'function') {
  nodeModule.register(pathToFileURL(process.argv[4]).href);
}
const net = require('node:net');
const dns = require('node:dns');
const blocked = () => { throw new Error('network access is disabled during the lambdaforge handler check'); };
net.Socket.prototype.connect = blocked;
dns.lookup = blocked;
const [file, exportPath] = process.argv.slice(2);
const report = (o) => { process.stdout.write('\n@@FORGE-HANDLER@@' + JSON.stringify(o) + '\n'); process.exit(0); };
(async () => {
  const t0 = process.hrtime.bigint();
  let mod;
  try {
    // Lambda's runtime (up to Node.js 22) first requires the path without an extension: a
    // folder named like the handler file is loaded, or fails, before the file is tried
    const base = file.replace(/\.(?:c|m)?js$/, '');
    if (Number(process.versions.node.split('.')[0]) < 24 && require('node:fs').existsSync(base)) mod = require(base);
    else if (file.endsWith('.mjs')) mod = await import(pathToFileURL(file).href);
    else {
      try { mod = require(file); }
      catch (e) {
        if (e && e.code === 'ERR_REQUIRE_ESM') mod = await import(pathToFileURL(file).href);
        else throw e;
      }
    }
  } catch (e) {
    report({ ok: false, error: String((e && e.stack) || e) });
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let value = mod;
  for (const part of exportPath.split('.')) value = value == null ? undefined : value[part];
  const names = mod == null ? [] : Object.keys(mod).filter((k) => k !== '__esModule').sort();
  report({ ok: true, ms, type: typeof value, exports: names });
})();
"""


class ImportOutcome(Struct, frozen=True):
    """What importing the handler in isolation found."""

    #: the problem, or None when the handler is an exported function
    problem: str | None
    import_ms: float | None = None
    #: the full Node error (stack) when the import itself failed
    error: str | None = None


def _extract(zip_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)


def import_handler(
    artifact: Path,
    layer_zips: Sequence[Path],
    handler: str,
    runtime_major: int,
    runner: Runner,
    scratch: Path | None = None,
    timeout: float = 60,
) -> ImportOutcome:
    """Extract the function zip and its layers (merged under one ``opt`` in order, later
    layers overwriting earlier ones, as Lambda does) and import the handler with ``node``."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="node-handler-", dir=scratch))
    try:
        task, opt = work / "task", work / "opt"
        _extract(artifact, task)
        for layer in layer_zips:
            _extract(layer, opt)
        return import_handler_dir(task, opt, handler, runtime_major, runner, work, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def import_handler_dir(
    task: Path, opt: Path, handler: str, runtime_major: int, runner: Runner, work: Path,
    timeout: float = 60, env: Mapping[str, str] | None = None, node: str | None = None,
) -> ImportOutcome:
    """Import the handler from an extracted artifact ``task`` with layers merged in ``opt``.

    ``env`` is the process's whole environment (``lambda_env.lambda_environment``, nothing
    inherited): the smoke test's, with the function's variables and the runtime's SDK on
    ``NODE_PATH``; without it, Lambda's for a function with neither (the handler check).
    ``node`` is the one to run (the smoke test's, ``tools.find_node``), else PATH's."""
    module, export = split_handler(handler)
    names = {p.relative_to(task).as_posix() for p in task.rglob("*") if p.is_file()}
    file = handler_file(names, module, lambda n: (task / n).read_bytes(), runtime_major)
    if file is None:
        return ImportOutcome(missing_file_message(handler, module))
    script = work / SCRIPT_NAME
    script.write_text(_IMPORT_SCRIPT, encoding="utf-8")
    hook = work / HOOK_NAME
    hook.write_text(NODE_PATH_HOOK, encoding="utf-8")
    node = node or shutil.which("node") or "node"
    if env is None:
        home = work / "home"
        home.mkdir(exist_ok=True)
        sandbox = Sandbox(task=task, opt=opt, home=home, lang=interpreter_prefix(node))
        env = lambda_environment(function_name="handler-check", handler=handler,
                                 runtime=f"nodejs{runtime_major}.x", sandbox=sandbox)
    argv = [node, str(script), str(task / load_path(module, file)), export, str(hook)]
    result = runner.run(argv, cwd=task, env=env, timeout=timeout, inherit_env=False)
    return _outcome(result, handler, file, export)


def _outcome(result: CommandResult, handler: str, file: str, export: str) -> ImportOutcome:
    """What the import script reported (or, without a report, what node printed)."""
    payload = _payload(result.stdout)
    name = export.split(".")[0]
    if payload is None:
        detail = (result.stderr or result.stdout).strip()
        return ImportOutcome(f"handler `{handler}`: importing {file} failed: {_first_line(detail)}",
                             error=detail)
    if not payload["ok"]:
        error = payload["error"]
        return ImportOutcome(f"handler `{handler}`: importing {file} failed: {_first_line(error)}",
                             error=error)
    ms = float(payload["ms"])
    if payload["type"] == "function":
        return ImportOutcome(None, import_ms=ms)
    if payload["type"] == "undefined":
        listing = ", ".join(payload["exports"]) or "nothing"
        return ImportOutcome(f"handler `{handler}`: {file} does not export `{name}` (it exports: {listing})",
                             import_ms=ms)
    return ImportOutcome(
        f"handler `{handler}`: `{export}` exported by {file} is a {payload['type']}, not a function",
        import_ms=ms,
    )


def _payload(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARKER):
            return json.loads(line[len(_MARKER):])
    return None


def _first_line(text: str) -> str:
    """The line of a Node error that says what went wrong: ``SyntaxError: Unexpected token
    'export'`` rather than the ``file:line`` and source excerpt Node prints above a parse
    error; else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = next((line for line in lines if re.match(r"[A-Z]\w*(?:Error|Exception)\b.*:", line)), None)
    return named or (lines[0] if lines else "no output")


def condensed_error(error: str, places: Sequence[tuple[str, str]], work: Path) -> str:
    """A Node error stack as Lambda would show it, short: the message (with its require
    stack) and the top three frames of code (not Node's internals), local directories
    named as on Lambda (``places``: (local, Lambda path), longest first, as
    ``lambda_env.lambda_names`` gives them), the lines of the checking script itself (in
    ``work``) left out."""
    ours = (str(work / SCRIPT_NAME), str(work / HOOK_NAME))

    def shown(line: str) -> str:
        for local, lambda_path in places:
            line = line.replace(local, lambda_path)
        return line

    message, frames = [], []
    for line in error.splitlines():
        if any(path in line for path in ours):
            continue
        if line.lstrip().startswith("at "):
            if "(node:" not in line and not line.lstrip().startswith("at node:"):
                frames.append(shown(line))
        elif not frames:
            message.append(shown(line))
    return "\n".join([*message, *frames[:3]]).rstrip()


_MISSING = re.compile(r"Cannot find (?:module|package) '((?:@aws-sdk|@smithy)/[^'/]+)")


def missing_runtime_package(error: str | None) -> str | None:
    """The runtime-provided package (AWS SDK) whose absence made an import fail, if that is why."""
    match = _MISSING.search(error or "")
    return match.group(1) if match else None
