/*
 * tl_depthwise_conv2d_s8_dsp.c - DEPTHWISE_CONV_2D, int8, for cores with the DSP extension. Bit-exact with
 * tl_depthwise_conv2d_s8 for every shape (any kernel, stride, dilation, padding and depth multiplier).
 *
 * Channels are contiguous in NHWC, so the output channels go in groups of 4. With depth multiplier 1 the
 * group's 4 input values of one tap are one 32-bit load; SXTB16 and SXTB16 ROR #8 make int16 pairs of
 * channels (0, 2) and (1, 3) of them, and the generator stored each tap's weights as exactly those pairs,
 * (w0, w2) then (w1, w3). SMLABB and SMLATT multiply the matching halves: 4 MACs from one LDR, two SXTB16,
 * one LDRD of weights and four multiply-accumulates. The bias has the input zero point folded in
 * (sum w (x - zp) = sum w x - zp sum w), so the loop multiplies raw activations; a tap in the padding is
 * the zero point in all four lanes, whose products cancel the folded term exactly as the reference skips
 * the tap. Requantization is the reference's arithmetic in five instructions per channel
 * (tl_dsp_requantize), then one clamp and one store for the group.
 *
 * tl_depthwise_conv2d_s8_dsp_w8 is the same kernel on int8 weights (dsp_weights8: per group and tap the 4
 * channels' weights in one word, natural order; half the flash): one LDR and two SXTB16 give the same
 * (w0, w2), (w1, w3) pairs, two instructions more per tap and group than the LDRD of the int16 form.
 *
 * 3-wide kernels with depth multiplier 1 (run_fast, the MLPerf Tiny layers): every position is an interior
 * one. Its tap addresses are worked out once per position, a tap in the padding pointing at a row of the
 * input zero point, so the whole groups all run one asm loop over the kernel rows and one asm block for the
 * requantization. Other shapes (run): output positions whose window lies inside the input take the straight
 * loop; positions at the border run their kernel rows as padding, input, padding; the last group when
 * out_ch is not a multiple of 4 and depth multipliers above 1 (lanes read input channel c / multiplier)
 * gather the lanes byte by byte into the same word.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

#define GROUP 4

static int32_t group_count(const tl_depthwise_conv2d_s8_params_t *p)
{
    return (p->out_ch + GROUP - 1) / GROUP;
}

/* Tap t's weight of channel c in the packed weights: int16 [G][T][2][2] or int8 (w8) [G][T][4]. */
static int32_t packed_weight(const tl_depthwise_conv2d_s8_params_t *p, int w8, int32_t taps, int32_t t, int32_t c)
{
    const int32_t g = c / GROUP, odd = c & 1, high = (c >> 1) & 1;
    return w8 ? p->dsp_weights8[((int64_t)g * taps + t) * GROUP + (c & 3)]
              : p->dsp_weights[(((int64_t)g * taps + t) * 2 + odd) * 2 + high];
}

/* The reference's checks (`weights` may be NULL: the variant reads dsp_weights, or dsp_weights8 when `w8`) and
 * the generated data's: the packed weights equal `weights` when given and are zero for channels past out_ch
 * or with a zero multiplier, the folded bias, and the requantization constants. The firmware may leave out
 * the original multipliers, shifts and bias too: the constants are then checked for themselves
 * (tl_dsp_channel_quant) and the overflow bound taken from the bias they imply. */
