"""The C reference kernels (firmware/kernels) against the numpy oracle.

Built with host gcc into a shared library (ctypes). The ctypes structs are parsed from tl_kernels.h, so the
layout the test uses is the header's, and a test checks that every C params struct has exactly the fields of
its Python params class, in order (the generator fills one from the other). int8 outputs must be equal bit
for bit; float32 within F32_ULP_TOLERANCE ulp (the reference kernels measure 0). Hand-checkable golden
vectors first, then seeded random shapes over the edge cases, then a -Werror cross-compile for both cores.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_arm_gcc

from tinyodl.ir import Activation
from tinyodl.reference import (
    KERNELS,
    AddConstF32Params,
    AddConstS8Params,
    AddF32Params,
    AddS8Params,
    AvgPool2DF32Params,
    AvgPool2DS8Params,
    Conv2DF32Params,
    Conv2DS8Params,
    DepthwiseConv2DF32Params,
    DepthwiseConv2DS8Params,
    FullyConnectedF32Params,
    FullyConnectedS8Params,
    KernelParams,
    MaxPool2DF32Params,
    MaxPool2DS8Params,
    MeanF32Params,
    MeanS8Params,
    PadF32Params,
    PadS8Params,
    ReluF32Params,
    ReluS8Params,
    SoftmaxF32Params,
    SoftmaxS8Params,
    quant,
    run,
)
from tinyodl.reference.compare import F32_ULP_TOLERANCE, max_ulp
from tinyodl.reference.params import ArenaBuffer
from tinyodl.reference.softmax import softmax_scaling

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / "firmware" / "kernels"
KERNEL_SOURCES = sorted(KERNEL_DIR.glob("*.c"))
HEADER = KERNEL_DIR / "tl_kernels.h"
WARNINGS = "-std=c99 -O2 -Wall -Wextra -Werror -Wdouble-promotion -Wshadow"
HOST_FLAGS = f"{WARNINGS} -ffp-contract=off".split()
CORES = {
    "cortex-m4": "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard",
    "cortex-m7": "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard",
}
STATUS = {"TL_STATUS_OK": 0, "TL_STATUS_NULL_ARG": 1, "TL_STATUS_BAD_SHAPE": 2, "TL_STATUS_BAD_QUANT": 3}
STATUS_OVERFLOW = 4
BINARY = {AddS8Params, AddF32Params}
SEED = 20250611
RANDOM_CASES = 60

# ---- the header, parsed ------------------------------------------------------------------------------

_C_TYPES: dict[str, Any] = {
    "int32_t": ctypes.c_int32,
    "int16_t": ctypes.c_int16,
    "int8_t": ctypes.c_int8,
    "float": ctypes.c_float,
}


def parse_header(text: str) -> dict[str, type[ctypes.Structure]]:
    """Every `typedef struct {...} name;` (and `typedef a b;` alias) as a ctypes Structure."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    structs: dict[str, type[ctypes.Structure]] = {}
    for body, struct_name in re.findall(r"typedef struct \{(.*?)\}\s*(\w+);", text, flags=re.S):
        layout: list[tuple[str, Any]] = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            match = re.fullmatch(r"(?:const\s+)?(\w+)\s+(.+)", decl, flags=re.S)
            assert match, decl
            if match.group(1).endswith("_fn"):  # a function pointer (a fused layer's inner kernels)
                layout.append((match.group(2).strip(), ctypes.c_void_p))
                continue
            base = structs[match.group(1)] if match.group(1) in structs else _C_TYPES[match.group(1)]
            for item in (i.strip() for i in match.group(2).split(",")):
                array = re.fullmatch(r"(\w+)\[(\d+)\]", item)
                if item.startswith("*"):
                    layout.append((item.lstrip("*").strip(), ctypes.POINTER(base)))
                elif array:
                    layout.append((array.group(1), base * int(array.group(2))))
                else:
                    layout.append((item, base))
        structs[struct_name] = type(struct_name, (ctypes.Structure,), {"_fields_": layout})
    for old, new in re.findall(r"typedef (\w+_t) (\w+_t);", text):
        structs[new] = structs[old]
    return structs


STRUCTS = parse_header(HEADER.read_text())


def struct_name(params_cls: type[KernelParams]) -> str:
    suffix = "s8" if params_cls.dtype.value == "int8" else "f32"
    return f"tl_{params_cls.family}_{suffix}_params_t"


