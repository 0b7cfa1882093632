"""Fixed-point arithmetic of TFLite's int8 scheme, exactly as its reference kernels compute it.

Conventions (TFLite's):

- A real multiplier `m` is stored as a Q0.31 `multiplier` in [2^30, 2^31) and a power-of-two `shift`,
  m ~= multiplier * 2^(shift - 31). `shift > 0` shifts left, `shift < 0` right.
- Requantizing an int32 accumulator is `multiply_by_quantized_multiplier`: a saturating rounding doubling
  high multiply (gemmlowp's) followed by a rounding right shift (round half away from zero). This is the
  default ("double rounding") variant of TFLite and tflite-micro; the single-rounding variant that a
  `TFLITE_SINGLE_ROUNDING` build uses is kept beside it, so the tests can show which one the interpreters
  really run.
- Scales are float32 in a .tflite file; effective scales are computed in double from those float32 values,
  in the same order of operations as TFLite (that order changes the last bit of the double, and that can
  change the rounded multiplier).

All array functions take integer numpy arrays (any integer dtype) and compute in int64, wrapping to int32
where TFLite's int32 arithmetic would wrap.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Activation

INT8_MIN = -128
INT8_MAX = 127
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Shifts accepted by the kernels: a multiplier from `quantize_multiplier` never has a shift below -31;
# above 30 the left shift would push a one-bit accumulator out of int32.
SHIFT_MIN = -31
SHIFT_MAX = 30


def round_half_away(x: float) -> float:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    0 gives (0, 0). A value that rounds up to 2^31 is renormalised to 2^30 with shift + 1. Values below
    about 2^-32 (shift < -31) are flushed to (0, 0), as TFLite does.
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"cannot quantize the multiplier {real}")
    fraction, shift = math.frexp(real)  # real = fraction * 2^shift, 0.5 <= |fraction| < 1
    fixed = int(round_half_away(fraction * float(1 << 31)))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def quantize_multipliers(reals: np.ndarray | list[float] | tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """`quantize_multiplier` over a sequence; int32 arrays of multipliers and shifts."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    multipliers = np.array([m for m, _ in pairs], dtype=np.int32)
    shifts = np.array([s for _, s in pairs], dtype=np.int32)
    return multipliers, shifts


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values into the int32 range (what int32 arithmetic would give)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values: round(a * b / 2^31), ties away from
    zero, with the single overflow case (INT32_MIN * INT32_MIN) saturating to INT32_MAX."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    product = a64 * b64  # |a|, |b| <= 2^31, so |product| <= 2^62: exact in int64
    nudge = np.where(product >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    total = product + nudge
    # C's integer division truncates toward zero; numpy's >> floors, so divide the magnitude.
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero (0 <= exponent <= 31)."""
    x64 = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (default, double rounding), element-wise with broadcasting.

    x * (1 << left_shift) is an int32 product in TFLite; it wraps here exactly as it would there.
    """
    x64 = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = wrap_int32(x64 << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right)


def multiply_by_quantized_multiplier_single_round(
    x: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """The TFLITE_SINGLE_ROUNDING variant: (x * multiplier + 2^(30 - shift)) >> (31 - shift).

    Not what the interpreters run by default (see the tests); kept to make that difference checkable.
    """
    x64 = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total_shift = 31 - np.asarray(shift, dtype=np.int64)
    return (x64 * m + (np.int64(1) << (total_shift - 1))) >> total_shift


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    output_zero_point: int,
    act_min: int,
    act_max: int,
) -> np.ndarray:
    """Accumulator -> int8: scale, add the output zero point, clamp to the activation range."""
    scaled = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_zero_point
    return np.clip(scaled, act_min, act_max).astype(np.int8)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _quantize_in_float32(value: float, scale: float, zero_point: int) -> int:
    """TFLite's Quantize of an activation bound: zero_point + round(value / scale), in float32."""
    ratio = np.float32(value) / np.float32(scale)
    return int(zero_point) + int(round_half_away(float(ratio)))


def activation_range(activation: Activation, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: the fused activation as a clamp [act_min, act_max]."""
    if activation is Activation.NONE:
        return INT8_MIN, INT8_MAX
    low = max(INT8_MIN, _quantize_in_float32(0.0, scale, zero_point))
    if activation is Activation.RELU:
        return low, INT8_MAX
    if activation is Activation.RELU6:
        return low, min(INT8_MAX, _quantize_in_float32(6.0, scale, zero_point))
    raise ValueError(f"unsupported activation {activation}")


def float_activation_range(activation: Activation) -> tuple[float, float]:
    """CalculateActivationRange for float32."""
    lowest, highest = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)
    if activation is Activation.NONE:
        return lowest, highest
    if activation is Activation.RELU:
        return 0.0, highest
    if activation is Activation.RELU6:
        return 0.0, 6.0
    raise ValueError(f"unsupported activation {activation}")


def conv_effective_scale(input_scale: float, filter_scale: float, output_scale: float) -> float:
    """Per-channel convolution / depthwise / per-channel fully-connected (PopulateConvolutionQuantizationParams):
    double(input) * double(filter) / double(output), each scale a float32."""
    return _f32(input_scale) * _f32(filter_scale) / _f32(output_scale)


def fc_per_tensor_effective_scale(input_scale: float, filter_scale: float, output_scale: float) -> float:
    """Per-tensor fully-connected (GetQuantizedConvolutionMultipler): the product of the two float32 scales
    is rounded to float32 *before* it is widened to double, then divided by the output scale in double."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return product / _f32(output_scale)


def ratio_effective_scale(input_scale: float, output_scale: float) -> float:
    """MEAN's requantization: double(input) / double(output)."""
    return _f32(input_scale) / _f32(output_scale)


def relu_scale(input_scale: float, output_scale: float) -> float:
    """A stand-alone int8 RELU's requantization: input / output divided in float32 (TFLite and tflite-micro
    divide the two float scales, then widen the quotient to double)."""
    return float(np.float32(input_scale) / np.float32(output_scale))


ADD_LEFT_SHIFT = 20  # int8 ADD scales both inputs up by 2^20 before rescaling them to a common scale


def add_multipliers(
    input1_scale: float, input2_scale: float, output_scale: float, left_shift: int = ADD_LEFT_SHIFT
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """int8 ADD's three (multiplier, shift) pairs: input1, input2 and output, as TFLite's add Prepare."""
    s1, s2, so = _f32(input1_scale), _f32(input2_scale), _f32(output_scale)
    twice_max_input_scale = 2.0 * max(s1, s2)
    real1 = s1 / twice_max_input_scale
    real2 = s2 / twice_max_input_scale
    real_out = twice_max_input_scale / (float(1 << left_shift) * so)
    pairs = tuple(_smaller_than_one(r) for r in (real1, real2, real_out))
    return pairs[0], pairs[1], pairs[2]


def _smaller_than_one(real: float) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise ValueError(f"ADD multiplier {real} is not in (0, 1)")
    return quantize_multiplier(real)


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Fold MEAN's 1/count into (multiplier, shift) the way TFLite's QuantizedMeanOrSum does.

    s = min(floor(log2(count)), 32, 31 + shift); multiplier' = (multiplier << s) // count (truncating);
    shift' = shift - s.
    """
    if count < 1:
        raise ValueError(f"MEAN over {count} elements")
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    return (int(multiplier) << fold) // count, shift - fold


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE op (round half away from zero of x / scale, in float32)."""
    q = (np.asarray(x, dtype=np.float32) / np.float32(scale)).astype(np.float64)  # the division in float32
    rounded = np.sign(q) * np.floor(np.abs(q) + 0.5)  # exact in double for |q| < 2^52
    return np.clip(rounded + int(zero_point), INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, dtype=np.int32) - int(zero_point)) * np.float32(scale)).astype(np.float32)
