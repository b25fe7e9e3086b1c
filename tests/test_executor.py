"""The DAG executor on its own: order, parallelism, failures, interrupts."""

from __future__ import annotations

import threading
import time

import pytest

from lambdaforge.executor import Event, Status, TargetResult, run_graph
from lambdaforge.graph import Target, TargetGraph, TargetKind


def dag(edges: list[tuple[str, str]], nodes: tuple[str, ...] = ()) -> TargetGraph:
    ids = {*nodes, *(t for edge in edges for t in edge)}
    return TargetGraph({t: Target(t, TargetKind.FUNCTION, t, "python") for t in ids}, edges)


def diamond() -> TargetGraph:
    return dag([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("x", "y")])


def test_runs_every_target_after_its_upstream():
    seen: list[str] = []
    lock = threading.Lock()

    def action(tid, upstream, cancel):
        with lock:
            seen.append(tid)
        assert all(r.status is Status.BUILT for r in upstream.values())
        return TargetResult(tid, Status.BUILT)

    results = run_graph(diamond(), action, jobs=2)
    assert set(results) == {"a", "b", "c", "d", "x", "y"}
    assert seen.index("a") < seen.index("b") < seen.index("d")
    assert seen.index("c") < seen.index("d") and seen.index("x") < seen.index("y")


def test_a_failure_skips_only_what_depends_on_it():
    def action(tid, upstream, cancel):
        return TargetResult(tid, Status.FAILED if tid == "b" else Status.BUILT, error="boom")

    results = run_graph(diamond(), action, jobs=2)
    assert results["b"].status is Status.FAILED
    assert results["d"].status is Status.SKIPPED and results["d"].reasons == ["b failed"]
    assert {results[t].status for t in ("a", "c", "x", "y")} == {Status.BUILT}


def test_an_exception_in_an_action_is_a_failed_target_with_its_traceback():
    def action(tid, upstream, cancel):
        if tid == "x":
            raise RuntimeError("bug in a builder")
        return TargetResult(tid, Status.BUILT)

    results = run_graph(diamond(), action, jobs=1)
    assert results["x"].status is Status.FAILED
    assert results["x"].error == "RuntimeError: bug in a builder"
    assert "Traceback" in results["x"].log
    assert results["y"].status is Status.SKIPPED and results["d"].status is Status.BUILT


def test_independent_targets_run_in_parallel():
    g = dag([], nodes=("p", "q"))
    both = threading.Barrier(2, timeout=5)

    def action(tid, upstream, cancel):
        both.wait()  # deadlocks (BrokenBarrierError) unless both run at once
        return TargetResult(tid, Status.BUILT)

    results = run_graph(g, action, jobs=2)
    assert {r.status for r in results.values()} == {Status.BUILT}


def test_events_report_start_and_finish_of_each_target():
    events: list[Event] = []
    run_graph(diamond(), lambda tid, up, c: TargetResult(tid, Status.BUILT), jobs=2,
              on_event=events.append)
    assert sorted(e.target_id for e in events if e.kind == "started") == list("abcdxy")
    assert sorted(e.target_id for e in events if e.kind == "finished") == list("abcdxy")


def test_interrupt_sets_cancel_for_running_targets_and_reraises():
    import signal

    g = dag([("slow", "after")])
    saw_cancel = threading.Event()
    main = threading.main_thread().ident

    def action(tid, upstream, cancel):
        # Ctrl-C arrives while this target runs: a real SIGINT to the main thread.
        signal.pthread_kill(main, signal.SIGINT)
        if cancel.wait(timeout=5):
            saw_cancel.set()
        return TargetResult(tid, Status.FAILED, error="interrupted")

    started: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_graph(g, action, jobs=1,
                  on_event=lambda e: started.append(e.target_id) if e.kind == "started" else None)
    assert saw_cancel.is_set()  # the running target was told, and waited for
    assert started == ["slow"]  # nothing new started after the interrupt


def test_inline_targets_run_in_the_scheduling_thread_in_order_and_after_their_upstream():
    main_thread = threading.get_ident()
    ran: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def action(tid, upstream, cancel):
        with lock:
            ran.append((tid, threading.get_ident() == main_thread))
        assert all(r.status.ok for r in upstream.values())
        return TargetResult(tid, Status.FAILED if tid == "x" else Status.UP_TO_DATE)

    # a -> b -> d, a -> c -> d, x -> y: b, d and y are kept (inline)
    results = run_graph(diamond(), action, jobs=2, inline=lambda tid: tid in {"b", "d", "y"})
    where = dict(ran)
    assert where["b"] and where["d"]  # in the scheduling thread
    assert not where["a"] and not where["c"] and not where["x"]  # in a worker
    order = [t for t, _ in ran]
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")
    assert "y" not in where and results["y"].status is Status.SKIPPED  # its upstream failed
    assert results["y"].reasons == ["x failed"]