def to_struct(params: KernelParams, keep: list[Any], lib: ctypes.CDLL | None = None) -> ctypes.Structure:
    """Fill the C struct from the Python params (same field names); arrays stay alive in `keep`. Working
    memory in the arena gets a buffer of its own, filled with garbage; function pointers come from `lib`."""
    struct_cls = STRUCTS[struct_name(type(params))]
    values = {}
    for field_name, ctype in struct_cls._fields_:
        value = getattr(params, field_name)
        if isinstance(value, KernelParams):
            values[field_name] = to_struct(value, keep, lib)
        elif ctype is ctypes.c_void_p:
            assert lib is not None, f"{field_name}: a function pointer needs the library"
            values[field_name] = ctypes.cast(getattr(lib, value.name), ctypes.c_void_p)
        elif isinstance(value, ArenaBuffer):
            buffer = np.full(value.nbytes, 0x5A, np.uint8)
            keep.append(buffer)
            values[field_name] = buffer.ctypes.data_as(ctype)
        elif hasattr(ctype, "contents"):  # a pointer
            if value is None:
                values[field_name] = ctype()
            else:
                array = np.ascontiguousarray(value, dtype=np.dtype(ctype._type_))
                keep.append(array)
                values[field_name] = array.ctypes.data_as(ctype)
        elif hasattr(ctype, "_length_"):
            values[field_name] = ctype(*value)
        else:
            values[field_name] = value
    return struct_cls(**values)


# ---- the library -------------------------------------------------------------------------------------


def compile_c(compiler: str, args: list[str]) -> None:
    result = subprocess.run([compiler, *args], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, f"{compiler} {' '.join(args)} failed:\n{result.stderr}"


@dataclass
class Kernels:
    lib: ctypes.CDLL

    def function(self, params: KernelParams, check: bool = False) -> Any:
        fn = getattr(self.lib, params.c_function + ("_check" if check else ""))
        fn.restype = ctypes.c_int
        return fn

    def check(self, params: KernelParams, struct: ctypes.Structure | None = None) -> int:
        keep: list[Any] = []
        struct = to_struct(params, keep) if struct is None else struct
        return int(self.function(params, check=True)(ctypes.byref(struct)))

    def run(self, params: KernelParams, *inputs: np.ndarray) -> np.ndarray:
        """Run the C kernel; the output has the numpy kernel's shape and type."""
        keep: list[Any] = []
        struct = to_struct(params, keep)
        assert self.check(params, struct) == 0, f"{params.c_function}_check rejected valid params"
        expected = run(params, *inputs)
        out = (
            np.full(expected.shape, 0x55, dtype=expected.dtype)
            if expected.dtype == np.int8
            else (np.full(expected.shape, np.nan, dtype=expected.dtype))
        )
        args = [np.ascontiguousarray(x) for x in inputs]
        pointers = [ctypes.c_void_p(a.ctypes.data) for a in (*args, out)]
        status = self.function(params)(ctypes.byref(struct), *pointers)
        assert status == 0, f"{params.c_function} returned {status}"
        return out


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernels]:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    lib_path = tmp_path_factory.mktemp("c_kernels") / "libtl_kernels.so"
    compile_c("gcc", [*HOST_FLAGS, "-shared", "-fPIC", *map(str, KERNEL_SOURCES), "-o", str(lib_path)])
    yield Kernels(ctypes.CDLL(str(lib_path)))


def assert_same(kernels: Kernels, params: KernelParams, *inputs: np.ndarray) -> np.ndarray:
    """C output == numpy output (int8 exactly, float32 within the ulp tolerance); returns it."""
    got = kernels.run(params, *inputs)
    want = run(params, *inputs)
    if want.dtype == np.int8:
        np.testing.assert_array_equal(got, want, err_msg=f"{params.c_function}: {params}")
    else:
        distance = max_ulp(got, want)
        assert distance <= F32_ULP_TOLERANCE, f"{params.c_function}: {distance} ulp from numpy ({params})"
    return got


ALL_PARAMS = sorted(KERNELS, key=lambda cls: cls.__name__)


# ---- the header and the Python params agree ------------------------------------------------------------


@pytest.mark.parametrize("params_cls", ALL_PARAMS, ids=lambda c: c.__name__)
def test_c_struct_fields_are_the_params_fields(params_cls: type[KernelParams]) -> None:
    struct_cls = STRUCTS[struct_name(params_cls)]
    c_fields = [name for name, _ in struct_cls._fields_]
    assert c_fields == [f.name for f in fields(params_cls)]


def test_every_kernel_has_a_check_function_and_a_source_file() -> None:
    header = HEADER.read_text()
    for params_cls in ALL_PARAMS:
        function = f"tl_{params_cls.family}_{'s8' if params_cls.dtype.value == 'int8' else 'f32'}"
        assert f"tl_status_t {function}_check(" in header and f"tl_status_t {function}(" in header
        assert (KERNEL_DIR / f"{function}.c").is_file()


