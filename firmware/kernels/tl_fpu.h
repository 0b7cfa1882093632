/*
 * tl_fpu.h - register-blocked fused multiply-add blocks of the float32 kernel variants (tl_*_f32_fpu.c),
 * not part of the public API.
 *
 * On a Cortex-M4F/M7 the blocks are inline assembly over the 32 single-precision registers: the
 * accumulators stay in registers, VLDM loads several operands per instruction and VFMA does one
 * multiply-add with a single rounding. Elsewhere (the host build of the tests) a C twin calls fmaf, which
 * glibc rounds once, as VFMA does. Each accumulator receives its products in the
 * reference's order (kernel row, kernel column, input channel); only the fused rounding differs from the
 * reference kernels (docs/kernels.md).
 */
#ifndef TL_FPU_H
#define TL_FPU_H

#include <math.h>
#include <stdint.h>

/* Unoptimised builds (-O0: GCC keeps a frame pointer and cannot free the 8 core registers the 4x4 block
 * names) take the C twins. */
#if defined(__ARM_FEATURE_FMA) && defined(__ARM_FP) && defined(__thumb2__) && defined(__OPTIMIZE__)
#define TL_FPU_ASM 1
#else
#define TL_FPU_ASM 0
#endif

#if TL_FPU_ASM
/* 16 VFMAs of one k: accumulator s(4p + c) += x of position p (register xp) * weight of channel c. */
#define TL_FPU_K_4X4(x0, x1, x2, x3, w0, w1, w2, w3)                                                        \
    "vfma.f32 s0, " x0 ", " w0 "\n\t"                                                                        \
    "vfma.f32 s1, " x0 ", " w1 "\n\t"                                                                        \
    "vfma.f32 s2, " x0 ", " w2 "\n\t"                                                                        \
    "vfma.f32 s3, " x0 ", " w3 "\n\t"                                                                        \
    "vfma.f32 s4, " x1 ", " w0 "\n\t"                                                                        \
    "vfma.f32 s5, " x1 ", " w1 "\n\t"                                                                        \
    "vfma.f32 s6, " x1 ", " w2 "\n\t"                                                                        \
    "vfma.f32 s7, " x1 ", " w3 "\n\t"                                                                        \
    "vfma.f32 s8, " x2 ", " w0 "\n\t"                                                                        \
    "vfma.f32 s9, " x2 ", " w1 "\n\t"                                                                        \
    "vfma.f32 s10, " x2 ", " w2 "\n\t"                                                                       \
    "vfma.f32 s11, " x2 ", " w3 "\n\t"                                                                       \
    "vfma.f32 s12, " x3 ", " w0 "\n\t"                                                                       \
    "vfma.f32 s13, " x3 ", " w1 "\n\t"                                                                       \
    "vfma.f32 s14, " x3 ", " w2 "\n\t"                                                                       \
    "vfma.f32 s15, " x3 ", " w3 "\n\t"
#define TL_FPU_CLOBBER_ALL                                                                                   \
    "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", \
        "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31"
#endif

/*
 * 4 positions x 4 output channels over a run of n (>= 1) k values: x0..x3 the positions' runs, w the
 * weights [n][4] (4 channels side by side), acc[4 p + c] accumulated in place. Returns w advanced past the
 * run. Per pair of k: 4 + 1 VLDMs, 32 VFMAs, the loop's SUBS and BNE.
 */
static inline const float *tl_fpu_fma_4x4(const float *x0, const float *x1, const float *x2, const float *x3,
                                          const float *w, int32_t n, float *acc)
{
#if TL_FPU_ASM
    int32_t pairs = n >> 1;
    __asm__ volatile(
        "vldmia %[acc], {s0-s15}\n\t"
        "cmp %[pairs], #0\n\t"
        "beq 2f\n"
        "1:\n\t"
        "vldmia %[x0]!, {s16-s17}\n\t"
        "vldmia %[x1]!, {s18-s19}\n\t"
        "vldmia %[x2]!, {s20-s21}\n\t"
        "vldmia %[x3]!, {s22-s23}\n\t"
        "vldmia %[w]!, {s24-s31}\n\t"
        TL_FPU_K_4X4("s16", "s18", "s20", "s22", "s24", "s25", "s26", "s27")
        TL_FPU_K_4X4("s17", "s19", "s21", "s23", "s28", "s29", "s30", "s31")
        "subs %[pairs], #1\n\t"
        "bne 1b\n"
        "2:\n\t"
        "tst %[n], #1\n\t"
        "beq 3f\n\t"
        "vldmia %[x0]!, {s16}\n\t"
        "vldmia %[x1]!, {s18}\n\t"
        "vldmia %[x2]!, {s20}\n\t"
        "vldmia %[x3]!, {s22}\n\t"
        "vldmia %[w]!, {s24-s27}\n\t"
        TL_FPU_K_4X4("s16", "s18", "s20", "s22", "s24", "s25", "s26", "s27")
        "3:\n\t"
        "vstmia %[acc], {s0-s15}\n\t"
        : [x0] "+r"(x0), [x1] "+r"(x1), [x2] "+r"(x2), [x3] "+r"(x3), [w] "+r"(w), [pairs] "+r"(pairs)
        : [n] "r"(n), [acc] "r"(acc)
        : TL_FPU_CLOBBER_ALL, "cc", "memory");
    return w;
#else
    for (int32_t i = 0; i < n; ++i, w += 4) {
        const float x[4] = {x0[i], x1[i], x2[i], x3[i]};
        for (int32_t p = 0; p < 4; ++p) {
            for (int32_t c = 0; c < 4; ++c) {
                acc[4 * p + c] = fmaf(x[p], w[c], acc[4 * p + c]);
            }
        }
    }
    return w;
#endif
}

