/*
 * train - the float32 training primitives (firmware/learn/tl_train.h) over the link: tensors in, one
 * primitive run and measured, tensors out. The host checks each against its numpy reference and reads
 * its instruction count.
 * Messages (docs/apps.md):
 *   TLOAD 0x50 host->fw  u8 slot, u8 0, u16 0, u32 byte offset, data      reply TLOAD: u8 0
 *   TRUN  0x51 host->fw  u8 op, u8 0, u16 batch, u16 in, u16 out, f32 lr, f32 momentum, f32 weight decay
 *                        reply TRUN: i32 status, f32 loss, u16 disturbances, u16 0, u64 ticks
 *   TREAD 0x52 host->fw  u8 slot, u8 0, u16 length, u32 byte offset      reply TDATA 0x53: the bytes
 * Slots (TRAIN_SLOT_BYTES each): 0 x, 1 w, 2 b, 3 dy, 4 first result, 5 second result, 6 velocity,
 * 7 labels (uint8). Ops: 0 dense forward (4 = y), 1 weight gradient (4 = dw, 5 = db), 2 input gradient
 * (4 = dx), 3 ReLU backward (x = y, 4 = dx), 4 softmax cross-entropy (x = logits, 4 = dlogits, the loss
 * in the reply), 5 SGD (w, dy = the gradient, velocity; updated in place).
 */
#include <stdint.h>
#include <string.h>

#include "tl_link.h"
#include "tl_runtime.h"
#include "tl_session.h"
#include "tl_train.h"

#define MSG_TLOAD 0x50u
#define MSG_TRUN 0x51u
#define MSG_TREAD 0x52u
#define MSG_TDATA 0x53u

#define TRAIN_SLOTS 8u
#define TRAIN_SLOT_BYTES 4096u

static float g_slots[TRAIN_SLOTS][TRAIN_SLOT_BYTES / 4u];

static uint8_t handle_load(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len < 8u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint8_t slot = msg->data[0];
    const uint32_t offset = tl_get_u32(msg->data + 4);
    const uint32_t count = msg->len - 8u;
    if (slot >= TRAIN_SLOTS || offset > TRAIN_SLOT_BYTES || count > TRAIN_SLOT_BYTES - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    memcpy((uint8_t *)g_slots[slot] + offset, msg->data + 8, count);
    uint8_t ok = 0u;
    (void)tl_link_send(link, MSG_TLOAD, &ok, 1u);
    return 0u;
}

static float get_f32(const uint8_t *p)
{
    const uint32_t bits = tl_get_u32(p);
    float v;
    memcpy(&v, &bits, 4u);
    return v;
}

static uint8_t handle_run(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 20u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint8_t op = msg->data[0];
    const uint32_t batch = tl_get_u16(msg->data + 2), in = tl_get_u16(msg->data + 4), out = tl_get_u16(msg->data + 6);
    const float lr = get_f32(msg->data + 8), momentum = get_f32(msg->data + 12), decay = get_f32(msg->data + 16);
    const uint32_t cap = TRAIN_SLOT_BYTES / 4u;
    if (op > 5u || batch == 0u || in == 0u || out == 0u || batch * in > cap || batch * out > cap || in * out > cap) {
        return TL_ERR_BAD_ARGUMENT;
    }
    float *x = g_slots[0], *w = g_slots[1], *b = g_slots[2], *dy = g_slots[3], *r0 = g_slots[4], *r1 = g_slots[5];
    float *v = g_slots[6];
    const uint8_t *labels = (const uint8_t *)g_slots[7];
    tl_status_t status = TL_STATUS_OK;
    float loss = 0.0f;
    const uint32_t t = tl_measure_begin();
    switch (op) {
    case 0u:
        tl_dense_f32_forward(x, w, b, batch, in, out, r0);
        break;
    case 1u:
        tl_dense_f32_weight_grad(x, dy, batch, in, out, r0, r1);
        break;
    case 2u:
        tl_dense_f32_input_grad(dy, w, batch, in, out, r0);
        break;
    case 3u:
        tl_relu_f32_backward(x, dy, batch * in, r0);
        break;
    case 4u:
        status = tl_softmax_xent_f32(x, labels, batch, out, r0, &loss);
        break;
    default:
        status = tl_sgd_f32(w, dy, v, in * out, lr, momentum, decay);
        break;
    }
    const uint64_t ticks = tl_measure_end(t);
    uint8_t p[20];
    tl_put_u32(p, (uint32_t)status);
    uint32_t bits;
    memcpy(&bits, &loss, 4u);
    tl_put_u32(p + 4, bits);
    const uint32_t d = tl_measure_disturbances();
    tl_put_u16(p + 8, (uint16_t)(d > 0xFFFFu ? 0xFFFFu : d));
    tl_put_u16(p + 10, 0u);
    tl_put_u64(p + 12, ticks);
    (void)tl_link_send(link, MSG_TRUN, p, sizeof p);
    return 0u;
}

static uint8_t handle_read(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 8u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint8_t slot = msg->data[0];
    const uint16_t length = tl_get_u16(msg->data + 2);
    const uint32_t offset = tl_get_u32(msg->data + 4);
    if (slot >= TRAIN_SLOTS || length > TL_LINK_MAX_PAYLOAD || offset > TRAIN_SLOT_BYTES ||
        length > TRAIN_SLOT_BYTES - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    (void)tl_link_send(link, MSG_TDATA, (const uint8_t *)g_slots[slot] + offset, length);
    return 0u;
}

static uint8_t handle(tl_link_t *link, const tl_msg_t *msg)
{
    switch (msg->type) {
    case MSG_TLOAD:
        return handle_load(link, msg);
    case MSG_TRUN:
        return handle_run(link, msg);
    case MSG_TREAD:
        return handle_read(link, msg);
    default:
        return TL_ERR_UNKNOWN_TYPE;
    }
}

int main(void)
{
    tl_session_run("train", handle);
}
