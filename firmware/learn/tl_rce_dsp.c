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

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__thumb2__) && defined(__OPTIMIZE__)
/* 32 bytes of one row: two LDMs of four words each for the prototype and for x, eight USADA8 into acc.
 * The LDM register lists must ascend, so the words are held in named registers (r7 stays free for a
 * frame pointer). */
static inline uint32_t sad32(const uint8_t **pp, const uint8_t **xp, uint32_t acc)
{
    register const uint8_t *p __asm__("r0") = *pp;
    register const uint8_t *x __asm__("r1") = *xp;
    register uint32_t p0 __asm__("r2");
    register uint32_t p1 __asm__("r3");
    register uint32_t p2 __asm__("r4");
    register uint32_t p3 __asm__("r5");
    register uint32_t x0 __asm__("r6");
    register uint32_t x1 __asm__("r8");
    register uint32_t x2 __asm__("r9");
    register uint32_t x3 __asm__("r10");
    __asm__ volatile("ldmia %[p]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"
                     "ldmia %[x]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"
                     "usada8 %[acc], %[p0], %[x0], %[acc]\n\t"
                     "usada8 %[acc], %[p1], %[x1], %[acc]\n\t"
                     "usada8 %[acc], %[p2], %[x2], %[acc]\n\t"
                     "usada8 %[acc], %[p3], %[x3], %[acc]\n\t"
                     "ldmia %[p]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"
                     "ldmia %[x]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"
                     "usada8 %[acc], %[p0], %[x0], %[acc]\n\t"
                     "usada8 %[acc], %[p1], %[x1], %[acc]\n\t"
                     "usada8 %[acc], %[p2], %[x2], %[acc]\n\t"
                     "usada8 %[acc], %[p3], %[x3], %[acc]"
                     : [p] "+r"(p), [x] "+r"(x), [acc] "+r"(acc), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),
                       [p3] "=&r"(p3), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3)
                     :
                     : "memory");
    *pp = p;
    *xp = x;
    return acc;
}
#else
static uint32_t sad32(const uint8_t **pp, const uint8_t **xp, uint32_t acc)
{
    for (int k = 0; k < 32; k += 4) {
        acc = sad4(word(*pp + k), word(*xp + k), acc);
    }
    *pp += 32;
    *xp += 32;
    return acc;
}
#endif

void tl_rce_dist_u8_l1_dsp(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features, int32_t *out)
{
    const uint8_t *p = protos;
    const uint32_t blocks = features / 32u;
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t acc = 0u;
        const uint8_t *xp = x;
        for (uint32_t b = blocks; b != 0u; --b) {
            acc = sad32(&p, &xp, acc);
        }
        for (uint32_t j = blocks * 32u; j < features; j += 4u, p += 4, xp += 4) {
            acc = sad4(word(p), word(xp), acc);
        }
        out[i] = (int32_t)acc;
    }
}
