/*
 * tl_train.c - float32 training primitives (tl_train.h). Dot products run as chains of fused
 * multiply-adds (one VFMA each on the M4F and M7).
 */
#include <math.h>

#include "tl_train.h"

static float dot(const float *a, const float *b, uint32_t n, float acc)
{
    for (uint32_t k = 0; k < n; ++k) {
        acc = fmaf(a[k], b[k], acc);
    }
    return acc;
}

void tl_dense_f32_forward(const float *x, const float *w, const float *b, uint32_t batch, uint32_t in, uint32_t out,
                          float *y)
{
    for (uint32_t r = 0; r < batch; ++r) {
        for (uint32_t o = 0; o < out; ++o) {
            y[r * out + o] = dot(x + r * in, w + o * in, in, b[o]);
        }
    }
}

static void weight_grad_rows(const float *x, const float *dy, uint32_t batch, uint32_t in, uint32_t out,
                             const uint8_t *mask, float *dw, float *db)
{
    for (uint32_t o = 0; o < out; ++o) {
        if (mask != 0 && !mask[o]) {
            continue;
        }
        float *row = dw + o * in;
        for (uint32_t i = 0; i < in; ++i) {
            row[i] = 0.0f;
        }
        float bias = 0.0f;
        for (uint32_t r = 0; r < batch; ++r) {
            const float g = dy[r * out + o];
            const float *xr = x + r * in;
            for (uint32_t i = 0; i < in; ++i) {
                row[i] = fmaf(g, xr[i], row[i]);
            }
            bias += g;
        }
        db[o] = bias;
    }
}

void tl_dense_f32_weight_grad(const float *x, const float *dy, uint32_t batch, uint32_t in, uint32_t out, float *dw,
                              float *db)
{
    weight_grad_rows(x, dy, batch, in, out, 0, dw, db);
}

void tl_dense_f32_weight_grad_masked(const float *x, const float *dy, uint32_t batch, uint32_t in, uint32_t out,
                                     const uint8_t *mask, float *dw, float *db)
{
    weight_grad_rows(x, dy, batch, in, out, mask, dw, db);
}

void tl_dense_f32_input_grad(const float *dy, const float *w, uint32_t batch, uint32_t in, uint32_t out, float *dx)
{
    for (uint32_t r = 0; r < batch; ++r) {
        float *dxr = dx + r * in;
        for (uint32_t i = 0; i < in; ++i) {
            dxr[i] = 0.0f;
        }
        for (uint32_t o = 0; o < out; ++o) {
            const float g = dy[r * out + o];
            const float *wo = w + o * in;
            for (uint32_t i = 0; i < in; ++i) {
                dxr[i] = fmaf(g, wo[i], dxr[i]);
            }
        }
    }
}

