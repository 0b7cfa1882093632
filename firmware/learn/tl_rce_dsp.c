/*
 * tl_rce_dsp.c - L1 distances of uint8 features with USADA8: four absolute differences summed into the
 * accumulator by one instruction. Needs features % 4 == 0 and 4-byte aligned x and prototype rows.
 * Without the DSP extension (the host build of the tests) a portable twin gives the same sums.
 */
#include <string.h>

#include "tl_rce.h"

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define sad4(a, b, acc) __usada8((a), (b), (acc))
#else
static uint32_t sad4(uint32_t a, uint32_t b, uint32_t acc)
{
    for (int k = 0; k < 32; k += 8) {
        const int32_t d = (int32_t)((a >> k) & 0xFFu) - (int32_t)((b >> k) & 0xFFu);
        acc += (uint32_t)(d < 0 ? -d : d);
    }
    return acc;
}
#endif

static inline uint32_t word(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4u); /* aligned: one LDR */
    return w;
}

void tl_rce_dist_u8_l1_dsp(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features, int32_t *out)
{
    const uint8_t *p = protos;
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t acc = 0u;
        uint32_t j = 0u;
        for (; j + 16u <= features; j += 16u, p += 16) {
            acc = sad4(word(p), word(x + j), acc);
            acc = sad4(word(p + 4), word(x + j + 4u), acc);
            acc = sad4(word(p + 8), word(x + j + 8u), acc);
            acc = sad4(word(p + 12), word(x + j + 12u), acc);
        }
        for (; j < features; j += 4u, p += 4) {
            acc = sad4(word(p), word(x + j), acc);
        }
        out[i] = (int32_t)acc;
    }
}