static tl_status_t check(const tl_depthwise_conv2d_s8_params_t *p, int w8)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const void *const packed = w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights;
    if (packed == NULL || (w8 ? p->dsp_weights != NULL : p->dsp_weights8 != NULL) || p->dsp_bias == NULL ||
        p->dsp_requant == NULL || ((uintptr_t)packed & 3u) != 0) {
        return TL_STATUS_BAD_PACKED;
    }
    const int omitted = p->multiplier == NULL;
    tl_depthwise_conv2d_s8_params_t shape = *p;
    shape.weights = (const int8_t *)packed;
    if (omitted) {
        /* one stand-in channel for the reference's shape checks (see tl_conv2d_s8_dsp_check) */
        static const int32_t stand_in_multiplier = INT32_C(1) << 30, stand_in_shift = -1;
        if (p->shift != NULL || p->bias != NULL) {
            return TL_STATUS_BAD_PACKED;
        }
        if (p->in_ch < 1 || p->depth_multiplier < 1 || p->out_ch != p->in_ch * p->depth_multiplier) {
            return TL_STATUS_BAD_SHAPE;
        }
        shape.multiplier = &stand_in_multiplier;
        shape.shift = &stand_in_shift;
        shape.in_ch = shape.out_ch = shape.depth_multiplier = 1;
    }
    const tl_status_t status = tl_depthwise_conv2d_s8_check(&shape);
    if (status != TL_STATUS_OK) {
        return status;
    }
    const int32_t taps = p->k_h * p->k_w;
    int64_t acc_bound = tl_dsp_acc_bound(taps, p->bias, p->out_ch);
    for (int32_t pass = omitted ? 0 : 1; pass < 2; ++pass) {
        int64_t worst_bias = 0;
        for (int32_t c = 0; c < GROUP * group_count(p); ++c) {
            int32_t m = 0, sh = 0;
            const int live = c < p->out_ch && tl_dsp_channel_quant(p->multiplier, p->shift, p->dsp_requant + 3 * c,
                                                                   c, &m, &sh);
            int64_t sum = 0;
            for (int32_t t = 0; t < taps; ++t) {
                const int32_t v = packed_weight(p, w8, taps, t, c);
                if ((!live && v != 0) || (live && p->weights != NULL && p->weights[t * p->out_ch + c] != v) ||
                    v < INT8_MIN || v > INT8_MAX) {
                    return TL_STATUS_BAD_PACKED;
                }
                sum += v;
            }
            if (pass == 0) {
                const int64_t b = live ? p->dsp_bias[c] + (int64_t)p->input_zero_point * sum : 0;
                worst_bias = b < 0 ? (-b > worst_bias ? -b : worst_bias) : (b > worst_bias ? b : worst_bias);
                continue;
            }
            const int64_t folded =
                live ? (p->bias != NULL ? p->bias[c] : 0) - (int64_t)p->input_zero_point * sum : 0;
            if ((!omitted && p->dsp_bias[c] != folded) || (!live && p->dsp_bias[c] != 0) ||
                !tl_dsp_requant_ok(live, m, sh, p->output_zero_point, acc_bound, p->dsp_requant + 3 * c)) {
                return TL_STATUS_BAD_PACKED;
            }
        }
        acc_bound += worst_bias;
    }
    return TL_STATUS_OK;
}

tl_status_t tl_depthwise_conv2d_s8_dsp_check(const tl_depthwise_conv2d_s8_params_t *p)
{
    return check(p, 0);
}

tl_status_t tl_depthwise_conv2d_s8_dsp_w8_check(const tl_depthwise_conv2d_s8_params_t *p)
{
    return check(p, 1);
}

/* One tap of a group: x holds the 4 channels' input bytes, w[0] = (w0, w2), w[1] = (w1, w3); or (w8) w[0]
 * holds the 4 channels' int8 weights. */
static inline __attribute__((always_inline)) void mac4(uint32_t x, const uint32_t *w, int32_t *acc, int w8)
{
    const uint32_t even = tl_sxtb16(x), odd = tl_sxtb16_ror8(x);
    const uint32_t w_even = w8 ? tl_sxtb16(w[0]) : w[0], w_odd = w8 ? tl_sxtb16_ror8(w[0]) : w[1];
    acc[0] = tl_smlabb(even, w_even, acc[0]);
    acc[2] = tl_smlatt(even, w_even, acc[2]);
    acc[1] = tl_smlabb(odd, w_odd, acc[1]);
    acc[3] = tl_smlatt(odd, w_odd, acc[3]);
}

/* A tap in the padding: zp2 = the input zero point in both halves. */
static inline __attribute__((always_inline)) void mac4_zero_point(uint32_t zp2, const uint32_t *w, int32_t *acc,
                                                                  int w8)
{
    const uint32_t w_even = w8 ? tl_sxtb16(w[0]) : w[0], w_odd = w8 ? tl_sxtb16_ror8(w[0]) : w[1];
    acc[0] = tl_smlabb(zp2, w_even, acc[0]);
    acc[2] = tl_smlatt(zp2, w_even, acc[2]);
    acc[1] = tl_smlabb(zp2, w_odd, acc[1]);
    acc[3] = tl_smlatt(zp2, w_odd, acc[3]);
}

