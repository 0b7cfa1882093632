/*
 * tl_pad_s8.c - PAD, int8: the border holds pad_value (the zero point, i.e. the real value 0).
 * The input [d0][d1][d2][d3] lands at offset pad_before in an output of in_dims + pad_before + pad_after.
 */
#include "tl_kernel_util.h"

tl_status_t tl_pad_s8_check(const tl_pad_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    int32_t out_dims[4];
    for (int32_t d = 0; d < 4; ++d) {
        if (p->pad_before[d] < 0 || p->pad_after[d] < 0 || p->in_dims[d] < 1 ||
            (int64_t)p->in_dims[d] + p->pad_before[d] + p->pad_after[d] > INT32_MAX) {
            return TL_STATUS_BAD_SHAPE;
        }
        out_dims[d] = p->in_dims[d] + p->pad_before[d] + p->pad_after[d];
    }
    return tl_dims_ok(out_dims, 4) ? TL_STATUS_OK : TL_STATUS_BAD_SHAPE;
}

tl_status_t tl_pad_s8(const tl_pad_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    int32_t out_dims[4];
    tl_padded_dims(p->in_dims, p->pad_before, p->pad_after, out_dims);
    for (int32_t i0 = 0; i0 < out_dims[0]; ++i0) {
        const int32_t j0 = i0 - p->pad_before[0];
        const int inside0 = j0 >= 0 && j0 < p->in_dims[0];
        for (int32_t i1 = 0; i1 < out_dims[1]; ++i1) {
            const int32_t j1 = i1 - p->pad_before[1];
            const int inside1 = inside0 && j1 >= 0 && j1 < p->in_dims[1];
            for (int32_t i2 = 0; i2 < out_dims[2]; ++i2) {
                const int32_t j2 = i2 - p->pad_before[2];
                const int inside2 = inside1 && j2 >= 0 && j2 < p->in_dims[2];
                const int8_t *const row =
                    inside2 ? in + ((j0 * p->in_dims[1] + j1) * p->in_dims[2] + j2) * p->in_dims[3] : in;
                for (int32_t i3 = 0; i3 < out_dims[3]; ++i3) {
                    const int32_t j3 = i3 - p->pad_before[3];
                    *out++ = (inside2 && j3 >= 0 && j3 < p->in_dims[3]) ? row[j3] : p->pad_value;
                }
            }
        }
    }
    return TL_STATUS_OK;
}
