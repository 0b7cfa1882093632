/*
 * tl_fully_connected_s8.c - FULLY_CONNECTED, int8: [batches][in] x [out][in]^T with per-output-channel
 * requantization (a per-tensor layer repeats its multiplier).
 */
#include "tl_kernel_util.h"

tl_status_t tl_fully_connected_s8_check(const tl_fully_connected_s8_params_t *p)
{
    if (p == NULL || p->multiplier == NULL || p->shift == NULL || p->weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_dims[2] = {p->batches, p->in_features};
    const int32_t out_dims[2] = {p->batches, p->out_features};
    const int32_t w_dims[2] = {p->out_features, p->in_features};
    if (!tl_dims_ok(in_dims, 2) || !tl_dims_ok(out_dims, 2) || !tl_dims_ok(w_dims, 2)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_is_int8(p->input_zero_point) || !tl_is_int8(p->output_zero_point) ||
        !tl_act_range_ok(p->act_min, p->act_max) ||
        !tl_multipliers_ok(p->multiplier, p->shift, p->out_features)) {
        return TL_STATUS_BAD_QUANT;
    }
    if (!tl_accumulator_ok(p->in_features, p->bias, p->out_features)) {
        return TL_STATUS_OVERFLOW;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_fully_connected_s8(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t input_offset = -p->input_zero_point;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const x = in + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; ++o) {
            const int8_t *const w = p->weights + o * p->in_features;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_features; ++i) {
                acc += ((int32_t)x[i] + input_offset) * (int32_t)w[i];
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            acc = tl_multiply_by_quantized_multiplier(acc, p->multiplier[o], p->shift[o]);
            acc += p->output_zero_point;
            *out++ = (int8_t)tl_clamp_s32(acc, p->act_min, p->act_max);
        }
    }
    return TL_STATUS_OK;
}
