/*
 * tl_add_const_s8.c - ADD of a constant per channel, int8: element i adds constant[i % channels] with ADD's
 * arithmetic (tl_add_s8.c), as TFLite's broadcasting ADD computes each element. In place is allowed.
 */
#include "tl_kernel_util.h"

tl_status_t tl_add_const_s8_check(const tl_add_const_s8_params_t *p)
{
    if (p == NULL || p->constant == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->size < 1 || p->channels < 1 || p->size % p->channels != 0) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_is_int8(p->input1_zero_point) || !tl_is_int8(p->input2_zero_point) ||
        !tl_is_int8(p->output_zero_point) || p->left_shift < 0 || p->left_shift > 22 ||
        !tl_act_range_ok(p->act_min, p->act_max) ||
        !tl_multipliers_ok(&p->input1_multiplier, &p->input1_shift, 1) || p->input1_shift > 0 ||
        !tl_multipliers_ok(&p->input2_multiplier, &p->input2_shift, 1) || p->input2_shift > 0 ||
        !tl_multipliers_ok(&p->output_multiplier, &p->output_shift, 1) || p->output_shift > 0) {
        return TL_STATUS_BAD_QUANT;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_add_const_s8(const tl_add_const_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t scale_up = (int32_t)1 << p->left_shift;
    for (int32_t i = 0; i < p->size; i += p->channels) {
        for (int32_t c = 0; c < p->channels; ++c) {
            const int32_t a = ((int32_t)in[i + c] - p->input1_zero_point) * scale_up;
            const int32_t b = ((int32_t)p->constant[c] - p->input2_zero_point) * scale_up;
            const int32_t sum = tl_multiply_by_quantized_multiplier(a, p->input1_multiplier, p->input1_shift) +
                                tl_multiply_by_quantized_multiplier(b, p->input2_multiplier, p->input2_shift);
            const int32_t acc =
                tl_multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift) + p->output_zero_point;
            out[i + c] = (int8_t)tl_clamp_s32(acc, p->act_min, p->act_max);
        }
    }
    return TL_STATUS_OK;
}
