"""`--kernels cmsis-nn`: the int8 layers CMSIS-NN covers call ARM's library through thin adapters.

The adapters (firmware/cmsisnn/tl_cmsisnn_*.c) have a tinyodl kernel's signature; their params struct holds
the reference kernel's params as they are (`base`) plus CMSIS-NN's working buffer, which the generator
plans into the arena like a variant's scratch. Its size follows CMSIS-NN 7's `*_get_buffer_size`
functions for the core (DSP extension or not, no MVE on these boards, GCC); each adapter's `_check`
calls CMSIS-NN's own function at init and refuses a buffer that is too small.

Covered (int8): CONV_2D (arm_convolve_wrapper_s8), DEPTHWISE_CONV_2D (arm_depthwise_conv_wrapper_s8),
FULLY_CONNECTED (arm_fully_connected_s8 for per-tensor weights, arm_fully_connected_per_channel_s8 for
per-channel ones), MAX_POOL_2D (arm_max_pool_s8), AVERAGE_POOL_2D (arm_avgpool_s8) and element-wise ADD
of two tensors of one shape (arm_elementwise_add_s8). Every other layer keeps tinyodl's kernel (optimised
where a variant applies) and its note says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..boards import Board
from ..ir import DType
from ..reference import params as kp

BACKEND = "cmsis-nn"


@dataclass(frozen=True, eq=False)
class _Wrapped(kp.KernelParams):
    """A CMSIS-NN adapter's params: the reference kernel's, then CMSIS-NN's buffer in the arena."""

    base: kp.KernelParams
    scratch: kp.ArenaBuffer | None = None
    scratch_bytes: int = 0


@dataclass(frozen=True, eq=False)
class CmsisNNConv2DParams(_Wrapped):
    family: ClassVar[str] = "cmsisnn_conv2d"


@dataclass(frozen=True, eq=False)
class CmsisNNDepthwiseConv2DParams(_Wrapped):
    family: ClassVar[str] = "cmsisnn_depthwise_conv2d"


@dataclass(frozen=True, eq=False)
class CmsisNNFullyConnectedParams(kp.KernelParams):
    base: kp.KernelParams
    per_channel: int  # 0: one multiplier for every output (arm_fully_connected_s8)
    scratch: kp.ArenaBuffer | None = None
    scratch_bytes: int = 0

    family: ClassVar[str] = "cmsisnn_fully_connected"


@dataclass(frozen=True, eq=False)
class CmsisNNMaxPool2DParams(_Wrapped):
    family: ClassVar[str] = "cmsisnn_max_pool2d"


@dataclass(frozen=True, eq=False)
class CmsisNNAvgPool2DParams(_Wrapped):
    family: ClassVar[str] = "cmsisnn_avg_pool2d"


@dataclass(frozen=True, eq=False)
class CmsisNNAddParams(_Wrapped):
    family: ClassVar[str] = "cmsisnn_add"


WRAPPERS = (
    CmsisNNConv2DParams,
    CmsisNNDepthwiseConv2DParams,
    CmsisNNFullyConnectedParams,
    CmsisNNMaxPool2DParams,
    CmsisNNAvgPool2DParams,
    CmsisNNAddParams,
)


def unwrap(params: kp.KernelParams) -> kp.KernelParams:
    """The reference kernel's params inside an adapter's (or the params themselves)."""
    return getattr(params, "base", params) if isinstance(params, WRAPPERS) else params


# ---- CMSIS-NN 7.0.0's buffer sizes and dispatch (Cortex-M with or without DSP, no MVE, GCC) ----------------


