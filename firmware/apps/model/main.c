/*
 * model - runs a generated model over the link: inputs in, outputs and per-layer counts out.
 *
 * The generated tl_model.h maps TL_MODEL(name) to the model's own prefix (e.g. har_invoke).
 * Messages (docs/apps.md):
 *   INFO   0x30 host->fw  empty                      reply INFO: u32 input bytes, u32 output bytes,
 *                                                    u32 arena bytes, u32 layers, u32 model hash
 *   INPUT  0x31 host->fw  u32 offset, bytes          reply INPUT: u8 status
 *   INVOKE 0x32 host->fw  u8 mode, u8 0, u16 last    mode 0: the whole model, each layer measured;
 *                                                    mode 1: layers 0..last one by one (traces)
 *                                                    reply DONE 0x33: i32 status, u16 layers run,
 *                                                    u16 disturbances (console bytes received meanwhile),
 *                                                    then u64 ticks per layer (mode 0)
 *   READ   0x34 host->fw  u8 what, u8 0, u16 layer,  what 0: the model output, 1: the output of `layer`
 *                         u32 offset, u16 length     reply DATA 0x35: the bytes
 */
#include <stdint.h>
#include <string.h>

#include "tl_link.h"
#include "tl_model.h"
#include "tl_runtime.h"
#include "tl_session.h"

#define MSG_INFO 0x30u
#define MSG_INPUT 0x31u
#define MSG_INVOKE 0x32u
#define MSG_DONE 0x33u
#define MSG_READ 0x34u
#define MSG_DATA 0x35u

#define MAX_TIMED_LAYERS ((TL_LINK_MAX_PAYLOAD - 8u) / 8u)

static uint64_t g_ticks[TL_MODEL_LAYERS];
static uint8_t g_out[TL_LINK_MAX_PAYLOAD];

static uint8_t handle_info(tl_link_t *link)
{
    uint8_t p[20];
    tl_put_u32(p, TL_MODEL_INPUT_BYTES);
    tl_put_u32(p + 4, TL_MODEL_OUTPUT_BYTES);
    tl_put_u32(p + 8, TL_MODEL_ARENA_BYTES);
    tl_put_u32(p + 12, TL_MODEL_LAYERS);
    tl_put_u32(p + 16, TL_MODEL_HASH);
    (void)tl_link_send(link, MSG_INFO, p, sizeof p);
    return 0u;
}

static uint8_t handle_input(tl_link_t *link, const tl_msg_t *msg)
{
    return tl_session_upload(link, msg, TL_MODEL(input)(), TL_MODEL_INPUT_BYTES);
}

static uint8_t handle_invoke(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint8_t mode = msg->data[0];
    uint16_t last = tl_get_u16(msg->data + 2);
    int32_t status = 0;
    uint16_t layers = 0u;
    const uint32_t rx_before = tl_console_rx_count();
    if (mode == 0u) {
        status = (int32_t)TL_MODEL(invoke)(g_ticks);
        layers = TL_MODEL_LAYERS;
    } else if (mode == 1u && last < TL_MODEL_LAYERS) {
        for (uint16_t i = 0; i <= last && status == 0; ++i) {
            status = (int32_t)TL_MODEL(run_layer)(i);
            layers = (uint16_t)(i + 1u);
        }
    } else {
        return TL_ERR_BAD_ARGUMENT;
    }
    tl_put_u32(g_out, (uint32_t)status);
    tl_put_u16(g_out + 4, layers);
    const uint32_t disturbances = tl_console_rx_count() - rx_before;
    tl_put_u16(g_out + 6, (uint16_t)(disturbances > 0xFFFFu ? 0xFFFFu : disturbances));
    uint16_t len = 8u;
    if (mode == 0u) {
        for (uint32_t i = 0; i < TL_MODEL_LAYERS && i < MAX_TIMED_LAYERS; ++i) {
            tl_put_u64(g_out + len, g_ticks[i]);
            len = (uint16_t)(len + 8u);
        }
    }
    (void)tl_link_send(link, MSG_DONE, g_out, len);
    return 0u;
}

static uint8_t handle_read(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 10u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint8_t what = msg->data[0];
    uint16_t layer = tl_get_u16(msg->data + 2);
    uint32_t offset = tl_get_u32(msg->data + 4);
    uint16_t length = tl_get_u16(msg->data + 8);
    const uint8_t *base;
    uint32_t size;
    if (what == 0u) {
        base = TL_MODEL(output)();
        size = TL_MODEL_OUTPUT_BYTES;
    } else if (what == 1u && layer < TL_MODEL_LAYERS) {
        base = TL_MODEL(layer_output)(layer, &size);
    } else {
        return TL_ERR_BAD_ARGUMENT;
    }
    if (length > TL_LINK_MAX_PAYLOAD || offset > size || length > size - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    (void)tl_link_send(link, MSG_DATA, base + offset, length);
    return 0u;
}

static uint8_t handle(tl_link_t *link, const tl_msg_t *msg)
{
    switch (msg->type) {
    case MSG_INFO:
        return handle_info(link);
    case MSG_INPUT:
        return handle_input(link, msg);
    case MSG_INVOKE:
        return handle_invoke(link, msg);
    case MSG_READ:
        return handle_read(link, msg);
    default:
        return TL_ERR_UNKNOWN_TYPE;
    }
}

int main(void)
{
    tl_session_run("model", handle);
}
