/*
 * tl_softmax_f32.c - SOFTMAX, float32, as TFLite's reference: per row exp((x - max) * beta), summed in
 * order, each divided by the sum.
 */
#include <math.h>

#include "tl_kernel_util.h"

tl_status_t tl_softmax_f32_check(const tl_softmax_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->rows < 1 || p->depth < 1) {
        return TL_STATUS_BAD_SHAPE;
    }
    return isfinite(p->beta) ? TL_STATUS_OK : TL_STATUS_BAD_QUANT;
}

tl_status_t tl_softmax_f32(const tl_softmax_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
        float largest = in[0];
        for (int32_t c = 1; c < p->depth; ++c) {
            largest = in[c] > largest ? in[c] : largest;
        }
        float sum = 0.0f;
        for (int32_t c = 0; c < p->depth; ++c) {
            out[c] = expf((in[c] - largest) * p->beta);
            sum += out[c];
        }
        for (int32_t c = 0; c < p->depth; ++c) {
            out[c] = out[c] / sum;
        }
    }
    return TL_STATUS_OK;
}
