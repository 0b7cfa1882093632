/*
 * tl_conv_pool_f32.c - CONV_2D + pooling fused, float32 (tl_kernels.h): the same operations in the same
 * order as the two kernels run one after the other, which it calls band by band.
 */
#include "tl_kernels.h"

#define CP_ELEM float
#define CP_CONV tl_conv2d_f32_params_t
#define CP_POOL tl_pool2d_f32_params_t
#define CP_CHECK_DECL tl_status_t tl_conv_pool_f32_check(const tl_conv_pool_f32_params_t *p)
#define CP_RUN_DECL tl_status_t tl_conv_pool_f32(const tl_conv_pool_f32_params_t *p, const float *in, float *out)
#include "tl_conv_pool_impl.h"