# ---- golden vectors (hand-checkable) -------------------------------------------------------------------

IMAGE_3X3 = np.arange(1, 10, dtype=np.int8).reshape(1, 3, 3, 1)
# 3x3 box sums of IMAGE_3X3 with SAME padding (padding counts as 0):
BOX_SUMS = np.array([[12, 21, 16], [27, 45, 33], [24, 39, 28]])
HALF = (1 << 30, 0)  # 0.5 as (multiplier, shift)


def conv_s8(**overrides: Any) -> Conv2DS8Params:
    base: dict[str, Any] = dict(
        batches=1, in_h=3, in_w=3, in_ch=1, out_h=3, out_w=3, out_ch=1, k_h=3, k_w=3, stride_h=1, stride_w=1,
        dilation_h=1, dilation_w=1, pad_top=1, pad_left=1, input_zero_point=0, output_zero_point=0,
        act_min=-128, act_max=127, multiplier=[HALF[0]], shift=[HALF[1]],
        weights=np.ones((1, 3, 3, 1), np.int8), bias=None,
    )  # fmt: skip
    base.update(overrides)
    return Conv2DS8Params(**base)


def test_golden_conv2d_s8_box_filter_rounding(kernels: Kernels) -> None:
    """x 0.5 = (2^30, shift 0): only the doubling high multiply rounds, ties toward +infinity."""
    # sums / 2: 6, 10.5, 8, 13.5, 22.5, 16.5, 12, 19.5, 14
    want = np.array([[6, 11, 8], [14, 23, 17], [12, 20, 14]], np.int8).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(assert_same(kernels, conv_s8(), IMAGE_3X3), want)
    negative = conv_s8(weights=-np.ones((1, 3, 3, 1), np.int8))
    want_negative = np.array([[-6, -10, -8], [-13, -22, -16], [-12, -19, -14]], np.int8).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(assert_same(kernels, negative, IMAGE_3X3), want_negative)


def test_golden_conv2d_s8_double_rounding(kernels: Kernels) -> None:
    """x 0.25 = (2^30, shift -1): round(sum / 2) (ties up), then a rounding shift (ties away from zero).
    45 / 4 = 11.25 becomes 23 then 12, where a single rounding would give 11: TFLite's double rounding."""
    quarter = conv_s8(shift=[-1])
    want = np.array([[3, 6, 4], [7, 12, 9], [6, 10, 7]], np.int8).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(assert_same(kernels, quarter, IMAGE_3X3), want)
    single = np.floor(BOX_SUMS / 4 + 0.5)  # what single rounding would give: differs at 21, 45 and 33
    assert (single != want.reshape(3, 3)).sum() == 3


def test_golden_conv2d_s8_padding_is_the_input_zero_point(kernels: Kernels) -> None:
    # the same real image stored with zero point 5: padding must still add nothing
    shifted = conv_s8(input_zero_point=5)
    want = np.array([[6, 11, 8], [14, 23, 17], [12, 20, 14]], np.int8).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(assert_same(kernels, shifted, IMAGE_3X3 + 5), want)


def test_golden_conv2d_s8_valid_bias_zero_point_and_relu_clamp(kernels: Kernels) -> None:
    valid = conv_s8(out_h=1, out_w=1, pad_top=0, pad_left=0, bias=[-5], output_zero_point=-10)
    # (45 - 5) / 2 - 10 = 10
    np.testing.assert_array_equal(assert_same(kernels, valid, IMAGE_3X3), [[[[10]]]])
    relu = conv_s8(weights=-np.ones((1, 3, 3, 1), np.int8), output_zero_point=-10, act_min=-10)
    np.testing.assert_array_equal(assert_same(kernels, relu, IMAGE_3X3), np.full((1, 3, 3, 1), -10, np.int8))


def test_golden_conv2d_f32_box_filter(kernels: Kernels) -> None:
    params = Conv2DF32Params(
        batches=1, in_h=3, in_w=3, in_ch=1, out_h=3, out_w=3, out_ch=1, k_h=3, k_w=3, stride_h=1, stride_w=1,
        dilation_h=1, dilation_w=1, pad_top=1, pad_left=1, act_min=-1e30, act_max=1e30,
        weights=np.full((1, 3, 3, 1), 0.5, np.float32), bias=np.array([0.25], np.float32),
    )  # fmt: skip
    got = assert_same(kernels, params, IMAGE_3X3.astype(np.float32))
    np.testing.assert_array_equal(got, (BOX_SUMS * 0.5 + 0.25).reshape(1, 3, 3, 1).astype(np.float32))


