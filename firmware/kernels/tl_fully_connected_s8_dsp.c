/*
 * tl_fully_connected_s8_dsp.c - FULLY_CONNECTED, int8, for cores with the DSP extension. Bit-exact with
 * tl_fully_connected_s8.
 *
 * Blocks of 4 outputs: tl_dsp_dot_4x1 reads four int8 inputs per LDR, expands them with two SXTB16 and
 * multiplies them with the 4 outputs' pre-expanded weights (8 SMLADs, 13 instructions per 16 MACs). The
 * 1-3 inputs past the last whole chunk form one more, zero-filled, chunk. The bias has the input zero point
 * folded in and requantization is tl_dsp_requantize, as in tl_conv2d_s8_dsp.
 *
 * tl_fully_connected_s8_dsp_w8 is the same kernel on int8 weights (dsp_weights8: per chunk of 4 inputs the
 * 4 outputs' 4 bytes in natural order, the last chunk zero-filled; half the flash): tl_dsp_dot8_4x1
 * expands each weight word with SXTB16 and SXTB16 ROR #8, 20 instructions per 16 MACs.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

#define CHANNELS_PER_BLOCK 4

/* The reference's checks (`weights` may be NULL: the variant reads dsp_weights, or dsp_weights8 when `w8`)
 * and the generated data's. */
static tl_status_t check(const tl_fully_connected_s8_params_t *p, int w8)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const void *const packed = w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights;
    if (packed == NULL || (w8 ? p->dsp_weights != NULL : p->dsp_weights8 != NULL)) {
        return TL_STATUS_BAD_PACKED;
    }
    tl_fully_connected_s8_params_t shape = *p;
    shape.weights = (const int8_t *)packed;
    if (p->multiplier == NULL) {
        /* The firmware left out the original multipliers, shifts and bias (the variant reads only the generated
         * constants, which tl_dsp_check_packed checks for themselves): the reference's shape checks see one
         * stand-in channel. */
        static const int32_t stand_in_multiplier = INT32_C(1) << 30, stand_in_shift = -1;
        if (p->shift != NULL || p->bias != NULL || p->out_features < 1) {
            return TL_STATUS_BAD_PACKED;
        }
        shape.multiplier = &stand_in_multiplier;
        shape.shift = &stand_in_shift;
        shape.out_features = 1;
    }
    const tl_status_t status = tl_fully_connected_s8_check(&shape);
    if (status != TL_STATUS_OK) {
        return status;
    }
    const int32_t k = p->in_features;
    return tl_dsp_check_packed(p->weights, p->out_features, k, CHANNELS_PER_BLOCK, (k + 3) / 4, p->bias,
                               p->input_zero_point, p->output_zero_point, p->multiplier, p->shift,
                               tl_dsp_acc_bound(k, p->bias, p->out_features), p->dsp_weights, p->dsp_weights8,
                               p->dsp_bias, p->dsp_requant);
}

tl_status_t tl_fully_connected_s8_dsp_check(const tl_fully_connected_s8_params_t *p)
{
    return check(p, 0);
}

tl_status_t tl_fully_connected_s8_dsp_w8_check(const tl_fully_connected_s8_params_t *p)
{
    return check(p, 1);
}

/* The layer on int16 (w8 = 0) or int8 weights; inlined twice. */
static inline __attribute__((always_inline)) void run(const tl_fully_connected_s8_params_t *p, const int8_t *in,
                                                      int8_t *out, int w8)
{
    const int32_t k = p->in_features;
    const int32_t whole = k / 4;
    const int32_t tail = k - 4 * whole;
    const int32_t outs = p->out_features;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    for (int32_t b = 0; b < p->batches; ++b, in += k) {
        uint32_t last = 0u;
        for (int32_t i = 0; i < tail; ++i) {
            last |= (uint32_t)(uint8_t)in[4 * whole + i] << (8 * i);
        }
        const uint32_t last_even = tl_sxtb16(last), last_odd = tl_sxtb16_ror8(last);
        const uint32_t *w = (const uint32_t *)(w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights);
        const int32_t *bias = p->dsp_bias;
        const int32_t *rq = p->dsp_requant;
        for (int32_t o = 0; o < outs; o += CHANNELS_PER_BLOCK, bias += 4, rq += 12, out += 4) {
            int32_t acc[4] = {bias[0], bias[1], bias[2], bias[3]};
            if (whole > 0) {
                w = w8 ? tl_dsp_dot8_4x1(in, w, whole, acc) : tl_dsp_dot_4x1(in, w, whole, acc);
            }
            if (tail > 0 && w8) {
                for (int32_t c = 0; c < 4; ++c) {
                    const uint32_t wv = tl_ld32(w + c);
                    acc[c] = tl_smlad(tl_sxtb16(wv), last_even, acc[c]);
                    acc[c] = tl_smlad(tl_sxtb16_ror8(wv), last_odd, acc[c]);
                }
                w += 4;
            } else if (tail > 0) {
                for (int32_t c = 0; c < 4; ++c) {
                    acc[c] = tl_smlad(tl_ld32(w + c), last_even, acc[c]);
                    acc[c] = tl_smlad(tl_ld32(w + 4 + c), last_odd, acc[c]);
                }
                w += 8;
            }
            const uint32_t v = tl_clamp_s8x4(tl_pack_s8x4(tl_ssat8(tl_dsp_requantize(acc[0], rq)),
                                                          tl_ssat8(tl_dsp_requantize(acc[1], rq + 3)),
                                                          tl_ssat8(tl_dsp_requantize(acc[2], rq + 6)),
                                                          tl_ssat8(tl_dsp_requantize(acc[3], rq + 9))),
                                             lo4, hi4);
            if (outs - o >= 4) {
                tl_st32(out, v);
            } else {
                for (int32_t c = 0; c < outs - o; ++c) {
                    out[c] = (int8_t)(v >> (8 * c));
                }
            }
        }
        out -= 4 * ((outs + 3) / 4) - outs; /* the last block stored only outs % 4 values */
    }
}

tl_status_t tl_fully_connected_s8_dsp(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    run(p, in, out, 0);
    return TL_STATUS_OK;
}

tl_status_t tl_fully_connected_s8_dsp_w8(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    run(p, in, out, 1);
    return TL_STATUS_OK;
}
