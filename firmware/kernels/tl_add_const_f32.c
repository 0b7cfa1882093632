/*
 * tl_add_const_f32.c - ADD of a constant per channel, float32: out[i] = in[i] + constant[i % channels],
 * clamped to the activation range. In place is allowed.
 */
#include "tl_kernel_util.h"

tl_status_t tl_add_const_f32_check(const tl_add_const_f32_params_t *p)
{
    if (p == NULL || p->constant == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->size < 1 || p->channels < 1 || p->size % p->channels != 0) {
        return TL_STATUS_BAD_SHAPE;
    }
    return p->act_min <= p->act_max ? TL_STATUS_OK : TL_STATUS_BAD_QUANT;
}

tl_status_t tl_add_const_f32(const tl_add_const_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t i = 0; i < p->size; i += p->channels) {
        for (int32_t c = 0; c < p->channels; ++c) {
            out[i + c] = tl_clamp_f32(in[i + c] + p->constant[c], p->act_min, p->act_max);
        }
    }
    return TL_STATUS_OK;
}