def test_golden_depthwise_s8_depth_multiplier(kernels: Kernels) -> None:
    # 2x2 input, 2 channels, multiplier 2, 2x2 VALID kernel: output channel c reads input channel c // 2
    x = np.array([1, 10, 2, 20, 3, 30, 4, 40], np.int8).reshape(1, 2, 2, 2)
    w = np.array([[1, 0, 1, -1], [1, 0, 1, -1], [1, 0, 1, -1], [1, 1, 1, -1]], np.int8).reshape(1, 2, 2, 4)
    params = DepthwiseConv2DS8Params(
        batches=1, in_h=2, in_w=2, in_ch=2, out_h=1, out_w=1, out_ch=4, k_h=2, k_w=2, stride_h=1, stride_w=1,
        dilation_h=1, dilation_w=1, pad_top=0, pad_left=0, depth_multiplier=2, input_zero_point=0,
        output_zero_point=0, act_min=-128, act_max=127, multiplier=[1 << 30] * 4, shift=[1] * 4,
        weights=w, bias=[0, 0, 0, 7],
    )  # fmt: skip
    # ch0: 1+2+3+4 = 10; ch1: 4 (only the last tap); ch2: 10+20+30+40 = 100; ch3: -100 + 7 = -93
    np.testing.assert_array_equal(assert_same(kernels, params, x), [[[[10, 4, 100, -93]]]])


def test_golden_fully_connected_s8(kernels: Kernels) -> None:
    params = FullyConnectedS8Params(
        batches=2, in_features=3, out_features=2, input_zero_point=-1, output_zero_point=3, act_min=-128,
        act_max=127, multiplier=[1 << 30, 1 << 30], shift=[1, 0], weights=[[1, 0, -1], [2, 2, 2]], bias=[10, -4],
    )  # fmt: skip
    x = np.array([[0, 1, 2], [-1, -1, -1]], np.int8)  # real values (zero point -1): [1, 2, 3] and [0, 0, 0]
    # batch 0: 1 - 3 + 10 = 8 (x1) -> 11; 12 - 4 = 8 (x0.5) -> 4 + 3 = 7. batch 1: 10 -> 13; -4 / 2 -> -2 + 3 = 1
    np.testing.assert_array_equal(assert_same(kernels, params, x), [[11, 7], [13, 1]])


def test_golden_pools_s8(kernels: Kernels) -> None:
    grid = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1)
    geometry: dict[str, Any] = dict(batches=1, in_h=4, in_w=4, channels=1, out_h=2, out_w=2, k_h=2, k_w=2,
                                    stride_h=2, stride_w=2, pad_top=0, pad_left=0)  # fmt: skip
    got = assert_same(kernels, MaxPool2DS8Params(**geometry, act_min=-128, act_max=127), grid)
    np.testing.assert_array_equal(got.reshape(2, 2), [[5, 7], [13, 15]])
    got = assert_same(kernels, MaxPool2DS8Params(**geometry, act_min=-128, act_max=10), grid)
    np.testing.assert_array_equal(got.reshape(2, 2), [[5, 7], [10, 10]])
    # 2x2 SAME average over the 3x3 image (padding not counted): halves round away from zero
    same: dict[str, Any] = dict(batches=1, in_h=3, in_w=3, channels=1, out_h=3, out_w=3, k_h=2, k_w=2,
                                stride_h=1, stride_w=1, pad_top=0, pad_left=0, act_min=-128, act_max=127)  # fmt: skip
    averages = np.array([[3, 4, 5], [6, 7, 8], [8, 9, 9]])  # 12/4 16/4 9/2 | 24/4 28/4 15/2 | 15/2 17/2 9/1
    got = assert_same(kernels, AvgPool2DS8Params(**same), IMAGE_3X3)
    np.testing.assert_array_equal(got.reshape(3, 3), averages)
    got = assert_same(kernels, AvgPool2DS8Params(**same), -IMAGE_3X3)
    np.testing.assert_array_equal(got.reshape(3, 3), -averages)


def test_golden_mean_s8_folds_the_count_into_the_multiplier(kernels: Kernels) -> None:
    multiplier, shift = quant.mean_multiplier(*quant.quantize_multiplier(1.0), count=4)
    assert (multiplier, shift) == (1 << 30, -1)  # 1.0 / 4 = 0.5 * 2^-1
    params = MeanS8Params(batches=1, count=4, channels=2, input_zero_point=0, output_zero_point=0,
                          multiplier=multiplier, shift=shift, act_min=-128, act_max=127)  # fmt: skip
    x = np.array([[1, -1], [2, -2], [3, -3], [4, -5]], np.int8)
    # channel 0: 10 / 4 = 2.5 -> 3; channel 1: -11 / 4 = -2.75 -> -3
    np.testing.assert_array_equal(assert_same(kernels, params, x), [[3, -3]])


