"""Emitted literals parse back to the same bits (in Python and through the C compiler); names are C."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyodl.codegen.literals import c_array_body, c_float, c_int
from tinyodl.codegen.names import NameTable, c_ident

SPECIAL = [0.0, -0.0, 3e-7, 1e-45, 1.17549435e-38, 3.4028235e38, -1.0, 0.1, 1 / 3, 16777217.0, 2.5e-30]


def bits(f: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", f))[0])


def test_float_literals_round_trip_in_python() -> None:
    rng = np.random.default_rng(0)
    random_bits = rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    scaled = rng.standard_normal(2000).astype(np.float32) * 1e3
    values = np.concatenate([np.array(SPECIAL, np.float32), scaled, random_bits])
    for v in values[np.isfinite(values)]:
        text = c_float(float(v))
        assert text.endswith("f") and ("." in text or "e" in text)
        assert bits(float(np.float32(float(text[:-1])))) == bits(float(v)), text
    assert c_float(3e-7) != "0.000000f"
    with pytest.raises(ValueError):
        c_float(float("inf"))


def test_int_literals() -> None:
    assert c_int(-(2**31)) == "(-2147483647 - 1)" and c_int(127) == "127" and c_int(-128) == "-128"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")
def test_literals_through_the_c_compiler(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    floats = np.concatenate([np.array(SPECIAL, np.float32), rng.standard_normal(500).astype(np.float32)])
    ints = np.array([-(2**31), 2**31 - 1, 0, -1, 12345], np.int64)
    src = tmp_path / "lits.c"
    src.write_text(
        "#include <stdint.h>\n"
        f"const float floats[{len(floats)}] = {{\n    {c_array_body(floats)}\n}};\n"
        f"const int32_t ints[{len(ints)}] = {{\n    {c_array_body(ints)}\n}};\n"
    )
    lib = tmp_path / "liblits.so"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(lib), str(src)],
                   check=True)  # fmt: skip
    so = ctypes.CDLL(str(lib))
    got_f = np.ctypeslib.as_array((ctypes.c_float * len(floats)).in_dll(so, "floats"))
    got_i = np.ctypeslib.as_array((ctypes.c_int32 * len(ints)).in_dll(so, "ints"))
    np.testing.assert_array_equal(got_f.view(np.uint32), floats.view(np.uint32))
    np.testing.assert_array_equal(got_i, ints)


def test_c_ident() -> None:
    assert c_ident("sequential_1/conv1d_1/Relu;sequential_1/conv1d_1/convolution") == (
        "sequential_1_conv1d_1_relu_sequential_1_conv1d_1_convolution"
    )
    assert c_ident("1st layer") == "n1st_layer" and c_ident("int") == "int_" and c_ident("///") == "x"
    names = NameTable("HAR-int8")
    assert names.unique("conv") == "har_int8_conv" and names.unique("conv") == "har_int8_conv_2"
