#ifndef SELFTEST_KERNELS_H
#define SELFTEST_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* fp32 dot product, accumulated in order with fused multiply-adds (one rounding per step). */
float st_dot_f32(const float *a, const float *b, size_t n);

/* int8 dot product into int32: plain C reference. */
int32_t st_dot_i8_ref(const int8_t *a, const int8_t *b, size_t n);

/* int8 dot product with SXTB16 + SMLAD (two 16-bit MACs per instruction); same result as the reference. */
int32_t st_dot_i8_simd(const int8_t *a, const int8_t *b, size_t n);

/* Executes exactly 2 * iterations loop instructions plus a fixed call overhead: checks the counter. */
void st_spin(uint32_t iterations);

#endif