def test_golden_add_s8(kernels: Kernels) -> None:
    (m1, s1), (m2, s2), (mo, so) = quant.add_multipliers(1.0, 1.0, 1.0)
    assert (m1, s1) == (1 << 30, 0) and (mo, so) == (1 << 30, -18)  # 0.5 and 2 / 2^20 = 0.5 * 2^-18
    params = AddS8Params(size=4, input1_zero_point=0, input2_zero_point=0, output_zero_point=0, left_shift=20,
                         input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
                         output_multiplier=mo, output_shift=so, act_min=-128, act_max=127)  # fmt: skip
    a = np.array([1, 2, -3, 100], np.int8)
    b = np.array([1, 3, -3, 100], np.int8)
    np.testing.assert_array_equal(assert_same(kernels, params, a, b), [2, 5, -6, 127])


def test_golden_pad_s8_and_f32(kernels: Kernels) -> None:
    x = np.array([[1, 2], [3, 4]], np.int8).reshape(1, 2, 2, 1)
    params = PadS8Params(in_dims=(1, 2, 2, 1), pad_before=(0, 1, 0, 0), pad_after=(0, 0, 2, 0), pad_value=-5)
    want = np.array([[-5, -5, -5, -5], [1, 2, -5, -5], [3, 4, -5, -5]], np.int8).reshape(1, 3, 4, 1)
    np.testing.assert_array_equal(assert_same(kernels, params, x), want)
    f32 = PadF32Params(in_dims=(1, 2, 2, 1), pad_before=(0, 1, 0, 0), pad_after=(0, 0, 2, 0), pad_value=0.0)
    np.testing.assert_array_equal(assert_same(kernels, f32, x.astype(np.float32)), np.where(want == -5, 0, want))


# ---- seeded random shapes over the edge cases ---------------------------------------------------------


def _zero_point(rng: np.random.Generator) -> int:
    return int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))


def _act_range(rng: np.random.Generator) -> tuple[int, int]:
    kind = rng.integers(0, 3)
    if kind == 0:
        return -128, 127
    lo = int(rng.integers(-128, 60))
    return lo, int(rng.integers(lo, 128)) if kind == 2 else 127


def _multipliers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    multiplier = rng.integers(1 << 30, 1 << 31, size=n, dtype=np.int64)
    multiplier[rng.random(n) < 0.1] = 1 << 30  # exact powers of two produce ties
    shift = rng.integers(-14, -3, size=n)
    shift[rng.random(n) < 0.1] = rng.integers(0, 3)  # the left-shift path
    return multiplier.astype(np.int32), shift.astype(np.int32)


def _geometry(rng: np.random.Generator, depthwise: bool = False) -> dict[str, Any]:
    """Odd channel counts and sizes, strides 1-2, dilation 1-2, SAME-like or VALID-like padding."""
    k_h, k_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    s_h, s_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    d_h, d_w = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.4 else (1, 1)
    in_h, in_w = int(rng.integers((k_h - 1) * d_h + 1, 10)), int(rng.integers((k_w - 1) * d_w + 1, 10))
    same = bool(rng.random() < 0.5)
    geometry: dict[str, Any] = dict(batches=int(rng.integers(1, 3)), in_h=in_h, in_w=in_w,
                                    in_ch=int(rng.choice([1, 2, 3, 5, 7, 8, 13])), k_h=k_h, k_w=k_w,
                                    stride_h=s_h, stride_w=s_w, dilation_h=d_h, dilation_w=d_w)  # fmt: skip
    for axis, size, k, s, d in (("h", in_h, k_h, s_h, d_h), ("w", in_w, k_w, s_w, d_w)):
        window = (k - 1) * d + 1
        out = (size + s - 1) // s if same else (size - window + s) // s
        total = max((out - 1) * s + window - size, 0) if same else 0
        geometry[f"out_{axis}"] = out
        geometry["pad_top" if axis == "h" else "pad_left"] = total // 2
    if depthwise:
        geometry["depth_multiplier"] = int(rng.integers(1, 4))
        geometry["out_ch"] = geometry["in_ch"] * geometry["depth_multiplier"]
    else:
        geometry["out_ch"] = int(rng.choice([1, 3, 4, 5, 9]))
    return geometry


