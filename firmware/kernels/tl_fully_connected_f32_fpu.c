/*
 * tl_fully_connected_f32_fpu.c - FULLY_CONNECTED, float32, register-blocked with fused multiply-adds
 * (Cortex-M4F / M7): 8 outputs at a time, their weights side by side per input (generated: fpu_weights).
 * Each output sums in the reference's order, then adds the bias; one rounding per multiply-add.
 */
#include "tl_fpu.h"
#include "tl_kernel_util.h"

#define OUTPUTS 8

/* The reference's checks (`weights` may be NULL: the variant reads fpu_weights). */
tl_status_t tl_fully_connected_f32_fpu_check(const tl_fully_connected_f32_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->fpu_weights == NULL || ((uintptr_t)p->fpu_weights & 3u) != 0) {
        return TL_STATUS_BAD_PACKED;
    }
    tl_fully_connected_f32_params_t shape = *p;
    shape.weights = p->fpu_weights;
    return tl_fully_connected_f32_check(&shape);
}

tl_status_t tl_fully_connected_f32_fpu(const tl_fully_connected_f32_params_t *p, const float *in, float *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const int32_t k = p->in_features;
    const int32_t outs = p->out_features;
    for (int32_t b = 0; b < p->batches; ++b, in += k, out += outs) {
        const float *w = p->fpu_weights;
        for (int32_t o0 = 0; o0 < outs; o0 += OUTPUTS, w += (int64_t)k * OUTPUTS) {
            float acc[OUTPUTS] = {0.0f};
            tl_fpu_fma_8x1(in, w, k, acc);
            const int32_t m = outs - o0 < OUTPUTS ? outs - o0 : OUTPUTS;
            for (int32_t o = 0; o < m; ++o) {
                float v = acc[o];
                if (p->bias != NULL) {
                    v += p->bias[o0 + o];
                }
                out[o0 + o] = tl_clamp_f32(v, p->act_min, p->act_max);
            }
        }
    }
    return TL_STATUS_OK;
}
