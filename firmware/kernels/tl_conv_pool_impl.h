/*
 * tl_conv_pool_impl.h - the band loop of the fused convolution + pooling, for one element type.
 * Included by tl_conv_pool_s8.c and tl_conv_pool_f32.c with CP_ELEM (the element type), CP_PARAMS, CP_CONV
 * and CP_POOL (the params types) and CP_CHECK / CP_RUN (the function names) defined.
 */
#include "tl_kernel_util.h"

CP_CHECK_DECL
{
    if (p == NULL || p->conv_fn == NULL || p->conv_check == NULL || p->pool_fn == NULL || p->pool_check == NULL ||
        p->buffer == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = p->conv_check(&p->conv);
    if (s == TL_STATUS_OK) {
        s = p->pool_check(&p->pool);
    }
    if (s != TL_STATUS_OK) {
        return s;
    }
    const CP_CONV *c = &p->conv;
    const CP_POOL *q = &p->pool;
    if (c->batches != 1 || q->batches != 1 || q->in_h != c->out_h || q->in_w != c->out_w || q->channels != c->out_ch) {
        return TL_STATUS_BAD_SHAPE;
    }
    const int rows = c->out_h > 1;
    if (!rows && (c->in_h != 1 || c->k_h != 1 || c->pad_top != 0)) {
        return TL_STATUS_BAD_SHAPE;
    }
    const int32_t stride = rows ? q->stride_h : q->stride_w;
    const int32_t window = rows ? q->k_h : q->k_w;
    const int32_t pad = rows ? q->pad_top : q->pad_left;
    const int32_t pooled = rows ? q->out_h : q->out_w;
    const int32_t length = rows ? c->out_h : c->out_w;
    const int32_t across = rows ? c->out_w * c->out_ch : c->out_ch;
    if (window != stride || pad != 0 || pooled * stride > length || p->band < stride || p->band % stride != 0 ||
        (int64_t)p->band * across * (int64_t)sizeof(CP_ELEM) > p->buffer_bytes) {
        return TL_STATUS_BAD_SHAPE;
    }
    return TL_STATUS_OK;
}

CP_RUN_DECL
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int rows = p->conv.out_h > 1;
    const int32_t stride = rows ? p->pool.stride_h : p->pool.stride_w;
    const int32_t length = (rows ? p->pool.out_h : p->pool.out_w) * stride; /* convolution outputs pooled */
    const int32_t conv_stride = rows ? p->conv.stride_h : p->conv.stride_w;
    const int32_t conv_pad = rows ? p->conv.pad_top : p->conv.pad_left;
    const int32_t in_len = rows ? p->conv.in_h : p->conv.in_w;
    const int32_t in_step = rows ? p->conv.in_w * p->conv.in_ch : p->conv.in_ch;
    const int32_t out_step = rows ? p->pool.out_w * p->pool.channels : p->pool.channels;
    for (int32_t start = 0; start < length; start += p->band) {
        const int32_t n = length - start < p->band ? length - start : p->band;
        CP_CONV c = p->conv;
        CP_POOL q = p->pool;
        /* the band's input window starts at row (column) `first`; rows before 0 are the padding */
        const int32_t first = start * conv_stride - conv_pad;
        const int32_t skip = first > 0 ? first : 0;
        if (rows) {
            c.out_h = n;
            c.in_h = in_len - skip;
            c.pad_top = skip - first;
            q.in_h = n;
            q.out_h = n / stride;
        } else {
            c.out_w = n;
            c.in_w = in_len - skip;
            c.pad_left = skip - first;
            q.in_w = n;
            q.out_w = n / stride;
        }
        tl_status_t s = p->conv_fn(&c, in + skip * in_step, p->buffer);
        if (s == TL_STATUS_OK) {
            s = p->pool_fn(&q, p->buffer, out + (start / stride) * out_step);
        }
        if (s != TL_STATUS_OK) {
            return s;
        }
    }
    return TL_STATUS_OK;
}
