/*
 * tl_kernels.h - reference kernels of the CNN feature extractor, int8 (TFLite's scheme) and float32.
 *
 * One params struct per kernel family and type, filled by the generator with designated initialisers from
 * tinyodl.reference.params (same field names). Layouts: activations NHWC, conv weights OHWI
 * [out_ch][k_h][k_w][in_ch], depthwise weights [1][k_h][k_w][out_ch] (out_ch = in_ch * depth_multiplier),
 * fully-connected weights [out_features][in_features].
 *
 * int8 conventions: zero points are stored as they are (not negated); multiplier[c] is a Q0.31 value in
 * [2^30, 2^31) (or 0) and shift[c] a power of two, > 0 shifting left, in [-31, 30]; requantization is
 * TFLite's double-rounding MultiplyByQuantizedMultiplier; the fused activation is the clamp
 * [act_min, act_max]. Results are bit-exact with TFLite's reference kernels.
 *
 * Every family has a check function (run once, at init: it validates dimensions, padding, shifts and
 * that the int32 accumulator cannot overflow) and a kernel that trusts its params. Optimised variants
 * (tl_<family>_s8_dsp, tl_<family>_f32_fpu) take the same params struct and keep exactly these signatures;
 * they must give the same bits (int8) or stay within the float32 tolerance (docs/kernels.md). The fields
 * at the end of some structs hold data the generator prepares for a variant (weights re-laid-out and
 * pre-expanded, bias with the input zero point folded in, working memory in the arena); the reference
 * kernels ignore them, and they are NULL / 0 when the reference kernel is used.
 */
#ifndef TL_KERNELS_H
#define TL_KERNELS_H

#include <stdint.h>

typedef enum {
    TL_STATUS_OK = 0,
    TL_STATUS_NULL_ARG = 1,   /* a required pointer is NULL */
    TL_STATUS_BAD_SHAPE = 2,  /* a dimension, stride or padding is out of range or inconsistent */
    TL_STATUS_BAD_QUANT = 3,  /* a zero point, multiplier, shift or activation range is out of range */
    TL_STATUS_OVERFLOW = 4,   /* the int32 accumulator could overflow for some input */
    TL_STATUS_BAD_PACKED = 5  /* a variant's generated data is missing or does not match the params */
} tl_status_t;

/* ---- CONV_2D ---------------------------------------------------------------------------------------- */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_ch;
    int32_t out_h, out_w, out_ch;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int32_t *multiplier; /* [out_ch] */
    const int32_t *shift;      /* [out_ch] */
    const int8_t *weights;     /* [out_ch][k_h][k_w][in_ch] */
    const int32_t *bias;       /* [out_ch] or NULL */
    /* tl_conv2d_s8_dsp only; K = k_h * k_w * in_ch, K4 = K rounded up to 4, G = ceil(out_ch / 3) (tl_dsp.h) */
    const int16_t *dsp_weights; /* [G][K4 / 4][2][3][2]: per chunk of 4 k, (w0,w2) of 3 channels, then (w1,w3) */
    const int32_t *dsp_bias;    /* [3 G]: bias - input_zero_point * sum of the channel's weights */
    const int32_t *dsp_requant; /* [3 G][3]: tl_dsp_requantize's constants */
    int16_t *scratch;           /* im2col buffer, scratch_bytes >= 5 * K4 */
    int32_t scratch_bytes;
    int32_t dsp_zero_point; /* 0: dsp_requant carries the output zero point; else it (= output_zero_point) is
                               added after the requantization, where folding it in could overflow int32 */
    /* tl_conv2d_s8_dsp_w8 instead of dsp_weights (the other fields as above): [G][K4 / 4][3][4], per chunk of
       4 k the 3 channels' int8 weights in natural order */
    const int8_t *dsp_weights8;
} tl_conv2d_s8_params_t;

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_ch;
    int32_t out_h, out_w, out_ch;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    float act_min, act_max;
    const float *weights; /* [out_ch][k_h][k_w][in_ch] */
    const float *bias;    /* [out_ch] or NULL */
    /* tl_conv2d_f32_fpu only: [ceil(out_ch / 4)][k_h][k_w][in_ch][4], 4 channels side by side per tap */
    const float *fpu_weights;
} tl_conv2d_f32_params_t;

