/*
 * tl_kernel_util.h - helpers shared by the kernel files (not part of the public API): TFLite's fixed-point
 * requantization and the argument checks of the *_check functions.
 *
 * Signed right shifts are arithmetic and int32 conversions wrap (GCC and every compiler for Cortex-M).
 */
#ifndef TL_KERNEL_UTIL_H
#define TL_KERNEL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tl_kernels.h"

#define TL_SHIFT_MIN (-31)
#define TL_SHIFT_MAX 30

/* round(a * b / 2^31), ties away from zero; INT32_MIN * INT32_MIN saturates (gemmlowp's
 * SaturatingRoundingDoublingHighMul). */
static inline int32_t tl_sat_round_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

/* x / 2^exponent rounded half away from zero, 0 <= exponent <= 31 (gemmlowp's RoundingDivideByPOT). */
static inline int32_t tl_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (default, double rounding): x * multiplier * 2^(shift - 31). */
static inline int32_t tl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left); /* TFLite's int32 product x * 2^left */
    return tl_rounding_divide_by_pot(tl_sat_round_doubling_high_mul(shifted, multiplier), right);
}

static inline int32_t tl_clamp_s32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* min(max(x, lo), hi), in TFLite's order (ActivationFunctionWithMinMax). */
static inline float tl_clamp_f32(float x, float lo, float hi)
{
    const float low_clamped = x < lo ? lo : x;
    return low_clamped > hi ? hi : low_clamped;
}

/* ---- checks (prepare time only) ---- */

static inline int tl_is_int8(int32_t v)
{
    return v >= INT8_MIN && v <= INT8_MAX;
}

static inline int tl_act_range_ok(int32_t lo, int32_t hi)
{
    return tl_is_int8(lo) && tl_is_int8(hi) && lo <= hi;
}

/* PAD's output dimensions: each input dimension with its borders (the check bounds them). */
static inline void tl_padded_dims(const int32_t *in_dims, const int32_t *before, const int32_t *after,
                                  int32_t *out_dims)
{
    for (int32_t d = 0; d < 4; ++d) {
        out_dims[d] = in_dims[d] + before[d] + after[d];
    }
}

/* The product of positive dimensions fits in int32 (every index of a kernel is an int32). */
static inline int tl_dims_ok(const int32_t *dims, int32_t n)
{
    int64_t product = 1;
    for (int32_t i = 0; i < n; ++i) {
        if (dims[i] < 1) {
            return 0;
        }
        product *= dims[i];
        if (product > INT32_MAX) {
            return 0;
        }
    }
    return 1;
}

/* One spatial axis: explicit padding `pad` before, the rest implied by the output size. The padding must
 * describe a TFLite output: 0 <= before < window and -stride < after < window (window = dilated kernel). */
static inline int tl_window_ok(int32_t size, int32_t out, int32_t k, int32_t stride, int32_t dilation, int32_t pad)
{
    if (size < 1 || out < 1 || k < 1 || stride < 1 || dilation < 1 || pad < 0) {
        return 0;
    }
    const int64_t window = (int64_t)(k - 1) * dilation + 1;
    const int64_t after = (int64_t)(out - 1) * stride + window - size - pad;
    return pad < window && after > -(int64_t)stride && after < window;
}

static inline int tl_multipliers_ok(const int32_t *multiplier, const int32_t *shift, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        if (multiplier[i] < 0 || shift[i] < TL_SHIFT_MIN || shift[i] > TL_SHIFT_MAX) {
            return 0;
        }
    }
    return 1;
}

/* |accumulator| <= taps * 255 * 128 + max |bias| must fit in int32. */
static inline int tl_accumulator_ok(int64_t taps, const int32_t *bias, int32_t n)
{
    int64_t worst = 0;
    if (bias != NULL) {
        for (int32_t i = 0; i < n; ++i) {
            const int64_t b = bias[i] < 0 ? -(int64_t)bias[i] : (int64_t)bias[i];
            worst = b > worst ? b : worst;
        }
    }
    return taps * 255 * 128 + worst <= INT32_MAX;
}

#endif /* TL_KERNEL_UTIL_H */
