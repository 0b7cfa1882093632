/*
 * tl_conv_pool_s8.c - CONV_2D + pooling fused, int8 (tl_kernels.h): bit-exact with the two kernels run one
 * after the other, which it calls band by band.
 */
#include "tl_kernels.h"

#define CP_ELEM int8_t
#define CP_CONV tl_conv2d_s8_params_t
#define CP_POOL tl_pool2d_s8_params_t
#define CP_CHECK_DECL tl_status_t tl_conv_pool_s8_check(const tl_conv_pool_s8_params_t *p)
#define CP_RUN_DECL tl_status_t tl_conv_pool_s8(const tl_conv_pool_s8_params_t *p, const int8_t *in, int8_t *out)
#include "tl_conv_pool_impl.h"
