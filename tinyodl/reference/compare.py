"""How outputs are compared: int8 bit for bit, float32 within a stated number of units in the last place."""

from __future__ import annotations

import numpy as np

# float32 tolerance, per element, of a kernel that rounds every product and every sum on its own: the
# reference kernels sum in the oracle's order and measure 0. The fused multiply-add variants (*_f32_fpu) round
# once per multiply-add: where a sum cancels to near zero that is many ulp of the small result, so they are
# held to the rounding-error bound of the sum instead (tests/test_kernel_variants.py) and, end to end, to the
# model tolerance of tinyodl.modelrun (rtol 1e-5, atol 1e-6); docs/kernels.md.
F32_ULP_TOLERANCE = 4


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise distance between two float32 arrays in units in the last place (+0 and -0 are 0 apart;
    adjacent floats 1 apart across the whole range, through zero)."""

    def ordered(x: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a32.shape != b32.shape:
        raise ValueError(f"shapes {a32.shape} and {b32.shape} differ")
    return np.abs(ordered(a32) - ordered(b32))


def max_ulp(a: np.ndarray, b: np.ndarray) -> int:
    distance = ulp_distance(a, b)
    return int(distance.max()) if distance.size else 0
