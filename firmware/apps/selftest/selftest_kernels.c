#include "selftest_kernels.h"

float st_dot_f32(const float *a, const float *b, size_t n)
{
    float acc = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        acc = __builtin_fmaf(a[i], b[i], acc);
    }
    return acc;
}

int32_t st_dot_i8_ref(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t acc = 0;
    for (size_t i = 0; i < n; ++i) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

void st_spin(uint32_t iterations)
{
    if (iterations == 0u) {
        return;
    }
    __asm volatile("1:\n\t"
                   "subs %0, %0, #1\n\t"
                   "bne 1b\n\t"
                   : "+r"(iterations)
                   :
                   : "cc");
}
