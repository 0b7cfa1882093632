"""A convolution fused with its pooling (passes.fuse, tl_conv_pool_*): on the host against the numpy oracle
(the two kernels run whole, one after the other) over seeded random shapes, paddings, strides and band
sizes, with every inner kernel the lowering can choose; the fusion pass on graphs; the arena it saves.
The fused layers run on the simulated boards in tests/test_model_runs.py (the HAR network, fused models)."""

from __future__ import annotations

import ctypes
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_kernels_c import HOST_FLAGS, KERNEL_SOURCES, compile_c, random_conv, to_struct

from tinyodl.boards import load_board
from tinyodl.codegen.lower import _fused_choice, _with_scratch, lower
from tinyodl.ir import ConvPool
from tinyodl.passes import check_plan, fuse_conv_pool
from tinyodl.reference import (
    AvgPool2DF32Params,
    AvgPool2DS8Params,
    ConvPoolF32Params,
    ConvPoolS8Params,
    MaxPool2DF32Params,
    MaxPool2DS8Params,
    run,
)
from tinyodl.reference.compare import F32_ULP_TOLERANCE, max_ulp

SEED = 20261202
CASES = 120
BOARD = load_board("nucleo-l476rg")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ctypes.CDLL]:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    path = tmp_path_factory.mktemp("fusion") / "libtl_kernels.so"
    compile_c("gcc", [*HOST_FLAGS, "-shared", "-fPIC", *map(str, KERNEL_SOURCES), "-o", str(path), "-lm"])
    yield ctypes.CDLL(str(path))


def _random_fused(rng: np.random.Generator, f32: bool) -> tuple[Any, np.ndarray]:
    """A random convolution (batch 1; a one-row input half the time) and a pooling whose windows tile its
    output along the band axis."""
    while True:
        conv, x = random_conv(rng, f32)
        if conv.batches != 1:
            continue
        if rng.random() < 0.5 and conv.out_h > 1:  # a Conv1D: one row, bands of columns
            conv = replace(conv, in_h=1, out_h=1, k_h=1, pad_top=0, stride_h=1, dilation_h=1,
                           weights=np.ascontiguousarray(conv.weights[:, :1]))  # fmt: skip
            x = np.ascontiguousarray(x[:, :1])
        rows = conv.out_h > 1
        if not rows and conv.in_h != 1:  # not fused: bands of columns need a one-row input
            continue
        s = int(rng.integers(1, 4))
        length = conv.out_h if rows else conv.out_w
        if length // s < 1:
            continue
        other_k = int(rng.integers(1, 3))
        other_len = conv.out_w if rows else conv.out_h
        if other_len < other_k:
            other_k = 1
        k_h, k_w = (s, other_k) if rows else (1 if conv.out_h == 1 else other_k, s)
        out_h = conv.out_h // k_h if rows else (conv.out_h - k_h) // 1 + 1
        out_w = (conv.out_w - k_w) // 1 + 1 if rows else conv.out_w // k_w
        stride_h, stride_w = (k_h, 1) if rows else (1, k_w)
        geometry: dict[str, Any] = dict(batches=1, in_h=conv.out_h, in_w=conv.out_w, channels=conv.out_ch,
                                        out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w, stride_h=stride_h,
                                        stride_w=stride_w, pad_top=0, pad_left=0)  # fmt: skip
        is_max = bool(rng.integers(2))
        if f32:
            pool_cls: Any = MaxPool2DF32Params if is_max else AvgPool2DF32Params
            pool = pool_cls(**geometry, act_min=-3.0e38, act_max=3.0e38)
            return ConvPoolF32Params(conv=conv, pool=pool), x
        pool_cls = MaxPool2DS8Params if is_max else AvgPool2DS8Params
        pool = pool_cls(**geometry, act_min=-128, act_max=127)
        if rng.random() < 0.6:  # right shifts only: the DSP convolution's precondition
            conv = replace(conv, shift=np.minimum(conv.shift, -1))
        return ConvPoolS8Params(conv=conv, pool=pool), x


