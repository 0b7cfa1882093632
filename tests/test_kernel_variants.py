"""The optimised kernel variants on the host, and how the lowering chooses them.

The variants (tl_*_s8_dsp, tl_*_f32_fpu) are built with host gcc, where tl_dsp.h and tl_fpu.h use their
portable twins of the DSP and FPU blocks: everything but the instructions themselves (im2col, layouts,
folded bias, requantization, blocking remainders) runs here against the numpy oracle over seeded random
shapes. int8 must be equal bit for bit; float32 (fused multiply-adds) within a bound derived from the sums.
The instructions run on the simulated boards in tests/test_variants_qemu.py.
"""

from __future__ import annotations

import ctypes
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_kernels_c import (
    HOST_FLAGS,
    KERNEL_SOURCES,
    compile_c,
    random_add,
    random_conv,
    random_depthwise,
    random_fc,
    random_mean,
    random_pad,
    random_pool,
    to_struct,
)

from tinyodl.boards import load_board
from tinyodl.codegen import variants
from tinyodl.reference import (
    AvgPool2DS8Params,
    Conv2DS8Params,
    DepthwiseConv2DS8Params,
    FullyConnectedS8Params,
    KernelParams,
    PadS8Params,
    quant,
    run,
)

SEED = 20250612
CASES = 200
BAD_PACKED = 5
BOARD = load_board("nucleo-l476rg")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ctypes.CDLL]:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    path = tmp_path_factory.mktemp("variants") / "libtl_kernels.so"
    compile_c("gcc", [*HOST_FLAGS, "-shared", "-fPIC", *map(str, KERNEL_SOURCES), "-o", str(path), "-lm"])
    yield ctypes.CDLL(str(path))


def _struct(choice: variants.Choice, keep: list[Any], firmware: bool = True) -> ctypes.Structure:
    """The C struct as the generated firmware fills it: omitted fields NULL, scratch in a buffer of its own."""
    struct = to_struct(choice.params, keep)
    if firmware:
        for name in choice.omit:
            setattr(struct, name, type(getattr(struct, name))())
    if choice.scratch_bytes:
        buffer = np.full(choice.scratch_bytes, 0x5A, np.uint8)  # garbage: the kernel must write before reading
        keep.append(buffer)
        struct.scratch = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
    return struct


def _check(lib: ctypes.CDLL, choice: variants.Choice, struct: ctypes.Structure) -> int:
    fn = getattr(lib, f"{choice.function}_check")
    fn.restype = ctypes.c_int
    return int(fn(ctypes.byref(struct)))


def run_variant(lib: ctypes.CDLL, choice: variants.Choice, x: np.ndarray) -> np.ndarray:
    keep: list[Any] = []
    assert _check(lib, choice, _struct(choice, keep, firmware=False)) == 0, "check with the original weights"
    struct = _struct(choice, keep)
    assert _check(lib, choice, struct) == 0, f"{choice.function}_check rejected generated params"
    want = run(choice.params, x)
    out = np.full(want.shape, 0x55 if want.dtype == np.int8 else np.nan, want.dtype)
    fn = getattr(lib, choice.function)
    fn.restype = ctypes.c_int
    x = np.ascontiguousarray(x)
    assert fn(ctypes.byref(struct), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(out.ctypes.data)) == 0
    return out


def _dsp_ready(
    rng: np.random.Generator, params: Conv2DS8Params | FullyConnectedS8Params | DepthwiseConv2DS8Params
) -> Any:
    """Right shifts only (the variant's precondition), some channels with a zero multiplier."""
    shift = np.minimum(params.shift, -1)
    multiplier = params.multiplier.copy()
    zero = rng.random(len(multiplier)) < 0.1
    multiplier[zero], shift[zero] = 0, 0
    return replace(params, multiplier=multiplier, shift=shift)


def _chosen(params: KernelParams, function: str) -> variants.Choice:
    """The variant the lowering picks, its int8-weight form (`*_w8`) when that is the function asked for."""
    choice = variants.choose(params, BOARD, expand=not function.endswith("_w8"))
    assert choice.function == function, choice.note
    return choice


# ---- int8: bit-exact with the numpy oracle ---------------------------------------------------------------