/* 1 position x 4 output channels over a run of n (>= 1) k values (the border of a padded convolution):
 * acc[c] += x[i] * w[i][c]. */
static inline void tl_fpu_fma_1x4(const float *x, const float *w, int32_t n, float *acc)
{
#if TL_FPU_ASM
    __asm__ volatile("vldmia %[acc], {s0-s3}\n"
                     "1:\n\t"
                     "vldmia %[x]!, {s16}\n\t"
                     "vldmia %[w]!, {s24-s27}\n\t"
                     "vfma.f32 s0, s16, s24\n\t"
                     "vfma.f32 s1, s16, s25\n\t"
                     "vfma.f32 s2, s16, s26\n\t"
                     "vfma.f32 s3, s16, s27\n\t"
                     "subs %[n], #1\n\t"
                     "bne 1b\n\t"
                     "vstmia %[acc], {s0-s3}\n\t"
                     : [x] "+r"(x), [w] "+r"(w), [n] "+r"(n)
                     : [acc] "r"(acc)
                     : "s0", "s1", "s2", "s3", "s16", "s24", "s25", "s26", "s27", "cc", "memory");
#else
    for (int32_t i = 0; i < n; ++i, w += 4) {
        for (int32_t c = 0; c < 4; ++c) {
            acc[c] = fmaf(x[i], w[c], acc[c]);
        }
    }
#endif
}

/*
 * 1 input row x 8 outputs over n (>= 1) inputs: w [n][8] (8 outputs side by side), acc[o] accumulated in
 * place. Per pair of inputs: 2 VLDMs, 16 VFMAs, SUBS and BNE.
 */
static inline void tl_fpu_fma_8x1(const float *x, const float *w, int32_t n, float *acc)
{
#if TL_FPU_ASM
    int32_t pairs = n >> 1;
    __asm__ volatile("vldmia %[acc], {s0-s7}\n\t"
                     "cmp %[pairs], #0\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "vldmia %[x]!, {s8-s9}\n\t"
                     "vldmia %[w]!, {s16-s31}\n\t"
                     "vfma.f32 s0, s8, s16\n\t"
                     "vfma.f32 s1, s8, s17\n\t"
                     "vfma.f32 s2, s8, s18\n\t"
                     "vfma.f32 s3, s8, s19\n\t"
                     "vfma.f32 s4, s8, s20\n\t"
                     "vfma.f32 s5, s8, s21\n\t"
                     "vfma.f32 s6, s8, s22\n\t"
                     "vfma.f32 s7, s8, s23\n\t"
                     "vfma.f32 s0, s9, s24\n\t"
                     "vfma.f32 s1, s9, s25\n\t"
                     "vfma.f32 s2, s9, s26\n\t"
                     "vfma.f32 s3, s9, s27\n\t"
                     "vfma.f32 s4, s9, s28\n\t"
                     "vfma.f32 s5, s9, s29\n\t"
                     "vfma.f32 s6, s9, s30\n\t"
                     "vfma.f32 s7, s9, s31\n\t"
                     "subs %[pairs], #1\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "tst %[n], #1\n\t"
                     "beq 3f\n\t"
                     "vldmia %[x]!, {s8}\n\t"
                     "vldmia %[w]!, {s16-s23}\n\t"
                     "vfma.f32 s0, s8, s16\n\t"
                     "vfma.f32 s1, s8, s17\n\t"
                     "vfma.f32 s2, s8, s18\n\t"
                     "vfma.f32 s3, s8, s19\n\t"
                     "vfma.f32 s4, s8, s20\n\t"
                     "vfma.f32 s5, s8, s21\n\t"
                     "vfma.f32 s6, s8, s22\n\t"
                     "vfma.f32 s7, s8, s23\n"
                     "3:\n\t"
                     "vstmia %[acc], {s0-s7}\n\t"
                     : [x] "+r"(x), [w] "+r"(w), [pairs] "+r"(pairs)
                     : [n] "r"(n), [acc] "r"(acc)
                     : TL_FPU_CLOBBER_ALL, "cc", "memory");
#else
    for (int32_t i = 0; i < n; ++i, w += 8) {
        for (int32_t o = 0; o < 8; ++o) {
            acc[o] = fmaf(x[i], w[o], acc[o]);
        }
    }
#endif
}

#endif /* TL_FPU_H */
