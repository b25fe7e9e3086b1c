"""Runs a DAG of targets: topological order, independent targets in parallel.

It knows nothing about what a target does: the caller passes an ``action`` that takes a
target and the results of its upstream targets and returns a ``TargetResult``. A failing
target stops only what depends on it (those become ``SKIPPED``); everything else still runs.
On Ctrl-C no new target starts, running ones are asked to stop through ``cancel``, and the
interrupt is re-raised once they have finished cleaning up.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, Protocol

from msgspec import Struct, field

from lambdaforge.fsutil import is_disk_full, write_failure
from lambdaforge.redact import redact_text


class Status(str, Enum):
    """How a target ended (house style 8: an Enum, never strings)."""

    UP_TO_DATE = "up-to-date"
    CACHED = "cached"
    BUILT = "built"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        """True for the statuses that leave a usable output behind."""
        return self in (Status.UP_TO_DATE, Status.CACHED, Status.BUILT)


class TargetResult(Struct):
    """What running one target produced."""

    target_id: str
    status: Status
    key: str | None = None
    seconds: float = 0.0
    #: the action's typed result (``lambdaforge.outputs``), for downstream targets, the
    #: recorder and the report; ``None`` when it failed or was skipped
    output: Any = None
    #: why the target was (re)built, or why it was skipped
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: what the user should know that is no problem (a runtime-provided package kept, and why)
    notes: list[str] = field(default_factory=list)
    #: the failure message and log, for FAILED
    error: str | None = None
    log: str = ""
    #: CACHED from the team's remote cache (downloaded by this build), not the local one
    remote: bool = False
    #: for a result served from a cache: how long building it took when it was built (the
    #: entry records it), i.e. the time this hit saved
    saved: float = 0.0

    def __post_init__(self) -> None:
        # Everything here is shown or reported: no credential in a URL survives into it,
        # whichever builder or installer output it was made from.
        if self.error is not None:
            self.error = redact_text(self.error)
        self.log = redact_text(self.log)
        self.warnings = [redact_text(w) for w in self.warnings]
        self.notes = [redact_text(n) for n in self.notes]
        self.reasons = [redact_text(r) for r in self.reasons]


Action = Callable[[str, Mapping[str, TargetResult], threading.Event], TargetResult]


class Graph(Protocol):
    """What the executor asks of a DAG (a ``graph.TargetGraph``; networkx's names, so a
    networkx ``DiGraph`` would do too)."""

    @property
    def nodes(self) -> Iterable[str]: ...

    def predecessors(self, node: str) -> Iterable[str]: ...

    def successors(self, node: str) -> Iterable[str]: ...

    def in_degree(self, node: str) -> int: ...

    def number_of_nodes(self) -> int: ...


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; ``results`` holds the targets that finished (their
    outputs are complete: an action writes atomically or not at all)."""

    def __init__(self, results: Mapping[str, TargetResult], total: int) -> None:
        super().__init__("interrupted")
        self.results = dict(results)
        self.total = total


class Event(Struct, frozen=True):
    """Progress notification: a target started or finished."""

    kind: str  # "started" | "finished"
    target_id: str
    result: TargetResult | None = None