void tl_relu_f32_backward(const float *y, const float *dy, uint32_t n, float *dx)
{
    for (uint32_t i = 0; i < n; ++i) {
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

tl_status_t tl_softmax_xent_f32(const float *logits, const uint8_t *labels, uint32_t batch, uint32_t classes,
                                float *dlogits, float *loss)
{
    if (logits == 0 || labels == 0 || dlogits == 0 || loss == 0) {
        return TL_STATUS_NULL_ARG;
    }
    for (uint32_t r = 0; r < batch; ++r) {
        if (labels[r] >= classes) {
            return TL_STATUS_BAD_SHAPE;
        }
    }
    const float inv_batch = 1.0f / (float)batch;
    float total = 0.0f;
    for (uint32_t r = 0; r < batch; ++r) {
        const float *z = logits + r * classes;
        float *g = dlogits + r * classes;
        float top = z[0];
        for (uint32_t c = 1; c < classes; ++c) {
            top = z[c] > top ? z[c] : top;
        }
        float sum = 0.0f;
        for (uint32_t c = 0; c < classes; ++c) {
            g[c] = expf(z[c] - top);
            sum += g[c];
        }
        const float inv = 1.0f / sum;
        for (uint32_t c = 0; c < classes; ++c) {
            g[c] *= inv;
        }
        const float p = g[labels[r]];
        total -= logf(p > 1e-30f ? p : 1e-30f);
        g[labels[r]] -= 1.0f;
        for (uint32_t c = 0; c < classes; ++c) {
            g[c] *= inv_batch;
        }
    }
    *loss = total * inv_batch;
    return TL_STATUS_OK;
}

static int finite(float v)
{
    return v - v == 0.0f;
}

tl_status_t tl_sgd_f32(float *w, const float *g, float *v, uint32_t n, float lr, float momentum, float weight_decay)
{
    for (uint32_t i = 0; i < n; ++i) { /* first every new value, checked; nothing written */
        const float vi = fmaf(momentum, v[i], fmaf(weight_decay, w[i], g[i]));
        if (!finite(vi) || !finite(fmaf(-lr, vi, w[i]))) {
            return TL_STATUS_OVERFLOW;
        }
    }
    for (uint32_t i = 0; i < n; ++i) {
        v[i] = fmaf(momentum, v[i], fmaf(weight_decay, w[i], g[i]));
        w[i] = fmaf(-lr, v[i], w[i]);
    }
    return TL_STATUS_OK;
}

tl_status_t tl_sgd_f32_rows(float *w, const float *g, float *v, uint32_t rows, uint32_t cols, const uint8_t *mask,
                            float lr, float momentum, float weight_decay, int apply)
{
    for (uint32_t r = 0; r < rows; ++r) {
        if (mask != 0 && !mask[r]) {
            continue;
        }
        const uint32_t at = r * cols;
        if (!apply) {
            for (uint32_t c = 0; c < cols; ++c) {
                const float vi = fmaf(momentum, v[at + c], fmaf(weight_decay, w[at + c], g[at + c]));
                if (!finite(vi) || !finite(fmaf(-lr, vi, w[at + c]))) {
                    return TL_STATUS_OVERFLOW;
                }
            }
            continue;
        }
        for (uint32_t c = 0; c < cols; ++c) {
            v[at + c] = fmaf(momentum, v[at + c], fmaf(weight_decay, w[at + c], g[at + c]));
            w[at + c] = fmaf(-lr, v[at + c], w[at + c]);
        }
    }
    return TL_STATUS_OK;
}

uint32_t tl_tinyprop_select(const float *dy, uint32_t batch, uint32_t out, uint32_t depth,
                            const tl_tinyprop_params_t *p, float *e_max, float *score, uint8_t *mask)
{
    float e = 0.0f;
    for (uint32_t o = 0; o < out; ++o) {
        score[o] = 0.0f;
        mask[o] = 0u;
    }
    for (uint32_t r = 0; r < batch; ++r) {
        for (uint32_t o = 0; o < out; ++o) {
            const float a = fabsf(dy[r * out + o]);
            e += a;
            score[o] += a;
        }
    }
    if (e > *e_max) {
        *e_max = e;
    }
    float zeta_pow = 1.0f;
    for (uint32_t d = 0; d < depth; ++d) {
        zeta_pow *= p->zeta;
    }
    float bpr;
    if (*e_max > 0.0f) {
        const float t = e * (p->s_max - p->s_min) / *e_max;
        bpr = (p->s_min + t) * zeta_pow;
    } else {
        bpr = p->s_min * zeta_pow;
    }
    const float scaled = (float)out * bpr;
    uint32_t k = scaled >= 1.0f ? (uint32_t)scaled : 1u;
    if (k > out) {
        k = out;
    }
    for (uint32_t n = 0; n < k; ++n) { /* k times the largest remaining score: the first of equals */
        uint32_t best = out;
        for (uint32_t o = 0; o < out; ++o) {
            if (!mask[o] && (best == out || score[o] > score[best])) {
                best = o;
            }
        }
        mask[best] = 1u;
    }
    return k;
}
