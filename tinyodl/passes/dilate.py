"""Dilated convolutions back in one piece.

TFLite's converter lowers a Keras convolution with `dilation_rate` (when the batch is not fixed) to
SPACE_TO_BATCH_ND (the input padded, then split into block-size phases stacked along the batch), an
undilated VALID convolution over those phases (for Conv1D between EXPAND_DIMS and a RESHAPE), and
BATCH_TO_SPACE_ND (the phases interleaved back, the extra padding cropped). That is exactly one convolution
with dilation = block over the padded input: the pattern becomes one CONV_2D / DEPTHWISE_CONV_2D with that
dilation and SAME or VALID padding, whichever the paddings and crops describe (int8: SPACE_TO_BATCH_ND pads
with the input's zero point, as a SAME convolution does). The bias and activation Keras adds afterwards stay
the ops they are (a per-channel ADD, a RELU), which the kernels run as TFLite does. A pattern that is not
such a convolution stays, and the lowering names it.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import BatchToSpace, Conv2D, DepthwiseConv2D, Graph, Op, Padding, Reshape, SpaceToBatch, Tensor
from ..ir.ops import pad_before
from .prune import prune


def _only_reader(graph: Graph, tensor: str) -> Op | None:
    if tensor in graph.outputs:
        return None
    readers = graph.consumers(tensor)
    return readers[0] if len(readers) == 1 else None


def _chain(graph: Graph, s2b: SpaceToBatch) -> tuple[list[Op], Conv2D | DepthwiseConv2D, BatchToSpace] | None:
    """SPACE_TO_BATCH_ND -> [RESHAPE] -> convolution -> [RESHAPE] -> BATCH_TO_SPACE_ND, each the only
    reader of the one before."""
    ops: list[Op] = [s2b]
    op = _only_reader(graph, s2b.outputs[0])
    if isinstance(op, Reshape):
        ops.append(op)
        op = _only_reader(graph, op.outputs[0])
    if not isinstance(op, Conv2D | DepthwiseConv2D):
        return None
    conv = op
    ops.append(conv)
    op = _only_reader(graph, conv.outputs[0])
    if isinstance(op, Reshape):
        ops.append(op)
        op = _only_reader(graph, op.outputs[0])
    if not isinstance(op, BatchToSpace) or op.block != s2b.block:
        return None
    ops.append(op)
    return ops, conv, op


def _padding(size: int, out: int, k: int, dilation: int, before: int, crop: tuple[int, int]) -> set[Padding]:
    """The paddings of a dilated convolution that give this output from this input with this padding."""
    found: set[Padding] = set()
    if crop[0] != 0:
        return found
    if out == size and before == pad_before(size, k, 1, dilation, Padding.SAME):
        found.add(Padding.SAME)
    if before == 0 and out == size - (k - 1) * dilation:
        found.add(Padding.VALID)
    return found


def _rewrite(graph: Graph, s2b: SpaceToBatch, tensors: dict[str, Tensor]) -> tuple[list[Op], list[Op]] | None:
    """(ops replaced, ops replacing them) for one pattern, or None."""
    found = _chain(graph, s2b)
    if found is None:
        return None
    old, conv, b2s = found
    x, y = graph.tensors[s2b.inputs[0]], graph.tensors[b2s.outputs[0]]
    spatial = len(s2b.block)
    if spatial != len(x.shape) - 2 or spatial not in (1, 2) or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.padding is not Padding.VALID:
        return None
    for a, b in ((s2b.inputs[0], s2b.outputs[0]), (b2s.inputs[0], b2s.outputs[0])):
        ta, tb = graph.tensors[a], graph.tensors[b]
        if ta.dtype is not tb.dtype or ta.quant != tb.quant:
            return None  # int8: the padding value and the output must keep the quantization
    w = graph.tensors[conv.inputs[1]]
    kernel = (w.shape[1], w.shape[2])
    # the 4-D axes (H, W) the spatial axes are: a Conv1D's one axis is W (EXPAND_DIMS put H = 1 before it)
    axes = (1,) if spatial == 1 else (0, 1)
    if spatial == 1 and (kernel[0] != 1 or graph.tensors[conv.inputs[0]].shape[1] != 1):
        return None
    dilation = [1, 1]
    modes = {Padding.SAME, Padding.VALID}
    for d, axis in enumerate(axes):
        dilation[axis] = s2b.block[d]
        modes &= _padding(x.shape[1 + d], y.shape[1 + d], kernel[axis], s2b.block[d], s2b.paddings[d][0], b2s.crops[d])
    if not modes:
        return None
    padding = Padding.SAME if Padding.SAME in modes else Padding.VALID
    new: list[Op] = []
    x4, y4 = x.name, y.name
    if spatial == 1:  # [1, W, C] <-> [1, 1, W, C] around the 2-D convolution
        x4, y4 = f"{conv.name}/dilated_input", f"{conv.name}/dilated_output"
        tensors[x4] = Tensor(x4, (1, 1, *x.shape[1:]), x.dtype, x.quant)
        tensors[y4] = Tensor(y4, (1, 1, *y.shape[1:]), y.dtype, y.quant)
        new.append(Reshape(name=f"{conv.name}/expand", inputs=(x.name,), outputs=(x4,)))
    new.append(replace(conv, inputs=(x4, *conv.inputs[1:]), outputs=(y4,), dilation=(dilation[0], dilation[1]),
                       padding=padding))  # fmt: skip
    if spatial == 1:
        new.append(Reshape(name=f"{conv.name}/squeeze", inputs=(y4,), outputs=(y.name,)))
    return old, new


def fold_dilation(graph: Graph) -> Graph:
    if not any(isinstance(op, SpaceToBatch) for op in graph.ops):
        return graph
    tensors = dict(graph.tensors)
    replaced: dict[int, list[Op]] = {}  # index of the BATCH_TO_SPACE_ND -> the ops that take its place
    gone: set[int] = set()
    for op in graph.ops:
        if isinstance(op, SpaceToBatch):
            found = _rewrite(graph, op, tensors)
            if found is not None:
                old, new = found
                gone.update(graph.ops.index(o) for o in old)
                replaced[graph.ops.index(old[-1])] = new
    if not replaced:
        return graph
    ops: list[Op] = []
    for i, op in enumerate(graph.ops):
        if i in replaced:
            ops.extend(replaced[i])
        elif i not in gone:
            ops.append(op)
    return prune(replace(graph, tensors=tensors, ops=tuple(ops)))
