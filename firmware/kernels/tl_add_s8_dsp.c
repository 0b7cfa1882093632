/*
 * tl_add_s8_dsp.c - ADD, int8, for cores with the DSP extension: the reference's three requantizations
 * (each input rescaled to the common scale, the sum to the output) each in tl_dsp_requantize's five
 * instructions instead of a 64-bit multiply and a rounding shift. Bit-exact with tl_add_s8.
 *
 * The input with the larger scale has the multiplier 0.5 exactly ((2^30, shift 0)): its doubling high
 * multiply halves a value that is even (shifted left by left_shift >= 1), so it is a shift. The other
 * multipliers are normalised ([2^30, 2^31)) with right shifts, where tl_dsp_requantize is exact as long as
 * it cannot overflow: the inputs are at most 255 << 22 in magnitude, and the check bounds the output's.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

/* A rescale that tl_dsp_requantize does exactly: (2^30, 0), a halving, or a normalised right shift. */
static int input_ok(int32_t multiplier, int32_t shift)
{
    return (shift == 0 && multiplier == (INT32_C(1) << 30)) ||
           (shift <= -1 && shift >= -31 && multiplier >= (INT32_C(1) << 30));
}

static void constants(int32_t multiplier, int32_t shift, int32_t zero_point, int32_t *rq)
{
    const int32_t r = -shift;
    rq[0] = (int32_t)(uint32_t)(2u * (uint32_t)multiplier);
    rq[1] = r > 0 ? (INT32_C(1) << (r - 1)) + zero_point * (INT32_C(1) << r) : 0;
    rq[2] = r;
}

tl_status_t tl_add_s8_dsp_check(const tl_add_s8_params_t *p)
{
    const tl_status_t status = tl_add_s8_check(p);
    if (status != TL_STATUS_OK) {
        return status;
    }
    if (p->left_shift < 1 || !input_ok(p->input1_multiplier, p->input1_shift) ||
        !input_ok(p->input2_multiplier, p->input2_shift) || p->output_shift > -1 ||
        p->output_multiplier < (INT32_C(1) << 30)) {
        return TL_STATUS_BAD_QUANT;
    }
    /* the sum of two rescaled inputs, then the output's requantization with its zero point folded in */
    const int64_t input = (int64_t)255 << p->left_shift;
    const int64_t sum = 2 * (input / 2 + 2);
    const int32_t r = -p->output_shift;
    const int64_t zp = p->output_zero_point < 0 ? -(int64_t)p->output_zero_point : p->output_zero_point;
    const int64_t worst = ((sum * p->output_multiplier) >> 31) + 2 + ((int64_t)1 << (r - 1)) + zp * ((int64_t)1 << r);
    return worst <= INT32_MAX ? TL_STATUS_OK : TL_STATUS_OVERFLOW;
}

static inline int32_t rescale(int32_t a, const int32_t *rq)
{
    return rq[2] == 0 ? a >> 1 : tl_dsp_requantize(a, rq);
}

tl_status_t tl_add_s8_dsp(const tl_add_s8_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    if (p == NULL || in1 == NULL || in2 == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    int32_t rq1[3], rq2[3], rqo[3];
    constants(p->input1_multiplier, p->input1_shift, 0, rq1);
    constants(p->input2_multiplier, p->input2_shift, 0, rq2);
    constants(p->output_multiplier, p->output_shift, p->output_zero_point, rqo);
    const int32_t zp1 = p->input1_zero_point, zp2 = p->input2_zero_point, shift = p->left_shift;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = rescale(((int32_t)in1[i] - zp1) * (INT32_C(1) << shift), rq1);
        const int32_t b = rescale(((int32_t)in2[i] - zp2) * (INT32_C(1) << shift), rq2);
        out[i] = (int8_t)tl_clamp_s32(tl_dsp_requantize(a + b, rqo), p->act_min, p->act_max);
    }
    return TL_STATUS_OK;
}
