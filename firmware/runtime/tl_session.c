/*
 * tl_session.c - HELLO, message dispatch, END -> STATS, fault reports.
 */
#include <stdint.h>
#include <string.h>

#include "tl_board.h"
#include "tl_core.h"
#include "tl_link.h"
#include "tl_runtime.h"
#include "tl_session.h"

static tl_link_t g_link;
static int g_link_ready;

static void io_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    tl_console_write(data, len);
}

static int io_read_byte(void *ctx)
{
    (void)ctx;
    int byte = tl_console_read_byte();
    if (byte < 0) {
        /* Nothing received: sleep until an interrupt (a byte, or the 1 ms tick). PRIMASK is set around the
         * check so a byte that arrives in between still wakes the WFI. Idling here also lets a simulator
         * serve its host side: QEMU's STM32L4 USART only takes the next byte when its main loop runs. */
        tl_irq_disable_all();
        byte = tl_console_read_byte();
        if (byte < 0) {
            tl_wfi();
        }
        tl_irq_enable_all();
        if (byte < 0) {
            byte = tl_console_read_byte();
        }
    }
    return byte;
}

static uint32_t io_now_ms(void *ctx)
{
    (void)ctx;
    return tl_timer_ms();
}

static void send_error(uint8_t type, uint8_t code)
{
    uint8_t payload[2] = {type, code};
    (void)tl_link_send(&g_link, TL_MSG_ERROR, payload, sizeof payload);
}

static void send_hello(const char *app_name)
{
    uint8_t payload[96];
    memset(payload, 0, sizeof payload);
    payload[0] = TL_PROTOCOL_VERSION;
    payload[1] = (uint8_t)tl_timer_source();
    payload[2] = TL_TARGET_IS_TWIN;
    tl_put_u32(payload + 4, tl_timer_hz());
    tl_put_u32(payload + 8, tl_stack_size());
    size_t n = 12;
    size_t app_len = strlen(app_name);
    size_t board_len = strlen(TL_BOARD_NAME);
    if (n + app_len + 1 + board_len + 1 <= sizeof payload) {
        memcpy(payload + n, app_name, app_len + 1);
        n += app_len + 1;
        memcpy(payload + n, TL_BOARD_NAME, board_len + 1);
        n += board_len + 1;
    }
    (void)tl_link_send(&g_link, TL_MSG_HELLO, payload, (uint16_t)n);
}

static void send_stats(void)
{
    uint8_t payload[20];
    tl_put_u32(payload, tl_stack_peak());
    tl_put_u32(payload + 4, tl_stack_size());
    tl_put_u32(payload + 8, tl_console_rx_overflows());
    tl_put_u32(payload + 12, tl_timer_ms());
    tl_put_u32(payload + 16, 0u);
    (void)tl_link_send(&g_link, TL_MSG_STATS, payload, sizeof payload);
}

void tl_session_run(const char *app_name, tl_app_handler_t handler)
{
    static const tl_link_io_t io = {
        .write = io_write,
        .read_byte = io_read_byte,
        .now_ms = io_now_ms,
        .ctx = 0,
        .retransmit_ms = 50u,
    };
    tl_timer_init();
    tl_console_init();
    tl_irq_enable_all();
    tl_link_init(&g_link, &io);
    g_link_ready = 1;
    send_hello(app_name);
    for (;;) {
        tl_msg_t msg;
        (void)tl_link_recv(&g_link, &msg);
        if (msg.type == TL_MSG_END) {
            send_stats();
            tl_halt(0);
        }
        uint8_t err = handler(&g_link, &msg);
        if (err != 0u) {
            send_error(msg.type, err);
        }
    }
}

uint8_t tl_session_upload(tl_link_t *link, const tl_msg_t *msg, uint8_t *dst, uint32_t size)
{
    if (msg->len < 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint32_t offset = tl_get_u32(msg->data);
    const uint32_t count = msg->len - 4u;
    if (offset > size || count > size - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    memcpy(dst + offset, msg->data + 4, count);
    const uint8_t ok = 0u;
    (void)tl_link_send(link, msg->type, &ok, 1u);
    return 0u;
}

void tl_on_fault(const tl_fault_info_t *info)
{
    if (!g_link_ready) {
        return;
    }
    uint8_t payload[32];
    const uint32_t words[8] = {info->kind, info->pc,    info->lr,    info->xpsr,
                               info->cfsr, info->hfsr, info->mmfar, info->bfar};
    for (int i = 0; i < 8; ++i) {
        tl_put_u32(payload + 4 * i, words[i]);
    }
    tl_link_send_unreliable(&g_link, TL_MSG_FAULT, payload, sizeof payload);
}