tl_status_t tl_conv2d_s8_check(const tl_conv2d_s8_params_t *p);
tl_status_t tl_conv2d_s8(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_conv2d_f32_check(const tl_conv2d_f32_params_t *p);
tl_status_t tl_conv2d_f32(const tl_conv2d_f32_params_t *p, const float *in, float *out);
tl_status_t tl_conv2d_s8_dsp_check(const tl_conv2d_s8_params_t *p);
tl_status_t tl_conv2d_s8_dsp(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_conv2d_s8_dsp_w8_check(const tl_conv2d_s8_params_t *p);
tl_status_t tl_conv2d_s8_dsp_w8(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_conv2d_f32_fpu_check(const tl_conv2d_f32_params_t *p);
tl_status_t tl_conv2d_f32_fpu(const tl_conv2d_f32_params_t *p, const float *in, float *out);

/* ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------------------ */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_ch;
    int32_t out_h, out_w, out_ch; /* out_ch = in_ch * depth_multiplier; output c reads input c / multiplier */
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t depth_multiplier;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int32_t *multiplier; /* [out_ch] */
    const int32_t *shift;      /* [out_ch] */
    const int8_t *weights;     /* [1][k_h][k_w][out_ch] */
    const int32_t *bias;       /* [out_ch] or NULL */
    /* tl_depthwise_conv2d_s8_dsp only; T = k_h * k_w taps, G = ceil(out_ch / 4) groups of 4 channels */
    const int16_t *dsp_weights; /* [G][T][2][2]: per tap (w0,w2) then (w1,w3) of the group's 4 channels */
    const int32_t *dsp_bias;    /* [4 G]: bias - input_zero_point * sum of the channel's weights */
    const int32_t *dsp_requant; /* [4 G][3]: tl_dsp_requantize's constants */
    /* tl_depthwise_conv2d_s8_dsp_w8 instead of dsp_weights: [G][T][4], per tap the group's 4 int8 weights */
    const int8_t *dsp_weights8;
} tl_depthwise_conv2d_s8_params_t;

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_ch;
    int32_t out_h, out_w, out_ch;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t depth_multiplier;
    float act_min, act_max;
    const float *weights; /* [1][k_h][k_w][out_ch] */
    const float *bias;    /* [out_ch] or NULL */
} tl_depthwise_conv2d_f32_params_t;

tl_status_t tl_depthwise_conv2d_s8_check(const tl_depthwise_conv2d_s8_params_t *p);
tl_status_t tl_depthwise_conv2d_s8(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_depthwise_conv2d_f32_check(const tl_depthwise_conv2d_f32_params_t *p);
tl_status_t tl_depthwise_conv2d_f32(const tl_depthwise_conv2d_f32_params_t *p, const float *in, float *out);
tl_status_t tl_depthwise_conv2d_s8_dsp_check(const tl_depthwise_conv2d_s8_params_t *p);
tl_status_t tl_depthwise_conv2d_s8_dsp(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_depthwise_conv2d_s8_dsp_w8_check(const tl_depthwise_conv2d_s8_params_t *p);
tl_status_t tl_depthwise_conv2d_s8_dsp_w8(const tl_depthwise_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);

/* ---- FULLY_CONNECTED -------------------------------------------------------------------------------- */

typedef struct {
    int32_t batches;
    int32_t in_features, out_features;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int32_t *multiplier; /* [out_features] (a per-tensor multiplier is repeated) */
    const int32_t *shift;      /* [out_features] */
    const int8_t *weights;     /* [out_features][in_features], symmetric (zero point 0) */
    const int32_t *bias;       /* [out_features] or NULL */
    /* tl_fully_connected_s8_dsp only; G = ceil(out_features / 4), C = in_features / 4 (rounded down) */
    const int16_t *dsp_weights; /* [G][C][2][4][2]: per chunk of 4 inputs, (w0,w2) of 4 channels, then (w1,w3) */
    const int32_t *dsp_bias;    /* [4 G]: bias - input_zero_point * sum of the channel's weights */
    const int32_t *dsp_requant; /* [4 G][3]: tl_dsp_requantize's constants */
    /* tl_fully_connected_s8_dsp_w8 instead of dsp_weights: [G][ceil(in_features / 4)][4][4], per chunk of 4
       inputs the 4 channels' int8 weights in natural order (zero past in_features) */
    const int8_t *dsp_weights8;
} tl_fully_connected_s8_params_t;

typedef struct {
    int32_t batches;
    int32_t in_features, out_features;
    float act_min, act_max;
    const float *weights; /* [out_features][in_features] */
    const float *bias;    /* [out_features] or NULL */
    /* tl_fully_connected_f32_fpu only: [ceil(out_features / 8)][in_features][8], 8 outputs side by side */
    const float *fpu_weights;
} tl_fully_connected_f32_params_t;

tl_status_t tl_fully_connected_s8_check(const tl_fully_connected_s8_params_t *p);
tl_status_t tl_fully_connected_s8(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_fully_connected_f32_check(const tl_fully_connected_f32_params_t *p);
tl_status_t tl_fully_connected_f32(const tl_fully_connected_f32_params_t *p, const float *in, float *out);
tl_status_t tl_fully_connected_s8_dsp_check(const tl_fully_connected_s8_params_t *p);
tl_status_t tl_fully_connected_s8_dsp(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_fully_connected_s8_dsp_w8_check(const tl_fully_connected_s8_params_t *p);
tl_status_t tl_fully_connected_s8_dsp_w8(const tl_fully_connected_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_fully_connected_f32_fpu_check(const tl_fully_connected_f32_params_t *p);
tl_status_t tl_fully_connected_f32_fpu(const tl_fully_connected_f32_params_t *p, const float *in, float *out);

/* ---- MAX_POOL_2D, AVERAGE_POOL_2D (same params; int8 pooling keeps the input's quantization) ---------- */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} tl_pool2d_s8_params_t;

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    float act_min, act_max;
} tl_pool2d_f32_params_t;

typedef tl_pool2d_s8_params_t tl_max_pool2d_s8_params_t;
typedef tl_pool2d_s8_params_t tl_avg_pool2d_s8_params_t;
typedef tl_pool2d_f32_params_t tl_max_pool2d_f32_params_t;
typedef tl_pool2d_f32_params_t tl_avg_pool2d_f32_params_t;

tl_status_t tl_max_pool2d_s8_check(const tl_max_pool2d_s8_params_t *p);
tl_status_t tl_max_pool2d_s8(const tl_max_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_max_pool2d_f32_check(const tl_max_pool2d_f32_params_t *p);
tl_status_t tl_max_pool2d_f32(const tl_max_pool2d_f32_params_t *p, const float *in, float *out);
tl_status_t tl_avg_pool2d_s8_check(const tl_avg_pool2d_s8_params_t *p);
tl_status_t tl_avg_pool2d_s8(const tl_avg_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_avg_pool2d_f32_check(const tl_avg_pool2d_f32_params_t *p);
tl_status_t tl_avg_pool2d_f32(const tl_avg_pool2d_f32_params_t *p, const float *in, float *out);
tl_status_t tl_max_pool2d_s8_dsp_check(const tl_max_pool2d_s8_params_t *p);
tl_status_t tl_max_pool2d_s8_dsp(const tl_max_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_avg_pool2d_s8_dsp_check(const tl_avg_pool2d_s8_params_t *p); /* k_h * k_w <= 256 */
tl_status_t tl_avg_pool2d_s8_dsp(const tl_avg_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);

/* ---- MEAN over the spatial axes: input [batches][count][channels] -> output [batches][channels] ------- */

typedef struct {
    int32_t batches, count, channels;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift; /* input_scale / output_scale with 1/count folded in (TFLite's way) */
    int32_t act_min, act_max;
} tl_mean_s8_params_t;

typedef struct {
    int32_t batches, count, channels;
} tl_mean_f32_params_t;

tl_status_t tl_mean_s8_check(const tl_mean_s8_params_t *p);
tl_status_t tl_mean_s8(const tl_mean_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_mean_f32_check(const tl_mean_f32_params_t *p);
tl_status_t tl_mean_f32(const tl_mean_f32_params_t *p, const float *in, float *out);
tl_status_t tl_mean_s8_dsp_check(const tl_mean_s8_params_t *p); /* count <= 256 */
tl_status_t tl_mean_s8_dsp(const tl_mean_s8_params_t *p, const int8_t *in, int8_t *out);

/* ---- ADD, element-wise over `size` elements (operands of the same shape) ---------------------------- */

typedef struct {
    int32_t size;
    int32_t input1_zero_point, input2_zero_point, output_zero_point;
    int32_t left_shift; /* 20 for int8 */
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tl_add_s8_params_t;

typedef struct {
    int32_t size;
    float act_min, act_max;
} tl_add_f32_params_t;

tl_status_t tl_add_s8_check(const tl_add_s8_params_t *p);
tl_status_t tl_add_s8(const tl_add_s8_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
tl_status_t tl_add_s8_dsp_check(const tl_add_s8_params_t *p);
tl_status_t tl_add_s8_dsp(const tl_add_s8_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
tl_status_t tl_add_f32_check(const tl_add_f32_params_t *p);
tl_status_t tl_add_f32(const tl_add_f32_params_t *p, const float *in1, const float *in2, float *out);

/* ---- ADD of a constant per channel (a bias added after a convolution): out[i] = in[i] + constant[i % channels]
 * with ADD's arithmetic (the constant quantized with the second input's parameters) ------------------------ */

typedef struct {
    int32_t size;
    int32_t input1_zero_point, input2_zero_point, output_zero_point;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    int32_t channels;
    const int8_t *constant; /* [channels] */
} tl_add_const_s8_params_t;

typedef struct {
    int32_t size;
    float act_min, act_max;
    int32_t channels;
    const float *constant; /* [channels] */
} tl_add_const_f32_params_t;

tl_status_t tl_add_const_s8_check(const tl_add_const_s8_params_t *p);
tl_status_t tl_add_const_s8(const tl_add_const_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_add_const_f32_check(const tl_add_const_f32_params_t *p);
tl_status_t tl_add_const_f32(const tl_add_const_f32_params_t *p, const float *in, float *out);

/* ---- RELU / RELU6 on their own (not fused into the op before): int8 requantizes from the input's scale to
 * the output's (TFLite's stand-alone activation), then clamps ------------------------------------------ */

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} tl_relu_s8_params_t;

typedef struct {
    int32_t size;
    float act_min, act_max;
} tl_relu_f32_params_t;

tl_status_t tl_relu_s8_check(const tl_relu_s8_params_t *p);
tl_status_t tl_relu_s8(const tl_relu_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_relu_f32_check(const tl_relu_f32_params_t *p);
tl_status_t tl_relu_f32(const tl_relu_f32_params_t *p, const float *in, float *out);

/* ---- SOFTMAX over the last axis: rows x depth. int8: TFLite's fixed-point exp and reciprocal (gemmlowp's),
 * the output quantized with scale 1/256 and zero point -128; float32: exp((x - max) * beta) / sum ---------- */

typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift; /* beta x input scale x 2^26, as multiplier x 2^left_shift */
    int32_t diff_min;                           /* differences from the row's largest below this give 0 */
} tl_softmax_s8_params_t;

typedef struct {
    int32_t rows, depth;
    float beta;
} tl_softmax_f32_params_t;

tl_status_t tl_softmax_s8_check(const tl_softmax_s8_params_t *p);
tl_status_t tl_softmax_s8(const tl_softmax_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_softmax_f32_check(const tl_softmax_f32_params_t *p);
tl_status_t tl_softmax_f32(const tl_softmax_f32_params_t *p, const float *in, float *out);

/* ---- PAD: a 4-D tensor (lower ranks padded with leading ones) inside a constant border ----------------- */

typedef struct {
    int32_t in_dims[4];
    int32_t pad_before[4];
    int32_t pad_after[4];
    int8_t pad_value; /* the output zero point */
} tl_pad_s8_params_t;

typedef struct {
    int32_t in_dims[4];
    int32_t pad_before[4];
    int32_t pad_after[4];
    float pad_value;
} tl_pad_f32_params_t;

tl_status_t tl_pad_s8_check(const tl_pad_s8_params_t *p);
tl_status_t tl_pad_s8(const tl_pad_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_pad_s8_dsp_check(const tl_pad_s8_params_t *p);
tl_status_t tl_pad_s8_dsp(const tl_pad_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_pad_f32_check(const tl_pad_f32_params_t *p);
tl_status_t tl_pad_f32(const tl_pad_f32_params_t *p, const float *in, float *out);

/* ---- CONV_2D fused with the MAX_POOL_2D / AVERAGE_POOL_2D that reads only its output ----------------- */
/*
 * The pooled output is produced directly, `band` convolution output rows at a time (columns when the
 * output is one row): each band is convolved into `buffer`, then pooled into the output, so the
 * full-resolution tensor never exists. `conv` and `pool` describe the whole layer; the kernel narrows
 * copies of them to each band (the input window, the padding before it, the band's length) and calls
 * `conv_fn` / `pool_fn`, the kernels the generator chose for each. Along the band axis the pooling
 * windows tile the output: window = stride, no padding before; `band` is a multiple of that stride.
 */
typedef tl_status_t (*tl_conv2d_s8_fn)(const tl_conv2d_s8_params_t *p, const int8_t *in, int8_t *out);
typedef tl_status_t (*tl_conv2d_s8_check_fn)(const tl_conv2d_s8_params_t *p);
typedef tl_status_t (*tl_pool2d_s8_fn)(const tl_pool2d_s8_params_t *p, const int8_t *in, int8_t *out);
typedef tl_status_t (*tl_pool2d_s8_check_fn)(const tl_pool2d_s8_params_t *p);
typedef tl_status_t (*tl_conv2d_f32_fn)(const tl_conv2d_f32_params_t *p, const float *in, float *out);
typedef tl_status_t (*tl_conv2d_f32_check_fn)(const tl_conv2d_f32_params_t *p);
typedef tl_status_t (*tl_pool2d_f32_fn)(const tl_pool2d_f32_params_t *p, const float *in, float *out);
typedef tl_status_t (*tl_pool2d_f32_check_fn)(const tl_pool2d_f32_params_t *p);

typedef struct {
    tl_conv2d_s8_params_t conv;
    tl_pool2d_s8_params_t pool;
    int32_t band;
    int8_t *buffer; /* arena: band x (out_w x out_ch, or out_ch for a one-row output) */
    int32_t buffer_bytes;
    tl_conv2d_s8_fn conv_fn;
    tl_conv2d_s8_check_fn conv_check;
    tl_pool2d_s8_fn pool_fn;
    tl_pool2d_s8_check_fn pool_check;
} tl_conv_pool_s8_params_t;

typedef struct {
    tl_conv2d_f32_params_t conv;
    tl_pool2d_f32_params_t pool;
    int32_t band;
    float *buffer;
    int32_t buffer_bytes;
    tl_conv2d_f32_fn conv_fn;
    tl_conv2d_f32_check_fn conv_check;
    tl_pool2d_f32_fn pool_fn;
    tl_pool2d_f32_check_fn pool_check;
} tl_conv_pool_f32_params_t;

tl_status_t tl_conv_pool_s8_check(const tl_conv_pool_s8_params_t *p);
tl_status_t tl_conv_pool_s8(const tl_conv_pool_s8_params_t *p, const int8_t *in, int8_t *out);
tl_status_t tl_conv_pool_f32_check(const tl_conv_pool_f32_params_t *p);
tl_status_t tl_conv_pool_f32(const tl_conv_pool_f32_params_t *p, const float *in, float *out);

#endif /* TL_KERNELS_H */