@pytest.mark.parametrize("function", ["tl_conv2d_s8_dsp", "tl_conv2d_s8_dsp_w8"])
def test_conv2d_s8_dsp_matches_numpy(lib: ctypes.CDLL, function: str) -> None:
    rng = np.random.default_rng(SEED)
    chunk_counts = set()
    for _ in range(CASES):
        params, x = random_conv(rng, False)
        params = _dsp_ready(rng, params)
        choice = _chosen(params, function)
        chunk_counts.add(-(-params.k_h * params.k_w * params.in_ch // 4) % 4)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert chunk_counts == {0, 1, 2, 3}  # every entry point of the unrolled loop


@pytest.mark.parametrize("function", ["tl_conv2d_s8_dsp", "tl_conv2d_s8_dsp_w8"])
def test_conv2d_s8_dsp_wide_1d(lib: ctypes.CDLL, function: str) -> None:
    """HAR-like layers: long contiguous receptive fields read in place, odd channel counts, both paddings."""
    rng = np.random.default_rng(SEED + 1)
    for in_ch, out_ch, k, length, pad in ((32, 32, 5, 100, 2), (6, 32, 5, 100, 2), (17, 7, 3, 23, 0), (9, 5, 7, 9, 3)):
        out_w = length + 2 * pad - k + 1
        params = Conv2DS8Params(
            batches=1, in_h=1, in_w=length, in_ch=in_ch, out_h=1, out_w=out_w, out_ch=out_ch, k_h=1, k_w=k,
            stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=0, pad_left=pad,
            input_zero_point=int(rng.choice([-128, 127])), output_zero_point=int(rng.choice([-128, 127, 3])),
            act_min=-128, act_max=127, multiplier=rng.integers(1 << 30, 1 << 31, out_ch),
            shift=rng.integers(-12, -6, out_ch), weights=rng.integers(-128, 128, (out_ch, 1, k, in_ch)),
            bias=rng.integers(-50000, 50000, out_ch),
        )  # fmt: skip
        x = rng.integers(-128, 128, (1, 1, length, in_ch), dtype=np.int8)
        choice = _chosen(params, function)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x))


@pytest.mark.parametrize("function", ["tl_fully_connected_s8_dsp", "tl_fully_connected_s8_dsp_w8"])
def test_fully_connected_s8_dsp_matches_numpy(lib: ctypes.CDLL, function: str) -> None:
    rng = np.random.default_rng(SEED + 2)
    tails = set()
    for _ in range(CASES):
        params, x = random_fc(rng, False)
        params = _dsp_ready(rng, params)
        tails.add(params.in_features % 4)
        choice = _chosen(params, function)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert tails == {0, 1, 2, 3}


@pytest.mark.parametrize("function", ["tl_depthwise_conv2d_s8_dsp", "tl_depthwise_conv2d_s8_dsp_w8"])
def test_depthwise_conv2d_s8_dsp_matches_numpy(lib: ctypes.CDLL, function: str) -> None:
    """Kernels 1-3 x 1-3, strides 1-2, dilation 1-2, SAME / VALID, depth multipliers 1-3, odd channel counts."""
    rng = np.random.default_rng(SEED + 10)
    seen = set()
    for _ in range(CASES):
        params, x = random_depthwise(rng, False)
        assert isinstance(params, DepthwiseConv2DS8Params)
        params = _dsp_ready(rng, params)
        seen.add((params.depth_multiplier > 1, params.out_ch % 4 == 0, params.k_w == 3))
        choice = _chosen(params, function)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert len(seen) == 8  # one-load and gathered groups, the unrolled 3-wide rows and the general loop


