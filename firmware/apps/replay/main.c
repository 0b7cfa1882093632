/*
 * replay - latent-replay continual learning on the device: the frozen stage (the generated model, up to
 * the replay layer), a float32 softmax head trained by SGD on the device, and the replay buffer of its
 * latents: int8 with their quantization (an int8 stage), or float32 (a float32 stage).
 * tinyodl/learn/replay.py (HeadLearner, ReplayBuffer) is the host reference.
 *
 * Generated: the frozen stage (tl_model.h) and tl_replay_cfg.h (latent count, classes, the current
 * experience's store, the buffer, the minibatch, the latents' quantization).
 * Messages (docs/apps.md):
 *   RINFO  0x60 host->fw  empty                  reply RINFO: u16 features, u16 classes, u16 current cap,
 *                                                u16 buffer cap, u16 batch, u16 0, u32 input bytes,
 *                                                u32 model hash, u32 learner RAM bytes
 *   RPARAM 0x61 host->fw  f32 lr, f32 momentum, f32 weight decay, u16 epochs, u8 flags (1 replay,
 *                         2 TinyProp), u8 0, u32 seed   reply RPARAM: u8 status (empties store and buffer,
 *                         zeroes the velocities)
 *   RLOAD  0x62 host->fw  u8 tensor (0 w, 1 b; with a hidden layer 4 w1, 5 b1), u8 0, u16 0, u32 byte offset,
 *                         data                                           reply RLOAD: u8 0
 *   WINDOW 0x63 host->fw  u32 offset, bytes of the input window          reply WINDOW: u8 0
 *   RADD   0x64 host->fw  u8 label [, a latent]: the window's latent (or the given one) joins the
 *                         current experience
 *                         reply RADD: u8 status, u8 0, u16 stored, u64 ticks of the frozen stage
 *   RTRAIN 0x65 host->fw  empty: train on the experience (and the buffer), then update the buffer
 *                         reply RTRAIN: i32 status, f32 mean loss of the last epoch, u32 steps,
 *                         u32 rows updated, u16 buffer count, u16 disturbances, u64 ticks of training,
 *                         u64 ticks of the buffer update
 *   RPRED  0x66 host->fw  empty: predict the window; or a latent (int8 or float32 values): predict it
 *                         reply RPRED: i16 class, u16 0, u64 ticks frozen stage, u64 ticks head, the latent
 *   RREAD  0x67 host->fw  u8 tensor (0 w, 1 b, 2 buffer latents, 3 buffer labels, 4 w1, 5 b1), u8 0, u16 length,
 *                         u32 byte offset                          reply RDATA 0x68: the bytes
 */
#include <stdint.h>
#include <string.h>

#include "tl_link.h"
#include "tl_model.h"
#include "tl_replay.h"
#include "tl_replay_cfg.h"
#include "tl_runtime.h"
#include "tl_session.h"
#include "tl_train.h"

#define MSG_RINFO 0x60u
#define MSG_RPARAM 0x61u
#define MSG_RLOAD 0x62u
#define MSG_WINDOW 0x63u
#define MSG_RADD 0x64u
#define MSG_RTRAIN 0x65u
#define MSG_RPRED 0x66u
#define MSG_RREAD 0x67u
#define MSG_RDATA 0x68u

#define F TL_REPLAY_FEATURES
#define C TL_REPLAY_CLASSES
#define B TL_REPLAY_BATCH
#define H TL_REPLAY_HIDDEN
#define POOL (TL_REPLAY_CURRENT + TL_REPLAY_BUFFER)
#if TL_REPLAY_FLOAT_LATENTS
typedef float latent_t; /* a float32 frozen stage: its latents as they are */
#else
typedef int8_t latent_t; /* int8 latents, dequantized on the fly */
#endif
#define LB (F * sizeof(latent_t)) /* bytes per latent */
#if H > 0
#define IN2 H /* the output layer reads the hidden layer */
#else
#define IN2 F
#endif

static float g_w[C * IN2], g_b[C], g_vw[C * IN2], g_vb[C], g_gw[C * IN2], g_gb[C];
static float g_x[B * F], g_z[B * C], g_dz[B * C], g_score[C];
static uint8_t g_y[B], g_mask[C];
#if H > 0
/* the hidden layer (dense + ReLU) */
static float g_w1[H * F], g_b1[H], g_vw1[H * F], g_vb1[H], g_gw1[H * F], g_gb1[H];
static float g_h[B * H], g_dh[B * H], g_score1[H];
static uint8_t g_mask1[H];
static float g_e_max1;
#define HIDDEN_BYTES                                                                                           \
    (sizeof g_w1 + sizeof g_b1 + sizeof g_vw1 + sizeof g_vb1 + sizeof g_gw1 + sizeof g_gb1 + sizeof g_h +      \
     sizeof g_dh + sizeof g_score1 + sizeof g_mask1)
