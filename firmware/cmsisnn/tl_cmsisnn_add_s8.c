/* Element-wise ADD on CMSIS-NN (arm_elementwise_add_s8): TFLite's scheme, input offsets = -zero points,
 * output offset = +zero point, the same left shift, multipliers and shifts as ours. */
#include "arm_nnfunctions.h"
#include "tl_cmsisnn.h"
#include "tl_cmsisnn_util.h"

tl_status_t tl_cmsisnn_add_s8_check(const tl_cmsisnn_add_s8_params_t *p)
{
    if (p == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t s = tl_add_s8_check(&p->base);
    return s != TL_STATUS_OK ? s : tl_cmsisnn_check_buffer(p->scratch, p->scratch_bytes, 0);
}

tl_status_t tl_cmsisnn_add_s8(const tl_cmsisnn_add_s8_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    if (p == NULL || in1 == NULL || in2 == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    const tl_add_s8_params_t *b = &p->base;
    return tl_cmsisnn_status(arm_elementwise_add_s8(in1, in2, -b->input1_zero_point, b->input1_multiplier,
                                                    b->input1_shift, -b->input2_zero_point, b->input2_multiplier,
                                                    b->input2_shift, b->left_shift, out, b->output_zero_point,
                                                    b->output_multiplier, b->output_shift, b->act_min, b->act_max,
                                                    b->size));
}
