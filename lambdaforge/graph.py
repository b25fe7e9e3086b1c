"""The target graph: what to build and in which order (design §3).

One ``install`` target per distinct ``DependencyInputs`` (fifty functions with the same
requirements install once), one ``package`` target per function and per layer, and one
``check`` target per artifact. Edges point from a target to the targets that consume it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable
from enum import Enum

from msgspec import Struct
from msgspec.structs import replace

from lambdaforge.builders import BuilderRegistry
from lambdaforge.builders.base import DependencyInputs
from lambdaforge.config.specs import FunctionSpec, LayerSpec, Project
from lambdaforge.errors import ConfigError, ConfigIssue, UsageError


class TargetKind(str, Enum):
    """What a target produces."""

    INSTALL = "install"
    LAYER = "layer"
    FUNCTION = "function"
    CHECK = "check"


class Target(Struct, frozen=True):
    """One node of the graph. ``id`` is unique and stable (``function:api``)."""

    id: str
    kind: TargetKind
    name: str
    builder: str
    spec: FunctionSpec | LayerSpec | None = None
    deps: DependencyInputs | None = None
    #: for a check target: the package target it checks
    checks: str | None = None
    #: for an install target: how many functions and layers use it
    shared_by: int = 0

    def _identity(self) -> tuple[object, ...]:
        return (self.id, self.kind, self.name, self.builder, self.checks)

    def __eq__(self, other: object) -> bool:
        """Equal when id, kind, name, builder and ``checks`` are (the spec, the install's
        inputs and ``shared_by`` describe the target; they do not identify it)."""
        if type(other) is not type(self):
            return NotImplemented
        return self._identity() == other._identity()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def is_package(self) -> bool:
        """True for function and layer targets (the ones that write a zip)."""
        return self.kind in (TargetKind.FUNCTION, TargetKind.LAYER)


def install_digest(inputs: DependencyInputs) -> str:
    """Short digest of an install's canonical inputs only: equal inputs, equal digest."""
    blob = json.dumps(
        [inputs.builder, inputs.runtime, inputs.architecture, inputs.canonical, inputs.files,
         inputs.directories],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def install_id(inputs: DependencyInputs, consumer: str = "") -> str:
    """Readable id of an install target: ``install:FILE@RUNTIME-ARCH``, FILE the file its
    dependencies were declared in (``inputs.declared_by``; else the consumer's id, for
    inline ``dependencies`` only). ``install_ids`` makes it unique across a graph."""
    where = inputs.declared_by or consumer or install_digest(inputs)
    return f"install:{where}@{inputs.runtime}-{inputs.architecture}"


def install_ids(installs: dict[str, tuple[DependencyInputs, str]]) -> dict[str, str]:
    """Digest → id for every distinct install of a graph (``installs``: digest → inputs and
    the first consumer's id). Equal inputs share one id; two different installs that would
    get the same readable id (one file, one platform, other installer settings) both get
    ``~DIGEST`` appended, so each id is unique and depends only on its own inputs and file."""
    readable = {d: install_id(inputs, consumer) for d, (inputs, consumer) in installs.items()}
    taken: dict[str, int] = {}
    for rid in readable.values():
        taken[rid] = taken.get(rid, 0) + 1
    return {d: rid if taken[rid] == 1 else f"{rid}~{d[:8]}" for d, rid in readable.items()}


class TargetGraph:
    """A DAG of targets with selection helpers, as plain data.

    ``build_graph`` makes it from a project, ``plancache`` loads it from disk. It answers the
    few graph questions the executor asks (``nodes``, ``predecessors``, ``successors``,
    ``in_degree``, ``number_of_nodes``) under networkx's names. (The graph was a networkx
    ``DiGraph`` once; importing networkx cost a full plan more than building the graph.)
    """

    def __init__(self, targets: dict[str, Target], edges: Iterable[tuple[str, str]]) -> None:
        self._targets = dict(targets)
        self._preds: dict[str, set[str]] = {t: set() for t in self._targets}
        self._succs: dict[str, set[str]] = {t: set() for t in self._targets}
        for a, b in edges:
            self._succs[a].add(b)
            self._preds[b].add(a)
        self._order = _lexicographic_order(self._preds, self._succs)

    def cycle(self) -> list[str] | None:
        """A dependency cycle (its ids, the first repeated at the end), or ``None`` for a
        DAG. (A cycle's targets never become ready, so they are missing from the order.)"""
        stuck = set(self._targets) - set(self._order)
        if not stuck:
            return None
        # Every stuck target has a stuck predecessor: walk back until one repeats.
        path: list[str] = []
        seen: dict[str, int] = {}
        t = min(stuck)
        while t not in seen:
            seen[t] = len(path)
            path.append(t)
            t = min(p for p in self._preds[t] if p in stuck)
        loop = path[seen[t]:]
        loop.reverse()
        return [*loop, loop[0]]

    @property
    def graph(self) -> TargetGraph:
        """Itself (the executor's view; it once was the networkx graph)."""
        return self

    def __len__(self) -> int:
        return len(self._targets)

    # -- the executor's questions, under networkx's names --------------------------------

    @property
    def nodes(self) -> list[str]:
        """Target ids, in topological order."""
        return list(self._order)

    def number_of_nodes(self) -> int:
        """How many targets."""
        return len(self._targets)

    def predecessors(self, target_id: str) -> list[str]:
        """Ids of the targets this one consumes."""
        return sorted(self._preds[target_id])

    def successors(self, target_id: str) -> list[str]:
        """Ids of the targets that consume this one."""
        return sorted(self._succs[target_id])

    def in_degree(self, target_id: str) -> int:
        """How many targets this one consumes."""
        return len(self._preds[target_id])

    def has_edge(self, a: str, b: str) -> bool:
        """Whether ``b`` consumes ``a``."""
        return b in self._succs.get(a, ())

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every (producer, consumer) pair, sorted."""
        return sorted((a, b) for a, bs in self._succs.items() for b in bs)

    # -- targets -----------------------------------------------------------------------

    def target(self, target_id: str) -> Target:
        """The target with this id."""
        return self._targets[target_id]

    def targets(self) -> list[Target]:
        """All targets in a deterministic topological order."""
        return [self._targets[t] for t in self._order]

    def upstream(self, target_id: str) -> list[Target]:
        """The targets this one consumes, sorted by id."""
        return [self._targets[t] for t in sorted(self._preds[target_id])]

    def ancestors(self, target_id: str) -> set[str]:
        """Ids of everything ``target_id`` needs, transitively."""
        seen: set[str] = set()
        todo = list(self._preds[target_id])
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(self._preds[t])
        return seen

    def subgraph(self, keep: Iterable[str]) -> TargetGraph:
        """The graph of the targets in ``keep`` and the edges between them."""
        kept = set(keep)
        return TargetGraph({t: self._targets[t] for t in self._order if t in kept},
                           [(a, b) for a, b in self.edges if a in kept and b in kept])

    def select(self, names: Iterable[str], *, with_checks: bool = True) -> TargetGraph:
        """The subgraph that builds the named functions/layers and everything they need.

        Names are function or layer names (``api``) or target ids (``layer:shared``).
        An unknown name is a ``UsageError`` with a suggestion.
        """
        names = list(names)
        if not names:
            return self
        wanted: set[str] = set()
        by_name: dict[str, list[str]] = {}
        for tid, t in self._targets.items():
            if t.is_package:
                by_name.setdefault(t.name, []).append(tid)
        for name in names:
            if name in self._targets:
                wanted.add(name)
            elif name in by_name:
                wanted.update(by_name[name])
            else:
                known = sorted(by_name)
                import difflib  # only to suggest a name: not on every build's path

                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(f"no function or layer named {name!r}{hint}")
        closure = set(wanted)
        for tid in wanted:
            closure |= self.ancestors(tid)
        if with_checks:
            # Every artifact this selection builds is checked too, layers included.
            for tid in list(closure):
                for succ in self._succs[tid]:
                    t = self._targets[succ]
                    if t.kind is TargetKind.CHECK and t.checks in closure:
                        closure.add(succ)
                        closure |= self.ancestors(succ)
        return self.subgraph(closure)

    def without_checks(self) -> TargetGraph:
        """The same graph minus check targets (``forge build --no-check``)."""
        return self.subgraph(t for t, target in self._targets.items()
                             if target.kind is not TargetKind.CHECK)

    # -- export --------------------------------------------------------------------------

    def to_json(self) -> dict:
        """Nodes and edges as plain data (``forge graph --format json``)."""
        return {
            "nodes": [
                {"id": t.id, "kind": t.kind.value, "name": t.name, "builder": t.builder}
                for t in self.targets()
            ],
            "edges": [{"from": a, "to": b} for a, b in self.edges],
        }

    def to_dot(self) -> str:
        """Graphviz text (``forge graph --format dot``)."""
        shapes = {"install": "cylinder", "layer": "folder", "function": "box", "check": "note"}
        lines = ["digraph lambdaforge {", "  rankdir=LR;"]
        for t in self.targets():
            lines.append(f'  {_dot_id(t.id)} [label={_dot_id(t.id)}, shape={shapes[t.kind.value]}];')
        for a, b in self.edges:
            lines.append(f'  {_dot_id(a)} -> {_dot_id(b)};')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        """Mermaid flowchart text (``forge graph --format mermaid``)."""
        ids = {t.id: f"n{i}" for i, t in enumerate(self.targets())}
        lines = ["flowchart LR"]
        for t in self.targets():
            lines.append(f'  {ids[t.id]}["{_mermaid_text(t.id)}"]')
        for a, b in self.edges:
            lines.append(f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    """``text`` as a quoted DOT ID: ``"`` and ``\\`` escaped, a line break as ``\\n`` (a
    source path may hold any of them)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _mermaid_text(text: str) -> str:
    """``text`` inside a Mermaid ``["…"]`` label: characters that would end or break it as
    HTML entity codes (``#quot;``), Mermaid's own escape."""
    return "".join(f"#{ord(c)};" if c in '"#<>`\n' else c for c in text)


