"""The host references of the self-test: exact float32 rounding of a fused multiply-add chain."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tinyodl.apps.selftest import dot_f32_fma, f32_bits, make_vectors, round_to_f32


def test_round_to_f32_ties_to_even() -> None:
    one = Fraction(1)
    assert round_to_f32(one + Fraction(1, 2**24)) == np.float32(1.0)  # halfway: the even neighbour, 1.0
    assert round_to_f32(one + Fraction(3, 2**24)) == np.float32(1 + 2**-22)  # halfway: even is 1 + 2^-22
    assert round_to_f32(-(one + Fraction(1, 2**24))) == np.float32(-1.0)


def test_round_to_f32_has_no_double_rounding() -> None:
    # Just above the halfway point: the correct float32 is 1 + 2^-23, but rounding to float64 first lands on
    # the halfway point and a second rounding would give 1.0.
    x = Fraction(1) + Fraction(1, 2**24) + Fraction(1, 2**80)
    assert np.float32(float(x)) == np.float32(1.0)
    assert round_to_f32(x) == np.float32(1 + 2**-23)


def test_fma_chain_single_step_is_correctly_rounded_product() -> None:
    a = np.array([np.float32(1 + 2**-12)], dtype=np.float32)
    b = np.array([np.float32(1 + 2**-12)], dtype=np.float32)
    # exact product 1 + 2^-11 + 2^-24 is halfway between two float32 values: ties to even gives 1 + 2^-11
    assert dot_f32_fma(a, b) == np.float32(1 + 2**-11)


def test_fma_chain_differs_from_separate_rounding_where_it_should() -> None:
    # fma(a, b, c) rounds once: a*b = 1 + 2^-11 + 2^-24 exactly, minus (1 + 2^-11) leaves 2^-24; rounding the
    # product to float32 first loses the 2^-24 and the difference becomes 0.
    a = np.float32(1 + 2**-12)
    c = np.float32(-(1 + 2**-11))
    exact = round_to_f32(Fraction(float(a)) * Fraction(float(a)) + Fraction(float(c)))
    assert exact == np.float32(2**-24)
    assert np.float32(a * a) + c == np.float32(0.0)


def test_vectors_are_seeded() -> None:
    v1, v2 = make_vectors(5), make_vectors(5)
    assert np.array_equal(v1.f32_a, v2.f32_a) and np.array_equal(v1.i8_b, v2.i8_b)
    assert len(v1.f32_a) % 4 != 0 and len(v1.i8_a) % 4 != 0  # tails are exercised
    assert f32_bits(dot_f32_fma(v1.f32_a, v1.f32_b)) == f32_bits(dot_f32_fma(v2.f32_a, v2.f32_b))
