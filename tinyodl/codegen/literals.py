"""Exact C literals: integers for quantized data, float32 with 9 significant digits (which round-trips
every float32) and an `f` suffix. Never 6-decimal printing (3e-7 must not become 0.000000f)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

INT32_MIN = -(2**31)


def c_int(value: int) -> str:
    v = int(value)
    if v == INT32_MIN:
        return "(-2147483647 - 1)"  # 2147483648 alone does not fit an int
    return str(v)


def c_float(value: float) -> str:
    f = float(np.float32(value))
    if not math.isfinite(f):
        raise ValueError(f"non-finite float32 {f!r} cannot be a constant")
    text = format(f, ".9g")
    if not any(ch in text for ch in ".e"):
        text += ".0"
    return text + "f"


def c_array_body(values: Iterable[object], per_line: int = 16, indent: str = "    ") -> str:
    """The comma-separated initialiser of an array, wrapped; floats and ints by their numpy type."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values).reshape(-1)
    fmt = c_float if arr.dtype.kind == "f" else c_int
    items = [fmt(v) for v in arr.tolist()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)