@pytest.mark.parametrize("function", ["tl_depthwise_conv2d_s8_dsp", "tl_depthwise_conv2d_s8_dsp_w8"])
def test_depthwise_conv2d_s8_dsp_mobilenet_like(lib: ctypes.CDLL, function: str) -> None:
    """DS-CNN / MobileNet-like layers: 3x3 (and 10x4) SAME and VALID, stride 1 and 2, many channels, extreme
    zero points, so that most positions take the straight loop."""
    rng = np.random.default_rng(SEED + 11)
    for ch, k_h, k_w, stride, in_h, in_w, same in (
        (64, 3, 3, 1, 25, 5, True), (32, 3, 3, 2, 12, 12, True), (24, 3, 3, 2, 11, 9, False),
        (20, 10, 4, 2, 13, 7, True), (12, 3, 3, 1, 7, 7, False), (4, 5, 5, 1, 8, 9, True),
    ):  # fmt: skip
        out_h = -(-in_h // stride) if same else (in_h - k_h) // stride + 1
        out_w = -(-in_w // stride) if same else (in_w - k_w) // stride + 1
        pad_h = max((out_h - 1) * stride + k_h - in_h, 0) // 2 if same else 0
        pad_w = max((out_w - 1) * stride + k_w - in_w, 0) // 2 if same else 0
        params = DepthwiseConv2DS8Params(
            batches=1, in_h=in_h, in_w=in_w, in_ch=ch, out_h=out_h, out_w=out_w, out_ch=ch, k_h=k_h, k_w=k_w,
            stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1, pad_top=pad_h, pad_left=pad_w,
            depth_multiplier=1, input_zero_point=int(rng.choice([-128, 127, 5])),
            output_zero_point=int(rng.choice([-128, 127, -3])), act_min=int(rng.choice([-128, -20])), act_max=127,
            multiplier=rng.integers(1 << 30, 1 << 31, ch), shift=rng.integers(-12, -5, ch),
            weights=rng.integers(-128, 128, (1, k_h, k_w, ch)), bias=rng.integers(-50000, 50000, ch),
        )  # fmt: skip
        x = rng.integers(-128, 128, (1, in_h, in_w, ch), dtype=np.int8)
        choice = _chosen(params, function)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))


@pytest.mark.parametrize("function", ["tl_depthwise_conv2d_s8_dsp", "tl_depthwise_conv2d_s8_dsp_w8"])
def test_depthwise_conv2d_s8_dsp_three_wide_small_maps(lib: ctypes.CDLL, function: str) -> None:
    """The 3-wide path that points padded taps at a zero-point row: maps of 1-7 (5-wide, 3x3, smaller than the
    window), kernel heights 1-5, strides and dilations 1-2, every padding TFLite allows, channel counts with
    and without a partial last group, and channel counts past the zero-point row (the general loop)."""
    rng = np.random.default_rng(SEED + 12)
    seen = set()
    for case in range(120):
        ch = int(rng.choice([4, 5, 8, 11, 64])) if case % 40 else 516
        k_h, dil_h, dil_w = int(rng.integers(1, 6)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        stride_h, stride_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(1, 8)), int(rng.choice([1, 2, 3, 5, 7]))
        eff_h, eff_w = (k_h - 1) * dil_h + 1, 2 * dil_w + 1
        top, left = int(rng.integers(0, eff_h)), int(rng.integers(0, eff_w))
        bottom, right = int(rng.integers(0, eff_h)), int(rng.integers(0, eff_w))
        if in_h + top + bottom < eff_h or in_w + left + right < eff_w:
            continue
        out_h = (in_h + top + bottom - eff_h) // stride_h + 1
        out_w = (in_w + left + right - eff_w) // stride_w + 1
        seen.add((ch > 512, ch % 4 == 0, in_w < eff_w))
        params = DepthwiseConv2DS8Params(
            batches=int(rng.integers(1, 3)), in_h=in_h, in_w=in_w, in_ch=ch, out_h=out_h, out_w=out_w, out_ch=ch,
            k_h=k_h, k_w=3, stride_h=stride_h, stride_w=stride_w, dilation_h=dil_h, dilation_w=dil_w, pad_top=top,
            pad_left=left, depth_multiplier=1, input_zero_point=int(rng.choice([-128, 127, 5])),
            output_zero_point=int(rng.choice([-128, 127, -3])), act_min=int(rng.choice([-128, -20])),
            act_max=int(rng.choice([127, 90])), multiplier=rng.integers(1 << 30, 1 << 31, ch),
            shift=rng.integers(-12, -5, ch), weights=rng.integers(-128, 128, (1, k_h, 3, ch)),
            bias=rng.integers(-50000, 50000, ch),
        )  # fmt: skip
        params = _dsp_ready(rng, params)
        x = rng.integers(-128, 128, (params.batches, in_h, in_w, ch), dtype=np.int8)
        choice = _chosen(params, function)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert {(False, True, True), (False, False, False), (True, True, False)} <= seen


