/* Adapters from tinyodl's kernel params to ARM's CMSIS-NN (`--kernels cmsis-nn`, docs/cmsis-nn.md).
 *
 * Each adapter has the signature of a tinyodl kernel and a params struct that holds the kernel's own params
 * (`base`, exactly as the reference kernel reads them) plus CMSIS-NN's working buffer, planned in the
 * model's arena by the generator from CMSIS-NN's buffer-size formulas. `*_check` runs the reference
 * kernel's check and verifies, with CMSIS-NN's own `*_get_buffer_size`, that the buffer is large enough.
 * CMSIS-NN is not part of tinyodl: these files compile only when the backend is chosen, against the
 * CMSIS-NN source tree the user points at. */
#ifndef TL_CMSISNN_H
#define TL_CMSISNN_H

#include <stdint.h>

#include "tl_kernels.h"

typedef struct {
    tl_conv2d_s8_params_t base;
    int16_t *scratch; /* CMSIS-NN's buffer (cmsis_nn_context), scratch_bytes >= arm_convolve_wrapper_s8's size */
    int32_t scratch_bytes;
} tl_cmsisnn_conv2d_s8_params_t;

typedef struct {
    tl_depthwise_conv2d_s8_params_t base;
    int16_t *scratch; /* >= arm_depthwise_conv_wrapper_s8_get_buffer_size */
    int32_t scratch_bytes;
} tl_cmsisnn_depthwise_conv2d_s8_params_t;

typedef struct {
    tl_fully_connected_s8_params_t base;
    int32_t per_channel; /* 0: one multiplier for all outputs (arm_fully_connected_s8), 1: per output */
    int16_t *scratch;    /* >= arm_fully_connected_s8_get_buffer_size (0 on cores without MVE) */
    int32_t scratch_bytes;
} tl_cmsisnn_fully_connected_s8_params_t;

typedef struct {
    tl_pool2d_s8_params_t base;
    int16_t *scratch; /* average pooling: >= arm_avgpool_s8_get_buffer_size; max pooling: none */
    int32_t scratch_bytes;
} tl_cmsisnn_pool2d_s8_params_t;

typedef tl_cmsisnn_pool2d_s8_params_t tl_cmsisnn_max_pool2d_s8_params_t;
typedef tl_cmsisnn_pool2d_s8_params_t tl_cmsisnn_avg_pool2d_s8_params_t;

typedef struct {
    tl_add_s8_params_t base;
    int16_t *scratch; /* unused (arm_elementwise_add_s8 needs none) */
    int32_t scratch_bytes;
} tl_cmsisnn_add_s8_params_t;

tl_status_t tl_cmsisnn_conv2d_s8_check(const tl_cmsisnn_conv2d_s8_params_t *p);
tl_status_t tl_cmsisnn_conv2d_s8(const tl_cmsisnn_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_cmsisnn_depthwise_conv2d_s8_check(const tl_cmsisnn_depthwise_conv2d_s8_params_t *p);
tl_status_t tl_cmsisnn_depthwise_conv2d_s8(const tl_cmsisnn_depthwise_conv2d_s8_params_t *p, const int8_t *in,
                                           int8_t *out);
tl_status_t tl_cmsisnn_fully_connected_s8_check(const tl_cmsisnn_fully_connected_s8_params_t *p);
tl_status_t tl_cmsisnn_fully_connected_s8(const tl_cmsisnn_fully_connected_s8_params_t *p, const int8_t *in,
                                          int8_t *out);
tl_status_t tl_cmsisnn_max_pool2d_s8_check(const tl_cmsisnn_pool2d_s8_params_t *p);
tl_status_t tl_cmsisnn_max_pool2d_s8(const tl_cmsisnn_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_cmsisnn_avg_pool2d_s8_check(const tl_cmsisnn_pool2d_s8_params_t *p);
tl_status_t tl_cmsisnn_avg_pool2d_s8(const tl_cmsisnn_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_cmsisnn_add_s8_check(const tl_cmsisnn_add_s8_params_t *p);
tl_status_t tl_cmsisnn_add_s8(const tl_cmsisnn_add_s8_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif /* TL_CMSISNN_H */
