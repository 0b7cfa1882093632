"""Fold shape arithmetic to constants.

A model exported with a dynamic batch computes the target shape of its Flatten/Reshape at run time:
SHAPE of an activation, STRIDED_SLICE of that, PACK with the constant feature count, and so on. With the
batch fixed to 1 (the converter already wrote every static shape with batch 1) all of it is known at
import: each ShapeArith op whose operands are constants (SHAPE: whose operand has a static shape) is
evaluated here with numpy and its output becomes a constant tensor; ops left without a consumer go. A
ShapeArith op that does not fold (e.g. a CONCATENATION of activations) is an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set

import numpy as np

from ..ir import (
    Add,
    Dequantize,
    DType,
    FullyConnected,
    GraphError,
    Op,
    Quantize,
    Relu,
    Reshape,
    ShapeArith,
    Softmax,
    Tensor,
)


class FoldError(GraphError):
    """A shape-arithmetic op that cannot be evaluated at import."""


def _strided_slice(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
    x, begin, end, strides = args
    if op.option("ellipsis_mask") or op.option("new_axis_mask") or op.option("offset"):
        raise FoldError(f"{op.function} {op.name}: ellipsis, new-axis and offset masks are not folded")
    index: list[int | slice] = []
    for axis in range(len(begin)):
        bit = 1 << axis
        if op.option("shrink_axis_mask") & bit:
            index.append(int(begin[axis]))
            continue
        lo = None if op.option("begin_mask") & bit else int(begin[axis])
        hi = None if op.option("end_mask") & bit else int(end[axis])
        index.append(slice(lo, hi, int(strides[axis])))
    return np.asarray(x[tuple(index)])


def _gather(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
    if op.option("batch_dims"):
        raise FoldError(f"{op.function} {op.name}: batch_dims is not folded")
    return np.take(args[0], args[1], axis=op.option("axis"))


def _slice(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
    x, begin, size = args
    index = tuple(slice(int(b), None if s < 0 else int(b) + int(s)) for b, s in zip(begin, size, strict=True))
    return np.asarray(x[index])


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[ShapeArith, list[np.ndarray]], np.ndarray]:
    def apply(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
        if op.option("fused_activation"):
            raise FoldError(f"{op.function} {op.name}: a fused activation on shape arithmetic is not folded")
        return fn(args[0], args[1])

    return apply


def _concatenation(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
    if op.option("fused_activation"):
        raise FoldError(f"{op.function} {op.name}: a fused activation on shape arithmetic is not folded")
    return np.concatenate([np.atleast_1d(a) for a in args], axis=op.option("axis"))


def _reduce_prod(op: ShapeArith, args: list[np.ndarray]) -> np.ndarray:
    axes = tuple(int(a) for a in np.atleast_1d(args[1]))
    return np.prod(args[0], axis=axes, keepdims=bool(op.option("keep_dims")))


_EVAL: dict[str, Callable[[ShapeArith, list[np.ndarray]], np.ndarray]] = {
    "STRIDED_SLICE": _strided_slice,
    "PACK": lambda op, args: np.stack(args, axis=op.option("axis")),
    "CONCATENATION": _concatenation,
    "GATHER": _gather,
    "SLICE": _slice,
    "REDUCE_PROD": _reduce_prod,
    "ADD": _binary(np.add),
    "SUB": _binary(np.subtract),
    "MUL": _binary(np.multiply),
    "FLOOR_DIV": _binary(np.floor_divide),
    "CAST": lambda op, args: args[0],
}

FOLDABLE = ("SHAPE", *sorted(_EVAL))


def _evaluate(op: ShapeArith, tensors: dict[str, Tensor]) -> np.ndarray | None:
    if op.function == "SHAPE":
        return np.array(tensors[op.inputs[0]].shape, np.int32)
    args = [tensors[n].data for n in op.inputs]
    if any(a is None for a in args) or op.function not in _EVAL:
        return None
    return _EVAL[op.function](op, [np.asarray(a) for a in args if a is not None])


def _inferred_shape(op: Op, tensors: dict[str, Tensor]) -> tuple[int, ...] | None:
    """The output shape of an op whose output the file leaves unknown beyond the batch, from its inputs."""
    x = tensors[op.inputs[0]]
    if isinstance(op, Reshape) and len(op.inputs) == 2:
        target = tensors[op.inputs[1]].data
        if target is None:
            return None
        dims = [int(d) for d in np.asarray(target).reshape(-1)]
        if dims.count(-1) == 1:
            known = int(np.prod([d for d in dims if d != -1]))
            dims[dims.index(-1)] = x.size // known if known else 0
        return tuple(dims) if int(np.prod(dims)) == x.size else None
    if isinstance(op, FullyConnected):
        w = tensors[op.inputs[1]]
        return (x.size // w.shape[1], w.shape[0]) if x.size % w.shape[1] == 0 else None
    if isinstance(op, Relu | Quantize | Dequantize | Softmax | Add):
        return x.shape
    return None


def fold_shapes(
    tensors: dict[str, Tensor], ops: Sequence[Op], dynamic: Set[str] = frozenset(), open_: Set[str] = frozenset()
) -> list[Op]:
    """The import's shape pass, before the graph is built: in op order, each ShapeArith op is evaluated and
    its output becomes a constant in `tensors` (it is dropped from the ops returned), and each tensor of a
    dynamic shape (`dynamic`: an open dimension in the file's shape signature) that a RESHAPE, a
    FULLY_CONNECTED or an element-wise op writes gets the shape that op computes from its inputs: a Dense
    applied to a sequence, say, reshapes the rows into the batch, which the file's static shape (every open
    dimension written as 1) does not show. A tensor open beyond the batch (`open_`) whose shape cannot be
    worked out is an error, as is what cannot be evaluated. Raises FoldError."""
    kept: list[Op] = []
    for op in ops:
        if not isinstance(op, ShapeArith):
            out = op.outputs[0]
            shape = _inferred_shape(op, tensors) if out in dynamic else None
            if shape is not None and all(d >= 1 for d in shape):
                t = tensors[out]
                tensors[out] = Tensor(t.name, shape, t.dtype, t.quant, t.data)
            elif out in open_:
                raise FoldError(f"{op.kind} {op.name}: the shape of {out} is left open by the file and cannot be "
                                "worked out; export the model with a fixed input shape")  # fmt: skip
            kept.append(op)
            continue
        value = _evaluate(op, tensors)
        if value is None and tensors[op.outputs[0]].dtype is not DType.INT32:
            raise FoldError(
                f"{op.function} {op.name} of activations is not supported (only integer shape arithmetic on "
                f"constants is, folded at import: {', '.join(FOLDABLE)})"
            )
        if value is None:
            why = "its operands are not constants" if op.function in FOLDABLE else "it is not shape arithmetic"
            raise FoldError(
                f"{op.function} {op.name} does not fold to a constant ({why}); shape arithmetic that folds: "
                f"{', '.join(FOLDABLE)}"
            )
        out_t = tensors[op.outputs[0]]
        value = np.asarray(value).astype(out_t.dtype.numpy)
        tensors[out_t.name] = Tensor(out_t.name, tuple(int(d) for d in value.shape), out_t.dtype, out_t.quant, value)
    return kept
