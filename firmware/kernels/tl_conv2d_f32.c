/*
 * tl_conv2d_f32.c - CONV_2D, float32. Sums in the order kernel row, kernel column, input channel, then
 * the bias, as TFLite's reference kernel (and the numpy oracle) do.
 */
#include "tl_kernel_util.h"

tl_status_t tl_conv2d_f32_check(const tl_conv2d_f32_params_t *p)
{
    if (p == NULL || p->weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_dims[4] = {p->batches, p->in_h, p->in_w, p->in_ch};
    const int32_t out_dims[4] = {p->batches, p->out_h, p->out_w, p->out_ch};
    const int32_t w_dims[4] = {p->out_ch, p->k_h, p->k_w, p->in_ch};
    if (!tl_dims_ok(in_dims, 4) || !tl_dims_ok(out_dims, 4) || !tl_dims_ok(w_dims, 4) ||
        !tl_window_ok(p->in_h, p->out_h, p->k_h, p->stride_h, p->dilation_h, p->pad_top) ||
        !tl_window_ok(p->in_w, p->out_w, p->k_w, p->stride_w, p->dilation_w, p->pad_left)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!(p->act_min <= p->act_max)) {
        return TL_STATUS_BAD_QUANT;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_conv2d_f32(const tl_conv2d_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t filter_size = p->k_h * p->k_w * p->in_ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *const in_batch = in + b * p->in_h * p->in_w * p->in_ch;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_ch; ++oc) {
                    const float *const filter = p->weights + oc * filter_size;
                    float acc = 0.0f;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const float *const x = in_batch + (iy * p->in_w + ix) * p->in_ch;
                            const float *const w = filter + (ky * p->k_w + kx) * p->in_ch;
                            for (int32_t ic = 0; ic < p->in_ch; ++ic) {
                                acc += x[ic] * w[ic];
                            }
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    *out++ = tl_clamp_f32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return TL_STATUS_OK;
}
