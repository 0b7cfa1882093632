/*
 * tl_conv2d_f32_fpu.c - CONV_2D, float32, register-blocked with fused multiply-adds (Cortex-M4F / M7).
 *
 * Blocks of 4 output positions x 4 output channels: 16 accumulators in registers, the weights of the 4
 * channels side by side per tap (generated: fpu_weights), each position's input read in place. Where every
 * tap of the 4 positions lies inside the input, a kernel row (dilation 1) is one run of k_w * in_ch values;
 * elsewhere the block goes tap by tap and skips the taps in the padding exactly as the reference does,
 * position by position where the positions differ. Each output sums in the reference's order (kernel row,
 * kernel column, input channel, then the bias), with one rounding per multiply-add instead of two: the
 * result stays within the float32 tolerance of the reference (docs/kernels.md).
 */
#include "tl_fpu.h"
#include "tl_kernel_util.h"

#define POSITIONS 4
#define CHANNELS 4

/* The reference's checks (`weights` may be NULL: the variant reads fpu_weights). */
tl_status_t tl_conv2d_f32_fpu_check(const tl_conv2d_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->fpu_weights == NULL || ((uintptr_t)p->fpu_weights & 3u) != 0) {
        return TL_STATUS_BAD_PACKED;
    }
    tl_conv2d_f32_params_t shape = *p;
    shape.weights = p->fpu_weights;
    return tl_conv2d_f32_check(&shape);
}

typedef struct {
    const float *batch; /* the position's input image */
    int32_t iy0, ix0;   /* top-left tap, may lie in the padding */
} window_t;

tl_status_t tl_conv2d_f32_fpu(const tl_conv2d_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t in_ch = p->in_ch;
    const int32_t out_ch = p->out_ch;
    const int32_t taps_w = p->k_w * in_ch;
    const int32_t k = p->k_h * taps_w;
    const int32_t positions = p->batches * p->out_h * p->out_w;
    const int32_t span_h = (p->k_h - 1) * p->dilation_h;
    const int32_t span_w = (p->k_w - 1) * p->dilation_w;
    int32_t b = 0, oy = 0, ox = 0;
    for (int32_t pos = 0; pos < positions; pos += POSITIONS) {
        const int32_t n = positions - pos < POSITIONS ? positions - pos : POSITIONS;
        window_t win[POSITIONS];
        int inside = 1;
        for (int32_t j = 0; j < POSITIONS; ++j) {
            if (j >= n) {
                win[j] = win[n - 1]; /* computed, not stored */
                continue;
            }
            win[j].batch = in + b * p->in_h * p->in_w * in_ch;
            win[j].iy0 = oy * p->stride_h - p->pad_top;
            win[j].ix0 = ox * p->stride_w - p->pad_left;
            inside = inside && win[j].iy0 >= 0 && win[j].iy0 + span_h < p->in_h && win[j].ix0 >= 0 &&
                     win[j].ix0 + span_w < p->in_w;
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        const float *wg = p->fpu_weights;
        for (int32_t c0 = 0; c0 < out_ch; c0 += CHANNELS, wg += (int64_t)k * CHANNELS) {
            float acc[POSITIONS * CHANNELS] = {0.0f};
            for (int32_t ky = 0; ky < p->k_h; ++ky) {
                const float *const wr = wg + (int64_t)ky * taps_w * CHANNELS;
                const float *x[POSITIONS];
                if (inside && p->dilation_w == 1) {
                    for (int32_t j = 0; j < POSITIONS; ++j) {
                        const int32_t iy = win[j].iy0 + ky * p->dilation_h;
                        x[j] = win[j].batch + (iy * p->in_w + win[j].ix0) * in_ch;
                    }
                    (void)tl_fpu_fma_4x4(x[0], x[1], x[2], x[3], wr, taps_w, acc);
                    continue;
                }
                for (int32_t kx = 0; kx < p->k_w; ++kx) {
                    const float *const wt = wr + kx * in_ch * CHANNELS;
                    int valid = 0;
                    for (int32_t j = 0; j < POSITIONS; ++j) {
                        const int32_t iy = win[j].iy0 + ky * p->dilation_h;
                        const int32_t ix = win[j].ix0 + kx * p->dilation_w;
                        const int ok = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                        x[j] = ok ? win[j].batch + (iy * p->in_w + ix) * in_ch : NULL;
                        valid += ok;
                    }
                    if (valid == POSITIONS) {
                        (void)tl_fpu_fma_4x4(x[0], x[1], x[2], x[3], wt, in_ch, acc);
                        continue;
                    }
                    for (int32_t j = 0; j < POSITIONS && valid > 0; ++j) {
                        if (x[j] != NULL) {
                            tl_fpu_fma_1x4(x[j], wt, in_ch, acc + CHANNELS * j);
                        }
                    }
                }
            }
            const int32_t m = out_ch - c0 < CHANNELS ? out_ch - c0 : CHANNELS;
            for (int32_t j = 0; j < n; ++j) {
                float *const o = out + (pos + j) * out_ch + c0;
                for (int32_t c = 0; c < m; ++c) {
                    float v = acc[CHANNELS * j + c];
                    if (p->bias != NULL) {
                        v += p->bias[c0 + c];
                    }
                    o[c] = tl_clamp_f32(v, p->act_min, p->act_max);
                }
            }
        }
    }
    return TL_STATUS_OK;
}
