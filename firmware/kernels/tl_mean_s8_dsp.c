/*
 * tl_mean_s8_dsp.c - MEAN over the spatial axes, int8, for cores with the DSP extension: four channels per
 * load, summed in 16-bit lanes by SXTAB16 (bytes 0 and 2, then 1 and 3). A lane holds at most
 * 256 * 128 in magnitude, so the variant needs count <= 256 (the lowering checks it, and so does the check
 * function). Then the reference's arithmetic per channel. Bit-exact with tl_mean_s8.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

#define MAX_COUNT 256

tl_status_t tl_mean_s8_dsp_check(const tl_mean_s8_params_t *p)
{
    const tl_status_t status = tl_mean_s8_check(p);
    if (status != TL_STATUS_OK) {
        return status;
    }
    return p->count <= MAX_COUNT ? TL_STATUS_OK : TL_STATUS_BAD_SHAPE;
}

static int8_t finish(const tl_mean_s8_params_t *p, int32_t sum, int32_t offset)
{
    const int32_t acc = tl_multiply_by_quantized_multiplier(sum - offset, p->multiplier, p->shift);
    return (int8_t)tl_clamp_s32(acc + p->output_zero_point, p->act_min, p->act_max);
}

tl_status_t tl_mean_s8_dsp(const tl_mean_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t channels = p->channels;
    const int32_t words = channels / 4;
    const int32_t offset = p->input_zero_point * p->count;
    for (int32_t b = 0; b < p->batches; ++b, in += p->count * channels, out += channels) {
        for (int32_t w = 0; w < words; ++w) {
            const int8_t *x = in + 4 * w;
            uint32_t even = 0u, odd = 0u; /* channels 0, 2 and 1, 3 of the word, 16 bits each */
            for (int32_t i = 0; i < p->count; ++i, x += channels) {
                const uint32_t v = tl_ld32(x);
                even = tl_sxtab16(even, v);
                odd = tl_sxtab16_ror8(odd, v);
            }
            out[4 * w] = finish(p, (int16_t)(even & 0xFFFFu), offset);
            out[4 * w + 1] = finish(p, (int16_t)(odd & 0xFFFFu), offset);
            out[4 * w + 2] = finish(p, (int16_t)(even >> 16), offset);
            out[4 * w + 3] = finish(p, (int16_t)(odd >> 16), offset);
        }
        for (int32_t c = 4 * words; c < channels; ++c) {
            int32_t sum = 0;
            for (int32_t i = 0; i < p->count; ++i) {
                sum += in[i * channels + c];
            }
            out[c] = finish(p, sum, offset);
        }
    }
    return TL_STATUS_OK;
}
