/*
 * tl_pad_s8_dsp.c - PAD, int8, for the cores with the DSP extension (ARMv7E-M, whose word loads and stores
 * may be unaligned): the output is written as runs of the border value and of input rows (a whole input
 * plane when the channels are not padded), a run as aligned words with at most three single bytes at either
 * end. Bit-exact with tl_pad_s8, whose checks it uses: PAD only moves bytes.
 */
#include "tl_dsp.h"
#include "tl_kernel_util.h"

tl_status_t tl_pad_s8_dsp_check(const tl_pad_s8_params_t *p)
{
    return tl_pad_s8_check(p);
}

/* n bytes of v (v4: v in every byte) from out; returns the end. */
static int8_t *fill(int8_t *out, int32_t n, uint32_t v4)
{
    for (; n > 0 && ((uintptr_t)out & 3u) != 0; --n) {
        *out++ = (int8_t)v4;
    }
    for (; n >= 8; n -= 8, out += 8) {
        tl_st32(out, v4);
        tl_st32(out + 4, v4);
    }
    if (n >= 4) {
        tl_st32(out, v4);
        out += 4;
        n -= 4;
    }
    for (; n > 0; --n) {
        *out++ = (int8_t)v4;
    }
    return out;
}

/* n bytes from in to out (distinct buffers); returns the end of out. */
static int8_t *copy(int8_t *out, const int8_t *in, int32_t n)
{
    for (; n > 0 && ((uintptr_t)out & 3u) != 0; --n) {
        *out++ = *in++;
    }
    for (; n >= 8; n -= 8, out += 8, in += 8) {
        const uint32_t a = tl_ld32(in), b = tl_ld32(in + 4);
        tl_st32(out, a);
        tl_st32(out + 4, b);
    }
    if (n >= 4) {
        tl_st32(out, tl_ld32(in));
        out += 4;
        in += 4;
        n -= 4;
    }
    for (; n > 0; --n) {
        *out++ = *in++;
    }
    return out;
}

tl_status_t tl_pad_s8_dsp(const tl_pad_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    int32_t out_dims[4];
    tl_padded_dims(p->in_dims, p->pad_before, p->pad_after, out_dims);
    const uint32_t v4 = (uint32_t)(uint8_t)p->pad_value * 0x01010101u;
    const int32_t row = p->in_dims[3], before = p->pad_before[3], after = p->pad_after[3];
    for (int32_t i0 = 0; i0 < out_dims[0]; ++i0) {
        const int32_t j0 = i0 - p->pad_before[0];
        const int inside0 = j0 >= 0 && j0 < p->in_dims[0];
        for (int32_t i1 = 0; i1 < out_dims[1]; ++i1) {
            const int32_t j1 = i1 - p->pad_before[1];
            const int inside1 = inside0 && j1 >= 0 && j1 < p->in_dims[1];
            if (!inside1) { /* a whole plane of the border */
                out = fill(out, out_dims[2] * out_dims[3], v4);
                continue;
            }
            const int8_t *src = in + (j0 * p->in_dims[1] + j1) * p->in_dims[2] * row;
            if (before == 0 && after == 0) { /* channels not padded (the usual case): one run for the plane */
                out = fill(out, p->pad_before[2] * row, v4);
                out = copy(out, src, p->in_dims[2] * row);
                out = fill(out, p->pad_after[2] * row, v4);
                continue;
            }
            out = fill(out, p->pad_before[2] * out_dims[3] + before, v4);
            for (int32_t j2 = 0; j2 < p->in_dims[2]; ++j2, src += row) {
                out = copy(out, src, row);
                /* this row's trailing border and the next row's leading one are one run */
                out = fill(out, j2 + 1 < p->in_dims[2] ? after + before : after, v4);
            }
            out = fill(out, p->pad_after[2] * out_dims[3], v4);
        }
    }
    return TL_STATUS_OK;
}