/* The first valid tap index and one past the last along an axis: taps k with 0 <= start + k * d < size. */
static void valid_taps(int32_t start, int32_t size, int32_t k, int32_t d, int32_t *lo, int32_t *hi)
{
    int32_t first = start < 0 ? (-start + d - 1) / d : 0;
    int32_t end = start >= size ? 0 : (size - start + d - 1) / d;
    first = first < k ? first : k;
    end = end < k ? end : k;
    *lo = first;
    *hi = end > first ? end : first;
}

/* The layer on int16 (w8 = 0) or int8 weights, groups g_first and up: inlined twice. */
static inline __attribute__((always_inline)) void run(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in,
                                                      int8_t *out, int w8, int32_t g_first)
{
    const int32_t step = w8 ? 1 : 2; /* weight words per tap and group */
    const int32_t out_ch = p->out_ch, k_h = p->k_h, k_w = p->k_w, taps = k_h * k_w;
    const int32_t groups = group_count(p);
    const int32_t whole = p->depth_multiplier == 1 ? out_ch / GROUP : 0; /* groups read with one load */
    const int32_t row = p->in_w * p->in_ch, dy = p->dilation_h * row, dx = p->dilation_w * p->in_ch;
    const uint32_t zp4 = (uint32_t)(uint8_t)p->input_zero_point * 0x01010101u;
    const uint32_t zp2 = tl_sxtb16(zp4);
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    const uint32_t *const weights =
        (const uint32_t *)(w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights);
    int8_t *o = out;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const batch = in + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky_lo, ky_hi;
            valid_taps(iy0, p->in_h, k_h, p->dilation_h, &ky_lo, &ky_hi);
            for (int32_t ox = 0; ox < p->out_w; ++ox, o += out_ch) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx_lo, kx_hi;
                valid_taps(ix0, p->in_w, k_w, p->dilation_w, &kx_lo, &kx_hi);
                const int inside = ky_lo == 0 && ky_hi == k_h && kx_lo == 0 && kx_hi == k_w;
                const int32_t base = iy0 * row + ix0 * p->in_ch; /* of tap (0, 0); only valid taps are read */
                for (int32_t g = g_first; g < groups; ++g) {
                    const int32_t c = GROUP * g;
                    const int32_t *const bias = p->dsp_bias + c;
                    int32_t acc[GROUP] = {bias[0], bias[1], bias[2], bias[3]};
                    const uint32_t *w = weights + step * taps * g;
                    if (inside && g < whole) {
                        const int8_t *x = batch + base + c;
                        for (int32_t ky = 0; ky < k_h; ++ky, x += dy) {
                            const int8_t *xx = x;
                            for (int32_t kx = 0; kx < k_w; ++kx, xx += dx, w += step) {
                                mac4(tl_ld32(xx), w, acc, w8);
                            }
                        }
                    } else if (g < whole) {
                        /* at the border: taps in the padding are the zero point in every lane */
                        for (int32_t ky = 0; ky < k_h; ++ky) {
                            const int row_in = ky >= ky_lo && ky < ky_hi;
                            const int32_t lo = row_in ? kx_lo : k_w, hi = row_in ? kx_hi : k_w;
                            int32_t kx = 0;
                            for (; kx < lo; ++kx, w += step) {
                                mac4_zero_point(zp2, w, acc, w8);
                            }
                            const int8_t *x = batch + (base + ky * dy + kx * dx + c);
                            for (; kx < hi; ++kx, w += step, x += dx) {
                                mac4(tl_ld32(x), w, acc, w8);
                            }
                            for (; kx < k_w; ++kx, w += step) {
                                mac4_zero_point(zp2, w, acc, w8);
                            }
                        }
                    } else {
                        /* each lane's input channel (lanes past out_ch meet zero weights: any valid byte) */
                        int32_t lane[GROUP];
                        for (int32_t i = 0; i < GROUP; ++i) {
                            lane[i] = (c + i < out_ch ? c + i : out_ch - 1) / p->depth_multiplier;
                        }
                        for (int32_t ky = 0; ky < k_h; ++ky) {
                            const int row_ok = ky >= ky_lo && ky < ky_hi;
                            for (int32_t kx = 0; kx < k_w; ++kx, w += step) {
                                uint32_t x = zp4;
                                if (row_ok && kx >= kx_lo && kx < kx_hi) {
                                    const int8_t *const px = batch + (base + ky * dy + kx * dx);
                                    x = tl_pack_s8x4(px[lane[0]], px[lane[1]], px[lane[2]], px[lane[3]]);
                                }
                                mac4(x, w, acc, w8);
                            }
                        }
                    }
                    const int32_t *const rq = p->dsp_requant + 3 * c;
                    const uint32_t three = tl_pack_s8x3(tl_ssat8(tl_dsp_requantize(acc[0], rq)),
                                                        tl_ssat8(tl_dsp_requantize(acc[1], rq + 3)),
                                                        tl_ssat8(tl_dsp_requantize(acc[2], rq + 6)));
                    const uint32_t fourth = (uint32_t)tl_ssat8(tl_dsp_requantize(acc[3], rq + 9)) << 24;
                    const uint32_t v = tl_clamp_s8x4((three & 0xFFFFFFu) | fourth, lo4, hi4);
                    if (c + GROUP <= out_ch) {
                        tl_st32(o + c, v);
                    } else {
                        for (int32_t i = 0; c + i < out_ch; ++i) {
                            o[c + i] = (int8_t)(v >> (8 * i));
                        }
                    }
                }
            }
        }
    }
}


