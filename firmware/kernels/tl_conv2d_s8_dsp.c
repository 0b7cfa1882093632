/*
 * tl_conv2d_s8_dsp.c - CONV_2D, int8, for cores with the DSP extension. Bit-exact with tl_conv2d_s8.
 *
 * Output positions go in pairs. For each pair, the two receptive fields (k = kernel row, kernel column,
 * input channel) are expanded to int16 pairs in the arena scratch (im2col), interleaved so that one LDRD
 * fetches the k-pair of both positions. Then every block of 3 output channels runs tl_dsp_dot_3x2 over that
 * buffer: 6 accumulators, 16 instructions per 24 MACs in its loop. The weights were expanded and laid out
 * by the generator; the bias has the input zero point folded in (sum w (x - zp) = sum w x - zp sum w), so
 * the loop multiplies the raw activations. Padding taps are filled with the input zero point: their
 * products cancel the folded term exactly as the reference skips them. Requantization is the reference's
 * arithmetic in five instructions (tl_dsp_requantize), then one clamp for the 3 channels of a position. The
 * output zero point is folded into the requantization's rounding constant; where that could overflow int32
 * (a small scale), the generator leaves it out and sets dsp_zero_point, added after (a second copy of the
 * loop, so the common case pays nothing).
 *
 * tl_conv2d_s8_dsp_w8 is the same kernel on int8 weights (dsp_weights8: per chunk of 4 k the 3 channels'
 * 4 bytes in natural order, half the flash): tl_dsp_dot8_3x2 expands each weight word with SXTB16 and
 * SXTB16 ROR #8 into the (w0,w2) and (w1,w3) pairs the buffer's words meet, 21 instructions per 24 MACs.
 *
 * Scratch (5 * K4 bytes, K4 = K rounded up to 4): [0, 4 K4) the interleaved buffer; a field that is not
 * one contiguous run of the input (padding, 2-D kernels, dilation) is first gathered as int8 into
 * [3 K4, 4 K4) (first position) or [4 K4, 5 K4) (second). The first row shares its bytes with the buffer's
 * last quarter: expanding chunk j reads its bytes 3 K4 + 4 j .. + 3, then writes [16 j, 16 j + 16), and
 * 16 (j + 1) <= 3 K4 + 4 (j + 1) for every chunk (j < K4 / 4), so no write reaches a byte still to be read.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

#define CHANNELS_PER_BLOCK 3

static int32_t padded_depth(const tl_conv2d_s8_params_t *p)
{
    return (p->k_h * p->k_w * p->in_ch + 3) & ~3;
}

/* The reference's checks (`weights` may be NULL: the variant reads dsp_weights, or dsp_weights8 when `w8`)
 * and the generated data's. */
static tl_status_t check(const tl_conv2d_s8_params_t *p, int w8)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const void *const packed = w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights;
    if (packed == NULL || (w8 ? p->dsp_weights != NULL : p->dsp_weights8 != NULL)) {
        return TL_STATUS_BAD_PACKED;
    }
    tl_conv2d_s8_params_t shape = *p;
    shape.weights = (const int8_t *)packed;
    if (p->multiplier == NULL) {
        /* The firmware left out the original multipliers, shifts and bias (the variant reads only the generated
         * constants, which tl_dsp_check_packed checks for themselves): the reference's shape checks see one
         * stand-in channel. */
        static const int32_t stand_in_multiplier = INT32_C(1) << 30, stand_in_shift = -1;
        if (p->shift != NULL || p->bias != NULL || p->out_ch < 1) {
            return TL_STATUS_BAD_PACKED;
        }
        shape.multiplier = &stand_in_multiplier;
        shape.shift = &stand_in_shift;
        shape.out_ch = 1;
    }
    const tl_status_t status = tl_conv2d_s8_check(&shape);
    if (status != TL_STATUS_OK) {
        return status;
    }
    const int32_t k = p->k_h * p->k_w * p->in_ch;
    const int32_t k4 = padded_depth(p);
    if (p->scratch == NULL || (int64_t)5 * k4 > p->scratch_bytes || ((uintptr_t)p->scratch & 3u) != 0) {
        return TL_STATUS_BAD_PACKED;
    }
    if (p->dsp_zero_point != 0 && p->dsp_zero_point != p->output_zero_point) {
        return TL_STATUS_BAD_PACKED;
    }
    return tl_dsp_check_packed(p->weights, p->out_ch, k, CHANNELS_PER_BLOCK, k4 / 4, p->bias, p->input_zero_point,
                               p->output_zero_point - p->dsp_zero_point, p->multiplier, p->shift,
                               tl_dsp_acc_bound(k, p->bias, p->out_ch), p->dsp_weights, p->dsp_weights8, p->dsp_bias,
                               p->dsp_requant);
}

tl_status_t tl_conv2d_s8_dsp_check(const tl_conv2d_s8_params_t *p)
{
    return check(p, 0);
}