def _conv_s8_buffer(p: kp.Conv2DS8Params) -> int:
    cols = p.k_h * p.k_w * p.in_ch
    return 2 * (-(-cols // 4) * 4) * 2  # two im2col columns of int16, the depth rounded up to 4


def conv_path(p: kp.Conv2DS8Params) -> tuple[str, int]:
    """(the function arm_convolve_wrapper_s8 calls, its buffer bytes)."""
    if p.pad_top == 0 and p.pad_left == 0 and p.k_h == 1 and p.k_w == 1 and p.dilation_h == p.dilation_w == 1:
        return ("arm_convolve_1x1_s8_fast", 0) if p.stride_h == p.stride_w == 1 else ("arm_convolve_1x1_s8", 0)
    if p.in_h == 1 and p.dilation_w == 1 and p.k_h == 1 and (p.stride_w * p.in_ch) % 4 == 0:
        return "arm_convolve_1_x_n_s8", _conv_s8_buffer(p)
    return "arm_convolve_s8", _conv_s8_buffer(p)


def depthwise_path(p: kp.DepthwiseConv2DS8Params, dsp: bool) -> tuple[str, int]:
    """(the function arm_depthwise_conv_wrapper_s8 calls, its buffer bytes)."""
    if p.depth_multiplier == 1 and p.batches == 1 and p.dilation_h == p.dilation_w == 1:
        if p.k_h == 3 and p.k_w == 3 and p.pad_top <= 1 and p.pad_left <= 1:
            return "arm_depthwise_conv_3x3_s8", 0
        return "arm_depthwise_conv_s8_opt", (p.in_ch * p.k_h * p.k_w * 2 if dsp else 0)
    return "arm_depthwise_conv_s8", 0


def avgpool_buffer(p: kp.AvgPool2DS8Params, dsp: bool) -> int:
    return p.channels * 4 if dsp else 0


def _per_channel(p: kp.FullyConnectedS8Params) -> bool:
    return bool(np.any(p.multiplier != p.multiplier[0]) or np.any(p.shift != p.shift[0]))


@dataclass(frozen=True)
class Wrapped:
    """What choose() returns for a covered layer: the adapter, its params and the note."""

    function: str
    params: kp.KernelParams
    note: str


def wrap(params: kp.KernelParams, board: Board) -> Wrapped | str:
    """The CMSIS-NN adapter for this layer, or why the layer keeps tinyodl's kernel."""
    if params.dtype is not DType.INT8:
        return "CMSIS-NN is int8 only"
    dsp = board.dsp
    wrapped: kp.KernelParams
    if isinstance(params, kp.Conv2DS8Params):
        inner, nbytes = conv_path(params)
        wrapped, called = CmsisNNConv2DParams(params, None, nbytes), f"arm_convolve_wrapper_s8 -> {inner}"
    elif isinstance(params, kp.DepthwiseConv2DS8Params):
        inner, nbytes = depthwise_path(params, dsp)
        wrapped = CmsisNNDepthwiseConv2DParams(params, None, nbytes)
        called = f"arm_depthwise_conv_wrapper_s8 -> {inner}"
    elif isinstance(params, kp.FullyConnectedS8Params):
        per_channel = _per_channel(params)
        wrapped = CmsisNNFullyConnectedParams(params, int(per_channel), None, 0)
        called = "arm_fully_connected_per_channel_s8" if per_channel else "arm_fully_connected_s8"
    elif isinstance(params, kp.MaxPool2DS8Params):
        wrapped, called = CmsisNNMaxPool2DParams(params, None, 0), "arm_max_pool_s8"
    elif isinstance(params, kp.AvgPool2DS8Params):
        wrapped, called = CmsisNNAvgPool2DParams(params, None, avgpool_buffer(params, dsp)), "arm_avgpool_s8"
    elif type(params) is kp.AddS8Params:
        wrapped, called = CmsisNNAddParams(params, None, 0), "arm_elementwise_add_s8"
    elif isinstance(params, kp.AddConstS8Params):
        return "CMSIS-NN's arm_elementwise_add_s8 adds two tensors of one shape, not a broadcast constant"
    else:
        return f"CMSIS-NN has no kernel here for {params.family}"
    return Wrapped(wrapped.c_function, wrapped, f"CMSIS-NN {called}")