/* ---- 3-wide kernels with depth multiplier 1: every position an interior one ---------------------------- */

#define FAST_MAX_CH 512 /* the zero-point row on the stack */
#define FAST_MAX_KH 8

/* `rows` kernel rows of 3 taps of the group at channel c: tp holds the taps' pixel addresses (of channel 0),
 * each either inside the input or the zero-point row, so the same offset c reads the group's 4 channels in
 * both; w advances by 6 words (3 with w8) per row. One asm loop, 3 taps per pass. */
static inline __attribute__((always_inline)) void rows3_taps(const int8_t *const *tp, int32_t rows, int32_t c,
                                                             const uint32_t **w, int32_t *a0, int32_t *a1,
                                                             int32_t *a2, int32_t *a3, int w8)
{
#if TL_DSP_ASM
    const int8_t *const *t = tp;
    const uint32_t *ww = *w;
    int32_t n = rows;
    /* the accumulators in the registers requant4 reads them from: no moves between the two asm blocks */
    register int32_t b0 __asm__("r0") = *a0;
    register int32_t b1 __asm__("r1") = *a1;
    register int32_t b2 __asm__("r2") = *a2;
    register int32_t b3 __asm__("r3") = *a3;
    uint32_t v, e, we, wo;
    if (w8) {
#define TL_DW_PTAP8                                                                                          \
    "ldr %[v], [%[t]], #4\n\t"                                                                              \
    "ldr %[wo], [%[w]], #4\n\t"                                                                             \
    "ldr %[v], [%[v], %[c]]\n\t"                                                                            \
    "sxtb16 %[we], %[wo]\n\t"                                                                               \
    "sxtb16 %[wo], %[wo], ror #8\n\t"                                                                       \
    "sxtb16 %[e], %[v]\n\t"                                                                                 \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                         \
    "smlabb %[a0], %[e], %[we], %[a0]\n\t"                                                                  \
    "smlatt %[a2], %[e], %[we], %[a2]\n\t"                                                                  \
    "smlabb %[a1], %[v], %[wo], %[a1]\n\t"                                                                  \
    "smlatt %[a3], %[v], %[wo], %[a3]\n\t"
        __asm__("1:\n\t" TL_DW_PTAP8 TL_DW_PTAP8 TL_DW_PTAP8 "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [a0] "+r"(b0), [a1] "+r"(b1), [a2] "+r"(b2), [a3] "+r"(b3), [w] "+r"(ww), [t] "+r"(t),
                  [n] "+r"(n), [v] "=&r"(v), [e] "=&r"(e), [we] "=&r"(we), [wo] "=&r"(wo)
                : [c] "r"(c)
                : "cc", "memory");
#undef TL_DW_PTAP8
    } else {
#define TL_DW_PTAP16                                                                                         \
    "ldr %[v], [%[t]], #4\n\t"                                                                              \
    "ldrd %[we], %[wo], [%[w]], #8\n\t"                                                                     \
    "ldr %[v], [%[v], %[c]]\n\t"                                                                            \
    "sxtb16 %[e], %[v]\n\t"                                                                                 \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                         \
    "smlabb %[a0], %[e], %[we], %[a0]\n\t"                                                                  \
    "smlatt %[a2], %[e], %[we], %[a2]\n\t"                                                                  \
    "smlabb %[a1], %[v], %[wo], %[a1]\n\t"                                                                  \
    "smlatt %[a3], %[v], %[wo], %[a3]\n\t"
        __asm__("1:\n\t" TL_DW_PTAP16 TL_DW_PTAP16 TL_DW_PTAP16 "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [a0] "+r"(b0), [a1] "+r"(b1), [a2] "+r"(b2), [a3] "+r"(b3), [w] "+r"(ww), [t] "+r"(t),
                  [n] "+r"(n), [v] "=&r"(v), [e] "=&r"(e), [we] "=&r"(we), [wo] "=&r"(wo)
                : [c] "r"(c)
                : "cc", "memory");
#undef TL_DW_PTAP16
    }
    *a0 = b0;
    *a1 = b1;
    *a2 = b2;
    *a3 = b3;
    *w = ww;
#else
    const int32_t step = w8 ? 1 : 2;
    int32_t acc[GROUP] = {*a0, *a1, *a2, *a3};
    for (int32_t k = 0; k < 3 * rows; ++k) {
        mac4(tl_ld32(tp[k] + c), *w + k * step, acc, w8);
    }
    *w += 3 * rows * step;
    *a0 = acc[0];
    *a1 = acc[1];
    *a2 = acc[2];
    *a3 = acc[3];
#endif
}