tl_status_t tl_conv2d_s8_dsp_w8_check(const tl_conv2d_s8_params_t *p)
{
    return check(p, 1);
}

static void fill_bytes(int8_t *dst, int8_t value, int32_t n)
{
    const uint32_t word = (uint32_t)(uint8_t)value * 0x01010101u;
    for (; n >= 4; n -= 4, dst += 4) {
        tl_st32(dst, word);
    }
    for (; n > 0; --n) {
        *dst++ = value;
    }
}

static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        tl_st32(dst, tl_ld32(src));
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

typedef struct {
    int32_t b, oy, ox;
} position_t;

static void next_position(const tl_conv2d_s8_params_t *p, position_t *q)
{
    if (++q->ox == p->out_w) {
        q->ox = 0;
        if (++q->oy == p->out_h) {
            q->oy = 0;
            ++q->b;
        }
    }
}

/* The K4 int8 values of one receptive field (taps in the padding hold the input zero point; the values
 * past K meet zero weights): a pointer into the input when the field is one contiguous run of it, else
 * the field gathered into `stage`. */
static const int8_t *receptive_field(const tl_conv2d_s8_params_t *p, const int8_t *in, const int8_t *in_end,
                                     const position_t *q, int8_t *stage, int32_t k4)
{
    const int32_t iy0 = q->oy * p->stride_h - p->pad_top;
    const int32_t ix0 = q->ox * p->stride_w - p->pad_left;
    const int32_t row = p->in_w * p->in_ch;
    const int8_t *const batch = in + q->b * p->in_h * row;
    const int32_t last_x = ix0 + (p->k_w - 1) * p->dilation_w;
    if (p->k_h == 1 && (p->dilation_w == 1 || p->k_w == 1) && iy0 >= 0 && iy0 < p->in_h && ix0 >= 0 &&
        last_x < p->in_w) {
        const int8_t *const src = batch + iy0 * row + ix0 * p->in_ch;
        if (in_end - src >= k4) {
            return src;
        }
    }
    const int8_t zp = (int8_t)p->input_zero_point;
    const int32_t taps_bytes = p->k_w * p->in_ch;
    int8_t *dst = stage;
    for (int32_t ky = 0; ky < p->k_h; ++ky, dst += taps_bytes) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            fill_bytes(dst, zp, taps_bytes);
            continue;
        }
        const int8_t *const src = batch + iy * row;
        if (p->dilation_w == 1) {
            int32_t lo = ix0 < 0 ? -ix0 : 0;
            int32_t hi = p->in_w - ix0;
            lo = lo < p->k_w ? lo : p->k_w;
            hi = hi < p->k_w ? hi : p->k_w;
            hi = hi > lo ? hi : lo;
            fill_bytes(dst, zp, lo * p->in_ch);
            copy_bytes(dst + lo * p->in_ch, src + (ix0 + lo) * p->in_ch, (hi - lo) * p->in_ch);
            fill_bytes(dst + hi * p->in_ch, zp, (p->k_w - hi) * p->in_ch);
            continue;
        }
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (ix < 0 || ix >= p->in_w) {
                fill_bytes(dst + kx * p->in_ch, zp, p->in_ch);
            } else {
                copy_bytes(dst + kx * p->in_ch, src + ix * p->in_ch, p->in_ch);
            }
        }
    }
    fill_bytes(dst, 0, k4 - p->k_h * taps_bytes);
    return stage;
}

/* The two fields as int16 pairs, interleaved: per chunk p0(x0,x2) p1(x0,x2) p0(x1,x3) p1(x1,x3). */
static void expand_pair(uint8_t *buf, const int8_t *s0, const int8_t *s1, int32_t chunks)
{
    for (int32_t j = 0; j < chunks; ++j, s0 += 4, s1 += 4, buf += 16) {
        const uint32_t a = tl_ld32(s0);
        const uint32_t b = tl_ld32(s1);
        tl_st32(buf, tl_sxtb16(a));
        tl_st32(buf + 4, tl_sxtb16(b));
        tl_st32(buf + 8, tl_sxtb16_ror8(a));
        tl_st32(buf + 12, tl_sxtb16_ror8(b));
    }
}

/* One block: 3 channels x 2 positions from the expanded buffer; the two positions' results as three int8
 * lanes each (clamped; the fourth lane is garbage). Returns the weights of the next block. */
