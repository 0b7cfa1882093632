"""int8 SOFTMAX as TFLite and tflite-micro compute it: gemmlowp's fixed-point exp and reciprocal.

Per row: the largest input is subtracted; each difference d >= diff_min is rescaled to a Q5.26 value
(d * 2^input_left_shift times input_multiplier, a doubling high multiply), exp(.) of it is computed in
Q0.31 by a Taylor polynomial on [-1/4, 0) and a barrel shifter of constant factors for the whole quarters,
the exps are summed in Q12.19, the sum's reciprocal comes from three Newton-Raphson steps, and each output
is exp x reciprocal shifted down to 8 bits, -128. Every step below is the integer operation the
interpreters run (int32 values held in int64 arrays, wrapped where the C code would wrap).
"""

from __future__ import annotations

import math

import numpy as np

from .quant import quantize_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap_int32

SCALED_DIFF_INTEGER_BITS = 5  # the rescaled differences are Q5.26
ACCUMULATION_INTEGER_BITS = 12  # the sum of exps is Q12.19
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
# exp(-2^k) for k = -2 .. 4 in Q0.31: the barrel shifter's factors for each whole-quarter bit of the input
_EXP_OF_POWERS = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
                  (3, 720401), (4, 242))  # fmt: skip


def softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLite's PreprocessSoftmaxScaling and
    CalculateInputRadius, in double from the float32 scale and beta."""
    real = min(float(beta) * float(np.float32(input_scale)) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               float(INT32_MAX))  # fmt: skip
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"softmax: beta x input scale {real:g} gives a right shift; a left shift is expected")
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)) / float(1 << shift)
    return multiplier, shift, -int(math.floor(radius))


def _mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(np.asarray(a, np.int64), np.asarray(b, np.int64))


def _shift_left_saturating(x: np.ndarray, exponent: int) -> np.ndarray:
    threshold = (1 << (31 - exponent)) - 1
    out = np.asarray(x, np.int64) << exponent
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, out))


def _exp_on_quarter(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: the Taylor expansion around -1/8."""
    constant = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = wrap_int32(a + (1 << 28))  # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap_int32(_mul(wrap_int32(x4_over_4 + x3), one_third) + x2), 1)
    return wrap_int32(constant + _mul(constant, wrap_int32(x + poly)))


def exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0 in Q5.26, as Q0.31."""
    a = np.asarray(a, np.int64)
    quarter = 1 << (31 - SCALED_DIFF_INTEGER_BITS - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_on_quarter(_shift_left_saturating(a_mod_quarter_minus_quarter, SCALED_DIFF_INTEGER_BITS))
    remainder = a_mod_quarter_minus_quarter - a
    for exponent, factor in _EXP_OF_POWERS:
        bit = 1 << (31 - SCALED_DIFF_INTEGER_BITS + exponent)
        result = np.where(remainder & bit, _mul(result, factor), result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson in Q2.29 from 48/17 - 32/17 d."""
    total = np.asarray(a, np.int64) + INT32_MAX
    # RoundingHalfSum(a, 1): (sum +- 1) / 2, the division truncating toward zero
    half_denominator = np.where(total >= 0, (total + 1) // 2, -((1 - total) // 2))
    x = wrap_int32(1515870810 + _mul(half_denominator, -1010580540))
    for _ in range(3):
        product = _mul(half_denominator, x)
        one_minus = wrap_int32((1 << 29) - product)
        x = wrap_int32(x + _shift_left_saturating(_mul(x, one_minus), 2))
    return _shift_left_saturating(x, 1)


def softmax_s8(x: np.ndarray, depth: int, multiplier: int, left_shift: int, diff_min: int) -> np.ndarray:
    """int8 softmax of each row of `depth` values; the output has scale 1/256 and zero point -128."""
    rows = np.asarray(x, np.int64).reshape(-1, depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    valid = diff >= diff_min
    rescaled = _mul(wrap_int32(diff * (1 << left_shift)), multiplier)
    exps = exp_on_negative_values(rescaled)
    terms = np.where(valid, rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS), 0)
    sums = wrap_int32(terms.sum(axis=1, keepdims=True))
    headroom = 32 - np.array([int(s).bit_length() for s in sums.reshape(-1)], np.int64).reshape(sums.shape)
    bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom
    shifted_minus_one = wrap_int32(((sums << headroom) & 0xFFFFFFFF) - (1 << 31))
    scale = _one_over_one_plus_x(shifted_minus_one)
    out = rounding_divide_by_pot(_mul(scale, exps), bits_over_unit + 31 - 8) - 128
    return np.where(valid, np.clip(out, -128, 127), -128).astype(np.int8).reshape(np.shape(x))
