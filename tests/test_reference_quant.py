"""TFLite's fixed-point arithmetic (tinyodl.reference.quant) on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from tinyodl.ir import Activation
from tinyodl.reference import quant as q
from tinyodl.reference.compare import max_ulp, ulp_distance

HALF = 1 << 30  # 0.5 in Q0.31
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ---- quantize_multiplier ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (0.5, (HALF, 0)),
        (1.0, (HALF, 1)),
        (0.75, (3 << 29, 0)),
        (0.25, (HALF, -1)),
        (3.0, (3 << 29, 2)),
        (2.0**-31, (HALF, -30)),
        (2.0**-32, (HALF, -31)),  # the smallest shift kept
        (2.0**-33, (0, 0)),  # shift -32: flushed to zero, as TFLite does
        (1e-12, (0, 0)),
        (-0.5, (-HALF, 0)),
    ],
)
def test_quantize_multiplier_exact_values(real: float, expected: tuple[int, int]) -> None:
    assert q.quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_up_to_two_pow_31_and_renormalises() -> None:
    # 1 - 2^-40: the fraction times 2^31 rounds to 2^31, which is halved with the shift incremented
    assert q.quantize_multiplier(1.0 - 2.0**-40) == (HALF, 1)
    assert q.quantize_multiplier(0.5 - 2.0**-40) == (HALF, 0)


def test_quantize_multiplier_rounds_ties_away_from_zero() -> None:
    # fraction * 2^31 = 2^30 + 0.5 exactly: C's round() gives 2^30 + 1 (Python's round() would give 2^30)
    assert q.quantize_multiplier(0.5 + 2.0**-32) == (HALF + 1, 0)
    assert q.quantize_multiplier(-(0.5 + 2.0**-32)) == (-(HALF + 1), 0)
    assert q.quantize_multiplier(0.5 + 3 * 2.0**-32) == (HALF + 2, 0)  # 2^30 + 1.5 -> 2^30 + 2
    assert q.quantize_multiplier(0.5 + 3 * 2.0**-33) == (HALF + 1, 0)  # 2^30 + 0.75 -> 2^30 + 1


def test_quantize_multiplier_reconstructs_the_real_value() -> None:
    rng = np.random.default_rng(0)
    for real in rng.uniform(1e-6, 4.0, size=200):
        multiplier, shift = q.quantize_multiplier(float(real))
        assert HALF <= multiplier < 2**31
        assert abs(multiplier * 2.0 ** (shift - 31) - real) <= real * 2.0**-31


def test_quantize_multiplier_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        q.quantize_multiplier(float("inf"))


# ---- multiply_by_quantized_multiplier -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "multiplier", "shift", "expected"),
    [
        (45, HALF, 0, 23),  # 22.5: the doubling high multiply rounds ties up
        (-45, HALF, 0, -22),  # -22.5: ... and negative ties toward zero (its nudge is 1 - 2^30)
        (-46, HALF, 0, -23),
        (45, HALF, -1, 12),  # 11.25: 22.5 -> 23, then 23 / 2 = 11.5 -> 12 (double rounding)
        (-45, HALF, -1, -11),  # -22.5 -> -22, -11 exactly
        (6, HALF, -1, 2),  # 3 / 2 = 1.5: the rounding shift sends ties away from zero
        (-6, HALF, -1, -2),
        (1 << 20, HALF, -20, 1),  # 2^19 / 2^20 = 0.5 -> 1
        (-(1 << 20), HALF, -20, -1),
        ((1 << 20) - 1, HALF, -20, 1),  # 0.4999995: 2^19 - 0.5 rounds up to 2^19, then 0.5 -> 1
        (3, HALF, 2, 6),  # left shift first: 12 * 0.5
        (-3, 3 << 29, 1, -4),  # -3 * 2 * 0.75 = -4.5 -> high multiply rounds toward zero: -4
        (INT32_MAX, INT32_MAX, -31, 1),  # the largest right shift: (2^31 - 2) / 2^31 -> 1
        (INT32_MAX, INT32_MAX, 0, INT32_MAX - 1),
        (1 << 30, HALF, 2, 0),  # 2^30 << 2 wraps to 0 in int32, as in TFLite
        (12345, 0, 0, 0),
    ],
)
def test_multiply_by_quantized_multiplier_cases(x: int, multiplier: int, shift: int, expected: int) -> None:
    assert int(q.multiply_by_quantized_multiplier(x, multiplier, shift)) == expected


def test_saturating_rounding_doubling_high_mul_corner() -> None:
    assert int(q.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX
    assert int(q.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX)) == -INT32_MAX
    assert int(q.saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX)) == INT32_MAX - 1
    assert int(q.saturating_rounding_doubling_high_mul(INT32_MIN, HALF)) == -(1 << 30)


@pytest.mark.parametrize(
    ("x", "exponent", "expected"),
    [(5, 1, 3), (-5, 1, -3), (7, 2, 2), (-7, 2, -2), (6, 2, 2), (-6, 2, -2), (5, 2, 1), (-5, 2, -1), (9, 0, 9)],
)
def test_rounding_divide_by_pot(x: int, exponent: int, expected: int) -> None:
    assert int(q.rounding_divide_by_pot(x, exponent)) == expected


def test_rounding_divide_by_pot_extremes() -> None:
    assert int(q.rounding_divide_by_pot(INT32_MAX, 31)) == 1
    assert int(q.rounding_divide_by_pot(INT32_MIN, 31)) == -1
    assert int(q.rounding_divide_by_pot(-(1 << 30), 31)) == -1  # -0.5 -> -1
    assert int(q.rounding_divide_by_pot((1 << 30) - 1, 31)) == 0


def test_multiply_is_vectorised_per_channel() -> None:
    acc = np.array([[45, -45, 6], [100, -100, 7]], dtype=np.int64)
    multiplier = np.array([HALF, HALF, 3 << 29], dtype=np.int32)
    shift = np.array([0, -1, 1], dtype=np.int32)
    got = q.multiply_by_quantized_multiplier(acc, multiplier, shift)
    scalar = [[int(q.multiply_by_quantized_multiplier(int(a), int(m), int(s))) for a, m, s in
               zip(row, multiplier, shift, strict=True)] for row in acc]  # fmt: skip
    np.testing.assert_array_equal(got, scalar)
    np.testing.assert_array_equal(got, [[23, -11, 9], [50, -25, 11]])


def test_multiply_matches_exact_rational_rounding_within_one() -> None:
    """Against exact arithmetic: x * m * 2^(s - 31), off by at most one (the double rounding)."""
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**24), 2**24, size=5000)
    m = rng.integers(HALF, 2**31, size=5000)
    s = rng.integers(-20, 1, size=5000)
    got = q.multiply_by_quantized_multiplier(x, m, s)
    exact = [int(a) * int(b) / 2 ** (31 - int(c)) for a, b, c in zip(x, m, s, strict=True)]
    assert np.max(np.abs(got - np.array(exact))) <= 1.0


def test_single_rounding_variant_differs_on_a_double_rounding_case() -> None:
    assert int(q.multiply_by_quantized_multiplier(45, HALF, -1)) == 12
    assert int(q.multiply_by_quantized_multiplier_single_round(45, HALF, -1)) == 11  # round(11.25)


def test_requantize_adds_zero_point_and_clamps() -> None:
    got = q.requantize(np.array([45, -45, 1000, -1000]), HALF, 0, output_zero_point=-10, act_min=-20, act_max=100)
    np.testing.assert_array_equal(got, [13, -20, 100, -20])
    assert got.dtype == np.int8


# ---- activation ranges and effective scales ---------------------------------------------------------


def test_activation_range() -> None:
    assert q.activation_range(Activation.NONE, 0.1, -5) == (-128, 127)
    assert q.activation_range(Activation.RELU, 0.1, -5) == (-5, 127)
    assert q.activation_range(Activation.RELU6, 0.1, -5) == (-5, 55)  # -5 + 6 / 0.1
    assert q.activation_range(Activation.RELU6, 0.02, -128) == (-128, 127)  # 6 / 0.02 = 300: clamped
    assert q.activation_range(Activation.RELU, 0.1, -200) == (-128, 127)


def test_activation_range_divides_in_float32() -> None:
    # 6 / scale is 18.5 in float32 (rounds to 19) but 18.4999991 in double (would round to 18)
    scale = float(np.array(1051069911, dtype=np.int32).view(np.float32))
    assert float(np.float32(6.0) / np.float32(scale)) == 18.5
    assert q.activation_range(Activation.RELU6, scale, 0) == (0, 19)


def test_float_activation_range() -> None:
    lowest = float(np.finfo(np.float32).min)
    assert q.float_activation_range(Activation.RELU6) == (0.0, 6.0)
    assert q.float_activation_range(Activation.NONE) == (lowest, -lowest)


def test_effective_scales_use_float32_inputs_in_tflite_order() -> None:
    a, b, c = 0.1, 0.3, 0.7
    a32, b32, c32 = (float(np.float32(v)) for v in (a, b, c))
    assert q.conv_effective_scale(a, b, c) == a32 * b32 / c32
    # per-tensor fully-connected: the product is rounded to float32 before the division
    assert q.fc_per_tensor_effective_scale(a, b, c) == float(np.float32(a) * np.float32(b)) / c32
    assert q.quantize_multiplier(q.conv_effective_scale(a, b, c)) != q.quantize_multiplier(
        q.fc_per_tensor_effective_scale(a, b, c)
    )


def test_add_multipliers() -> None:
    (m1, s1), (m2, s2), (mo, so) = q.add_multipliers(0.1, 0.2, 0.3)
    assert (m2, s2) == (HALF, 0)  # the larger input: 0.2 / (2 * 0.2) = 0.5
    assert abs(m1 * 2.0 ** (s1 - 31) - float(np.float32(0.1)) / (2 * float(np.float32(0.2)))) < 1e-9
    assert so < -10 and HALF <= mo < 2**31  # 0.4 / (2^20 * 0.3): far below one
    with pytest.raises(ValueError):
        q.add_multipliers(1.0, 1.0, 1e-9)  # an output multiplier >= 1 is not TFLite's int8 ADD


@pytest.mark.parametrize(
    ("multiplier", "shift", "count", "expected"),
    [
        (HALF, 1, 4, (HALF, -1)),  # 1.0 / 4
        (HALF, 1, 1, (HALF, 1)),
        (HALF, 0, 3, ((HALF << 1) // 3, -1)),  # fold floor(log2 3) = 1 bit; the division truncates
        (HALF, -30, 8, ((HALF << 1) // 8, -31)),  # folding is limited to 31 + shift = 1 bit
        (HALF, 5, 2**40, ((HALF << 32) // 2**40, -27)),  # and to 32 bits
    ],
)
def test_mean_multiplier(multiplier: int, shift: int, count: int, expected: tuple[int, int]) -> None:
    assert q.mean_multiplier(multiplier, shift, count) == expected


def test_quantize_rounds_half_away_and_clamps() -> None:
    got = q.quantize(np.array([0.5, -0.5, 1.5, 2.5, -2.5, 1000.0, -1000.0], np.float32), 1.0, 0)
    np.testing.assert_array_equal(got, [1, -1, 2, 3, -3, 127, -128])
    np.testing.assert_array_equal(q.quantize(np.array([0.0], np.float32), 0.1, -7), [-7])
    np.testing.assert_array_equal(q.dequantize(np.array([-7, 3], np.int8), 0.5, -7), [0.0, 5.0])


def test_ulp_distance() -> None:
    one = np.float32(1.0)
    assert max_ulp(np.array([one]), np.array([np.nextafter(one, np.float32(2))])) == 1
    np.testing.assert_array_equal(ulp_distance(np.array([0.0, -0.0], np.float32), np.zeros(2, np.float32)), [0, 0])
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert max_ulp(np.array([tiny]), np.array([-tiny])) == 2