/* The group's 4 accumulators requantized (tl_dsp_requantize's five steps each, the constants read at rq),
 * saturated to int8, packed into one word and clamped to [lo4, hi4]. */
static inline __attribute__((always_inline)) uint32_t requant4(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                               const int32_t *rq, uint32_t lo4, uint32_t hi4)
{
#if TL_DSP_ASM
    int32_t t, k, r;
    register int32_t r0 __asm__("r0") = a0;
    register int32_t r1 __asm__("r1") = a1;
    register int32_t r2 __asm__("r2") = a2;
    register int32_t r3 __asm__("r3") = a3;
#define TL_DW_RQ(A, OFF0, OFF1)                                                                              \
    "ldr %[t], [%[rq], #" OFF0 "]\n\t"                                                                      \
    "ldrd %[k], %[r], [%[rq], #" OFF1 "]\n\t"                                                               \
    "smmulr %[t], %[" A "], %[t]\n\t"                                                                       \
    "add %[" A "], %[" A "], %[t]\n\t"                                                                      \
    "add %[" A "], %[" A "], %[" A "], asr #31\n\t"                                                         \
    "add %[" A "], %[" A "], %[k]\n\t"                                                                      \
    "asr %[" A "], %[" A "], %[r]\n\t"                                                                      \
    "ssat %[" A "], #8, %[" A "]\n\t"
    __asm__(TL_DW_RQ("a0", "0", "4") TL_DW_RQ("a1", "12", "16") TL_DW_RQ("a2", "24", "28")
                TL_DW_RQ("a3", "36", "40")
            "bfi %[a0], %[a1], #8, #8\n\t"
            "bfi %[a0], %[a2], #16, #8\n\t"
            "bfi %[a0], %[a3], #24, #8\n\t"
            "ssub8 %[t], %[a0], %[lo]\n\t"
            "sel %[a0], %[a0], %[lo]\n\t"
            "ssub8 %[t], %[a0], %[hi]\n\t"
            "sel %[a0], %[hi], %[a0]"
            : [a0] "+r"(r0), [a1] "+r"(r1), [a2] "+r"(r2), [a3] "+r"(r3), [t] "=&r"(t), [k] "=&r"(k), [r] "=&r"(r)
            : [rq] "r"(rq), [lo] "r"(lo4), [hi] "r"(hi4), "m"(*(const int32_t(*)[12])rq)
            : "cc");
#undef TL_DW_RQ
    return (uint32_t)r0;
#else
    const uint32_t three = tl_pack_s8x3(tl_ssat8(tl_dsp_requantize(a0, rq)), tl_ssat8(tl_dsp_requantize(a1, rq + 3)),
                                        tl_ssat8(tl_dsp_requantize(a2, rq + 6)));
    const uint32_t fourth = (uint32_t)tl_ssat8(tl_dsp_requantize(a3, rq + 9)) << 24;
    return tl_clamp_s8x4((three & 0xFFFFFFu) | fourth, lo4, hi4);
#endif
}