def test_max_pool2d_s8_dsp_matches_numpy(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 3)
    for _ in range(CASES):
        params, x = random_pool(rng, False, is_max=True)
        choice = _chosen(params, "tl_max_pool2d_s8_dsp")
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))


def test_avg_pool2d_s8_dsp_matches_numpy(lib: ctypes.CDLL) -> None:
    """Random pools (odd channel counts, padding, strides, clamps), then global pools of 8x8 and 16x16 taps (a
    16-bit lane's limit) over all-extreme inputs, and the fallback past 256 taps."""
    rng = np.random.default_rng(SEED + 13)
    for _ in range(CASES):
        params, x = random_pool(rng, False, is_max=False)
        choice = _chosen(params, "tl_avg_pool2d_s8_dsp")
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    for size, channels, value in ((8, 64, None), (16, 7, -128), (16, 8, 127), (5, 12, None)):
        params = AvgPool2DS8Params(
            batches=1, in_h=size, in_w=size + 1, channels=channels, out_h=1, out_w=2, k_h=size, k_w=size,
            stride_h=1, stride_w=1, pad_top=0, pad_left=0, act_min=-128, act_max=127,
        )  # fmt: skip
        x = rng.integers(-128, 128, (1, size, size + 1, channels), dtype=np.int8)
        if value is not None:
            x[:] = value
        choice = _chosen(params, "tl_avg_pool2d_s8_dsp")
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    wide = replace(params, in_h=17, in_w=16, k_h=17, k_w=16, out_w=1)
    assert variants.choose(wide, BOARD).note == "tl_avg_pool2d_s8_dsp: a window of 272 > 256 taps"


def test_pad_s8_dsp_matches_numpy(lib: ctypes.CDLL) -> None:
    """Small random pads, then rows of up to 37 bytes with borders of up to 9 on every axis: runs that start
    and end anywhere in a word, input rows that are no multiple of 4."""
    rng = np.random.default_rng(SEED + 17)
    for case in range(2 * CASES):
        if case < CASES:
            params, x = random_pad(rng, False)
        else:
            dims = (int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 38)))
            params = PadS8Params(in_dims=dims, pad_before=tuple(int(v) for v in rng.integers(0, 10, size=4)),
                                 pad_after=tuple(int(v) for v in rng.integers(0, 10, size=4)),
                                 pad_value=int(rng.integers(-128, 128)))  # fmt: skip
            x = rng.integers(-128, 128, dims, dtype=np.int8)
        choice = _chosen(params, "tl_pad_s8_dsp")
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))


def test_mean_s8_dsp_matches_numpy(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 9)
    for _ in range(CASES):
        params, x = random_mean(rng, False)
        if rng.random() < 0.2:  # the longest mean the 16-bit lanes allow, at the extremes
            params = replace(params, count=256)
            x = rng.choice(np.array([-128, 127], np.int8), (params.batches, 256, params.channels))
        choice = _chosen(params, "tl_mean_s8_dsp")
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert variants.choose(replace(params, count=257), BOARD).function == "tl_mean_s8"


# ---- float32: fused multiply-adds, within the rounding bound of the sums ----------------------------------


def _within_fma_bound(params: Any, x: np.ndarray, got: np.ndarray) -> None:
    """|variant - reference| <= 2 gamma_n (sum |x w| + |bias|): both are within gamma_n of the exact sum
    (n = taps + 1 roundings at most; gamma_n = n u / (1 - n u), u = 2^-24); clamps do not widen it."""
    want = run(params, x)
    wide = float(np.finfo(np.float32).max)
    magnitude = replace(params, weights=np.abs(params.weights), bias=None, act_min=-wide, act_max=wide)
    sums = run(magnitude, np.abs(x)).astype(np.float64)
    if params.bias is not None:
        sums += np.abs(params.bias.astype(np.float64))
    n = params.weights[0].size + 1
    gamma = n * 2.0**-24 / (1 - n * 2.0**-24)
    assert np.all(np.abs(got.astype(np.float64) - want) <= 2.02 * gamma * sums), params