#else
#define HIDDEN_BYTES 0u
#endif
static latent_t g_cur[TL_REPLAY_CURRENT * F];
static uint8_t g_cur_labels[TL_REPLAY_CURRENT];
static uint16_t g_cur_count;
static latent_t g_buf[TL_REPLAY_BUFFER * F];
static uint8_t g_buf_labels[TL_REPLAY_BUFFER];
static uint16_t g_owner[TL_REPLAY_BUFFER], g_held[TL_REPLAY_MAX_EXPERIENCES], g_slots[TL_REPLAY_BUFFER];
static uint16_t g_order[POOL];
static tl_replay_t g_replay;

static float g_lr, g_momentum, g_decay, g_e_max;
static uint16_t g_epochs;
static uint8_t g_flags;
static uint32_t g_state;
static uint8_t g_out[TL_LINK_MAX_PAYLOAD];

static const tl_tinyprop_params_t k_tinyprop = {0.1f, 0.9f, 0.5f};

#define LEARNER_BYTES                                                                                          \
    (sizeof g_w + sizeof g_b + sizeof g_vw + sizeof g_vb + sizeof g_gw + sizeof g_gb + sizeof g_x + sizeof g_z + \
     sizeof g_dz + sizeof g_score + sizeof g_y + sizeof g_mask + sizeof g_cur + sizeof g_cur_labels +             \
     sizeof g_buf + sizeof g_buf_labels + sizeof g_owner + sizeof g_held + sizeof g_slots + sizeof g_order +     \
     HIDDEN_BYTES)

static float f32_at(const uint8_t *p)
{
    const uint32_t bits = tl_get_u32(p);
    float v;
    memcpy(&v, &bits, 4u);
    return v;
}

static uint32_t xorshift32(uint32_t s)
{
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

static float value_of(latent_t q)
{
#if TL_REPLAY_FLOAT_LATENTS
    return q;
#else
    return (float)((int32_t)q - TL_REPLAY_ZERO_POINT) * TL_REPLAY_SCALE;
#endif
}

static const latent_t *latent_of(uint16_t index)
{
    return index < g_cur_count ? &g_cur[(uint32_t)index * F] : &g_buf[(uint32_t)(index - g_cur_count) * F];
}

static uint8_t label_of(uint16_t index)
{
    return index < g_cur_count ? g_cur_labels[index] : g_buf_labels[index - g_cur_count];
}

/* The frozen stage on the window in the model's input; the latent (the model's output) into `latent`. */
static tl_status_t frozen_stage(latent_t *latent, uint64_t *ticks)
{
    const uint32_t t = tl_measure_begin();
    tl_status_t st = TL_MODEL(invoke)(0);
    *ticks = tl_measure_end(t);
    memcpy(latent, TL_MODEL(output)(), LB);
    return st;
}

static uint8_t handle_info(tl_link_t *link)
{
    uint8_t p[24];
    tl_put_u16(p, F);
    tl_put_u16(p + 2, C);
    tl_put_u16(p + 4, TL_REPLAY_CURRENT);
    tl_put_u16(p + 6, TL_REPLAY_BUFFER);
    tl_put_u16(p + 8, B);
    tl_put_u16(p + 10, 0u);
    tl_put_u32(p + 12, TL_MODEL_INPUT_BYTES);
    tl_put_u32(p + 16, TL_MODEL_HASH);
    tl_put_u32(p + 20, (uint32_t)LEARNER_BYTES);
    (void)tl_link_send(link, MSG_RINFO, p, sizeof p);
    return 0u;
}

static uint8_t handle_param(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 20u) {
        return TL_ERR_BAD_LENGTH;
    }
    g_lr = f32_at(msg->data);
    g_momentum = f32_at(msg->data + 4);
    g_decay = f32_at(msg->data + 8);
    g_epochs = tl_get_u16(msg->data + 12);
    g_flags = msg->data[14];
    g_state = tl_get_u32(msg->data + 16);
    uint8_t status = 0u;
    if (g_epochs == 0u || g_state == 0u) {
        status = (uint8_t)TL_STATUS_BAD_SHAPE;
    } else {
        status = (uint8_t)tl_replay_init(&g_replay, (int8_t *)g_buf, g_buf_labels, g_owner, g_held,
                                         TL_REPLAY_MAX_EXPERIENCES, TL_REPLAY_BUFFER, LB, TL_REPLAY_SEED);
    }
    g_cur_count = 0u;
    g_e_max = 0.0f;
    memset(g_vw, 0, sizeof g_vw);
    memset(g_vb, 0, sizeof g_vb);
#if H > 0
    g_e_max1 = 0.0f;
    memset(g_vw1, 0, sizeof g_vw1);
    memset(g_vb1, 0, sizeof g_vb1);
#endif
    (void)tl_link_send(link, MSG_RPARAM, &status, 1u);
    return 0u;
}

