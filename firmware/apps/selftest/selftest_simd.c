/* int8 dot product on the Armv7E-M DSP extension (Cortex-M4/M7). */
#include <arm_acle.h>
#include <string.h>

#include "selftest_kernels.h"

static inline uint32_t load_word(const int8_t *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof w); /* unaligned LDR: allowed on M4/M7 */
    return w;
}

/* Bytes 1 and 3 sign-extended into two halfwords: SXTB16 with its built-in rotation (GCC does not fold
 * a separate rotate into the instruction). */
static inline int16x2_t sxtb16_ror8(uint32_t w)
{
    int16x2_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

int32_t st_dot_i8_simd(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t acc = 0;
    const int8_t *const end4 = a + (n & ~(size_t)3u);
    const int8_t *const end = a + n;
    while (a < end4) {
        uint32_t wa = load_word(a);
        uint32_t wb = load_word(b);
        a += 4;
        b += 4;
        /* SXTB16 sign-extends bytes 0 and 2 into two halfwords; SMLAD multiplies both pairs and adds. */
        acc = __smlad(__sxtb16((int8x4_t)wa), __sxtb16((int8x4_t)wb), acc);
        acc = __smlad(sxtb16_ror8(wa), sxtb16_ror8(wb), acc);
    }
    while (a < end) {
        acc += (int32_t)*a++ * (int32_t)*b++;
    }
    return acc;
}