def _int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def _f32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _f32_act(rng: np.random.Generator) -> tuple[float, float]:
    return quant.float_activation_range(list(Activation)[int(rng.integers(0, 3))])


def random_conv(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    g = _geometry(rng)
    w_shape = (g["out_ch"], g["k_h"], g["k_w"], g["in_ch"])
    x_shape = (g["batches"], g["in_h"], g["in_w"], g["in_ch"])
    bias_on = rng.random() < 0.8
    if f32:
        lo, hi = _f32_act(rng)
        bias = _f32(rng, (g["out_ch"],)) if bias_on else None
        return Conv2DF32Params(**g, act_min=lo, act_max=hi, weights=_f32(rng, w_shape), bias=bias), _f32(rng, x_shape)
    m, s = _multipliers(rng, g["out_ch"])
    lo, hi = _act_range(rng)
    bias = rng.integers(-20000, 20000, size=g["out_ch"]) if bias_on else None
    params = Conv2DS8Params(**g, input_zero_point=_zero_point(rng), output_zero_point=_zero_point(rng), act_min=lo,
                            act_max=hi, multiplier=m, shift=s, weights=_int8(rng, w_shape), bias=bias)  # fmt: skip
    return params, _int8(rng, x_shape)


def random_depthwise(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    g = _geometry(rng, depthwise=True)
    w_shape = (1, g["k_h"], g["k_w"], g["out_ch"])
    x_shape = (g["batches"], g["in_h"], g["in_w"], g["in_ch"])
    bias_on = rng.random() < 0.8
    if f32:
        lo, hi = _f32_act(rng)
        bias = _f32(rng, (g["out_ch"],)) if bias_on else None
        params = DepthwiseConv2DF32Params(**g, act_min=lo, act_max=hi, weights=_f32(rng, w_shape), bias=bias)
        return params, _f32(rng, x_shape)
    m, s = _multipliers(rng, g["out_ch"])
    lo, hi = _act_range(rng)
    bias = rng.integers(-20000, 20000, size=g["out_ch"]) if bias_on else None
    params = DepthwiseConv2DS8Params(**g, input_zero_point=_zero_point(rng), output_zero_point=_zero_point(rng),
                                     act_min=lo, act_max=hi, multiplier=m, shift=s, weights=_int8(rng, w_shape),
                                     bias=bias)  # fmt: skip
    return params, _int8(rng, x_shape)


def random_fc(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    batches, n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 70)), int(rng.integers(1, 12))
    bias_on = rng.random() < 0.8
    if f32:
        lo, hi = _f32_act(rng)
        bias = _f32(rng, (n_out,)) if bias_on else None
        params = FullyConnectedF32Params(batches=batches, in_features=n_in, out_features=n_out, act_min=lo,
                                         act_max=hi, weights=_f32(rng, (n_out, n_in)), bias=bias)  # fmt: skip
        return params, _f32(rng, (batches, n_in))
    m, s = _multipliers(rng, n_out)
    lo, hi = _act_range(rng)
    bias = rng.integers(-20000, 20000, size=n_out) if bias_on else None
    params = FullyConnectedS8Params(batches=batches, in_features=n_in, out_features=n_out,
                                    input_zero_point=_zero_point(rng), output_zero_point=_zero_point(rng),
                                    act_min=lo, act_max=hi, multiplier=m, shift=s, weights=_int8(rng, (n_out, n_in)),
                                    bias=bias)  # fmt: skip
    return params, _int8(rng, (batches, n_in))


def random_pool(rng: np.random.Generator, f32: bool, is_max: bool) -> tuple[KernelParams, np.ndarray]:
    g = _geometry(rng)
    pool: dict[str, Any] = {k: g[k] for k in ("batches", "in_h", "in_w", "out_h", "out_w", "k_h", "k_w",
                                              "stride_h", "stride_w", "pad_top", "pad_left")}  # fmt: skip
    if g["dilation_h"] > 1 or g["dilation_w"] > 1:  # pools have no dilation: recompute the geometry
        return random_pool(rng, f32, is_max)
    pool["channels"] = g["in_ch"]
    shape = (g["batches"], g["in_h"], g["in_w"], g["in_ch"])
    if f32:
        lo, hi = _f32_act(rng)
        cls_f = MaxPool2DF32Params if is_max else AvgPool2DF32Params
        return cls_f(**pool, act_min=lo, act_max=hi), _f32(rng, shape)
    lo, hi = _act_range(rng)
    cls_q = MaxPool2DS8Params if is_max else AvgPool2DS8Params
    return cls_q(**pool, act_min=lo, act_max=hi), _int8(rng, shape)


def random_mean(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    batches, count, channels = int(rng.integers(1, 3)), int(rng.integers(1, 130)), int(rng.choice([1, 3, 5, 8, 13]))
    shape = (batches, count, channels)
    if f32:
        return MeanF32Params(batches=batches, count=count, channels=channels), _f32(rng, shape)
    scale_in, scale_out = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.01, 0.2))
    m, s = quant.mean_multiplier(*quant.quantize_multiplier(quant.ratio_effective_scale(scale_in, scale_out)), count)
    lo, hi = _act_range(rng)
    params = MeanS8Params(batches=batches, count=count, channels=channels, input_zero_point=_zero_point(rng),
                          output_zero_point=_zero_point(rng), multiplier=m, shift=s, act_min=lo,
                          act_max=hi)  # fmt: skip
    return params, _int8(rng, shape)


