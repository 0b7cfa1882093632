/*
 * tl_fully_connected_f32.c - FULLY_CONNECTED, float32: products summed in input order, then the bias.
 */
#include "tl_kernel_util.h"

tl_status_t tl_fully_connected_f32_check(const tl_fully_connected_f32_params_t *p)
{
    if (p == NULL || p->weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_dims[2] = {p->batches, p->in_features};
    const int32_t out_dims[2] = {p->batches, p->out_features};
    const int32_t w_dims[2] = {p->out_features, p->in_features};
    if (!tl_dims_ok(in_dims, 2) || !tl_dims_ok(out_dims, 2) || !tl_dims_ok(w_dims, 2)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!(p->act_min <= p->act_max)) {
        return TL_STATUS_BAD_QUANT;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_fully_connected_f32(const tl_fully_connected_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *const x = in + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; ++o) {
            const float *const w = p->weights + o * p->in_features;
            float acc = 0.0f;
            for (int32_t i = 0; i < p->in_features; ++i) {
                acc += x[i] * w[i];
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            *out++ = tl_clamp_f32(acc, p->act_min, p->act_max);
        }
    }
    return TL_STATUS_OK;
}
