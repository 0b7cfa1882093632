"""Optimised kernel variants: which one a layer gets, and the data the generator prepares for it.

Every variant takes the reference kernel's params struct and signature (firmware/kernels/tl_kernels.h). It
is chosen by preconditions on the board (DSP extension, FPU) and on the params; the reference kernel is
the fallback and is always correct. A chosen variant gets its generated fields filled in here, from the
original fields, which stay untouched (the numpy oracle keeps reading those):

- int8 (`*_s8_dsp`, tl_dsp.h): weights pre-expanded to int16 and re-laid-out so that one SMLAD multiplies a
  weight word with an activation word as SXTB16 produces it; the bias with the input zero point folded
  in; the requantization constants of `tl_dsp_requantize`; for convolutions the im2col buffer's size.
  The `*_s8_dsp_w8` forms of the convolution and the fully-connected layer keep the weights int8 (re-laid
  -out only, half the flash) and expand them in the loop with SXTB16; the lowering's flash policy
  (lower.py) decides per layer which form a layer gets.
- float32 (`*_f32_fpu`): weights of 4 (conv) or 8 (fully-connected) output channels side by side per tap,
  so that one VLDM loads them for a register-blocked block of fused multiply-adds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..boards import Board
from ..reference import params as kp
from ..reference import quant as q

CONV_S8_CHANNELS = 3  # output channels per block of tl_conv2d_s8_dsp (x 2 positions)
FC_S8_CHANNELS = 4  # output channels per block of tl_fully_connected_s8_dsp
CONV_F32_CHANNELS = 4  # tl_conv2d_f32_fpu: 4 channels x 4 positions
FC_F32_CHANNELS = 8  # tl_fully_connected_f32_fpu: 8 outputs x 1 input row
# output positions a convolution variant computes together: a fused layer's bands hold whole blocks of them
POSITIONS_PER_BLOCK = {"tl_conv2d_s8_dsp": 2, "tl_conv2d_f32_fpu": 4}


@dataclass(frozen=True)
class Choice:
    """The kernel one layer calls: the C function, its params (generated fields filled) and why."""

    function: str
    params: kp.KernelParams
    note: str  # the variant's name, or why the reference kernel was kept
    omit: tuple[str, ...] = ()  # fields the kernel never reads: the firmware gets NULL instead of a copy

    @property
    def scratch_bytes(self) -> int:
        return int(getattr(self.params, "scratch_bytes", 0))

    @property
    def is_reference(self) -> bool:
        return self.function == self.params.c_function


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---- int8: pre-expanded weights, folded bias, requantization constants -----------------------------------


def pack_s8_weights(weights: np.ndarray, channels: int, chunks: int) -> np.ndarray:
    """[out, K] int8 -> int16 laid out as [out / channels][chunks][2][channels][2] (zero padded): per chunk of
    4 k, the pairs (w0, w2) of the block's channels, then the pairs (w1, w3)."""
    out, k = weights.shape
    padded = np.zeros((_ceil_div(out, channels) * channels, 4 * chunks), np.int16)
    width = min(k, 4 * chunks)
    padded[:out, :width] = weights[:, :width]
    blocks = padded.reshape(-1, channels, chunks, 2, 2)  # [g][c][j][k >> 1][k & 1]
    return np.ascontiguousarray(blocks.transpose(0, 2, 4, 1, 3)).reshape(-1)


def pack_s8_weights8(weights: np.ndarray, channels: int, chunks: int) -> np.ndarray:
    """[out, K] int8 -> int8 laid out as [out / channels][chunks][channels][4] (zero padded): per chunk of 4
    k, each channel's 4 weights in natural order, which SXTB16 and SXTB16 ROR #8 turn into (w0, w2), (w1, w3)."""
    out, k = weights.shape
    padded = np.zeros((_ceil_div(out, channels) * channels, 4 * chunks), np.int8)
    width = min(k, 4 * chunks)
    padded[:out, :width] = weights[:, :width]
    blocks = padded.reshape(-1, channels, chunks, 4)  # [g][c][j][k & 3]
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)


