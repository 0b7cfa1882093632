"""int8 kernels in numpy, integer-exact with TFLite's reference kernels (the oracle for the C kernels).

One function per family: `f(params, x[, y]) -> output`. Inputs may have any shape with the right number of
elements (an IR tensor's shape); outputs come back in the kernel's canonical shape (NHWC, [batches,
features] or [batches, channels]) and the caller reshapes them to the IR's output shape.

Accumulation is int64 (the params guarantee that the int32 accumulator of the C kernels cannot overflow,
so both agree), then the exact fixed-point requantization of `quant`.
"""

from __future__ import annotations

import numpy as np

from .params import (
    AddConstS8Params,
    AddS8Params,
    AvgPool2DS8Params,
    Conv2DS8Params,
    DepthwiseConv2DS8Params,
    FullyConnectedS8Params,
    MaxPool2DS8Params,
    MeanS8Params,
    PadS8Params,
    ParamsError,
    ReluS8Params,
    SoftmaxS8Params,
)
from .quant import (
    multiply_by_quantized_multiplier,
    requantize,
    wrap_int32,
)
from .softmax import softmax_s8


def _input(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise ParamsError(f"{what}: int8 input expected, got {x.dtype}")
    if x.size != int(np.prod(shape)):
        raise ParamsError(f"{what}: input has {x.size} elements, the params describe {shape}")
    return x.reshape(shape)


def windows(
    x: np.ndarray,
    out_hw: tuple[int, int],
    k_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pad: tuple[int, int],
    pad_value: float | int,
) -> np.ndarray:
    """All kernel windows of an NHWC tensor: [batches, out_h, out_w, k_h, k_w, channels].

    The input is padded with `pad_value` (pad[0] rows on top, pad[1] columns on the left, and as many as the
    last window needs at the bottom and right)."""
    (out_h, out_w), (k_h, k_w), (s_h, s_w), (d_h, d_w), (p_t, p_l) = out_hw, k_hw, stride, dilation, pad
    _, in_h, in_w, _ = x.shape
    need_h = (out_h - 1) * s_h + (k_h - 1) * d_h + 1
    need_w = (out_w - 1) * s_w + (k_w - 1) * d_w + 1
    padded = np.pad(
        x,
        ((0, 0), (p_t, max(0, need_h - in_h - p_t)), (p_l, max(0, need_w - in_w - p_l)), (0, 0)),
        constant_values=pad_value,
    )
    taps = [
        padded[:, ky * d_h : ky * d_h + (out_h - 1) * s_h + 1 : s_h, kx * d_w : kx * d_w + (out_w - 1) * s_w + 1 : s_w]
        for ky in range(k_h)
        for kx in range(k_w)
    ]
    stacked = np.stack(taps, axis=3)  # [B, oh, ow, k_h * k_w, C]
    return stacked.reshape(*stacked.shape[:3], k_h, k_w, stacked.shape[-1])


def valid_counts(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    k_hw: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
) -> np.ndarray:
    """Number of window elements inside the input for each output position: [out_h, out_w]."""
    counts = []
    for size, out, k, s, p in zip(in_hw, out_hw, k_hw, stride, pad, strict=True):
        start = np.arange(out) * s - p
        counts.append(np.minimum(start + k, size) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.int64)


def conv2d(p: Conv2DS8Params, x: np.ndarray) -> np.ndarray:
    """CONV_2D, per-channel int8: acc = sum (x - zp_in) * w + bias, requantized per output channel."""
    x = _input(x, p.input_shape, "conv2d")
    win = windows(
        x,
        (p.out_h, p.out_w),
        (p.k_h, p.k_w),
        (p.stride_h, p.stride_w),
        (p.dilation_h, p.dilation_w),
        (p.pad_top, p.pad_left),
        p.input_zero_point,  # padding contributes (zp - zp) * w = 0, as TFLite skips those taps
    )
    cols = win.reshape(-1, p.k_h * p.k_w * p.in_ch).astype(np.int64) - p.input_zero_point
    acc = cols @ p.weights.reshape(p.out_ch, -1).astype(np.int64).T
    if p.bias is not None:
        acc = acc + p.bias.astype(np.int64)
    out = requantize(wrap_int32(acc), p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max)
    return out.reshape(p.output_shape)


def depthwise_conv2d(p: DepthwiseConv2DS8Params, x: np.ndarray) -> np.ndarray:
    """DEPTHWISE_CONV_2D: output channel c reads input channel c // depth_multiplier."""
    x = _input(x, p.input_shape, "depthwise_conv2d")
    win = windows(
        x,
        (p.out_h, p.out_w),
        (p.k_h, p.k_w),
        (p.stride_h, p.stride_w),
        (p.dilation_h, p.dilation_w),
        (p.pad_top, p.pad_left),
        p.input_zero_point,
    )
    channel_of_output = np.arange(p.out_ch) // p.depth_multiplier
    taps = win[..., channel_of_output].astype(np.int64) - p.input_zero_point  # [B, oh, ow, kh, kw, out_ch]
    acc = (taps * p.weights[0].astype(np.int64)).sum(axis=(3, 4))
    if p.bias is not None:
        acc = acc + p.bias.astype(np.int64)
    return requantize(wrap_int32(acc), p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max)


def fully_connected(p: FullyConnectedS8Params, x: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED: [batches, in] x [out, in]^T (weights symmetric, zero point 0)."""
    x = _input(x, (p.batches, p.in_features), "fully_connected")
    acc = (x.astype(np.int64) - p.input_zero_point) @ p.weights.astype(np.int64).T
    if p.bias is not None:
        acc = acc + p.bias.astype(np.int64)
    return requantize(wrap_int32(acc), p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max)


def max_pool2d(p: MaxPool2DS8Params, x: np.ndarray) -> np.ndarray:
    """MAX_POOL_2D: the largest input of the window (padding never wins: it is -128), clamped."""
    x = _input(x, p.input_shape, "max_pool2d")
    win = windows(
        x, (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (1, 1), (p.pad_top, p.pad_left), -128
    )
    return np.clip(win.max(axis=(3, 4)), p.act_min, p.act_max).astype(np.int8)


def avg_pool2d(p: AvgPool2DS8Params, x: np.ndarray) -> np.ndarray:
    """AVERAGE_POOL_2D: sum over the window's valid elements / their count, rounded half away from zero."""
    x = _input(x, p.input_shape, "avg_pool2d")
    win = windows(x, (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (1, 1), (p.pad_top, p.pad_left), 0)
    total = win.astype(np.int64).sum(axis=(3, 4))
    count = valid_counts(
        (p.in_h, p.in_w), (p.out_h, p.out_w), (p.k_h, p.k_w), (p.stride_h, p.stride_w), (p.pad_top, p.pad_left)
    )[None, :, :, None]
    half = count // 2
    # C's division truncates toward zero: divide magnitudes.
    average = np.where(total > 0, (total + half) // count, -((-total + half) // count))
    return np.clip(average, p.act_min, p.act_max).astype(np.int8)


def mean(p: MeanS8Params, x: np.ndarray) -> np.ndarray:
    """MEAN over the reduced axes: (sum - zp_in * count) scaled by the folded multiplier: [batches, channels]."""
    x = _input(x, (p.batches, p.count, p.channels), "mean")
    total = wrap_int32(x.astype(np.int64).sum(axis=1) - p.input_zero_point * p.count)
    return requantize(total, p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max)


def add(p: AddS8Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ADD: both inputs shifted left by `left_shift`, rescaled, summed, rescaled to the output. Flat output."""
    a64 = _input(a, (p.size,), "add").astype(np.int64) - p.input1_zero_point
    b64 = _input(b, (p.size,), "add").astype(np.int64) - p.input2_zero_point
    scaled1 = multiply_by_quantized_multiplier(a64 << p.left_shift, p.input1_multiplier, p.input1_shift)
    scaled2 = multiply_by_quantized_multiplier(b64 << p.left_shift, p.input2_multiplier, p.input2_shift)
    return requantize(
        wrap_int32(scaled1 + scaled2), p.output_multiplier, p.output_shift, p.output_zero_point, p.act_min, p.act_max
    )


def pad(p: PadS8Params, x: np.ndarray) -> np.ndarray:
    """PAD: the input placed inside a tensor filled with `pad_value`."""
    x = _input(x, p.in_dims, "pad")
    widths = tuple(zip(p.pad_before, p.pad_after, strict=True))
    return np.pad(x, widths, constant_values=p.pad_value)


def add_const(p: AddConstS8Params, a: np.ndarray) -> np.ndarray:
    """ADD of a per-channel constant: the ADD arithmetic, the constant repeated along the input."""
    return add(p, a, np.tile(p.constant, p.size // p.channels))


def relu(p: ReluS8Params, x: np.ndarray) -> np.ndarray:
    """A stand-alone RELU / RELU6: the input requantized to the output's scale, clamped."""
    x64 = _input(x, (p.size,), "relu").astype(np.int64) - p.input_zero_point
    scaled = multiply_by_quantized_multiplier(x64, p.multiplier, p.shift)
    return np.clip(scaled + p.output_zero_point, p.act_min, p.act_max).astype(np.int8)


def softmax(p: SoftmaxS8Params, x: np.ndarray) -> np.ndarray:
    """SOFTMAX over rows of `depth`: TFLite's fixed-point exp and reciprocal (reference/softmax.py)."""
    return softmax_s8(_input(x, (p.rows, p.depth), "softmax"), p.depth, p.input_multiplier, p.input_left_shift,
                      p.diff_min)  # fmt: skip
