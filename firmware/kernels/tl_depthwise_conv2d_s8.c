/*
 * tl_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8 with per-channel requantization and a depth
 * multiplier: output channel c = ic * depth_multiplier + m reads input channel ic.
 */
#include "tl_kernel_util.h"

tl_status_t tl_depthwise_conv2d_s8_check(const tl_depthwise_conv2d_s8_params_t *p)
{
    if (p == NULL || p->multiplier == NULL || p->shift == NULL || p->weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_dims[4] = {p->batches, p->in_h, p->in_w, p->in_ch};
    const int32_t out_dims[4] = {p->batches, p->out_h, p->out_w, p->out_ch};
    const int32_t w_dims[3] = {p->k_h, p->k_w, p->out_ch};
    if (!tl_dims_ok(in_dims, 4) || !tl_dims_ok(out_dims, 4) || !tl_dims_ok(w_dims, 3) ||
        p->depth_multiplier < 1 || (int64_t)p->in_ch * p->depth_multiplier != p->out_ch ||
        !tl_window_ok(p->in_h, p->out_h, p->k_h, p->stride_h, p->dilation_h, p->pad_top) ||
        !tl_window_ok(p->in_w, p->out_w, p->k_w, p->stride_w, p->dilation_w, p->pad_left)) {
        return TL_STATUS_BAD_SHAPE;
    }
    if (!tl_is_int8(p->input_zero_point) || !tl_is_int8(p->output_zero_point) ||
        !tl_act_range_ok(p->act_min, p->act_max) || !tl_multipliers_ok(p->multiplier, p->shift, p->out_ch)) {
        return TL_STATUS_BAD_QUANT;
    }
    if (!tl_accumulator_ok((int64_t)p->k_h * p->k_w, p->bias, p->out_ch)) {
        return TL_STATUS_OVERFLOW;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_depthwise_conv2d_s8(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t input_offset = -p->input_zero_point;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const in_batch = in + b * p->in_h * p->in_w * p->in_ch;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t ic = 0; ic < p->in_ch; ++ic) {
                    for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
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
                                const int32_t x = in_batch[(iy * p->in_w + ix) * p->in_ch + ic];
                                const int32_t w = p->weights[(ky * p->k_w + kx) * p->out_ch + oc];
                                acc += (x + input_offset) * w;
                            }
                        }
                        if (p->bias != NULL) {
                            acc += p->bias[oc];
                        }
                        acc = tl_multiply_by_quantized_multiplier(acc, p->multiplier[oc], p->shift[oc]);
                        acc += p->output_zero_point;
                        out[((b * p->out_h + oy) * p->out_w + ox) * p->out_ch + oc] =
                            (int8_t)tl_clamp_s32(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
    return TL_STATUS_OK;
}