def s8_requant_constants(
    multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int, acc_bound: int, channels: int
) -> tuple[np.ndarray, np.ndarray] | str:
    """(per-channel constants {2m - 2^32, 2^(r-1) + zp 2^r, r} of tl_dsp_requantize, zero-multiplier mask),
    or why the fast requantization cannot be used: a scale >= 0.5 (a left shift or none), a multiplier not in
    [2^30, 2^31) (TFLite's are), or an overflow for some accumulator. `output_zero_point` is the zero point
    folded into the constants (0 when the kernel adds it after: s8_requant_fields)."""
    out = len(multiplier)
    padded = _ceil_div(out, channels) * channels
    constants = np.tile(np.array([0, 1 + 2 * output_zero_point, 1], np.int64), (padded, 1))
    zero = np.ones(padded, bool)
    for c in range(out):
        m, s = int(multiplier[c]), int(shift[c])
        if m == 0:
            continue
        if s > -1:
            return f"channel {c}: requantization scale >= 0.5 (shift {s}) needs the reference's left shift"
        if m < 1 << 30:
            return f"channel {c}: multiplier {m} is not normalised to [2^30, 2^31)"
        r = -s
        worst = ((acc_bound * m) >> 31) + 2 + (1 << (r - 1)) + abs(output_zero_point) * (1 << r)
        if worst > q.INT32_MAX:
            return f"channel {c}: the requantization could overflow int32"
        constants[c] = (2 * m - (1 << 32), (1 << (r - 1)) + output_zero_point * (1 << r), r)
        zero[c] = False
    return constants.astype(np.int32).reshape(-1), zero


def _acc_bound(taps: int, bias: np.ndarray | None) -> int:
    return taps * 255 * 128 + (int(np.abs(bias.astype(np.int64)).max()) if bias is not None else 0)


def _s8_dsp_fields(
    p: kp.Conv2DS8Params | kp.FullyConnectedS8Params,
    weights: np.ndarray,
    channels: int,
    chunks: int,
    zero_point_after: bool = False,
    w8: bool = False,
) -> dict[str, Any] | str:
    """The generated fields of a DSP variant. The output zero point is folded into the requantization's
    rounding constant; where that could overflow int32 (a small scale: a large right shift times the zero
    point) and the variant can add it after (`zero_point_after`: `dsp_zero_point`), it is added after.
    `w8`: the weights stay int8 (`dsp_weights8`), else expanded to int16 (`dsp_weights`)."""
    out, k = weights.shape
    bound = _acc_bound(k, p.bias)
    constants = s8_requant_constants(p.multiplier, p.shift, p.output_zero_point, bound, channels)
    extra: dict[str, Any] = {}
    if isinstance(constants, str) and zero_point_after and "overflow" in constants:
        constants = s8_requant_constants(p.multiplier, p.shift, 0, bound, channels)
        extra = {"dsp_zero_point": p.output_zero_point}
    if isinstance(constants, str):
        return constants
    requant, zero = constants
    live = weights.astype(np.int64)
    live[zero[:out]] = 0
    sums = live.sum(axis=1)
    bias = np.zeros(len(zero), np.int64)
    bias[:out] = (p.bias.astype(np.int64) if p.bias is not None else 0) - p.input_zero_point * sums
    bias[:out][zero[:out]] = 0
    packed = (
        {"dsp_weights8": pack_s8_weights8(live.astype(np.int8), channels, chunks)}
        if w8
        else {"dsp_weights": pack_s8_weights(live.astype(np.int8), channels, chunks)}
    )
    return {
        **packed,
        "dsp_bias": bias.astype(np.int32),
        "dsp_requant": requant,
        **extra,
    }


