"""Fuse a convolution with the pooling that follows it.

The pooled tensor is produced directly, band by band (firmware/kernels/tl_conv_pool.h): the convolution's
full-resolution output never exists, only one band of it in the kernel's working memory. A CONV_2D fuses
with a MAX_POOL_2D / AVERAGE_POOL_2D when the pool is the only reader of the convolution's output (through
reshapes that keep its 4-D shape, as a Conv1D's squeeze and the pooling's expand do), the batch is 1, and
along the band axis (rows; columns when the output is one row) the pooling windows tile the output
exactly: window = stride, no padding before. Bands of columns (a one-row output) need a one-row input.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import AvgPool2D, Conv2D, ConvPool, Graph, MaxPool2D, Op, Padding, Reshape
from ..ir.ops import pad_before
from .prune import prune


def band_axis(conv_out: tuple[int, ...]) -> int:
    """The axis a fused layer is computed in bands along: rows, or columns for a one-row (1-D) output."""
    return 1 if conv_out[1] > 1 else 2


def _tiles(pool: MaxPool2D | AvgPool2D, shape: tuple[int, ...], axis: int) -> bool:
    size, k, s = shape[axis], pool.filter[axis - 1], pool.stride[axis - 1]
    if k != s or pad_before(size, k, s, 1, pool.padding) != 0:
        return False
    out = size // s if pool.padding is Padding.VALID else -(-size // s)
    return out * s <= size


def _follow(graph: Graph, tensor: str) -> tuple[MaxPool2D | AvgPool2D | None, list[Op]]:
    """The pooling that is the only reader of `tensor`, through reshapes (returned too) back to its shape."""
    shape = graph.tensors[tensor].shape
    chain: list[Op] = []
    while tensor not in graph.outputs:
        readers = graph.consumers(tensor)
        if len(readers) != 1:
            break
        (op,) = readers
        if isinstance(op, MaxPool2D | AvgPool2D):
            return (op if graph.tensors[op.inputs[0]].shape == shape else None), chain
        if not isinstance(op, Reshape):
            break
        chain.append(op)
        tensor = op.outputs[0]
    return None, chain


def fuse_conv_pool(graph: Graph) -> Graph:
    ops: list[Op | None] = list(graph.ops)
    fused_any = False
    for op in graph.ops:
        if not isinstance(op, Conv2D):
            continue
        mid = graph.tensors[op.outputs[0]]
        pool, chain = _follow(graph, mid.name)
        axis = band_axis(mid.shape)
        if pool is None or mid.shape[0] != 1 or not _tiles(pool, mid.shape, axis):
            continue
        if axis == 2 and graph.tensors[op.inputs[0]].shape[1] != 1:  # bands of columns: one input row
            continue
        j = graph.ops.index(pool)
        ops[j] = ConvPool(
            name=f"{op.name}+{pool.name}",
            inputs=op.inputs,
            outputs=pool.outputs,
            conv=op,
            pool=replace(pool, inputs=(mid.name,)),
            mid=mid,
        )
        for gone in (op, *chain):
            ops[graph.ops.index(gone)] = None
        fused_any = True
    if not fused_any:
        return graph
    # the fused op runs where the pool ran: every input of the convolution is ready by then
    kept = tuple(op for op in ops if op is not None)
    return prune(replace(graph, ops=kept))
