/* FULLY_CONNECTED on CMSIS-NN: arm_fully_connected_s8 when one multiplier serves every output (per-tensor
 * weights), arm_fully_connected_per_channel_s8 otherwise. Weights are symmetric: filter offset 0. */
#include "arm_nnfunctions.h"
#include "tl_cmsisnn.h"
#include "tl_cmsisnn_util.h"

static void fc_args(const tl_fully_connected_s8_params_t *b, cmsis_nn_fc_params *fp, cmsis_nn_dims dims[4])
{
    fp->input_offset = -b->input_zero_point;
    fp->filter_offset = 0;
    fp->output_offset = b->output_zero_point;
    fp->activation.min = b->act_min;
    fp->activation.max = b->act_max;
    dims[0] = tl_cmsisnn_dims(b->batches, 1, 1, b->in_features);
    dims[1] = tl_cmsisnn_dims(b->in_features, 1, 1, b->out_features); /* n: accumulation depth, c: outputs */
    dims[2] = tl_cmsisnn_dims(1, 1, 1, b->out_features);
    dims[3] = tl_cmsisnn_dims(b->batches, 1, 1, b->out_features);
}

tl_status_t tl_cmsisnn_fully_connected_s8_check(const tl_cmsisnn_fully_connected_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_fully_connected_s8_check(&p->base);
    if (s != TL_STATUS_OK) {
        return s;
    }
    if (p->base.weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (p->per_channel == 0) {
        for (int32_t c = 1; c < p->base.out_features; ++c) {
            if (p->base.multiplier[c] != p->base.multiplier[0] || p->base.shift[c] != p->base.shift[0]) {
                return TL_STATUS_BAD_PACKED;
            }
        }
    }
    cmsis_nn_fc_params fp;
    cmsis_nn_dims d[4];
    fc_args(&p->base, &fp, d);
    return tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes, arm_fully_connected_s8_get_buffer_size(&d[1]));
}

tl_status_t tl_cmsisnn_fully_connected_s8(const tl_cmsisnn_fully_connected_s8_params_t *p, const int8_t *in,
                                          int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_context ctx;
    cmsis_nn_fc_params fp;
    cmsis_nn_dims d[4];
    ctx.buf = p->scratch;
    ctx.size = p->scratch_bytes;
    fc_args(&p->base, &fp, d);
    const tl_fully_connected_s8_params_t *b = &p->base;
    if (p->per_channel != 0) {
        cmsis_nn_per_channel_quant_params qp;
        qp.multiplier = (int32_t *)(uintptr_t)b->multiplier; /* CMSIS-NN only reads them */
        qp.shift = (int32_t *)(uintptr_t)b->shift;
        return tl_cmsisnn_status(arm_fully_connected_per_channel_s8(&ctx, &fp, &qp, &d[0], in, &d[1], b->weights,
                                                                    &d[2], b->bias, &d[3], out));
    }
    cmsis_nn_per_tensor_quant_params qt;
    qt.multiplier = b->multiplier[0];
    qt.shift = b->shift[0];
    return tl_cmsisnn_status(
        arm_fully_connected_s8(&ctx, &fp, &qt, &d[0], in, &d[1], b->weights, &d[2], b->bias, &d[3], out));
}