def test_conv2d_f32_fpu_within_bound(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 4)
    equal = 0
    for _ in range(CASES):
        params, x = random_conv(rng, True)
        got = run_variant(lib, _chosen(params, "tl_conv2d_f32_fpu"), x)
        _within_fma_bound(params, x, got)
        equal += int(np.array_equal(got, run(params, x)))
    assert equal < CASES  # the fused rounding is visible: the bound is what holds, not equality


def test_fully_connected_f32_fpu_within_bound(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 5)
    for _ in range(CASES):
        params, x = random_fc(rng, True)
        _within_fma_bound(params, x, run_variant(lib, _chosen(params, "tl_fully_connected_f32_fpu"), x))


# ---- the checks refuse generated data that does not match ----------------------------------------------------


def test_dsp_checks_refuse_inconsistent_generated_data(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 6)
    params, _ = random_conv(rng, False)
    choice = _chosen(_dsp_ready(rng, params), "tl_conv2d_s8_dsp")
    p = choice.params
    assert isinstance(p, Conv2DS8Params) and p.dsp_weights is not None and p.dsp_requant is not None

    def status(firmware: bool = True, **changes: Any) -> int:
        keep: list[Any] = []
        return _check(lib, choice, _struct(replace(choice, params=replace(p, **changes)), keep, firmware))

    assert status() == 0 and status(firmware=False) == 0
    w = p.dsp_weights.copy()
    w[np.flatnonzero(w)[0]] ^= 1
    assert status(firmware=False, dsp_weights=w) == BAD_PACKED  # no longer the weights, nor their folded sum
    assert status(firmware=False, dsp_bias=p.dsp_bias + 1) == BAD_PACKED  # no longer the bias folded
    assert status(dsp_bias=p.dsp_bias + (1 << 30)) == BAD_PACKED  # without the originals: could overflow
    assert status(dsp_requant=p.dsp_requant + 1) == BAD_PACKED
    assert status(dsp_weights=None) == BAD_PACKED
    assert status(scratch_bytes=p.scratch_bytes - 4) == BAD_PACKED
    weights = p.weights.copy()
    weights.reshape(-1)[0] ^= 1
    assert status(firmware=False, weights=weights) == BAD_PACKED  # checked against the originals when given
    f32, _ = random_conv(rng, True)
    f32_choice = _chosen(f32, "tl_conv2d_f32_fpu")
    keep: list[Any] = []
    assert _check(lib, f32_choice, _struct(replace(f32_choice, params=replace(f32, fpu_weights=None)), keep)) == 5


def test_w8_checks_refuse_inconsistent_generated_data(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 13)
    conv, _ = random_conv(rng, False)
    fc, _ = random_fc(rng, False)
    depthwise, _ = random_depthwise(rng, False)
    for params, function in (
        (conv, "tl_conv2d_s8_dsp_w8"),
        (fc, "tl_fully_connected_s8_dsp_w8"),
        (depthwise, "tl_depthwise_conv2d_s8_dsp_w8"),
    ):
        # a non-zero input zero point: the folded bias depends on every weight
        choice = _chosen(_dsp_ready(rng, replace(params, input_zero_point=7)), function)
        p = choice.params
        assert isinstance(p, Conv2DS8Params | FullyConnectedS8Params | DepthwiseConv2DS8Params)
        assert p.dsp_weights8 is not None

        def status(firmware: bool = True, **changes: Any) -> int:
            keep: list[Any] = []
            return _check(lib, choice, _struct(replace(choice, params=replace(p, **changes)), keep, firmware))  # noqa: B023

        assert status() == 0 and status(firmware=False) == 0
        w = p.dsp_weights8.copy()
        w[np.flatnonzero(w)[0]] ^= 1
        assert status(firmware=False, dsp_weights8=w) == BAD_PACKED
        assert status(dsp_weights8=None) == BAD_PACKED
        assert status(dsp_weights=np.zeros(8, np.int16)) == BAD_PACKED  # one form only
        assert status(firmware=False, dsp_bias=p.dsp_bias + 1) == BAD_PACKED
        weights = p.weights.copy()
        live = np.flatnonzero(p.multiplier)[0]
        at = live if isinstance(p, DepthwiseConv2DS8Params) else live * weights[0].size
        weights.reshape(-1)[at] ^= 1
        assert status(firmware=False, weights=weights) == BAD_PACKED


