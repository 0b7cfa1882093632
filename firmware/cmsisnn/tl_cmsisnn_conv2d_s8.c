/* CONV_2D and DEPTHWISE_CONV_2D on CMSIS-NN's wrappers (arm_convolve_wrapper_s8, arm_depthwise_conv_wrapper_s8).
 * CMSIS-NN's offsets: input offset = -input zero point, output offset = +output zero point; per-channel
 * multipliers and shifts are ours as they are; the fused activation is the clamp [act_min, act_max]. */
#include "arm_nnfunctions.h"
#include "tl_cmsisnn.h"
#include "tl_cmsisnn_util.h"

static void conv_args(const tl_conv2d_s8_params_t *b, cmsis_nn_conv_params *cp, cmsis_nn_per_channel_quant_params *qp,
                      cmsis_nn_dims dims[4])
{
    cp->input_offset = -b->input_zero_point;
    cp->output_offset = b->output_zero_point;
    cp->stride = tl_cmsisnn_tile(b->stride_w, b->stride_h);
    cp->padding = tl_cmsisnn_tile(b->pad_left, b->pad_top);
    cp->dilation = tl_cmsisnn_tile(b->dilation_w, b->dilation_h);
    cp->activation.min = b->act_min;
    cp->activation.max = b->act_max;
    qp->multiplier = (int32_t *)(uintptr_t)b->multiplier; /* CMSIS-NN only reads them */
    qp->shift = (int32_t *)(uintptr_t)b->shift;
    dims[0] = tl_cmsisnn_dims(b->batches, b->in_h, b->in_w, b->in_ch);
    dims[1] = tl_cmsisnn_dims(b->out_ch, b->k_h, b->k_w, b->in_ch);
    dims[2] = tl_cmsisnn_dims(1, 1, 1, b->out_ch);
    dims[3] = tl_cmsisnn_dims(b->batches, b->out_h, b->out_w, b->out_ch);
}

tl_status_t tl_cmsisnn_conv2d_s8_check(const tl_cmsisnn_conv2d_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_conv2d_s8_check(&p->base);
    if (s != TL_STATUS_OK) {
        return s;
    }
    if (p->base.weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_conv_params cp;
    cmsis_nn_per_channel_quant_params qp;
    cmsis_nn_dims d[4];
    conv_args(&p->base, &cp, &qp, d);
    return tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes,
                                   arm_convolve_wrapper_s8_get_buffer_size(&cp, &d[0], &d[1], &d[3]));
}

tl_status_t tl_cmsisnn_conv2d_s8(const tl_cmsisnn_conv2d_s8_params_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_context ctx;
    cmsis_nn_conv_params cp;
    cmsis_nn_per_channel_quant_params qp;
    cmsis_nn_dims d[4];
    ctx.buf = p->scratch;
    ctx.size = p->scratch_bytes;
    conv_args(&p->base, &cp, &qp, d);
    return tl_cmsisnn_status(arm_convolve_wrapper_s8(&ctx, &cp, &qp, &d[0], in, &d[1], p->base.weights, &d[2],
                                                     p->base.bias, &d[3], out));
}

static void dw_args(const tl_depthwise_conv2d_s8_params_t *b, cmsis_nn_dw_conv_params *cp,
                    cmsis_nn_per_channel_quant_params *qp, cmsis_nn_dims dims[4])
{
    cp->input_offset = -b->input_zero_point;
    cp->output_offset = b->output_zero_point;
    cp->ch_mult = b->depth_multiplier;
    cp->stride = tl_cmsisnn_tile(b->stride_w, b->stride_h);
    cp->padding = tl_cmsisnn_tile(b->pad_left, b->pad_top);
    cp->dilation = tl_cmsisnn_tile(b->dilation_w, b->dilation_h);
    cp->activation.min = b->act_min;
    cp->activation.max = b->act_max;
    qp->multiplier = (int32_t *)(uintptr_t)b->multiplier;
    qp->shift = (int32_t *)(uintptr_t)b->shift;
    dims[0] = tl_cmsisnn_dims(b->batches, b->in_h, b->in_w, b->in_ch);
    dims[1] = tl_cmsisnn_dims(1, b->k_h, b->k_w, b->out_ch);
    dims[2] = tl_cmsisnn_dims(1, 1, 1, b->out_ch);
    dims[3] = tl_cmsisnn_dims(b->batches, b->out_h, b->out_w, b->out_ch);
}

tl_status_t tl_cmsisnn_depthwise_conv2d_s8_check(const tl_cmsisnn_depthwise_conv2d_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_depthwise_conv2d_s8_check(&p->base);
    if (s != TL_STATUS_OK) {
        return s;
    }
    if (p->base.weights == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_dw_conv_params cp;
    cmsis_nn_per_channel_quant_params qp;
    cmsis_nn_dims d[4];
    dw_args(&p->base, &cp, &qp, d);
    return tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes,
                                   arm_depthwise_conv_wrapper_s8_get_buffer_size(&cp, &d[0], &d[1], &d[3]));
}

tl_status_t tl_cmsisnn_depthwise_conv2d_s8(const tl_cmsisnn_depthwise_conv2d_s8_params_t *p, const int8_t *in,
                                           int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    cmsis_nn_context ctx;
    cmsis_nn_dw_conv_params cp;
    cmsis_nn_per_channel_quant_params qp;
    cmsis_nn_dims d[4];
    ctx.buf = p->scratch;
    ctx.size = p->scratch_bytes;
    dw_args(&p->base, &cp, &qp, d);
    return tl_cmsisnn_status(arm_depthwise_conv_wrapper_s8(&ctx, &cp, &qp, &d[0], in, &d[1], p->base.weights, &d[2],
                                                           p->base.bias, &d[3], out));
}