/* Whole groups of 4 channels, depth multiplier 1, k_w = 3, k_h <= FAST_MAX_KH, in_ch <= FAST_MAX_CH: per
 * output position the 3 k_h taps' pixel addresses are worked out once, a tap in the padding pointing at a
 * row of the input zero point as long as a pixel, and every group then runs the same straight loop (one
 * pointer load more per tap than the interior loop of `run`, no border path). */
static inline __attribute__((always_inline)) void run_fast(const tl_depthwise_conv2d_s8_params_t *p,
                                                           const int8_t *in, int8_t *out, int w8)
{
    const int32_t out_ch = p->out_ch, k_h = p->k_h, whole = out_ch / GROUP;
    const int32_t row = p->in_w * p->in_ch;
    uint32_t zp_row[FAST_MAX_CH / 4];
    const uint32_t zp4 = (uint32_t)(uint8_t)p->input_zero_point * 0x01010101u;
    for (int32_t i = 0; i < (p->in_ch + 3) / 4; ++i) {
        zp_row[i] = zp4;
    }
    const int8_t *const padding = (const int8_t *)zp_row;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    const uint32_t *const weights =
        (const uint32_t *)(w8 ? (const void *)p->dsp_weights8 : (const void *)p->dsp_weights);
    const int8_t *taps[3 * FAST_MAX_KH];
    int32_t offsets[3 * FAST_MAX_KH]; /* of each tap from tap (0, 0), for windows inside the input */
    for (int32_t t = 0; t < 3 * k_h; ++t) {
        offsets[t] = (t / 3) * p->dilation_h * row + (t % 3) * p->dilation_w * p->in_ch;
    }
    const int32_t last_y = (k_h - 1) * p->dilation_h, last_x = 2 * p->dilation_w;
    int8_t *o = out;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *const batch = in + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox, o += out_ch) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                if (iy0 >= 0 && iy0 + last_y < p->in_h && ix0 >= 0 && ix0 + last_x < p->in_w) {
                    const int8_t *const x = batch + iy0 * row + ix0 * p->in_ch;
                    for (int32_t t = 0; t < 3 * k_h; ++t) {
                        taps[t] = x + offsets[t];
                    }
                } else {
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        const int row_in = iy >= 0 && iy < p->in_h;
                        for (int32_t kx = 0; kx < 3; ++kx) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            taps[3 * ky + kx] =
                                row_in && ix >= 0 && ix < p->in_w ? batch + iy * row + ix * p->in_ch : padding;
                        }
                    }
                }
                const int32_t *bias = p->dsp_bias, *rq = p->dsp_requant;
                const uint32_t *w = weights;
                for (int32_t c = 0; c < GROUP * whole; c += GROUP, bias += GROUP, rq += 3 * GROUP) {
                    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
                    rows3_taps(taps, k_h, c, &w, &a0, &a1, &a2, &a3, w8);
                    tl_st32(o + c, requant4(a0, a1, a2, a3, rq, lo4, hi4));
                }
            }
        }
    }
}

static int fast_shape(const tl_depthwise_conv2d_s8_params_t *p)
{
    return p->depth_multiplier == 1 && p->k_w == 3 && p->k_h <= FAST_MAX_KH && p->in_ch <= FAST_MAX_CH &&
           p->out_ch >= GROUP;
}

static __attribute__((noinline, flatten)) void run_w16(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in,
                                                        int8_t *out)
{
    int32_t g_first = 0;
    if (fast_shape(p)) {
        run_fast(p, in, out, 0);
        g_first = p->out_ch / GROUP;
    }
    if (g_first < group_count(p)) {
        run(p, in, out, 0, g_first);
    }
}

static __attribute__((noinline, flatten)) void run_w8(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in,
                                                       int8_t *out)
{
    int32_t g_first = 0;
    if (fast_shape(p)) {
        run_fast(p, in, out, 1);
        g_first = p->out_ch / GROUP;
    }
    if (g_first < group_count(p)) {
        run(p, in, out, 1, g_first);
    }
}

tl_status_t tl_depthwise_conv2d_s8_dsp(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    run_w16(p, in, out);
    return TL_STATUS_OK;
}

tl_status_t tl_depthwise_conv2d_s8_dsp_w8(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    run_w8(p, in, out);
    return TL_STATUS_OK;
}

