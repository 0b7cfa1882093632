"""Comparing a model's outputs between the device and the interpreters, and the two interpreters with each
other: where they differ (which layer first, how many elements, by how much) and, where it is understood,
why.

The one difference understood so far: LiteRT's reference FULLY_CONNECTED (the kernel its REFERENCE op
resolver runs, since 2025) requantizes the int32 accumulator in double-precision floating point,
`round(acc * s_in * s_w / s_out)`, once. tflite-micro, CMSIS-NN and this project's kernels use the
fixed-point multiplier and shift of TFLite's int8 scheme with two roundings (`MultiplyByQuantizedMultiplier`).
The two give results 1 apart where the exact value lies close to a rounding tie, and the layers after carry
and grow the difference. `explain_fully_connected` recomputes a layer both ways and states the reason only
when each interpreter's output is reproduced exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .ir import DType, FullyConnected, Graph

FC_FLOAT_REQUANTIZATION = (
    "LiteRT's reference FULLY_CONNECTED requantizes the int32 accumulator in double-precision floating point, "
    "round(acc x s_in x s_w / s_out), where tflite-micro uses the fixed-point multiplier with "
    "two roundings (MultiplyByQuantizedMultiplier); the two differ by 1 near rounding ties, and the layers after "
    "carry the difference (both interpreters' outputs of this layer recomputed exactly)"
)
FC_FLOAT_REQUANTIZATION_SHORT = "LiteRT requantizes FULLY_CONNECTED in floating point, tflite-micro in fixed point"


@dataclass(frozen=True)
class Tolerance:
    """float32 values agree within rtol/atol; integers must be equal."""

    rtol: float
    atol: float

    def differing(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise: True where `a` and `b` disagree."""
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            return ~np.isclose(a64, b64, rtol=self.rtol, atol=self.atol, equal_nan=False)
        return np.asarray(a != b)


def difference(got: np.ndarray, want: np.ndarray, tol: Tolerance) -> dict[str, Any] | None:
    """None when every window agrees; otherwise how many windows and elements differ and by how much.
    Both are [windows, ...] of the same size."""
    got = np.asarray(got).reshape(len(got), -1)
    want = np.asarray(want).reshape(got.shape)
    bad = tol.differing(got, want)
    if not bad.any():
        return None
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))[bad]
    biggest = float(diff.max())
    return {
        "windows": [int(w) for w in np.flatnonzero(bad.any(axis=1))],
        "elements_differing": int(bad.sum()),
        "elements": int(bad.size),
        "max_abs_difference": int(biggest) if got.dtype.kind in "iu" and want.dtype.kind in "iu" else biggest,
    }


def locate(
    layers: list[tuple[str, str, str]], a: dict[str, np.ndarray], b: dict[str, np.ndarray], output: str, tol: Tolerance
) -> dict[str, Any] | None:
    """Where two interpreters' runs (tensor -> [windows, ...]) disagree: the first layer (name, kind, output
    tensor) whose output differs in any window, and the difference at the model's output. None when they
    agree at the output and at every layer both could read."""
    first = None
    for name, kind, tensor in layers:
        if tensor in a and tensor in b:
            found = difference(a[tensor], b[tensor], tol)
            if found is not None:
                first = {"layer": name, "kind": kind, "tensor": tensor, **found}
                break
    at_output = difference(a[output], b[output], tol) if output in a and output in b else None
    if first is None and at_output is None:
        return None
    return {"first_layer": first, "output": {"tensor": output, **at_output} if at_output else None}


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round() on doubles, exactly (no `+ 0.5` that could itself round)."""
    mag = np.abs(v)
    whole = np.floor(mag)
    return np.sign(v) * (whole + ((mag - whole) >= 0.5))


def explain_fully_connected(
    graph: Graph, tensor: str, x: np.ndarray, litert: np.ndarray, tflm: np.ndarray
) -> str | None:
    """The reason LiteRT and tflite-micro disagree at the int8 FULLY_CONNECTED writing `tensor`, when both
    outputs ([windows, ...]) are reproduced from the layer's input `x` ([windows, ...], the same in both
    interpreters): LiteRT's by requantizing in floating point, tflite-micro's in fixed point. None otherwise."""
    from .reference import quant as q
    from .reference.params import FullyConnectedS8Params

    ops = [op for op in graph.ops if isinstance(op, FullyConnected) and op.outputs[0] == tensor]
    if len(ops) != 1 or graph.tensors[tensor].dtype is not DType.INT8:
        return None
    op = ops[0]
    p = FullyConnectedS8Params.from_ir(op, graph.tensors)
    in_q, w_q, out_q = (graph.tensors[n].quant for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if in_q is None or w_q is None or out_q is None:
        return None
    rows = np.asarray(x).reshape(len(x) * p.batches, p.in_features).astype(np.int64)
    acc = (rows - p.input_zero_point) @ p.weights.astype(np.int64).T
    if p.bias is not None:
        acc = acc + p.bias.astype(np.int64)
    w_scales = np.broadcast_to(np.asarray(w_q.scale, dtype=np.float32).astype(np.float64), (p.out_features,))
    in_scale, out_scale = float(np.float32(in_q.scale[0])), float(np.float32(out_q.scale[0]))
    effective = np.array([in_scale * float(s) / out_scale for s in w_scales])  # in the order LiteRT computes it
    floating = _round_half_away(acc.astype(np.float64) * effective) + p.output_zero_point
    floating = np.clip(floating, p.act_min, p.act_max).astype(np.int8)
    fixed = q.requantize(q.wrap_int32(acc), p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max)
    same_litert = np.array_equal(floating.reshape(-1), np.asarray(litert).reshape(-1))
    same_tflm = np.array_equal(fixed.reshape(-1), np.asarray(tflm).reshape(-1))
    return FC_FLOAT_REQUANTIZATION if same_litert and same_tflm else None
