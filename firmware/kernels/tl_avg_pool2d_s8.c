/*
 * tl_avg_pool2d_s8.c - AVERAGE_POOL_2D, int8: the sum of the window's valid inputs divided by their count,
 * rounded half away from zero (padding is not counted), clamped. Input and output share quantization.
 */
#include "tl_kernel_util.h"

tl_status_t tl_avg_pool2d_s8_check(const tl_avg_pool2d_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_dims[4] = {p->batches, p->in_h, p->in_w, p->channels};
    const int32_t out_dims[4] = {p->batches, p->out_h, p->out_w, p->channels};
    if (!tl_dims_ok(in_dims, 4) || !tl_dims_ok(out_dims, 4) ||
        !tl_window_ok(p->in_h, p->out_h, p->k_h, p->stride_h, 1, p->pad_top) ||
        !tl_window_ok(p->in_w, p->out_w, p->k_w, p->stride_w, 1, p->pad_left)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_act_range_ok(p->act_min, p->act_max)) {
        return TL_STATUS_BAD_QUANT;
    }
    if ((int64_t)p->k_h * p->k_w * 128 > INT32_MAX) {
        return TL_STATUS_OVERFLOW;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_avg_pool2d_s8(const tl_avg_pool2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const in_batch = in + b * p->in_h * p->in_w * p->channels;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky_begin = iy0 < 0 ? -iy0 : 0;
            const int32_t ky_end = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx_begin = ix0 < 0 ? -ix0 : 0;
                const int32_t kx_end = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                const int32_t count = (ky_end - ky_begin) * (kx_end - kx_begin);
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t sum = 0;
                    for (int32_t ky = ky_begin; ky < ky_end; ++ky) {
                        for (int32_t kx = kx_begin; kx < kx_end; ++kx) {
                            sum += in_batch[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];
                        }
                    }
                    /* round half away from zero; C division truncates toward zero */
                    const int32_t average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    *out++ = (int8_t)tl_clamp_s32(average, p->act_min, p->act_max);
                }
            }
        }
    }
    return TL_STATUS_OK;
}
