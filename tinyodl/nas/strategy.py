"""The Occam's-razor search (seed 004): add resources only while the score improves.

    k = 1
    loop over k (outer):
        c = 0
        loop over c (inner): evaluate (k, c); stop at the first candidate that is infeasible, scores no better
            than the best (k, c') so far, or when no cell can be added (nothing left to pool)
        the best (k, c) of this k; if there is none ((k, 0) infeasible) or it scores no better than the best
            of k - 1, stop
        k = k + 1
    return the best candidate seen on the way

The search only ever reads results in that order, so evaluating some candidates ahead of time cannot change
what it finds: `width` candidates are kept in flight, the next ones the search could ask for (c + 1, c + 2,
..., then (k + 1, 0), (k + 1, 1) ...). A result asked for that was computed ahead is taken as it is; one that
was never needed stays in the history, marked as not visited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .space import Candidate


class Backend(Protocol):
    """Evaluates candidates; `submit` may start work ahead, `result` blocks until the candidate is done."""

    width: int

    def submit(self, cand: Candidate) -> None: ...

    def result(self, cand: Candidate) -> dict[str, Any]: ...


@dataclass
class Verdict:
    feasible: bool
    reason: str = ""  # why not feasible


@dataclass
class Outcome:
    best: Candidate | None
    visited: list[Candidate] = field(default_factory=list)
    stop: str = ""  # why the search stopped
    stop_reasons: dict[Candidate, str] = field(default_factory=dict)  # why each inner loop ended


def _ahead(cand: Candidate, max_c: int, max_k: int) -> Iterator[Candidate]:
    """The candidates the search may ask for after `cand`, nearest first."""
    k, c = cand.k, cand.c + 1
    while k <= max_k:
        while c <= max_c:
            yield Candidate(k, c)
            c += 1
        k, c = k + 1, 0


def occam_search(
    backend: Backend,
    judge: Callable[[dict[str, Any]], Verdict],
    max_c: int,
    max_k: int = 64,
    visit: Callable[[Candidate, dict[str, Any], Verdict], None] | None = None,
) -> Outcome:
    """Run the search; `judge` says whether a result is feasible (budgets), `visit` sees every visited result.
    A result's score is its 'score' (higher is better)."""
    out = Outcome(best=None)
    best_score: float | None = None

    def look(cand: Candidate) -> tuple[dict[str, Any], Verdict]:
        backend.submit(cand)
        for n, nxt in enumerate(_ahead(cand, max_c, max_k)):
            if n >= backend.width - 1:
                break
            backend.submit(nxt)
        result = backend.result(cand)
        verdict = judge(result)
        out.visited.append(cand)
        if visit is not None:
            visit(cand, result, verdict)
        return result, verdict

    k = 1
    while k <= max_k:
        k_best: Candidate | None = None
        k_score: float | None = None
        c = 0
        while True:
            cand = Candidate(k, c)
            result, verdict = look(cand)
            if not verdict.feasible:
                out.stop_reasons[cand] = f"infeasible: {verdict.reason}"
                break
            score = float(result["score"])
            if k_score is not None and score <= k_score:
                out.stop_reasons[cand] = "no better than one cell fewer"
                break
            k_best, k_score = cand, score
            if c >= max_c:
                out.stop_reasons[cand] = "no cell can be added: nothing left to pool"
                break
            c += 1
        if k_best is None or k_score is None:
            out.stop = f"({k}, 0) is infeasible"
            return out
        if best_score is not None and k_score <= best_score:
            out.stop = f"the best of k={k} is no better than the best of k={k - 1}"
            return out
        out.best, best_score = k_best, k_score
        k += 1
    out.stop = f"k reached its limit {max_k}"
    return out