def _lexicographic_order(preds: dict[str, set[str]], succs: dict[str, set[str]]) -> list[str]:
    """Kahn's topological order taking the smallest ready id first (networkx's
    ``lexicographical_topological_sort``): the same order on every run and machine."""
    remaining = {t: len(p) for t, p in preds.items()}
    ready = [t for t, n in remaining.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        t = heapq.heappop(ready)
        order.append(t)
        for s in succs[t]:
            remaining[s] -= 1
            if remaining[s] == 0:
                heapq.heappush(ready, s)
    return order


def build_graph(project: Project, registry: BuilderRegistry | None = None) -> TargetGraph:
    """Turn a resolved project into its target graph.

    Unknown layer references were rejected by config validation already; a reference that
    still dangles here (a bug or a hand-made ``Project``) is reported as a ``ConfigError``.
    """
    registry = registry or BuilderRegistry()
    targets: dict[str, Target] = {}
    edges: list[tuple[str, str]] = []
    # Every function's and layer's dependency problems at once (five functions without a
    # lockfile are five lines, not five builds).
    dependency_problems: list[ConfigIssue] = []

    def add(t: Target) -> None:
        targets[t.id] = t

    #: digest → (inputs, first consumer's id, its spec, builder name); consumers per digest
    installs: dict[str, tuple[DependencyInputs, str, FunctionSpec | LayerSpec, str]] = {}
    consumers: dict[str, list[str]] = {}

    def add_install(spec: FunctionSpec | LayerSpec, consumer: str, builder_name: str) -> None:
        builder = registry.for_spec(spec)
        try:
            inputs = builder.dependency_inputs(spec, spec.source, project)
        except ConfigError as exc:
            dependency_problems.extend(exc.issues)
            return
        if inputs is None:
            return
        digest = install_digest(inputs)
        # The first consumer's settings stand for all: equal inputs mean equal installer
        # settings, which is all the install reads from them.
        first = installs.setdefault(digest, (inputs, consumer, spec, builder_name))[0]
        consumers.setdefault(digest, []).append(consumer)
        if first is not inputs:
            # Every consumer's own declaration files were read to find that it shares this
            # install: they are watched with it (not keyed: the lines are the identity), so
            # an edit to any one of them is seen and re-plans the graph. With only the first
            # consumer's watched, a shared requirements.txt edited in another function was
            # a green no-op.
            read = (set(first.watched) | set(inputs.files) | set(inputs.watched)) - set(first.files)
            merged = replace(first, watched=tuple(sorted(read)),
                             variables=tuple(sorted({*first.variables, *inputs.variables})))
            installs[digest] = (merged, *installs[digest][1:])

    def add_artifact(kind: TargetKind, spec: FunctionSpec | LayerSpec) -> str:
        """A package target, its install (if any) and its check; returns the package id."""
        builder = registry.for_spec(spec)
        tid = f"{kind.value}:{spec.name}"
        add(Target(tid, kind, spec.name, builder.NAME, spec=spec))
        add_install(spec, tid, builder.NAME)
        cid = f"check:{tid}"
        add(Target(cid, TargetKind.CHECK, spec.name, builder.NAME, spec=spec, checks=tid))
        edges.append((tid, cid))
        return tid

    for _, layer in sorted(project.layers.items()):
        if layer.arn is None or layer.check_with:  # a referenced layer builds its stand-in only
            add_artifact(TargetKind.LAYER, layer)

    problems: list[str] = []
    for name, fn in sorted(project.functions.items()):
        tid = add_artifact(TargetKind.FUNCTION, fn)
        cid = f"check:{tid}"
        for layer_name in fn.layers:
            lid = f"layer:{layer_name}"
            referenced = project.layers.get(layer_name)
            if lid not in targets and referenced is not None and referenced.arn is not None:
                continue  # referenced by ARN, with nothing standing in for it here
            if lid not in targets:
                problems.append(f"functions.{name}.layers: unknown layer {layer_name!r}")
                continue
            edges.append((lid, tid))
            # The size check of a function counts its layers, so it waits for them too.
            edges.append((lid, cid))

    if dependency_problems:
        raise ConfigError(dependency_problems)
    ids = install_ids({d: (i[0], i[1]) for d, i in installs.items()})
    for digest, (inputs, _, spec, builder_name) in installs.items():
        iid = ids[digest]
        add(Target(iid, TargetKind.INSTALL, iid.split(":", 1)[1], builder_name, spec=spec,
                   deps=inputs, shared_by=len(consumers[digest])))
        edges.extend((iid, consumer) for consumer in consumers[digest])

    if problems:
        raise ConfigError("\n".join(problems))
    graph = TargetGraph(targets, edges)
    cycle = graph.cycle()
    if cycle is not None:
        raise ConfigError(f"dependency cycle: {' -> '.join(cycle)}")
    return graph