def run_graph(
    graph: Graph,
    action: Action,
    *,
    jobs: int,
    on_event: Callable[[Event], None] | None = None,
    inline: Callable[[str], bool] | None = None,
) -> dict[str, TargetResult]:
    """Run every node of ``graph`` once its predecessors succeeded; return all results.

    ``action(target_id, upstream_results, cancel)`` must not raise for an ordinary
    failure: it returns a FAILED result. An exception from it is turned into one.
    Targets for which ``inline(target_id)`` is true are cheap (a kept result): they run
    in the scheduling thread as soon as they are ready, without a worker's round trip,
    which cost more than the action itself when hundreds of targets are kept.
    """
    emit = on_event or (lambda e: None)
    jobs = max(1, jobs)
    cheap = inline or (lambda tid: False)
    cancel = threading.Event()
    results: dict[str, TargetResult] = {}
    remaining = {n: graph.in_degree(n) for n in graph.nodes}
    # Deterministic start order among ready targets: the smallest id first (kept ones
    # before work for the workers), from two heaps.
    ready_inline: list[str] = []
    ready_work: list[str] = []

    def make_ready(tid: str) -> None:
        heapq.heappush(ready_inline if cheap(tid) else ready_work, tid)

    for n, d in remaining.items():
        if d == 0:
            make_ready(n)
    tasks: queue.Queue[str | None] = queue.Queue()
    done: queue.Queue[tuple[str, TargetResult]] = queue.Queue()

    def call(tid: str) -> TargetResult:
        upstream = {p: results[p] for p in graph.predecessors(tid)}
        start = time.perf_counter()
        try:
            res = action(tid, upstream, cancel)
        except Exception as exc:  # noqa: BLE001 - one target's bug must not kill the build
            import traceback

            if is_disk_full(exc):  # the user's to fix, wherever it was written from
                error = str(write_failure(exc))  # type: ignore[arg-type]
            else:
                error = f"{type(exc).__name__}: {exc}"
            res = TargetResult(tid, Status.FAILED, error=error, log=traceback.format_exc())
        if not res.seconds:
            res.seconds = time.perf_counter() - start
        return res

    def worker() -> None:
        while (tid := tasks.get()) is not None:
            if cancel.is_set():
                done.put((tid, TargetResult(tid, Status.SKIPPED, reasons=["interrupted"])))
            else:
                done.put((tid, call(tid)))

    def finish(tid: str, res: TargetResult) -> None:
        results[tid] = res
        emit(Event("finished", tid, res))
        for succ in graph.successors(tid):
            remaining[succ] -= 1
            if remaining[succ] == 0:
                make_ready(succ)

    def skip_if_upstream_failed(tid: str) -> bool:
        failed = sorted(p for p in graph.predecessors(tid) if not results[p].status.ok)
        if failed:
            finish(tid, TargetResult(tid, Status.SKIPPED,
                                     reasons=[f"{p} {results[p].status.value}" for p in failed]))
            return True
        return False

    # Workers start before any target does, so an interrupt can never land between a
    # target starting and the scheduler knowing about it.
    workers = [threading.Thread(target=worker, name=f"forge-{i}", daemon=True)
               for i in range(jobs)]
    for w in workers:
        w.start()
    in_flight = 0
    try:
        while ready_inline or ready_work or in_flight:
            while ready_inline:
                tid = heapq.heappop(ready_inline)
                if not skip_if_upstream_failed(tid):
                    emit(Event("started", tid))
                    finish(tid, call(tid))
            while ready_work and in_flight < jobs:
                tid = heapq.heappop(ready_work)
                if skip_if_upstream_failed(tid):
                    continue
                emit(Event("started", tid))
                in_flight += 1
                tasks.put(tid)
            if ready_inline:
                continue  # a skipped target made kept ones ready
            if in_flight:
                try:
                    # A bounded wait: Ctrl-C is handled within 0.1 s even where a signal
                    # does not interrupt a blocked lock.
                    tid, res = done.get(timeout=0.1)
                except queue.Empty:
                    continue
                in_flight -= 1
                finish(tid, res)
    except KeyboardInterrupt:
        # Ctrl-C: running targets see the cancel flag, clean their temp files and return;
        # queued ones are not started. Then say what finished.
        cancel.set()
        _stop(workers, tasks)
        while not done.empty():
            tid, res = done.get()
            if res.status.ok:
                results[tid] = res
        raise BuildInterrupted({t: r for t, r in results.items() if r.status.ok},
                               graph.number_of_nodes()) from None
    except BaseException:  # a bug in the scheduler: stop the workers the same way
        cancel.set()
        _stop(workers, tasks)
        raise
    _stop(workers, tasks)
    return results


def _stop(workers: list[threading.Thread], tasks: queue.Queue[str | None]) -> None:
    """End the worker threads once they finished what they are running."""
    for _ in workers:
        tasks.put(None)
    for w in workers:
        w.join()
