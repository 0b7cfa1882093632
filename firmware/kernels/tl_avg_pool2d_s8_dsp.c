/*
 * tl_avg_pool2d_s8_dsp.c - AVERAGE_POOL_2D, int8, for cores with the DSP extension. Bit-exact with
 * tl_avg_pool2d_s8: the window's valid inputs summed, divided by their count with halves rounded away from
 * zero, clamped.
 *
 * Four channels per load, summed in 16-bit lanes by SXTAB16 (bytes 0 and 2 into one word, bytes 1 and 3 into
 * another), two taps per pass. A lane holds at most 256 * 128 in magnitude, so the variant needs windows of
 * at most 256 taps (the lowering checks it, and so does the check function). The division stays the
 * reference's (SDIV) per channel; the four averages are in [-128, 127] already, so they are packed into one
 * word and clamped by SSUB8 / SEL. A group's output is written after its window is read, so, as the
 * reference, the kernel may write over its own input when there is no padding.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

#define MAX_TAPS 256

tl_status_t tl_avg_pool2d_s8_dsp_check(const tl_avg_pool2d_s8_params_t *p)
{
    const tl_status_t status = tl_avg_pool2d_s8_check(p);
    if (status != TL_STATUS_OK) {
        return status;
    }
    return p->k_h * p->k_w <= MAX_TAPS ? TL_STATUS_OK : TL_STATUS_BAD_SHAPE;
}

/* sum / count, halves away from zero (C division truncates toward zero) */
static inline int32_t average(int32_t sum, int32_t count, int32_t half)
{
    return (sum > 0 ? sum + half : sum - half) / count;
}

tl_status_t tl_avg_pool2d_s8_dsp(const tl_avg_pool2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t channels = p->channels, words = channels / 4;
    const int32_t row = p->in_w * channels;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const in_batch = in + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky_begin = iy0 < 0 ? -iy0 : 0;
            const int32_t ky_end = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += channels) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx_begin = ix0 < 0 ? -ix0 : 0;
                const int32_t kx_end = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                const int32_t rows = ky_end - ky_begin, cols = kx_end - kx_begin;
                const int32_t count = rows * cols, half = count / 2;
                const int8_t *const first = in_batch + (iy0 + ky_begin) * row + (ix0 + kx_begin) * channels;
                for (int32_t w = 0; w < words; ++w) {
                    uint32_t even = 0u, odd = 0u; /* channels 0, 2 and 1, 3 of the word, 16 bits each */
                    const int8_t *x = first + 4 * w;
                    for (int32_t ky = 0; ky < rows; ++ky, x += row) {
                        const int8_t *xx = x;
                        int32_t kx = cols;
                        for (; kx >= 2; kx -= 2, xx += 2 * channels) {
                            const uint32_t v0 = tl_ld32(xx), v1 = tl_ld32(xx + channels);
                            even = tl_sxtab16(tl_sxtab16(even, v0), v1);
                            odd = tl_sxtab16_ror8(tl_sxtab16_ror8(odd, v0), v1);
                        }
                        if (kx) {
                            const uint32_t v = tl_ld32(xx);
                            even = tl_sxtab16(even, v);
                            odd = tl_sxtab16_ror8(odd, v);
                        }
                    }
                    const int32_t a0 = average((int16_t)(even & 0xFFFFu), count, half);
                    const int32_t a1 = average((int16_t)(odd & 0xFFFFu), count, half);
                    const int32_t a2 = average((int16_t)(even >> 16), count, half);
                    const int32_t a3 = average((int16_t)(odd >> 16), count, half);
                    const uint32_t v = ((uint32_t)a0 & 0xFFu) | ((uint32_t)a1 & 0xFFu) << 8 |
                                       ((uint32_t)a2 & 0xFFu) << 16 | (uint32_t)a3 << 24;
                    tl_st32(out + 4 * w, tl_clamp_s8x4(v, lo4, hi4));
                }
                for (int32_t c = 4 * words; c < channels; ++c) {
                    int32_t sum = 0;
                    const int8_t *x = first + c;
                    for (int32_t ky = 0; ky < rows; ++ky, x += row) {
                        for (int32_t kx = 0; kx < cols; ++kx) {
                            sum += x[kx * channels];
                        }
                    }
                    out[c] = (int8_t)tl_clamp_s32(average(sum, count, half), p->act_min, p->act_max);
                }
            }
        }
    }
    return TL_STATUS_OK;
}
