"""Cut the network at its feature layer: what remains is the frozen extractor that runs on the device."""

from __future__ import annotations

from ..ir import Dequantize, FullyConnected, Graph, GraphError, Reshape, Softmax
from .prune import prune

_HEAD_TAIL = (Softmax, Dequantize, Reshape)


def head_input(graph: Graph) -> str:
    """The input of the classifier head: the last FULLY_CONNECTED before the output, past any trailing
    SOFTMAX / DEQUANTIZE / RESHAPE."""
    (out,) = graph.outputs if len(graph.outputs) == 1 else (None,)
    if out is None:
        raise GraphError(f"graph {graph.name}: {len(graph.outputs)} outputs; name the feature tensor")
    tensor = out
    while True:
        op = graph.producer(tensor)
        if op is None:
            raise GraphError(f"graph {graph.name}: no classifier head (FULLY_CONNECTED) before the output")
        if isinstance(op, FullyConnected):
            return op.inputs[0]
        if not isinstance(op, _HEAD_TAIL):
            raise GraphError(
                f"graph {graph.name}: the output comes from {op.kind} {op.name}, not a classifier head; "
                "name the feature tensor"
            )
        tensor = op.inputs[0]


def learner_features(graph: Graph, features_at: str | None = None) -> str | None:
    """What a learner takes: `features_at`, else the head's input, else (a network that ends without a
    classifier head, such as a random-weight extractor) its single output."""
    if features_at is not None:
        return features_at
    try:
        return head_input(graph)
    except GraphError:
        if len(graph.outputs) != 1:
            raise
        return graph.outputs[0]


def cut_at_features(graph: Graph, features_at: str | None = None) -> Graph:
    """Keep the ops that compute `features_at` (a tensor or op name; default: the head's input)."""
    if features_at is None:
        tensor = head_input(graph)
    elif features_at in graph.tensors:
        tensor = features_at
    else:
        by_op = {op.name: op.outputs[0] for op in graph.ops}
        if features_at not in by_op:
            known = ", ".join(op.name for op in graph.ops)
            raise GraphError(f"graph {graph.name}: no tensor or op named {features_at!r}; ops: {known}")
        tensor = by_op[features_at]
    return prune(graph, (tensor,))
