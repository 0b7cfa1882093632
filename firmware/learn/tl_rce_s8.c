/*
 * tl_rce_s8.c - TinyRCE on int8 features: prototypes stored as uint8 (x + 128), integer L1 distances.
 */
#include "tl_rce.h"

static tl_status_t encode_s8(tl_rce_s8_t *s, const int8_t *x)
{
    for (uint32_t j = 0; j < s->pool.features; ++j) {
        s->pool.x[j] = (uint8_t)((uint8_t)x[j] ^ 0x80u); /* x + 128 */
    }
    return TL_STATUS_OK;
}

void tl_rce_s8_distances(tl_rce_s8_t *s, uint16_t n)
{
    if ((s->pool.features & 3u) == 0u && ((uintptr_t)s->pool.protos & 3u) == 0u && ((uintptr_t)s->pool.x & 3u) == 0u) {
        tl_rce_dist_u8_l1_dsp(s->pool.x, s->pool.protos, n, s->pool.features, s->pool.dist);
        return;
    }
    tl_rce_dist_u8_l1(s->pool.x, s->pool.protos, n, s->pool.features, s->pool.dist);
}

static uint32_t age_scale_s8(int32_t d, int32_t r)
{
    if (r <= 0) {
        return 256u;
    }
    const int64_t q = ((int64_t)256 * d) / r;
    return q < 0 ? 0u : q > 256 ? 256u : (uint32_t)q;
}

void tl_rce_dist_u8_l1(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features, int32_t *out)
{
    for (uint32_t i = 0; i < n; ++i) {
        const uint8_t *p = protos + i * features;
        int32_t acc = 0;
        for (uint32_t j = 0; j < features; ++j) {
            const int32_t diff = (int32_t)p[j] - (int32_t)x[j];
            acc += diff < 0 ? -diff : diff;
        }
        out[i] = acc;
    }
}

#define RCE(name) tl_rce_s8_##name
#define RCE_T tl_rce_s8_t
#define RCE_D int32_t
#define RCE_X int8_t
#define RCE_ENCODE(s, x) encode_s8((s), (x))
#define RCE_DISTANCES(s) tl_rce_s8_distances((s), (s)->count)
#define RCE_AGE_SCALE(d, r) age_scale_s8((d), (r))
#include "tl_rce_impl.h"
