/*
 * tl_mean_f32.c - MEAN over the spatial axes, float32: the sum in input order divided by the count.
 */
#include "tl_kernel_util.h"

tl_status_t tl_mean_f32_check(const tl_mean_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t dims[3] = {p->batches, p->count, p->channels};
    return tl_dims_ok(dims, 3) ? TL_STATUS_OK : TL_STATUS_BAD_SHAPE;
}

tl_status_t tl_mean_f32(const tl_mean_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const float count = (float)p->count;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *const in_batch = in + b * p->count * p->channels;
        for (int32_t c = 0; c < p->channels; ++c) {
            float sum = 0.0f;
            for (int32_t i = 0; i < p->count; ++i) {
                sum += in_batch[i * p->channels + c];
            }
            *out++ = sum / count;
        }
    }
    return TL_STATUS_OK;
}
