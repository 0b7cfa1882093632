/*
 * tl_train.h - float32 training primitives for the adaptive stage of latent replay (a head of one or two
 * dense layers trained on the device). tinyodl/learn/train.py is their host reference; the two agree
 * within its TOLERANCE (the device sums with fused multiply-adds, in its own order).
 *
 * Shapes: a batch of `batch` rows; a dense layer maps `in` inputs to `out` outputs with weights w[out][in]
 * and bias b[out]. Every buffer is the caller's (planned at generation time): nothing is allocated.
 */
#ifndef TL_TRAIN_H
#define TL_TRAIN_H

#include <stdint.h>

#include "tl_kernels.h"

/* y[batch][out] = x[batch][in] w^T + b */
void tl_dense_f32_forward(const float *x, const float *w, const float *b, uint32_t batch, uint32_t in, uint32_t out,
                          float *y);

/* dw[out][in] = dy^T x, db[out] = sum over the batch of dy (both overwritten) */
void tl_dense_f32_weight_grad(const float *x, const float *dy, uint32_t batch, uint32_t in, uint32_t out, float *dw,
                              float *db);

/* dx[batch][in] = dy[batch][out] w */
void tl_dense_f32_input_grad(const float *dy, const float *w, uint32_t batch, uint32_t in, uint32_t out, float *dx);

/* dx[i] = y[i] > 0 ? dy[i] : 0 (y: the ReLU's output); dx may be dy */
void tl_relu_f32_backward(const float *y, const float *dy, uint32_t n, float *dx);

/* The mean cross-entropy of softmax(logits) against labels, and its gradient (softmax - onehot) / batch.
 * TL_STATUS_BAD_SHAPE for a label outside 0..classes-1 (nothing written). */
tl_status_t tl_softmax_xent_f32(const float *logits, const uint8_t *labels, uint32_t batch, uint32_t classes,
                                float *dlogits, float *loss);

/* SGD with momentum and L2 weight decay: v = momentum v + (g + wd w); w = w - lr v. Checks first that every
 * new value is finite: if one is not (a huge learning rate, NaN in the gradient), nothing is written and
 * the result is TL_STATUS_OVERFLOW, so the weights before the step are kept. */
tl_status_t tl_sgd_f32(float *w, const float *g, float *v, uint32_t n, float lr, float momentum, float weight_decay);

/* SGD as above over the rows of a rows x cols matrix whose mask is 1 (mask NULL: every row). With apply 0
 * it only checks that every new value would be finite (TL_STATUS_OVERFLOW if not) and writes nothing, so a
 * caller can check all its tensors before it changes any. */
tl_status_t tl_sgd_f32_rows(float *w, const float *g, float *v, uint32_t rows, uint32_t cols, const uint8_t *mask,
                            float lr, float momentum, float weight_decay, int apply);

/* ---- TinyProp: sparse back-propagation with a dynamic ratio ----------------------------------------- */
typedef struct {
    float s_min, s_max, zeta; /* 0.1, 0.9, 0.5 */
} tl_tinyprop_params_t;

/* Chooses the k of `out` outputs whose gradients the layer back-propagates and updates: E = sum |dy| (rows
 * in order), *e_max = max(*e_max, E), BPR = (S_min + E (S_max - S_min) / E_max) zeta^depth,
 * k = clamp(floor(out BPR), 1, out); the k outputs with the largest summed |dy| (ties: the lower index)
 * get mask 1. `score` is out floats of scratch. Returns k. */
uint32_t tl_tinyprop_select(const float *dy, uint32_t batch, uint32_t out, uint32_t depth,
                            const tl_tinyprop_params_t *p, float *e_max, float *score, uint8_t *mask);

/* tl_dense_f32_weight_grad for the outputs whose mask is 1 only (the other rows are not touched). */
void tl_dense_f32_weight_grad_masked(const float *x, const float *dy, uint32_t batch, uint32_t in, uint32_t out,
                                     const uint8_t *mask, float *dw, float *db);

#endif /* TL_TRAIN_H */