def test_depthwise_dsp_check_refuses_inconsistent_generated_data(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 12)
    params, _ = random_depthwise(rng, False)
    assert isinstance(params, DepthwiseConv2DS8Params)
    choice = _chosen(_dsp_ready(rng, params), "tl_depthwise_conv2d_s8_dsp")
    p = choice.params
    assert isinstance(p, DepthwiseConv2DS8Params) and p.dsp_weights is not None and p.dsp_bias is not None

    def status(firmware: bool = True, **changes: Any) -> int:
        keep: list[Any] = []
        return _check(lib, choice, _struct(replace(choice, params=replace(p, **changes)), keep, firmware))

    assert status() == 0 and status(firmware=False) == 0
    w = p.dsp_weights.copy()
    w[np.flatnonzero(w)[0]] ^= 1
    assert status(firmware=False, dsp_weights=w) == BAD_PACKED
    assert status(firmware=False, dsp_bias=p.dsp_bias + 1) == BAD_PACKED
    assert status(dsp_weights=None) == BAD_PACKED
    weights = p.weights.copy()
    weights.reshape(-1)[np.flatnonzero(p.multiplier)[0]] ^= 1
    assert status(firmware=False, weights=weights) == BAD_PACKED


def test_depthwise_layout_by_hand() -> None:
    """Taps x 6 channels -> groups of 4: per tap (c0, c2) then (c1, c3); channels past 6 are zero."""
    w = np.arange(1, 13, dtype=np.int8).reshape(2, 6)  # [tap][channel]
    packed = variants.pack_depthwise_s8_weights(w).reshape(2, 2, 2, 2)  # [group][tap][odd][half]
    np.testing.assert_array_equal(packed[0, 0], [[1, 3], [2, 4]])
    np.testing.assert_array_equal(packed[0, 1], [[7, 9], [8, 10]])
    np.testing.assert_array_equal(packed[1, 1], [[11, 0], [12, 0]])


# ---- the choice and the generated layouts ----------------------------------------------------------------------


def test_choice_falls_back_to_the_reference_with_a_reason() -> None:
    rng = np.random.default_rng(SEED + 7)
    params, _ = random_conv(rng, False)
    ready = _dsp_ready(rng, params)
    no_dsp = replace(BOARD, dsp=False, fpu=None)
    choice = variants.choose(ready, no_dsp)
    assert choice.function == "tl_conv2d_s8" and choice.is_reference and "has no DSP" in choice.note
    assert choice.params is ready and choice.scratch_bytes == 0
    left = replace(ready, multiplier=np.full(ready.out_ch, 1 << 30), shift=np.zeros(ready.out_ch, np.int32))
    assert "scale >= 0.5" in variants.choose(left, BOARD).note
    small = replace(ready, multiplier=np.full(ready.out_ch, (1 << 30) - 1))
    assert "not normalised" in variants.choose(small, BOARD).note
    assert variants.choose(ready, BOARD, optimise=False).function == "tl_conv2d_s8"
    f32, _ = random_conv(rng, True)
    assert variants.choose(f32, no_dsp).function == "tl_conv2d_f32"
    depthwise, _ = random_depthwise(rng, False)
    assert isinstance(depthwise, DepthwiseConv2DS8Params)
    left = replace(depthwise, shift=np.maximum(depthwise.shift, 0))
    note = variants.choose(left, BOARD).note
    assert note.startswith("tl_depthwise_conv2d_s8_dsp: channel 0: requantization scale >= 0.5"), note
    assert "has no DSP" in variants.choose(_dsp_ready(rng, depthwise), no_dsp).note
    avg_pool, _ = random_pool(rng, True, is_max=False)  # float32 average pools have none
    assert variants.choose(avg_pool, BOARD).note == "no optimised variant for this op"