def conv2d_s8_dsp(p: kp.Conv2DS8Params, w8: bool = False) -> kp.Conv2DS8Params | str:
    k = p.k_h * p.k_w * p.in_ch
    k4 = _ceil_div(k, 4) * 4
    fields = _s8_dsp_fields(p, p.weights.reshape(p.out_ch, k), CONV_S8_CHANNELS, k4 // 4, zero_point_after=True, w8=w8)
    if isinstance(fields, str):
        return fields
    return replace(p, **fields, scratch_bytes=5 * k4)


def conv2d_s8_dsp_w8(p: kp.Conv2DS8Params) -> kp.Conv2DS8Params | str:
    return conv2d_s8_dsp(p, w8=True)


def fully_connected_s8_dsp(p: kp.FullyConnectedS8Params, w8: bool = False) -> kp.FullyConnectedS8Params | str:
    fields = _s8_dsp_fields(p, p.weights, FC_S8_CHANNELS, _ceil_div(p.in_features, 4), w8=w8)
    if isinstance(fields, str):
        return fields
    return replace(p, **fields)


def fully_connected_s8_dsp_w8(p: kp.FullyConnectedS8Params) -> kp.FullyConnectedS8Params | str:
    return fully_connected_s8_dsp(p, w8=True)


DEPTHWISE_S8_CHANNELS = 4  # channels per group of tl_depthwise_conv2d_s8_dsp (one 32-bit load of NHWC input)


def pack_depthwise_s8_weights(weights: np.ndarray) -> np.ndarray:
    """[taps, out] int8 -> int16 laid out as [out / 4][taps][2][2] (zero padded): per tap, the group's channels
    (0, 2) then (1, 3), the pairs SXTB16 and SXTB16 ROR #8 make of 4 channels' input bytes."""
    taps, out = weights.shape
    groups = _ceil_div(out, DEPTHWISE_S8_CHANNELS)
    padded = np.zeros((taps, groups * DEPTHWISE_S8_CHANNELS), np.int16)
    padded[:, :out] = weights
    blocks = padded.reshape(taps, groups, 2, 2)  # [t][g][channel >> 1][channel & 1]
    return np.ascontiguousarray(blocks.transpose(1, 0, 3, 2)).reshape(-1)


def pack_depthwise_s8_weights8(weights: np.ndarray) -> np.ndarray:
    """[taps, out] int8 -> int8 laid out as [out / 4][taps][4] (zero padded): per tap the group's 4 channels in
    natural order, one word that SXTB16 and SXTB16 ROR #8 turn into the pairs (0, 2) and (1, 3)."""
    taps, out = weights.shape
    groups = _ceil_div(out, DEPTHWISE_S8_CHANNELS)
    padded = np.zeros((taps, groups * DEPTHWISE_S8_CHANNELS), np.int8)
    padded[:, :out] = weights
    return np.ascontiguousarray(padded.reshape(taps, groups, DEPTHWISE_S8_CHANNELS).transpose(1, 0, 2)).reshape(-1)


def depthwise_conv2d_s8_dsp(p: kp.DepthwiseConv2DS8Params, w8: bool = False) -> kp.DepthwiseConv2DS8Params | str:
    taps = p.k_h * p.k_w
    constants = s8_requant_constants(
        p.multiplier, p.shift, p.output_zero_point, _acc_bound(taps, p.bias), DEPTHWISE_S8_CHANNELS
    )
    if isinstance(constants, str):
        return constants
    requant, zero = constants
    weights = p.weights.reshape(taps, p.out_ch).astype(np.int64)
    weights[:, zero[: p.out_ch]] = 0
    bias = np.zeros(len(zero), np.int64)
    bias[: p.out_ch] = (p.bias.astype(np.int64) if p.bias is not None else 0) - p.input_zero_point * weights.sum(0)
    bias[: p.out_ch][zero[: p.out_ch]] = 0
    p = replace(p, dsp_bias=bias.astype(np.int32), dsp_requant=requant)
    if w8:
        return replace(p, dsp_weights8=pack_depthwise_s8_weights8(weights.astype(np.int8)))
    return replace(p, dsp_weights=pack_depthwise_s8_weights(weights.astype(np.int8)))


def depthwise_conv2d_s8_dsp_w8(p: kp.DepthwiseConv2DS8Params) -> kp.DepthwiseConv2DS8Params | str:
    return depthwise_conv2d_s8_dsp(p, w8=True)


# ---- float32: channels side by side -----------------------------------------------------------------------


def pack_f32_weights(weights: np.ndarray, channels: int) -> np.ndarray:
    """[out, K] float32 -> [out / channels][K][channels] (zero padded)."""
    out, k = weights.shape
    padded = np.zeros((_ceil_div(out, channels) * channels, k), np.float32)
    padded[:out] = weights
    return np.ascontiguousarray(padded.reshape(-1, channels, k).transpose(0, 2, 1)).reshape(-1)


def conv2d_f32_fpu(p: kp.Conv2DF32Params) -> kp.Conv2DF32Params | str:
    weights = p.weights.reshape(p.out_ch, -1)
    return replace(p, fpu_weights=pack_f32_weights(weights, CONV_F32_CHANNELS))


def fully_connected_f32_fpu(p: kp.FullyConnectedF32Params) -> kp.FullyConnectedF32Params | str:
    return replace(p, fpu_weights=pack_f32_weights(p.weights, FC_F32_CHANNELS))


def max_pool2d_s8_dsp(p: kp.MaxPool2DS8Params) -> kp.MaxPool2DS8Params | str:
    return p


MEAN_S8_MAX_COUNT = 256  # 16-bit lanes of tl_mean_s8_dsp hold at most 256 * 128


AVG_POOL_S8_MAX_TAPS = 256  # 16-bit lanes of tl_avg_pool2d_s8_dsp hold at most 256 * 128


def avg_pool2d_s8_dsp(p: kp.AvgPool2DS8Params) -> kp.AvgPool2DS8Params | str:
    taps = p.k_h * p.k_w
    return p if taps <= AVG_POOL_S8_MAX_TAPS else f"a window of {taps} > {AVG_POOL_S8_MAX_TAPS} taps"


def pad_s8_dsp(p: kp.PadS8Params) -> kp.PadS8Params:
    """tl_pad_s8_dsp moves the same bytes in words: no precondition beyond the reference's."""
    return p


def add_s8_dsp(p: kp.AddS8Params) -> kp.AddS8Params | str:
    """tl_add_s8_dsp's preconditions (its check function's): each input rescale a halving or a normalised
    right shift, the output's a normalised right shift that cannot overflow with its zero point folded in."""
    if type(p) is not kp.AddS8Params:
        return "a constant operand runs on tl_add_const_s8"
    for name in ("input1", "input2"):
        m, s = getattr(p, f"{name}_multiplier"), getattr(p, f"{name}_shift")
        if not ((s == 0 and m == 1 << 30) or (-31 <= s <= -1 and m >= 1 << 30)):
            return f"{name} rescale ({m}, {s}) is neither a halving nor a normalised right shift"
    if p.left_shift < 1 or p.output_shift > -1 or p.output_multiplier < 1 << 30:
        return f"output requantization ({p.output_multiplier}, {p.output_shift}) is not a normalised right shift"
    r = -p.output_shift
    total = 2 * ((255 << p.left_shift) // 2 + 2)
    worst = ((total * p.output_multiplier) >> 31) + 2 + (1 << (r - 1)) + abs(p.output_zero_point) * (1 << r)
    return p if worst <= q.INT32_MAX else "the output requantization could overflow int32"


def mean_s8_dsp(p: kp.MeanS8Params) -> kp.MeanS8Params | str:
    return p if p.count <= MEAN_S8_MAX_COUNT else f"a mean over {p.count} > {MEAN_S8_MAX_COUNT} elements"


# ---- the choice ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    function: str
    needs: str  # "dsp" or "fpu": the core feature it is written for
    specialise: Callable[..., kp.KernelParams | str]  # params with the generated fields, or why not
    omit: tuple[str, ...] = ()  # original fields it never reads (the generated ones replace them)
    expands: bool = False  # stores the weights expanded to int16 (twice the flash of int8)


# The int8 DSP variants read only their generated arrays: the originals stay out of the firmware (their
# checks verify the generated constants for themselves then; the numpy oracle keeps the originals).
S8_ORIGINALS = ("weights", "multiplier", "shift", "bias")

VARIANTS: dict[type, tuple[Variant, ...]] = {
    kp.Conv2DS8Params: (
        Variant("tl_conv2d_s8_dsp", "dsp", conv2d_s8_dsp, S8_ORIGINALS, expands=True),
        Variant("tl_conv2d_s8_dsp_w8", "dsp", conv2d_s8_dsp_w8, S8_ORIGINALS),
    ),
    kp.FullyConnectedS8Params: (
        Variant("tl_fully_connected_s8_dsp", "dsp", fully_connected_s8_dsp, S8_ORIGINALS, expands=True),
        Variant("tl_fully_connected_s8_dsp_w8", "dsp", fully_connected_s8_dsp_w8, S8_ORIGINALS),
    ),
    kp.DepthwiseConv2DS8Params: (
        Variant("tl_depthwise_conv2d_s8_dsp", "dsp", depthwise_conv2d_s8_dsp, S8_ORIGINALS, expands=True),
        Variant("tl_depthwise_conv2d_s8_dsp_w8", "dsp", depthwise_conv2d_s8_dsp_w8, S8_ORIGINALS),
    ),
    kp.MaxPool2DS8Params: (Variant("tl_max_pool2d_s8_dsp", "dsp", max_pool2d_s8_dsp),),
    kp.AvgPool2DS8Params: (Variant("tl_avg_pool2d_s8_dsp", "dsp", avg_pool2d_s8_dsp),),
    kp.MeanS8Params: (Variant("tl_mean_s8_dsp", "dsp", mean_s8_dsp),),
    kp.AddS8Params: (Variant("tl_add_s8_dsp", "dsp", add_s8_dsp),),
    kp.PadS8Params: (Variant("tl_pad_s8_dsp", "dsp", pad_s8_dsp),),
    kp.Conv2DF32Params: (Variant("tl_conv2d_f32_fpu", "fpu", conv2d_f32_fpu, ("weights",)),),
    kp.FullyConnectedF32Params: (Variant("tl_fully_connected_f32_fpu", "fpu", fully_connected_f32_fpu, ("weights",)),),
}


def _has(board: Board, feature: str) -> bool:
    return board.dsp if feature == "dsp" else board.fpu is not None


def choose(
    params: kp.KernelParams, board: Board, optimise: bool = True, backend: str = "tinyodl", expand: bool = True
) -> Choice:
    """The first variant whose preconditions hold, else the reference kernel (with the reason). `expand=False`
    passes over the variants that store weights expanded to int16 (the flash policy's compact choice). With
    `backend="cmsis-nn"` a layer CMSIS-NN covers calls it (codegen/cmsisnn.py); the others are chosen as here,
    their note saying why they keep tinyodl's kernel."""
    if backend == "cmsis-nn":
        from . import cmsisnn

        wrapped = cmsisnn.wrap(params, board)
        if not isinstance(wrapped, str):
            return Choice(wrapped.function, wrapped.params, wrapped.note)
        ours = choose(params, board, optimise, expand=expand)
        return replace(ours, note=f"not CMSIS-NN: {wrapped}; {ours.note}")
    reference = params.c_function
    if not optimise:
        return Choice(reference, params, "reference kernels requested")
    notes: list[str] = []
    for variant in VARIANTS.get(type(params), ()):
        if variant.expands and not expand:
            notes.append(f"{variant.function}: its int16 weights are left out for flash")
            continue
        if not _has(board, variant.needs):
            notes.append(f"{variant.function}: {board.name} has no {variant.needs.upper()}")
            continue
        result = variant.specialise(params)
        if isinstance(result, str):
            notes.append(f"{variant.function}: {result}")
            continue
        return Choice(variant.function, result, variant.function, variant.omit)
    return Choice(reference, params, "; ".join(notes) or "no optimised variant for this op")
