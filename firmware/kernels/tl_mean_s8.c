/*
 * tl_mean_s8.c - MEAN over the spatial axes, int8 (TFLite's QuantizedMeanOrSum): the int32 sum over
 * `count` elements minus zero_point * count, requantized with 1/count folded into the multiplier.
 */
#include "tl_kernel_util.h"

tl_status_t tl_mean_s8_check(const tl_mean_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t dims[3] = {p->batches, p->count, p->channels};
    if (!tl_dims_ok(dims, 3)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_is_int8(p->input_zero_point) || !tl_is_int8(p->output_zero_point) ||
        !tl_act_range_ok(p->act_min, p->act_max) || !tl_multipliers_ok(&p->multiplier, &p->shift, 1)) {
        return TL_STATUS_BAD_QUANT;
    }
    if ((int64_t)p->count * 255 > INT32_MAX) {
        return TL_STATUS_OVERFLOW;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_mean_s8(const tl_mean_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t offset = p->input_zero_point * p->count;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const in_batch = in + b * p->count * p->channels;
        for (int32_t c = 0; c < p->channels; ++c) {
            int32_t sum = 0;
            for (int32_t i = 0; i < p->count; ++i) {
                sum += in_batch[i * p->channels + c];
            }
            int32_t acc = tl_multiply_by_quantized_multiplier(sum - offset, p->multiplier, p->shift);
            acc += p->output_zero_point;
            *out++ = (int8_t)tl_clamp_s32(acc, p->act_min, p->act_max);
        }
    }
    return TL_STATUS_OK;
}