/* The head's tensors by number: 0 output weights, 1 output bias, 4 hidden weights, 5 hidden bias. */
static uint8_t *head_tensor(uint8_t which, uint32_t *size)
{
    switch (which) {
    case 0u:
        *size = sizeof g_w;
        return (uint8_t *)g_w;
    case 1u:
        *size = sizeof g_b;
        return (uint8_t *)g_b;
#if H > 0
    case 4u:
        *size = sizeof g_w1;
        return (uint8_t *)g_w1;
    case 5u:
        *size = sizeof g_b1;
        return (uint8_t *)g_b1;
#endif
    default:
        *size = 0u;
        return NULL;
    }
}

static uint8_t handle_load(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len < 8u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint32_t size = 0u;
    uint8_t *base = head_tensor(msg->data[0], &size);
    const uint32_t offset = tl_get_u32(msg->data + 4), count = msg->len - 8u;
    if (base == NULL || offset > size || count > size - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    memcpy(base + offset, msg->data + 8, count);
    uint8_t ok = 0u;
    (void)tl_link_send(link, MSG_RLOAD, &ok, 1u);
    return 0u;
}

static uint8_t handle_window(tl_link_t *link, const tl_msg_t *msg)
{
    return tl_session_upload(link, msg, TL_MODEL(input)(), TL_MODEL_INPUT_BYTES);
}

static uint8_t handle_add(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 1u && msg->len != 1u + LB) {
        return TL_ERR_BAD_LENGTH;
    }
    if (msg->data[0] >= C || g_cur_count >= TL_REPLAY_CURRENT) {
        return TL_ERR_BAD_ARGUMENT;
    }
    uint64_t ticks = 0u;
    latent_t *slot = &g_cur[(uint32_t)g_cur_count * F];
    if (msg->len == 1u + LB) {
        memcpy(slot, msg->data + 1, LB); /* a latent the frozen stage gave before (RPRED) */
    } else if (frozen_stage(slot, &ticks) != TL_STATUS_OK) {
        return TL_ERR_BAD_ARGUMENT;
    }
    g_cur_labels[g_cur_count++] = msg->data[0];
    uint8_t p[12];
    p[0] = 0u;
    p[1] = 0u;
    tl_put_u16(p + 2, g_cur_count);
    tl_put_u64(p + 4, ticks);
    (void)tl_link_send(link, MSG_RADD, p, sizeof p);
    return 0u;
}

static void zero_unselected(float *delta, uint32_t rows, uint32_t cols, const uint8_t *mask)
{
    for (uint32_t r = 0; r < rows; ++r) {
        for (uint32_t c = 0; c < cols; ++c) {
            if (!mask[c]) {
                delta[r * cols + c] = 0.0f;
            }
        }
    }
}

static uint32_t count_rows(const uint8_t *mask, uint32_t n)
{
    if (mask == NULL) {
        return n;
    }
    uint32_t rows = 0u;
    for (uint32_t o = 0; o < n; ++o) {
        rows += mask[o];
    }
    return rows;
}

/* One epoch over the pool (the current experience, then the buffer when replaying) in an xorshift32
 * Fisher-Yates order, in minibatches of B. */
