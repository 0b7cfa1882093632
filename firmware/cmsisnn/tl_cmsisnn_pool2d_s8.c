/* MAX_POOL_2D and AVERAGE_POOL_2D on CMSIS-NN (arm_max_pool_s8, arm_avgpool_s8). int8 pooling keeps the
 * input's quantization; the clamp is [act_min, act_max]. */
#include "arm_nnfunctions.h"
#include "tl_cmsisnn.h"
#include "tl_cmsisnn_util.h"

static void pool_args(const tl_pool2d_s8_params_t *b, cmsis_nn_pool_params *pp, cmsis_nn_dims dims[3])
{
    pp->stride = tl_cmsisnn_tile(b->stride_w, b->stride_h);
    pp->padding = tl_cmsisnn_tile(b->pad_left, b->pad_top);
    pp->activation.min = b->act_min;
    pp->activation.max = b->act_max;
    dims[0] = tl_cmsisnn_dims(b->batches, b->in_h, b->in_w, b->channels);
    dims[1] = tl_cmsisnn_dims(1, b->k_h, b->k_w, 1);
    dims[2] = tl_cmsisnn_dims(b->batches, b->out_h, b->out_w, b->channels);
}

/* CMSIS-NN's max and average pooling take the same arguments. */
typedef arm_cmsis_nn_status (*pool_fn)(const cmsis_nn_context *, const cmsis_nn_pool_params *, const cmsis_nn_dims *,
                                       const int8_t *, const cmsis_nn_dims *, const cmsis_nn_dims *, int8_t *);

static tl_status_t run(const tl_cmsisnn_pool2d_s8_params_t *p, const int8_t *in, int8_t *out, pool_fn pool)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_context ctx;
    cmsis_nn_pool_params pp;
    cmsis_nn_dims d[3];
    ctx.buf = p->scratch;
    ctx.size = p->scratch_bytes;
    pool_args(&p->base, &pp, d);
    return tl_cmsisnn_status(pool(&ctx, &pp, &d[0], in, &d[1], &d[2], out));
}

tl_status_t tl_cmsisnn_max_pool2d_s8_check(const tl_cmsisnn_pool2d_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_max_pool2d_s8_check(&p->base);
    return s != TL_STATUS_OK ? s : tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes, 0);
}

tl_status_t tl_cmsisnn_max_pool2d_s8(const tl_cmsisnn_pool2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    return run(p, in, out, arm_max_pool_s8);
}

tl_status_t tl_cmsisnn_avg_pool2d_s8_check(const tl_cmsisnn_pool2d_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_avg_pool2d_s8_check(&p->base);
    if (s != TL_STATUS_OK) {
        return s;
    }
    return tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes,
                                   arm_avgpool_s8_get_buffer_size(p->base.out_w, p->base.channels));
}

tl_status_t tl_cmsisnn_avg_pool2d_s8(const tl_cmsisnn_pool2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    return run(p, in, out, arm_avgpool_s8);
}
