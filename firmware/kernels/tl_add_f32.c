/*
 * tl_add_f32.c - ADD, float32, element-wise, clamped to the activation range.
 */
#include "tl_kernel_util.h"

tl_status_t tl_add_f32_check(const tl_add_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->size < 1) {
        return TL_STATUS_BAD_SHAPE;
    }
    return p->act_min <= p->act_max ? TL_STATUS_OK : TL_STATUS_BAD_QUANT;
}

tl_status_t tl_add_f32(const tl_add_f32_params_t *p, const float *in1, const float *in2, float *out)
{
    if (p == NULL || in1 == NULL || in2 == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = tl_clamp_f32(in1[i] + in2[i], p->act_min, p->act_max);
    }
    return TL_STATUS_OK;
}