def random_add(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray, np.ndarray]:
    size = int(rng.integers(1, 300))
    if f32:
        lo, hi = _f32_act(rng)
        return AddF32Params(size=size, act_min=lo, act_max=hi), _f32(rng, (size,)), _f32(rng, (size,))
    s1, s2, so = (float(rng.uniform(0.005, 0.2)) for _ in range(3))
    (m1, sh1), (m2, sh2), (mo, sho) = quant.add_multipliers(s1, s2, so)
    lo, hi = _act_range(rng)
    params = AddS8Params(size=size, input1_zero_point=_zero_point(rng), input2_zero_point=_zero_point(rng),
                         output_zero_point=_zero_point(rng), left_shift=20, input1_multiplier=m1, input1_shift=sh1,
                         input2_multiplier=m2, input2_shift=sh2, output_multiplier=mo, output_shift=sho, act_min=lo,
                         act_max=hi)  # fmt: skip
    return params, _int8(rng, (size,)), _int8(rng, (size,))


def random_pad(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    dims = tuple(int(v) for v in rng.integers(1, 6, size=4))
    before = tuple(int(v) for v in rng.integers(0, 3, size=4))
    after = tuple(int(v) for v in rng.integers(0, 3, size=4))
    if f32:
        return PadF32Params(in_dims=dims, pad_before=before, pad_after=after), _f32(rng, dims)
    params = PadS8Params(in_dims=dims, pad_before=before, pad_after=after, pad_value=_zero_point(rng))
    return params, _int8(rng, dims)


def random_add_const(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    """A per-channel constant added to a [positions, channels] tensor (the bias of a dilated Keras conv)."""
    channels, positions = int(rng.integers(1, 20)), int(rng.integers(1, 30))
    size = channels * positions
    base, a, _ = random_add(rng, f32)
    if f32:
        params: Any = AddConstF32Params(size=size, act_min=base.act_min, act_max=base.act_max, channels=channels,
                                        constant=_f32(rng, (channels,)))  # fmt: skip
        return params, _f32(rng, (size,))
    base_fields = {f.name: getattr(base, f.name) for f in fields(AddS8Params)}
    params = AddConstS8Params(**{**base_fields, "size": size}, channels=channels, constant=_int8(rng, (channels,)))
    return params, _int8(rng, (size,))


def random_relu(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    size = int(rng.integers(1, 300))
    six = bool(rng.integers(2))
    if f32:
        return ReluF32Params(size=size, act_min=0.0, act_max=6.0 if six else 3.0e38), _f32(rng, (size,))
    s_in, s_out = float(rng.uniform(0.005, 0.2)), float(rng.uniform(0.005, 0.2))
    zp_out = _zero_point(rng)
    m, s = quant.quantize_multiplier(quant.relu_scale(s_in, s_out))
    lo, hi = quant.activation_range(Activation.RELU6 if six else Activation.RELU, s_out, zp_out)
    params = ReluS8Params(size=size, input_zero_point=_zero_point(rng), output_zero_point=zp_out, multiplier=m,
                          shift=s, act_min=lo, act_max=hi)  # fmt: skip
    return params, _int8(rng, (size,))


def random_softmax(rng: np.random.Generator, f32: bool) -> tuple[KernelParams, np.ndarray]:
    rows, depth = int(rng.integers(1, 5)), int(rng.integers(1, 40))
    beta = float(np.float32(rng.choice([1.0, 0.5, 2.0])))
    if f32:
        return SoftmaxF32Params(rows=rows, depth=depth, beta=beta), _f32(rng, (rows, depth))
    multiplier, shift, diff_min = softmax_scaling(beta, float(rng.uniform(0.01, 0.3)))
    params = SoftmaxS8Params(rows=rows, depth=depth, input_multiplier=multiplier, input_left_shift=shift,
                             diff_min=diff_min)  # fmt: skip
    return params, _int8(rng, (rows, depth))


GENERATORS: dict[str, Callable[[np.random.Generator, bool], tuple[Any, ...]]] = {
    "softmax": random_softmax,
    "add_const": random_add_const,
    "relu": random_relu,
    "conv2d": random_conv,
    "depthwise_conv2d": random_depthwise,
    "fully_connected": random_fc,
    "max_pool2d": lambda rng, f32: random_pool(rng, f32, is_max=True),
    "avg_pool2d": lambda rng, f32: random_pool(rng, f32, is_max=False),
    "mean": random_mean,
    "add": random_add,
    "pad": random_pad,
}


@pytest.mark.parametrize("f32", [False, True], ids=["s8", "f32"])
@pytest.mark.parametrize("family", sorted(GENERATORS))
def test_random_shapes_match_numpy(kernels: Kernels, family: str, f32: bool) -> None:
    rng = np.random.default_rng([SEED, sorted(GENERATORS).index(family), int(f32)])
    for _ in range(RANDOM_CASES):
        params, *inputs = GENERATORS[family](rng, f32)
        assert_same(kernels, params, *inputs)


def test_f32_reference_kernels_measure_zero_ulp(kernels: Kernels) -> None:
    """The stated tolerance is for optimised variants; the reference kernels sum in the oracle's order
    without contraction and give the numpy bits exactly. SOFTMAX is the exception: its exp is the C library's
    expf, which may round differently from numpy's by an ulp (within F32_ULP_TOLERANCE, checked above)."""
    rng = np.random.default_rng(SEED + 2)
    for family in sorted(set(GENERATORS) - {"softmax"}):
        for _ in range(10):
            params, *inputs = GENERATORS[family](rng, True)
            np.testing.assert_array_equal(kernels.run(params, *inputs), run(params, *inputs), err_msg=family)


# ---- the check functions --------------------------------------------------------------------------------


def test_check_rejects_bad_params(kernels: Kernels) -> None:
    params = conv_s8()
    keep: list[Any] = []

    def status(**changes: Any) -> int:
        struct = to_struct(params, keep)
        for key, value in changes.items():
            setattr(struct, key, value)
        return kernels.check(params, struct)

    assert status() == STATUS["TL_STATUS_OK"]
    assert status(weights=ctypes.POINTER(ctypes.c_int8)()) == STATUS["TL_STATUS_NULL_ARG"]
    assert status(out_h=5) == STATUS["TL_STATUS_BAD_SHAPE"]  # 3 rows, window 3, 1 row of padding: not 5 outputs
    assert status(pad_top=3) == STATUS["TL_STATUS_BAD_SHAPE"]
    assert status(stride_h=0) == STATUS["TL_STATUS_BAD_SHAPE"]
    assert status(input_zero_point=128) == STATUS["TL_STATUS_BAD_QUANT"]
    assert status(act_min=5, act_max=4) == STATUS["TL_STATUS_BAD_QUANT"]
    shift = (ctypes.c_int32 * 1)(31)
    assert status(shift=ctypes.cast(shift, ctypes.POINTER(ctypes.c_int32))) == STATUS["TL_STATUS_BAD_QUANT"]
    bias = (ctypes.c_int32 * 1)(2**31 - 100)
    assert status(bias=ctypes.cast(bias, ctypes.POINTER(ctypes.c_int32))) == STATUS_OVERFLOW
    assert status(in_ch=70000) == STATUS_OVERFLOW  # 9 * 70000 taps * 255 * 128 > 2^31
    null = kernels.function(params)(None, None, None)
    assert null == STATUS["TL_STATUS_NULL_ARG"]


def test_every_check_accepts_the_random_params(kernels: Kernels) -> None:
    rng = np.random.default_rng(SEED + 1)
    for family in sorted(GENERATORS):
        for f32 in (False, True):
            params = GENERATORS[family](rng, f32)[0]
            assert kernels.check(params) == 0, params


# ---- cross-compilation for the two cores --------------------------------------------------------------


@needs_arm_gcc
@pytest.mark.parametrize("core", sorted(CORES))
def test_kernels_cross_compile_warning_free(tmp_path: Path, core: str) -> None:
    flags = [*WARNINGS.split(), *CORES[core].split(), "-ffunction-sections", "-fdata-sections"]
    for source in KERNEL_SOURCES:
        compile_c("arm-none-eabi-gcc", [*flags, "-c", str(source), "-o", str(tmp_path / f"{source.stem}.o")])