def test_int8_weight_layout_by_hand() -> None:
    """Two channels of 6 weights in blocks of 4 channels, 2 chunks: per chunk the 4 channels' 4 bytes in natural
    order (what one LDR loads; SXTB16 gives (w0, w2), SXTB16 ROR #8 (w1, w3)); missing channels and k are zero."""
    w = np.arange(1, 13, dtype=np.int8).reshape(2, 6)
    packed = variants.pack_s8_weights8(w, 4, 2).reshape(2, 4, 4)  # [chunk][channel][k & 3]
    np.testing.assert_array_equal(packed[0, :2], [[1, 2, 3, 4], [7, 8, 9, 10]])
    np.testing.assert_array_equal(packed[1, :2], [[5, 6, 0, 0], [11, 12, 0, 0]])
    assert not packed[:, 2:].any()


def test_depthwise_int8_weight_layout_by_hand() -> None:
    """Taps x 6 channels -> groups of 4: per tap the group's 4 bytes in channel order; channels past 6 are zero."""
    w = np.arange(1, 13, dtype=np.int8).reshape(2, 6)  # [tap][channel]
    packed = variants.pack_depthwise_s8_weights8(w).reshape(2, 2, 4)  # [group][tap][channel & 3]
    np.testing.assert_array_equal(packed[0], [[1, 2, 3, 4], [7, 8, 9, 10]])
    np.testing.assert_array_equal(packed[1], [[5, 6, 0, 0], [11, 12, 0, 0]])


def test_packed_layouts_by_hand() -> None:
    """One output channel of 6 weights in blocks of 3 channels: per chunk of 4, (w0,w2) of the 3 channels,
    then (w1,w3); missing channels and k are zero."""
    w = np.arange(1, 7, dtype=np.int8).reshape(1, 6)
    packed = variants.pack_s8_weights(w, 3, 2).reshape(2, 2, 3, 2)  # [chunk][half][channel][pair]
    np.testing.assert_array_equal(packed[:, :, 0], [[[1, 3], [2, 4]], [[5, 0], [6, 0]]])
    assert not packed[:, :, 1:].any()
    f = variants.pack_f32_weights(np.arange(6, dtype=np.float32).reshape(2, 3), 4).reshape(3, 4)  # [k][channel]
    np.testing.assert_array_equal(f, [[0, 3, 0, 0], [1, 4, 0, 0], [2, 5, 0, 0]])


def test_requant_constants_fold_the_zero_point() -> None:
    """{2m - 2^32, 2^(r-1) + zp 2^r, r}; a zero multiplier gives {0, 1 + 2 zp, 1} (which yields zp)."""
    constants = variants.s8_requant_constants(np.array([1 << 30, 0]), np.array([-3, 0]), -5, 1000, 3)
    assert not isinstance(constants, str)
    rq, zero = constants
    np.testing.assert_array_equal(rq.reshape(3, 3), [[-(1 << 31), 4 - 5 * 8, 3], [0, -9, 1], [0, -9, 1]])
    np.testing.assert_array_equal(zero, [False, True, True])
    assert "overflow" in str(variants.s8_requant_constants(np.array([(1 << 31) - 1]), np.array([-31]), 127, 1, 3))


