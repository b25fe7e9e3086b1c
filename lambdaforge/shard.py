"""``forge build --shard I/N``: which functions and layers one of N CI runners builds.

The units are the selected function and layer targets. Shard ``I`` builds its units and
everything they need: a shared install or a layer used by functions of several shards is
built by each of those shards. That costs some duplicated work but needs no coordination
between runners that start at the same moment (an install "owned" by another shard would
mean waiting for it); the duplicate results are byte-identical and the remote cache's
conditional writes make the second upload a no-op. A final ``forge build`` (no ``--shard``)
then finds every target in the remote cache and only assembles the zips and the manifest.

The partition is *consistent hashing with bounded loads* (rendezvous hashing, Mirrokni,
Thorup and Zadimoghaddam 2018):

- each unit ranks the shards by ``sha256(unit id, shard number)``; it goes to the first
  shard in its ranking whose load stays under ``(1 + SLACK) × total / N`` (the least
  loaded one when none does), units taken heaviest first, ties by id;
- **stable**: the same selection and weights give the same partition on every runner;
  adding or removing one function moves that function and, only where a shard was at its
  bound, a few others (a sorted-list split or plain LPT would shift everything after the
  insertion point); jittering build times rarely change a unit's first choice;
- **balanced**: no shard gets more than the bound plus one unit; weights are the targets'
  recorded build times (``lambdaforge.timings``: the unit's package, its check and its
  share of its install), or 1 each when no time is recorded (a fresh runner).

All runners must see the same recorded times for their partitions to agree: none (fresh
runners: by target count) or the same restored ``.forge/state``. If they do not, a unit may
be built by two shards or by none; the final build still builds what no shard did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from msgspec import Struct

#: a shard's load may exceed the average by this fraction before units spill to the next
#: shard in their ranking
SLACK = 0.05


class Shard(Struct, frozen=True):
    """Part ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


#: the most shards a build is split into: a CI matrix holds at most 256 jobs (GitHub
#: Actions' limit), and ``partition`` ranks every shard for every unit
MAX_SHARDS = 256


def parse_shard(text: str) -> Shard:
    """``"2/4"`` → ``Shard(2, 4)``; ``ValueError`` with what is wrong otherwise."""
    head, sep, tail = text.strip().partition("/")
    try:
        index, count = int(head), int(tail)
    except ValueError:
        index = count = 0
    if not sep or count < 1:
        raise ValueError(f"expected I/N with whole numbers, 1 <= I <= N (e.g. 2/4), not {text!r}")
    if not 1 <= index <= count:
        raise ValueError(f"expected I/N with 1 <= I <= N (shards are numbered from 1), "
                         f"not {text!r}")
    if count > MAX_SHARDS:
        raise ValueError(f"expected at most {MAX_SHARDS} shards (a CI matrix's most jobs), "
                         f"not {count} in {text!r}")
    return Shard(index, count)


def partition(weights: Mapping[str, float], count: int) -> dict[str, int]:
    """Unit id → shard number (1-based) for ``count`` shards; see the module docstring."""
    total = sum(weights.values())
    bound = (1 + SLACK) * total / count if count else 0.0
    loads = [0.0] * count
    out: dict[str, int] = {}
    for unit in sorted(weights, key=lambda u: (-weights[u], u)):
        w = weights[unit]
        ranking = sorted(range(count), key=lambda s: _score(unit, s), reverse=True)
        chosen = next((s for s in ranking if loads[s] + w <= bound), None)
        if chosen is None:
            chosen = min(range(count), key=lambda s: (loads[s], ranking.index(s)))
        loads[chosen] += w
        out[unit] = chosen + 1
    return out


def _score(unit: str, shard: int) -> bytes:
    return hashlib.sha256(f"{unit}\0{shard}".encode()).digest()


def unit_weights(units: Mapping[str, Sequence[tuple[str, float]]],
                 timings: Mapping[str, float]) -> tuple[dict[str, float], bool]:
    """Each unit's weight from the recorded build times of the targets it stands for (unit
    id → ``(target id, fraction)`` pairs: its package and check whole, a shared install
    divided among the consumers selected), and whether recorded times were used.

    With no time recorded for any of them every unit weighs 1 (balance by count); a target
    without a time takes the mean of those that have one."""
    known = {tid: timings[tid] for pairs in units.values() for tid, _ in pairs if tid in timings}
    if not known:
        return {u: 1.0 for u in units}, False
    mean = sum(known.values()) / len(known)
    weights = {unit: max(sum(timings.get(tid, mean) * share for tid, share in pairs), 1e-3)
               for unit, pairs in units.items()}
    return weights, True
