/*
 * tl_relu_f32.c - a stand-alone RELU / RELU6, float32: each input clamped to [act_min, act_max]. In place is
 * allowed.
 */
#include "tl_kernel_util.h"

tl_status_t tl_relu_f32_check(const tl_relu_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->size < 1) {
        return TL_STATUS_BAD_SHAPE;
    }
    return p->act_min <= p->act_max ? TL_STATUS_OK : TL_STATUS_BAD_QUANT;
}

tl_status_t tl_relu_f32(const tl_relu_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = tl_clamp_f32(in[i], p->act_min, p->act_max);
    }
    return TL_STATUS_OK;
}