def test_generated_sources_name_the_variant(tmp_path: Path) -> None:
    """Variant layers get their generated arrays and NULL for the fields they never read."""
    from tinyodl.codegen.emit import emit
    from tinyodl.codegen.lower import lower, params_fields
    from tinyodl.ir import DType, Graph, Padding, Quant, Tensor
    from tinyodl.ir.ops import Conv2D

    rng = np.random.default_rng(SEED + 8)
    q = Quant.per_tensor(0.05, -3)
    tensors = [
        Tensor("x", (1, 1, 10, 8), DType.INT8, q),
        Tensor("w", (5, 1, 3, 8), DType.INT8, Quant((0.01,) * 5, (0,) * 5, 0),
               rng.integers(-127, 128, (5, 1, 3, 8)).astype(np.int8)),
        Tensor("b", (5,), DType.INT32, Quant((0.0005,) * 5, (0,) * 5, 0), rng.integers(-99, 99, 5).astype(np.int32)),
        Tensor("y", (1, 1, 10, 5), DType.INT8, q),
    ]  # fmt: skip
    graph = Graph("g", {t.name: t for t in tensors}, (Conv2D("c", ("x", "w", "b"), ("y",), padding=Padding.SAME),),
                  ("x",), ("y",))  # fmt: skip
    optimised, reference = lower(graph, BOARD, flash="speed"), lower(graph, BOARD, optimise=False)
    assert optimised.layers[0].function == "tl_conv2d_s8_dsp" and reference.layers[0].function == "tl_conv2d_s8"
    arrays, fields = params_fields(optimised.layers[0])
    kinds = {f.name: f.kind for f in fields}
    assert kinds["weights"] == "null" and kinds["dsp_weights"] == "ptr" and kinds["scratch"] == "arena"
    assert kinds["dsp_weights8"] == "null"
    assert {a.ctype for a in arrays} == {"int16_t", "int32_t"}
    compact = lower(graph, BOARD, flash="size").layers[0]
    arrays8, fields8 = params_fields(compact)
    kinds8 = {f.name: f.kind for f in fields8}
    assert compact.function == "tl_conv2d_s8_dsp_w8" and kinds8["dsp_weights"] == "null"
    assert {a.ctype for a in arrays8} == {"int8_t", "int32_t"} and kinds8["weights"] == "null"
    assert optimised.plan.arena_bytes == reference.plan.arena_bytes + 5 * 24 == optimised.activation_bytes + 120
    text = emit(optimised, BOARD.name)["g.c"]
    assert "tl_conv2d_s8_dsp_check(&g_c)" in text and ".scratch = (int16_t *)(void *)(g_arena + " in text


def test_conv2d_s8_dsp_adds_the_zero_point_after_where_folding_overflows(lib: ctypes.CDLL) -> None:
    """A small requantization scale (a right shift of 24 and more, as MobileNet's pointwise layers have) times
    the output zero point overflows the folded rounding constant: the variant still serves the layer, with
    the zero point added after (dsp_zero_point), bit-exact; a layer that folds keeps dsp_zero_point 0."""
    rng = np.random.default_rng(SEED + 9)
    after = 0
    for _ in range(60):
        params, x = random_conv(rng, False)
        shift = -rng.integers(22, 28, size=params.out_ch)
        zp = int(rng.choice([-128, -100, 90, 127]))
        params = replace(params, shift=shift, output_zero_point=zp, act_min=-128, act_max=127)
        choice = _chosen(params, "tl_conv2d_s8_dsp")
        after += choice.params.dsp_zero_point != 0
        assert choice.params.dsp_zero_point in (0, zp)
        np.testing.assert_array_equal(run_variant(lib, choice, x), run(params, x), err_msg=str(params))
    assert after > 0
    folded, _ = random_conv(np.random.default_rng(SEED), False)
    assert _chosen(_dsp_ready(np.random.default_rng(1), folded), "tl_conv2d_s8_dsp").params.dsp_zero_point == 0


def test_add_s8_dsp_matches_numpy(lib: ctypes.CDLL) -> None:
    """Three requantizations in tl_dsp_requantize's five instructions each (the larger-scale input's a halving),
    bit-exact over seeded random scales, zero points and activation ranges, with equal input scales too."""
    rng = np.random.default_rng(SEED + 11)
    halving_both = 0
    for case in range(CASES):
        params, a, b = random_add(rng, False)
        if case % 10 == 0:  # equal input scales: both rescales are the halving
            (m1, s1), (m2, s2), (mo, so) = quant.add_multipliers(0.05, 0.05, float(rng.uniform(0.02, 0.2)))
            params = replace(params, input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
                             output_multiplier=mo, output_shift=so)  # fmt: skip
            halving_both += 1
        choice = _chosen(params, "tl_add_s8_dsp")
        keep: list[Any] = []
        struct = _struct(choice, keep)
        assert _check(lib, choice, struct) == 0
        want = run(params, a, b)
        out = np.full(want.shape, 0x55, np.int8)
        fn = lib.tl_add_s8_dsp
        fn.restype = ctypes.c_int
        args = [np.ascontiguousarray(v) for v in (a, b)]
        assert (
            fn(ctypes.byref(struct), *(ctypes.c_void_p(v.ctypes.data) for v in args), ctypes.c_void_p(out.ctypes.data))
            == 0
        )
        np.testing.assert_array_equal(out, want, err_msg=str(params))
    assert halving_both > 0
