/*
 * tl_rce_f32.c - TinyRCE on float32 features: L1 or squared L2 distances summed in float32 in a fixed
 * order (four partial sums over j mod 4, then (s0 + s1) + (s2 + s3)), as the host reference sums them.
 * The build uses -std=c99, so no multiply-add is contracted into a fused one.
 */
#include "tl_rce.h"

static tl_status_t encode_f32(tl_rce_f32_t *s, const float *x)
{
    for (uint32_t j = 0; j < s->pool.features; ++j) {
        const float v = x[j];
        if (!(v - v == 0.0f)) { /* NaN or infinity */
            return TL_STATUS_BAD_QUANT;
        }
        s->pool.x[j] = v;
    }
    return TL_STATUS_OK;
}

void tl_rce_dist_f32(const float *x, const float *protos, uint32_t n, uint32_t features, int l2, float *out)
{
    for (uint32_t i = 0; i < n; ++i) {
        const float *p = protos + i * features;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        uint32_t j = 0;
        if (l2) {
            for (; j + 4u <= features; j += 4u) {
                const float d0 = p[j] - x[j], d1 = p[j + 1u] - x[j + 1u];
                const float d2 = p[j + 2u] - x[j + 2u], d3 = p[j + 3u] - x[j + 3u];
                s0 += d0 * d0;
                s1 += d1 * d1;
                s2 += d2 * d2;
                s3 += d3 * d3;
            }
            float *tail[3] = {&s0, &s1, &s2};
            for (uint32_t k = 0; j < features; ++j, ++k) {
                const float d = p[j] - x[j];
                *tail[k] += d * d;
            }
        } else {
            for (; j + 4u <= features; j += 4u) {
                s0 += __builtin_fabsf(p[j] - x[j]);
                s1 += __builtin_fabsf(p[j + 1u] - x[j + 1u]);
                s2 += __builtin_fabsf(p[j + 2u] - x[j + 2u]);
                s3 += __builtin_fabsf(p[j + 3u] - x[j + 3u]);
            }
            float *tail[3] = {&s0, &s1, &s2};
            for (uint32_t k = 0; j < features; ++j, ++k) {
                *tail[k] += __builtin_fabsf(p[j] - x[j]);
            }
        }
        out[i] = (s0 + s1) + (s2 + s3);
    }
}

void tl_rce_f32_distances(tl_rce_f32_t *s, uint16_t n)
{
    tl_rce_dist_f32(s->pool.x, s->pool.protos, n, s->pool.features, (s->rules.flags & TL_RCE_L2) != 0u, s->pool.dist);
}

static uint32_t age_scale_f32(float d, float r)
{
    if (!(r > 0.0f)) {
        return 256u;
    }
    const float q = 256.0f * d / r;
    return q <= 0.0f ? 0u : q >= 256.0f ? 256u : (uint32_t)q;
}

#define RCE(name) tl_rce_f32_##name
#define RCE_T tl_rce_f32_t
#define RCE_D float
#define RCE_X float
#define RCE_ENCODE(s, x) encode_f32((s), (x))
#define RCE_DISTANCES(s) tl_rce_f32_distances((s), (s)->count)
#define RCE_AGE_SCALE(d, r) age_scale_f32((d), (r))
#include "tl_rce_impl.h"
