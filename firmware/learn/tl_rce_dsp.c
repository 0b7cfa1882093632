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

/* The row loop's state: x, the next output, the rows left, the 32-byte blocks per row. */
struct sad_ctx {
    const uint8_t *x;
    int32_t *out;
    uint32_t rows;
    uint32_t blocks;
};

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__thumb2__) && defined(__OPTIMIZE__)
/* Rows of 32-byte blocks in one loop: per block two LDMs of four words each for the prototype and for x
 * and eight USADA8 into the row's sum; per row, x restarts, the sum is stored and the count falls. The LDM
 * register lists must ascend, so the words are held in named registers; r7 stays free for a frame pointer.
 * The loop's other state (x, out, rows, blocks per row) lives in `ctx`, addressed through lr. */
static void sad_rows32(const uint8_t *protos, struct sad_ctx *ctx)
{
    register const uint8_t *p __asm__("r0") = protos;
    register struct sad_ctx *c __asm__("lr") = ctx;
    __asm__ volatile("1:\n\t"
                     "ldr r1, [lr, #0]\n\t"
                     "ldr r12, [lr, #12]\n\t"
                     "movs r11, #0\n"
                     "2:\n\t"
                     "ldmia r0!, {r2, r3, r4, r5}\n\t"
                     "ldmia r1!, {r6, r8, r9, r10}\n\t"
                     "usada8 r11, r2, r6, r11\n\t"
                     "usada8 r11, r3, r8, r11\n\t"
                     "usada8 r11, r4, r9, r11\n\t"
                     "usada8 r11, r5, r10, r11\n\t"
                     "ldmia r0!, {r2, r3, r4, r5}\n\t"
                     "ldmia r1!, {r6, r8, r9, r10}\n\t"
                     "usada8 r11, r2, r6, r11\n\t"
                     "usada8 r11, r3, r8, r11\n\t"
                     "usada8 r11, r4, r9, r11\n\t"
                     "usada8 r11, r5, r10, r11\n\t"
                     "subs r12, r12, #1\n\t"
                     "bne 2b\n\t"
                     "ldr r12, [lr, #4]\n\t"
                     "str r11, [r12], #4\n\t"
                     "str r12, [lr, #4]\n\t"
                     "ldr r12, [lr, #8]\n\t"
                     "subs r12, r12, #1\n\t"
                     "str r12, [lr, #8]\n\t"
                     "bne 1b"
                     : "+r"(p)
                     : "r"(c)
                     : "r1", "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
}
#else
static void sad_rows32(const uint8_t *protos, struct sad_ctx *ctx)
{
    const uint8_t *p = protos;
    for (; ctx->rows != 0u; --ctx->rows) {
        uint32_t acc = 0u;
        for (uint32_t k = 0; k < ctx->blocks * 32u; k += 4u, p += 4) {
            acc = sad4(word(p), word(ctx->x + k), acc);
        }
        *ctx->out++ = (int32_t)acc;
    }
}
#endif

void tl_rce_dist_u8_l1_dsp(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features, int32_t *out)
{
    if (n == 0u) {
        return;
    }
    if ((features & 31u) == 0u) {
        struct sad_ctx ctx = {x, out, n, features / 32u};
        sad_rows32(protos, &ctx);
        return;
    }
    const uint8_t *p = protos;
    for (uint32_t i = 0; i < n; ++i) {
        uint32_t acc = 0u;
        for (uint32_t j = 0; j < features; j += 4u, p += 4) {
            acc = sad4(word(p), word(x + j), acc);
        }
        out[i] = (int32_t)acc;
    }
}