static inline __attribute__((always_inline)) const uint32_t *block(const uint8_t *buf, const uint32_t *w,
                                                                    int32_t chunks, const int32_t *bias,
                                                                    const int32_t *rq, uint32_t lo4, uint32_t hi4,
                                                                    int32_t zp, int w8, uint32_t *v0, uint32_t *v1)
{
    int32_t acc[6] = {bias[0], bias[0], bias[1], bias[1], bias[2], bias[2]};
    const uint32_t *const x = (const uint32_t *)(const void *)buf;
    w = w8 ? tl_dsp_dot8_3x2(x, w, chunks, acc) : tl_dsp_dot_3x2(x, w, chunks, acc);
    *v0 = tl_clamp_s8x4(tl_pack_s8x3(tl_ssat8(tl_dsp_requantize(acc[0], rq) + zp),
                                     tl_ssat8(tl_dsp_requantize(acc[2], rq + 3) + zp),
                                     tl_ssat8(tl_dsp_requantize(acc[4], rq + 6) + zp)),
                        lo4, hi4);
    *v1 = tl_clamp_s8x4(tl_pack_s8x3(tl_ssat8(tl_dsp_requantize(acc[1], rq) + zp),
                                     tl_ssat8(tl_dsp_requantize(acc[3], rq + 3) + zp),
                                     tl_ssat8(tl_dsp_requantize(acc[5], rq + 6) + zp)),
                        lo4, hi4);
    return w;
}

/* The layer; `zp` is 0 (folded into the constants) or the output zero point, added after; `w8`: int8
 * weights. Inlined four times. */
static inline __attribute__((always_inline)) void run(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out,
                                                      int32_t zp, int w8)
{
    const int32_t k4 = padded_depth(p);
    const int32_t chunks = k4 / 4;
    const int32_t out_ch = p->out_ch;
    const int32_t last = out_ch - (out_ch - 1) / CHANNELS_PER_BLOCK * CHANNELS_PER_BLOCK; /* 1 to 3 channels */
    const int32_t positions = p->batches * p->out_h * p->out_w;
    const int8_t *const in_end = in + p->batches * p->in_h * p->in_w * p->in_ch;
    uint8_t *const buf = (uint8_t *)p->scratch;
    int8_t *const stage0 = (int8_t *)(buf + 3 * k4);
    int8_t *const stage1 = (int8_t *)(buf + 4 * k4);
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    position_t q = {0, 0, 0};
    for (int32_t pos = 0; pos < positions; pos += 2) {
        const int8_t *const s0 = receptive_field(p, in, in_end, &q, stage0, k4);
        next_position(p, &q);
        const int two = pos + 1 < positions;
        const int8_t *const s1 = two ? receptive_field(p, in, in_end, &q, stage1, k4) : s0;
        next_position(p, &q);
        expand_pair(buf, s0, s1, chunks);

        /* A lone last position is computed twice and stored twice, to the same place. */
        int8_t *const o0 = out + pos * out_ch;
        int8_t *const o1 = two ? o0 + out_ch : o0;
        const uint32_t *w = (const uint32_t *)(w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights);
        for (int32_t c = 0; c < out_ch; c += CHANNELS_PER_BLOCK) {
            uint32_t v0, v1;
            w = block(buf, w, chunks, p->dsp_bias + c, p->dsp_requant + 3 * c, lo4, hi4, zp, w8, &v0, &v1);
            if (c + CHANNELS_PER_BLOCK < out_ch) {
                /* a word store: its fourth byte is channel c + 3, which the next block overwrites */
                tl_st32(o0 + c, v0);
                tl_st32(o1 + c, v1);
            } else {
                for (int32_t i = 0; i < last; ++i) {
                    o0[c + i] = (int8_t)(v0 >> (8 * i));
                    o1[c + i] = (int8_t)(v1 >> (8 * i));
                }
            }
        }
    }
}

/* Four functions, each with its own register allocation and everything it calls inlined (flatten): the
 * common ones are the loops without the addition. The linker keeps only those a model calls. */
static __attribute__((noinline, flatten)) void run_folded(const tl_conv2d_s8_params_t *p, const int8_t *in,
                                                           int8_t *out)
{
    run(p, in, out, 0, 0);
}

static __attribute__((noinline, flatten)) void run_zero_point_after(const tl_conv2d_s8_params_t *p, const int8_t *in,
                                                                     int8_t *out)
{
    run(p, in, out, p->dsp_zero_point, 0);
}

static __attribute__((noinline, flatten)) void run_folded_w8(const tl_conv2d_s8_params_t *p, const int8_t *in,
                                                              int8_t *out)
{
    run(p, in, out, 0, 1);
}

static __attribute__((noinline, flatten)) void run_zero_point_after_w8(const tl_conv2d_s8_params_t *p,
                                                                        const int8_t *in, int8_t *out)
{
    run(p, in, out, p->dsp_zero_point, 1);
}

tl_status_t tl_conv2d_s8_dsp(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->dsp_zero_point == 0) {
        run_folded(p, in, out);
    } else {
        run_zero_point_after(p, in, out);
    }
    return TL_STATUS_OK;
}

tl_status_t tl_conv2d_s8_dsp_w8(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->dsp_zero_point == 0) {
        run_folded_w8(p, in, out);
    } else {
        run_zero_point_after_w8(p, in, out);
    }
    return TL_STATUS_OK;
}
