"""float32 kernels in numpy, accumulating in the same order as the C reference kernels and TFLite's.

Every sum is a sequence of float32 additions in the order the C loops run (kernel row, kernel column,
input channel; bias last), each product rounded to float32 before it is added. numpy only vectorises
across output positions and channels, never inside a sum, so a C build without floating-point contraction
(`-ffp-contract=off`, the default of `-std=c99`) gives the same bits. Tests still compare with a stated ulp
tolerance (docs/kernels.md), which is what optimised variants that reorder or fuse (VFMA) are held to.
"""

from __future__ import annotations

import numpy as np

from .kernels_int8 import valid_counts, windows
from .params import (
    AddConstF32Params,
    AddF32Params,
    AvgPool2DF32Params,
    Conv2DF32Params,
    DepthwiseConv2DF32Params,
    FullyConnectedF32Params,
    MaxPool2DF32Params,
    MeanF32Params,
    PadF32Params,
    ParamsError,
    ReluF32Params,
    SoftmaxF32Params,
)

F32 = np.float32


def _input(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise ParamsError(f"{what}: float32 input expected, got {x.dtype}")
    if x.size != int(np.prod(shape)):
        raise ParamsError(f"{what}: input has {x.size} elements, the params describe {shape}")
    return x.reshape(shape)


def _clamp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """min(max(x, lo), hi), as TFLite's ActivationFunctionWithMinMax."""
    return np.minimum(np.maximum(x, F32(lo)), F32(hi)).astype(F32)


def conv2d(p: Conv2DF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, p.input_shape, "conv2d")
    win = windows(
        x,
        (p.out_h, p.out_w),
        (p.k_h, p.k_w),
        (p.stride_h, p.stride_w),
        (p.dilation_h, p.dilation_w),
        (p.pad_top, p.pad_left),
        0.0,  # adding 0 * w leaves the sum unchanged: the same value as skipping the tap
    )
    acc = np.zeros(p.output_shape, dtype=F32)
    for ky in range(p.k_h):
        for kx in range(p.k_w):
            for ic in range(p.in_ch):
                acc += win[:, :, :, ky, kx, ic, None] * p.weights[:, ky, kx, ic]
    if p.bias is not None:
        acc += p.bias
    return _clamp(acc, p.act_min, p.act_max)


def depthwise_conv2d(p: DepthwiseConv2DF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, p.input_shape, "depthwise_conv2d")
    win = windows(
        x,
        (p.out_h, p.out_w),
        (p.k_h, p.k_w),
        (p.stride_h, p.stride_w),
        (p.dilation_h, p.dilation_w),
        (p.pad_top, p.pad_left),
        0.0,
    )
    taps = win[..., np.arange(p.out_ch) // p.depth_multiplier]
    acc = np.zeros(p.output_shape, dtype=F32)
    for ky in range(p.k_h):
        for kx in range(p.k_w):
            acc += taps[:, :, :, ky, kx, :] * p.weights[0, ky, kx, :]
    if p.bias is not None:
        acc += p.bias
    return _clamp(acc, p.act_min, p.act_max)


def fully_connected(p: FullyConnectedF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, (p.batches, p.in_features), "fully_connected")
    acc = np.zeros((p.batches, p.out_features), dtype=F32)
    for i in range(p.in_features):
        acc += x[:, i, None] * p.weights[:, i]
    if p.bias is not None:
        acc += p.bias
    return _clamp(acc, p.act_min, p.act_max)


def max_pool2d(p: MaxPool2DF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, p.input_shape, "max_pool2d")
    lowest = float(np.finfo(F32).min)
    win = windows(
        x, (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (1, 1), (p.pad_top, p.pad_left), lowest
    )
    return _clamp(win.max(axis=(3, 4)), p.act_min, p.act_max)


def avg_pool2d(p: AvgPool2DF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, p.input_shape, "avg_pool2d")
    win = windows(x, (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (1, 1), (p.pad_top, p.pad_left), 0.0)
    acc = np.zeros(p.output_shape, dtype=F32)
    for ky in range(p.k_h):
        for kx in range(p.k_w):
            acc += win[:, :, :, ky, kx, :]
    count = valid_counts(
        (p.in_h, p.in_w), (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (p.pad_top, p.pad_left)
    )
    return _clamp(acc / count.astype(F32)[None, :, :, None], p.act_min, p.act_max)


def mean(p: MeanF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, (p.batches, p.count, p.channels), "mean")
    acc = np.zeros((p.batches, p.channels), dtype=F32)
    for i in range(p.count):
        acc += x[:, i, :]
    return (acc / F32(p.count)).astype(F32)


def add(p: AddF32Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = _input(a, (p.size,), "add")
    b = _input(b, (p.size,), "add")
    return _clamp(a + b, p.act_min, p.act_max)


def pad(p: PadF32Params, x: np.ndarray) -> np.ndarray:
    x = _input(x, p.in_dims, "pad")
    widths = tuple(zip(p.pad_before, p.pad_after, strict=True))
    return np.pad(x, widths, constant_values=F32(p.pad_value))


def add_const(p: AddConstF32Params, a: np.ndarray) -> np.ndarray:
    return add(p, a, np.tile(p.constant, p.size // p.channels))


def relu(p: ReluF32Params, x: np.ndarray) -> np.ndarray:
    return _clamp(_input(x, (p.size,), "relu"), p.act_min, p.act_max)


def softmax(p: SoftmaxF32Params, x: np.ndarray) -> np.ndarray:
    """SOFTMAX over rows of `depth`, as TFLite's reference: exp((x - max) * beta) in float32, summed in
    order, each divided by the sum."""
    rows = _input(x, (p.rows, p.depth), "softmax").astype(np.float32)
    exps = np.exp((rows - rows.max(axis=1, keepdims=True)) * np.float32(p.beta)).astype(np.float32)
    sums = np.zeros((p.rows, 1), np.float32)
    for c in range(p.depth):
        sums = (sums + exps[:, c : c + 1]).astype(np.float32)
    return (exps / sums).astype(np.float32)