static tl_status_t train_epoch(uint16_t pool, float *loss_out, uint32_t *steps, uint32_t *rows_updated)
{
    for (uint16_t i = 0; i < pool; ++i) {
        g_order[i] = i;
    }
    for (uint16_t i = (uint16_t)(pool - 1u); i > 0u && pool > 1u; --i) {
        g_state = xorshift32(g_state);
        const uint16_t j = (uint16_t)(g_state % (uint32_t)(i + 1u));
        const uint16_t tmp = g_order[i];
        g_order[i] = g_order[j];
        g_order[j] = tmp;
    }
    float loss_sum = 0.0f;
    uint32_t batches = 0u;
    for (uint16_t s = 0; s < pool; s = (uint16_t)(s + B)) {
        const uint32_t left = (uint32_t)pool - s;
        const uint32_t n = left < B ? left : B;
        for (uint32_t r = 0; r < n; ++r) {
            const latent_t *q = latent_of(g_order[s + r]);
            for (uint32_t k = 0; k < F; ++k) {
                g_x[r * F + k] = value_of(q[k]);
            }
            g_y[r] = label_of(g_order[s + r]);
        }
        float loss = 0.0f;
#if H > 0
        tl_dense_f32_forward(g_x, g_w1, g_b1, n, F, H, g_h);
        for (uint32_t k = 0; k < n * H; ++k) {
            g_h[k] = g_h[k] > 0.0f ? g_h[k] : 0.0f;
        }
        const float *in2 = g_h;
#else
        const float *in2 = g_x;
#endif
        tl_dense_f32_forward(in2, g_w, g_b, n, IN2, C, g_z);
        tl_status_t st = tl_softmax_xent_f32(g_z, g_y, n, C, g_dz, &loss);
        if (st != TL_STATUS_OK) {
            return st;
        }
        const int sparse = (g_flags & 2u) != 0u;
        const uint8_t *mask = NULL;
        if (sparse) {
            (void)tl_tinyprop_select(g_dz, n, C, 0u, &k_tinyprop, &g_e_max, g_score, g_mask);
            zero_unselected(g_dz, n, C, g_mask);
            mask = g_mask;
        }
        tl_dense_f32_weight_grad_masked(in2, g_dz, n, IN2, C, mask, g_gw, g_gb);
#if H > 0
        const uint8_t *mask1 = NULL;
        tl_dense_f32_input_grad(g_dz, g_w, n, H, C, g_dh);
        tl_relu_f32_backward(g_h, g_dh, n * H, g_dh);
        if (sparse) {
            (void)tl_tinyprop_select(g_dh, n, H, 1u, &k_tinyprop, &g_e_max1, g_score1, g_mask1);
            zero_unselected(g_dh, n, H, g_mask1);
            mask1 = g_mask1;
        }
        tl_dense_f32_weight_grad_masked(g_x, g_dh, n, F, H, mask1, g_gw1, g_gb1);
        st = tl_sgd_f32_rows(g_w1, g_gw1, g_vw1, H, F, mask1, g_lr, g_momentum, g_decay, 0);
        if (st == TL_STATUS_OK) {
            st = tl_sgd_f32_rows(g_b1, g_gb1, g_vb1, H, 1u, mask1, g_lr, g_momentum, g_decay, 0);
        }
        if (st != TL_STATUS_OK) {
            return st;
        }
#endif
        st = tl_sgd_f32_rows(g_w, g_gw, g_vw, C, IN2, mask, g_lr, g_momentum, g_decay, 0);
        if (st == TL_STATUS_OK) {
            st = tl_sgd_f32_rows(g_b, g_gb, g_vb, C, 1u, mask, g_lr, g_momentum, g_decay, 0);
        }
        if (st != TL_STATUS_OK) {
            return st; /* nothing written: the weights before this step are kept */
        }
        (void)tl_sgd_f32_rows(g_w, g_gw, g_vw, C, IN2, mask, g_lr, g_momentum, g_decay, 1);
        (void)tl_sgd_f32_rows(g_b, g_gb, g_vb, C, 1u, mask, g_lr, g_momentum, g_decay, 1);
        uint32_t rows = count_rows(mask, C);
#if H > 0
        (void)tl_sgd_f32_rows(g_w1, g_gw1, g_vw1, H, F, mask1, g_lr, g_momentum, g_decay, 1);
        (void)tl_sgd_f32_rows(g_b1, g_gb1, g_vb1, H, 1u, mask1, g_lr, g_momentum, g_decay, 1);
        rows += count_rows(mask1, H);
#endif
        *rows_updated += rows;
        (*steps)++;
        loss_sum += loss;
        batches++;
    }
    *loss_out = batches ? loss_sum / (float)batches : 0.0f;
    return TL_STATUS_OK;
}

