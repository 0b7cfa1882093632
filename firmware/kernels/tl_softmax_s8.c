/*
 * tl_softmax_s8.c - SOFTMAX, int8, TFLite's fixed-point arithmetic (gemmlowp's), bit for bit.
 *
 * Per row: d = x - max; each d >= diff_min is rescaled to Q5.26 (d << input_left_shift, doubling high
 * multiply by input_multiplier); exp of it in Q0.31 (a Taylor polynomial around -1/8 on [-1/4, 0), times
 * exp(-2^k) for each whole-quarter bit k); the exps summed in Q12.19; the sum's reciprocal by three
 * Newton-Raphson steps in Q2.29; output = exp x reciprocal, shifted down to 8 bits, - 128. The numpy
 * oracle is tinyodl/reference/softmax.py.
 */
#include "tl_kernel_util.h"

static inline int32_t mul_q31(int32_t a, int32_t b)
{
    return tl_sat_round_doubling_high_mul(a, b);
}

static inline int32_t shift_left_saturating(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

static inline int32_t wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 */
static int32_t exp_on_quarter(int32_t a)
{
    const int32_t constant = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = wrap_add(a, 1 << 28);
    const int32_t x2 = mul_q31(x, x);
    const int32_t x3 = mul_q31(x2, x);
    const int32_t x4 = mul_q31(x2, x2);
    const int32_t x4_over_4 = tl_rounding_divide_by_pot(x4, 2);
    const int32_t poly = tl_rounding_divide_by_pot(wrap_add(mul_q31(wrap_add(x4_over_4, x3), one_third), x2), 1);
    return wrap_add(constant, mul_q31(constant, wrap_add(x, poly)));
}

/* exp(a) for a <= 0 in Q5.26, as Q0.31 */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    const int32_t a_mod_quarter_minus_quarter = (int32_t)((uint32_t)a & (uint32_t)(quarter - 1)) - quarter;
    int32_t result = exp_on_quarter(shift_left_saturating(a_mod_quarter_minus_quarter, 5));
    const int32_t remainder = (int32_t)((uint32_t)a_mod_quarter_minus_quarter - (uint32_t)a);
    for (int32_t k = 0; k < 7; ++k) {
        if ((uint32_t)remainder & (UINT32_C(1) << (24 + k))) {
            result = mul_q31(result, factors[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t total = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)(total >= 0 ? (total + 1) / 2 : (total - 1) / 2);
    int32_t x = wrap_add(1515870810, mul_q31(half_denominator, -1010580540));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t product = mul_q31(half_denominator, x);
        const int32_t one_minus = (int32_t)((uint32_t)(1 << 29) - (uint32_t)product);
        x = wrap_add(x, shift_left_saturating(mul_q31(x, one_minus), 2));
    }
    return shift_left_saturating(x, 1);
}

tl_status_t tl_softmax_s8_check(const tl_softmax_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->rows < 1 || p->depth < 1) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (p->input_multiplier < 0 || p->input_left_shift < 0 || p->input_left_shift > 31 || p->diff_min > 0) {
        return TL_STATUS_BAD_QUANT;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_softmax_s8(const tl_softmax_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
        int32_t largest = INT8_MIN;
        for (int32_t c = 0; c < p->depth; ++c) {
            largest = in[c] > largest ? in[c] : largest;
        }
        int32_t sum = 0; /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - largest;
            if (diff >= p->diff_min) {
                const int32_t scaled = mul_q31((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum = wrap_add(sum, tl_rounding_divide_by_pot(exp_on_negative_values(scaled), 12));
            }
        }
        const int32_t headroom = sum == 0 ? 32 : __builtin_clz((uint32_t)sum);
        const int32_t bits_over_unit = 12 - headroom;
        const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - (UINT32_C(1) << 31));
        const int32_t reciprocal = one_over_one_plus_x(shifted_minus_one);
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - largest;
            int32_t value = INT8_MIN;
            if (diff >= p->diff_min) {
                const int32_t scaled = mul_q31((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_on_negative_values(scaled);
                value = tl_rounding_divide_by_pot(mul_q31(reciprocal, e), bits_over_unit + 31 - 8) + INT8_MIN;
                value = tl_clamp_s32(value, INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)value;
        }
    }
    return TL_STATUS_OK;
}
