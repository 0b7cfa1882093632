/* Shared by the CMSIS-NN adapters: status mapping and the buffer check. */
#ifndef TL_CMSISNN_UTIL_H
#define TL_CMSISNN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "arm_nn_types.h"
#include "tl_kernels.h"

static inline tl_status_t tl_cmsisnn_status(arm_cmsis_nn_status s)
{
    return s == ARM_CMSIS_NN_SUCCESS ? TL_STATUS_OK : TL_STATUS_BAD_SHAPE;
}

/* The generated buffer holds at least what CMSIS-NN asks for (TL_STATUS_BAD_PACKED otherwise). */
static inline tl_status_t tl_cmsisnn_check_buffer(const void *buffer, int32_t bytes, int32_t needed)
{
    if (bytes < 0 || needed < 0 || bytes < needed || (bytes > 0 && buffer == NULL)) {
        return TL_STATUS_BAD_PACKED;
    }
    return TL_STATUS_OK;
}

static inline cmsis_nn_dims tl_cmsisnn_dims(int32_t n, int32_t h, int32_t w, int32_t c)
{
    cmsis_nn_dims d;
    d.n = n;
    d.h = h;
    d.w = w;
    d.c = c;
    return d;
}

static inline cmsis_nn_tile tl_cmsisnn_tile(int32_t w, int32_t h)
{
    cmsis_nn_tile t;
    t.w = w;
    t.h = h;
    return t;
}

#endif /* TL_CMSISNN_UTIL_H */
