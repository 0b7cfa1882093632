/*
 * tl_relu_s8.c - a stand-alone RELU / RELU6, int8 (TFLite's): each input, less its zero point, requantized
 * to the output's scale, plus the output zero point, clamped to [act_min, act_max]. In place is allowed.
 */
#include "tl_kernel_util.h"

tl_status_t tl_relu_s8_check(const tl_relu_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->size < 1) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_is_int8(p->input_zero_point) || !tl_is_int8(p->output_zero_point) ||
        !tl_act_range_ok(p->act_min, p->act_max) || !tl_multipliers_ok(&p->multiplier, &p->shift, 1)) {
        return TL_STATUS_BAD_QUANT;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_relu_s8(const tl_relu_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = tl_multiply_by_quantized_multiplier((int32_t)in[i] - p->input_zero_point, p->multiplier,
                                                              p->shift);
        out[i] = (int8_t)tl_clamp_s32(v + p->output_zero_point, p->act_min, p->act_max);
    }
    return TL_STATUS_OK;
}
