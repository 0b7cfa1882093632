"""Run a whole IR graph on the numpy kernels: the host reference every device output is compared with."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Reshape
from . import run
from .params import from_ir


def run_graph(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every activation tensor of the graph for input `x` (shaped like the graph input)."""
    (name,) = graph.inputs
    t = graph.tensors[name]
    values: dict[str, np.ndarray] = {name: np.asarray(x, dtype=t.dtype.numpy).reshape(t.shape)}
    for op in graph.ops:
        out = graph.tensors[op.outputs[0]]
        if isinstance(op, Reshape):
            values[out.name] = values[op.inputs[0]].reshape(out.shape)
            continue
        inputs = [values[n] for n in op.inputs if not graph.tensors[n].is_constant]
        values[out.name] = np.asarray(run(from_ir(op, graph.tensors), *inputs)).reshape(out.shape)
    return values