def _run_c(lib: ctypes.CDLL, params: Any, x: np.ndarray, want: np.ndarray, function: str = "") -> np.ndarray:
    keep: list[Any] = []
    struct = to_struct(params, keep, lib)
    function = function or params.c_function
    check = getattr(lib, f"{function}_check")
    check.restype = ctypes.c_int
    assert check(ctypes.byref(struct)) == 0, f"{function}_check rejected {params}"
    out = np.full(want.shape, 0x55 if want.dtype == np.int8 else np.nan, want.dtype)
    fn = getattr(lib, function)
    fn.restype = ctypes.c_int
    x = np.ascontiguousarray(x)
    assert fn(ctypes.byref(struct), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(out.ctypes.data)) == 0
    return out


@pytest.mark.parametrize("f32", [False, True], ids=["int8", "float32"])
def test_fused_conv_pool_matches_the_two_kernels(lib: ctypes.CDLL, f32: bool) -> None:
    rng = np.random.default_rng(SEED + f32)
    seen = set()
    for _ in range(CASES):
        params, x = _random_fused(rng, f32)
        want = run(params.pool, run(params.conv, x))
        for optimise in (False, True):
            choice, scratch = _fused_choice(params, BOARD, optimise)
            fused = choice.params
            unit = fused.band_unit
            bands = {fused.band, unit, min(3 * unit, fused.band_length // unit * unit)}
            for band in sorted(bands):
                tried = _with_scratch(replace(fused, band=band, buffer_bytes=fused.band_bytes(band)), 0)
                got = _run_c(lib, tried, x, want)
                # the very kernels the fused layer calls, run whole: the same bits, float32 included
                mid = _run_c(lib, _with_scratch(fused, 0).conv, x, run(params.conv, x), fused.conv_fn.name)
                whole = _run_c(lib, fused.pool, mid, want, fused.pool_fn.name)
                np.testing.assert_array_equal(got, whole, err_msg=f"{choice.note}, band {band}: {params}")
                if f32:
                    assert optimise or max_ulp(got, want) <= F32_ULP_TOLERANCE, choice.note
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{choice.note}, band {band}: {params}")
                seen.add((fused.rows, fused.conv_fn.name, fused.pool_fn.name))
    kinds = {name for _, name, _ in seen}
    assert (False in {r for r, _, _ in seen}) and (True in {r for r, _, _ in seen}), seen  # rows and columns
    assert kinds >= ({"tl_conv2d_f32", "tl_conv2d_f32_fpu"} if f32 else {"tl_conv2d_s8", "tl_conv2d_s8_dsp"})


def test_fused_check_refuses_a_band_that_does_not_tile(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(SEED + 7)
    params, _ = _random_fused(rng, False)
    while params.band_unit < 2:
        params, _ = _random_fused(rng, False)
    choice, _ = _fused_choice(params, BOARD, False)
    keep: list[Any] = []
    bad = _with_scratch(choice.params, 0)
    struct = to_struct(bad, keep, lib)
    struct.band = params.band_unit + 1
    check = lib.tl_conv_pool_s8_check
    check.restype = ctypes.c_int
    assert check(ctypes.byref(struct)) == 2  # TL_STATUS_BAD_SHAPE
    struct.band = params.band_unit
    struct.buffer_bytes = params.band_bytes(params.band_unit) - 1
    assert check(ctypes.byref(struct)) == 2


# ---- the pass and the arena -----------------------------------------------------------------------------


def test_fusion_pass_on_the_har_network(har_tflite: dict[str, Path]) -> None:
    from tinyodl.modelrun import ModelOptions, import_model

    _, graph, _ = import_model(har_tflite["int8"], ModelOptions())
    fused = fuse_conv_pool(graph)
    kinds = [op.kind for op in fused.ops if op.kind != "RESHAPE"]
    assert kinds == ["CONV_2D", "CONV_POOL", "CONV_2D", "MEAN"]
    (op,) = [op for op in fused.ops if isinstance(op, ConvPool)]
    assert op.mid is not None and op.mid.name not in fused.tensors  # the full-resolution tensor is gone
    plain, with_fusion = lower(graph, BOARD, fuse=False), lower(graph, BOARD)
    check_plan(with_fusion.graph, with_fusion.plan)
    assert with_fusion.plan.arena_bytes < plain.plan.arena_bytes
