/*
 * tl_max_pool2d_s8_dsp.c - MAX_POOL_2D, int8, for cores with the DSP extension: four channels per
 * instruction (SSUB8 + SEL is a per-byte max). Bit-exact with tl_max_pool2d_s8, whose checks it uses.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

tl_status_t tl_max_pool2d_s8_dsp_check(const tl_max_pool2d_s8_params_t *p)
{
    return tl_max_pool2d_s8_check(p);
}

tl_status_t tl_max_pool2d_s8_dsp(const tl_max_pool2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t channels = p->channels;
    const int32_t words = channels / 4;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const in_batch = in + b * p->in_h * p->in_w * channels;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky_begin = iy0 < 0 ? -iy0 : 0;
            const int32_t ky_end = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += channels) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx_begin = ix0 < 0 ? -ix0 : 0;
                const int32_t kx_end = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                for (int32_t i = 0; i < words; ++i) {
                    tl_st32(out + 4 * i, 0x80808080u);
                }
                for (int32_t c = 4 * words; c < channels; ++c) {
                    out[c] = INT8_MIN;
                }
                for (int32_t ky = ky_begin; ky < ky_end; ++ky) {
                    for (int32_t kx = kx_begin; kx < kx_end; ++kx) {
                        const int8_t *const x = in_batch + ((iy0 + ky) * p->in_w + ix0 + kx) * channels;
                        for (int32_t i = 0; i < words; ++i) {
                            tl_st32(out + 4 * i, tl_max_s8x4(tl_ld32(out + 4 * i), tl_ld32(x + 4 * i)));
                        }
                        for (int32_t c = 4 * words; c < channels; ++c) {
                            out[c] = x[c] > out[c] ? x[c] : out[c];
                        }
                    }
                }
                for (int32_t i = 0; i < words; ++i) {
                    tl_st32(out + 4 * i, tl_clamp_s8x4(tl_ld32(out + 4 * i), lo4, hi4));
                }
                for (int32_t c = 4 * words; c < channels; ++c) {
                    out[c] = (int8_t)tl_clamp_s32(out[c], p->act_min, p->act_max);
                }
            }
        }
    }
    return TL_STATUS_OK;
}