static uint8_t handle_train(tl_link_t *link)
{
    const uint32_t rx_before = tl_console_rx_count();
    const uint16_t pool = (uint16_t)(g_cur_count + (((g_flags & 1u) != 0u) ? g_replay.count : 0u));
    uint32_t steps = 0u, rows = 0u;
    float loss = 0.0f;
    tl_status_t st = TL_STATUS_OK;
    uint32_t t = tl_measure_begin();
    for (uint16_t e = 0; e < g_epochs && st == TL_STATUS_OK && pool > 0u; ++e) {
        st = train_epoch(pool, &loss, &steps, &rows);
    }
    const uint64_t train_ticks = tl_measure_end(t);
    uint64_t buffer_ticks = 0u;
    if (st == TL_STATUS_OK) {
        uint16_t written = 0u;
        t = tl_measure_begin();
        st = tl_replay_end_experience(&g_replay, (const int8_t *)g_cur, g_cur_labels, g_cur_count, g_slots, &written);
        buffer_ticks = tl_measure_end(t);
        g_cur_count = 0u;
    }
    const uint32_t disturbances = tl_console_rx_count() - rx_before;
    uint8_t p[36];
    tl_put_u32(p, (uint32_t)st);
    uint32_t bits;
    memcpy(&bits, &loss, 4u);
    tl_put_u32(p + 4, bits);
    tl_put_u32(p + 8, steps);
    tl_put_u32(p + 12, rows);
    tl_put_u16(p + 16, g_replay.count);
    tl_put_u16(p + 18, (uint16_t)(disturbances > 0xFFFFu ? 0xFFFFu : disturbances));
    tl_put_u64(p + 20, train_ticks);
    tl_put_u64(p + 28, buffer_ticks);
    (void)tl_link_send(link, MSG_RTRAIN, p, sizeof p);
    return 0u;
}

static uint8_t handle_predict(tl_link_t *link, const tl_msg_t *msg)
{
    latent_t latent[F];
    uint64_t frozen = 0u;
    if (msg->len == LB) {
        memcpy(latent, msg->data, LB);
    } else if (msg->len != 0u) {
        return TL_ERR_BAD_LENGTH;
    } else if (frozen_stage(latent, &frozen) != TL_STATUS_OK) {
        return TL_ERR_BAD_ARGUMENT;
    }
    const uint32_t t = tl_measure_begin();
    for (uint32_t k = 0; k < F; ++k) {
        g_x[k] = value_of(latent[k]);
    }
#if H > 0
    tl_dense_f32_forward(g_x, g_w1, g_b1, 1u, F, H, g_h);
    for (uint32_t k = 0; k < H; ++k) {
        g_h[k] = g_h[k] > 0.0f ? g_h[k] : 0.0f;
    }
    tl_dense_f32_forward(g_h, g_w, g_b, 1u, H, C, g_z);
#else
    tl_dense_f32_forward(g_x, g_w, g_b, 1u, F, C, g_z);
#endif
    int16_t best = 0;
    for (int16_t c = 1; c < (int16_t)C; ++c) {
        if (g_z[c] > g_z[best]) {
            best = c;
        }
    }
    const uint64_t head = tl_measure_end(t);
    tl_put_u16(g_out, (uint16_t)best);
    tl_put_u16(g_out + 2, 0u);
    tl_put_u64(g_out + 4, frozen);
    tl_put_u64(g_out + 12, head);
    memcpy(g_out + 20, latent, LB);
    (void)tl_link_send(link, MSG_RPRED, g_out, (uint16_t)(20u + LB));
    return 0u;
}

static uint8_t handle_read(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 8u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint8_t what = msg->data[0];
    const uint16_t length = tl_get_u16(msg->data + 2);
    const uint32_t offset = tl_get_u32(msg->data + 4);
    uint32_t size = 0u;
    const uint8_t *base = head_tensor(what, &size);
    if (what == 2u) {
        base = (const uint8_t *)g_buf;
        size = sizeof g_buf;
    } else if (what == 3u) {
        base = g_buf_labels;
        size = sizeof g_buf_labels;
    }
    if (base == NULL || length > TL_LINK_MAX_PAYLOAD || offset > size || length > size - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    (void)tl_link_send(link, MSG_RDATA, base + offset, length);
    return 0u;
}

static uint8_t handle(tl_link_t *link, const tl_msg_t *msg)
{
    switch (msg->type) {
    case MSG_RINFO:
        return handle_info(link);
    case MSG_RPARAM:
        return handle_param(link, msg);
    case MSG_RLOAD:
        return handle_load(link, msg);
    case MSG_WINDOW:
        return handle_window(link, msg);
    case MSG_RADD:
        return handle_add(link, msg);
    case MSG_RTRAIN:
        return handle_train(link);
    case MSG_RPRED:
        return handle_predict(link, msg);
    case MSG_RREAD:
        return handle_read(link, msg);
    default:
        return TL_ERR_UNKNOWN_TYPE;
    }
}

int main(void)
{
    (void)TL_MODEL(init)();
    tl_session_run("replay", handle);
}
