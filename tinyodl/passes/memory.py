"""Memory planning: one arena for every activation tensor, reused as lifetimes end.

- Reshapes cost nothing: the output aliases the input (NHWC data is the same bytes in any shape).
- Each tensor lives from the op that writes it to the last op that reads it (graph inputs from the
  start, graph outputs to the end).
- Offsets are assigned greedily, largest tensors first, at the lowest offset that does not overlap a
  tensor alive at the same time (aligned to 8 bytes).
- A kernel's working memory (`scratch`: op index -> bytes, e.g. an im2col buffer) is a block alive only
  during that op's call, placed like a tensor.
- An op whose kernel can write its output over its input (`in_place`: op index -> input tensor; the
  lowering decides from the kernel's loop order) shares that input's bytes when the input is read by no
  later op and is not a graph input: element-wise ops, pooling without padding before.
`check_plan` replays a plan op by op and fails if any write lands on bytes a live tensor still needs.
The peak (the arena size) is what the firmware allocates; `naive_bytes` is the sum of all activations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph, Reshape

ALIGN = 8


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[str, int]  # arena offset of every activation tensor (aliases share their root's)
    sizes: dict[str, int]
    alias_of: dict[str, str]  # tensor -> the tensor whose bytes it reuses
    arena_bytes: int
    naive_bytes: int
    lifetimes: dict[str, tuple[int, int]]
    scratch: dict[int, int] = field(default_factory=dict)  # op index -> arena offset of its working memory
    scratch_bytes: dict[int, int] = field(default_factory=dict)  # op index -> bytes of its working memory
    in_place: dict[int, str] = field(default_factory=dict)  # op index -> the input its output overwrites

    def offset(self, tensor: str) -> int:
        return self.offsets[tensor]


def _root(alias_of: dict[str, str], name: str) -> str:
    while name in alias_of:
        name = alias_of[name]
    return name


def _last_reads(graph: Graph, alias_of: dict[str, str]) -> dict[str, int]:
    last: dict[str, int] = {}
    for i, op in enumerate(graph.ops):
        for n in op.inputs:
            last[_root(alias_of, n)] = i
    for n in graph.outputs:
        last[_root(alias_of, n)] = len(graph.ops)
    return last


def plan_memory(
    graph: Graph, scratch: dict[int, int] | None = None, in_place: dict[int, tuple[str, ...]] | None = None
) -> MemoryPlan:
    alias_of: dict[str, str] = {}
    for op in graph.ops:
        if isinstance(op, Reshape):
            alias_of[op.outputs[0]] = op.inputs[0]
    granted: dict[int, str] = {}
    if in_place:
        reads = _last_reads(graph, alias_of)
        pinned = {_root(alias_of, n) for n in graph.inputs}
        for index, names in sorted(in_place.items()):
            op = graph.ops[index]
            out = graph.tensors[op.outputs[0]]
            for name in names:
                root = _root(alias_of, name)
                if name not in op.inputs or root in pinned or reads.get(root) != index:
                    continue
                if out.nbytes > graph.tensors[root].nbytes or op.inputs.count(name) > 1:
                    continue
                alias_of[op.outputs[0]] = root
                granted[index] = name
                break
            if index in granted:
                reads = _last_reads(graph, alias_of)
    activations = [n for n, t in graph.tensors.items() if not t.is_constant]
    sizes = {n: graph.tensors[n].nbytes for n in activations}
    end = len(graph.ops)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for n in graph.inputs:
        first[_root(alias_of, n)] = -1
    for i, op in enumerate(graph.ops):
        for n in op.outputs:
            first.setdefault(_root(alias_of, n), i)
        for n in (*op.inputs, *op.outputs):
            if n in sizes:
                r = _root(alias_of, n)
                last[r] = max(last.get(r, i), i)
    for n in graph.outputs:
        last[_root(alias_of, n)] = end
    roots = sorted({_root(alias_of, n) for n in activations})
    span = {r: (first.get(r, -1), last.get(r, first.get(r, -1))) for r in roots}
    naive = sum(sizes[r] for r in roots)
    scratch_names: dict[int, str] = {}
    for index, nbytes in sorted((scratch or {}).items()):
        name = f"<scratch of op {index}>"  # not a tensor name: those never contain "<"
        scratch_names[index] = name
        sizes[name] = nbytes
        span[name] = (index, index)
        roots.append(name)
    orders = [
        sorted(roots, key=lambda r: (-sizes[r], span[r][0])),  # largest first
        sorted(roots, key=lambda r: (span[r][0], -sizes[r])),  # in order of creation
        sorted(roots, key=lambda r: (-(sizes[r] * (span[r][1] - span[r][0] + 1)), span[r][0])),  # size x lifetime
        sorted(roots, key=lambda r: (-span[r][1], -sizes[r])),  # longest-living last readers first
    ]
    best: tuple[int, dict[str, int]] | None = None
    for order in orders:
        arena, placement = _place(order, sizes, span)
        if best is None or arena < best[0]:
            best = (arena, placement)
    arena, offsets = best if best is not None else (0, {})
    scratch_offsets = {index: offsets.pop(name) for index, name in scratch_names.items()}
    for name in scratch_names.values():
        del sizes[name], span[name]
    for n in activations:
        offsets[n] = offsets[_root(alias_of, n)]
    return MemoryPlan(offsets, sizes, alias_of, arena, naive, span, scratch_offsets, dict(scratch or {}), granted)


def _place(order: list[str], sizes: dict[str, int], span: dict[str, tuple[int, int]]) -> tuple[int, dict[str, int]]:
    """First fit: each tensor at the lowest aligned offset clear of every placed tensor alive with it."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    offsets: dict[str, int] = {}
    for r in order:
        lo, hi = span[r]
        size = -(-sizes[r] // ALIGN) * ALIGN
        offset = 0
        for o, s, f, lst in sorted(placed):
            alive_together = not (hi < f or lst < lo)
            if alive_together and offset + size > o and o + s > offset:
                offset = -(-(o + s) // ALIGN) * ALIGN
        placed.append((offset, size, lo, hi))
        offsets[r] = offset
    return max((o + s for o, s, _, _ in placed), default=0), offsets


class PlanError(AssertionError):
    """A memory plan that lets an op overwrite bytes a live tensor still needs (a planner bug)."""


def check_plan(graph: Graph, plan: MemoryPlan) -> None:
    """Replay the schedule on an arena of byte owners: every write (an op's output, its working memory)
    may only land on free bytes, bytes of tensors no op reads any more, or, for an op granted in-place,
    its own input; every input an op reads must still be owned by that input. Raises PlanError."""
    owner: list[str | None] = [None] * max(plan.arena_bytes, 1)
    reads = _last_reads(graph, plan.alias_of)
    roots = {n: _root(plan.alias_of, n) for n in plan.offsets}

    def span(name: str) -> range:
        return range(plan.offsets[name], plan.offsets[name] + graph.tensors[name].nbytes)

    def write(index: int, what: str, where: range, allowed: set[str]) -> None:
        if where.stop > plan.arena_bytes:
            raise PlanError(f"{what} ends at {where.stop}, past the arena of {plan.arena_bytes} B")
        for b in where:
            held = owner[b]
            if held is not None and held not in allowed and reads.get(held, -1) >= index:
                raise PlanError(f"op {index} ({graph.ops[index].name}): {what} overwrites byte {b} of {held}, "
                                f"read until op {reads[held]}")  # fmt: skip
            owner[b] = what

    for n in graph.inputs:
        write(-1, roots[n], span(n), set())
    for index, op in enumerate(graph.ops):
        for n in op.inputs:
            if n in plan.offsets and any(owner[b] != roots[n] for b in span(n)):
                raise PlanError(f"op {index} ({op.name}) reads {n}, but its bytes were overwritten")
        if isinstance(op, Reshape):
            continue
        if index in plan.scratch:
            where = range(plan.scratch[index], plan.scratch[index] + plan.scratch_bytes[index])
            reads[f"<scratch of op {index}>"] = index  # nothing of the op may land on it, not even its output
            write(index, f"<scratch of op {index}>", where, set())
        out = op.outputs[0]
        allowed = {_root(plan.alias_of, plan.in_place[index])} if index in plan.in_place else set()
        write(index, roots[out], span(out), allowed)
