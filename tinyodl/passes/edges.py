"""Strip QUANTIZE at the graph input and DEQUANTIZE at the graph output.

A model converted with float input and output (int8 inside) starts with QUANTIZE and ends with DEQUANTIZE.
On the device the extractor takes and returns int8: the host quantizes inputs with the input parameters
(exactly what QUANTIZE does) and the features stay int8 for the learner.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import Dequantize, DType, Graph, Quantize
from .prune import prune


def strip_edge_quantization(graph: Graph) -> Graph:
    inputs, outputs = list(graph.inputs), list(graph.outputs)
    for op in graph.ops:
        if isinstance(op, Quantize) and op.inputs[0] in inputs and len(graph.consumers(op.inputs[0])) == 1:
            if graph.tensors[op.outputs[0]].dtype is DType.INT8:
                inputs[inputs.index(op.inputs[0])] = op.outputs[0]
    for i, name in enumerate(outputs):
        producer = graph.producer(name)
        if isinstance(producer, Dequantize) and graph.tensors[producer.inputs[0]].dtype is DType.INT8:
            outputs[i] = producer.inputs[0]
    if inputs == list(graph.inputs) and outputs == list(graph.outputs):
        return graph
    ops = tuple(op for op in graph.ops if not (isinstance(op, Quantize) and op.outputs[0] in inputs))
    stripped = replace(graph, ops=ops, inputs=tuple(inputs))
    return prune(stripped, tuple(outputs))
