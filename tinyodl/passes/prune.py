"""Remove ops and tensors that do not contribute to the graph outputs."""

from __future__ import annotations

from dataclasses import replace

from ..ir import Graph


def prune(graph: Graph, outputs: tuple[str, ...] | None = None) -> Graph:
    wanted = set(outputs if outputs is not None else graph.outputs)
    needed = set(wanted)
    kept = []
    for op in reversed(graph.ops):
        if any(o in needed for o in op.outputs):
            kept.append(op)
            needed.update(op.inputs)
    ops = tuple(reversed(kept))
    used = set(graph.inputs) | wanted | {n for op in ops for n in (*op.inputs, *op.outputs)}
    tensors = {n: t for n, t in graph.tensors.items() if n in used}
    return replace(graph, tensors=tensors, ops=ops, outputs=tuple(outputs or graph.outputs))
