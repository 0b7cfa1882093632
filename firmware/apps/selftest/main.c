/*
 * selftest - receives vectors over the link, runs small kernels, returns results and tick counts.
 *
 * Messages (docs/apps.md):
 *   LOAD   0x20 host->fw  u8 buffer (0 = a, 1 = b), u8 0, u16 byte offset, bytes
 *   RUN    0x21 host->fw  u8 kernel, u8 0, u16 n, u32 repetitions
 *   RESULT 0x22 fw->host  u8 kernel, u8 0, u16 n, u32 repetitions, u32 value bits, u32 disturbances,
 *                         u64 ticks (disturbances: console bytes received while measuring, see tl_runtime.h)
 * Kernels: 0 dot_f32, 1 dot_i8 reference, 2 dot_i8 SIMD, 3 spin (n iterations of a 2-instruction loop),
 * 4 CRC-32 of the first n bytes of buffer a (checks what LOAD delivered).
 * Test hooks for the runner's failure paths: 0xF0 executes an undefined instruction (UsageFault, reported
 * with a FAULT message), 0xF1 never returns (the runner's timeout).
 */
#include <stdint.h>
#include <string.h>

#include "selftest_kernels.h"
#include "tl_board.h"
#include "tl_core.h"
#include "tl_crc32.h"
#include "tl_link.h"
#include "tl_runtime.h"
#include "tl_session.h"

#define ST_MSG_LOAD 0x20u
#define ST_MSG_RUN 0x21u
#define ST_MSG_RESULT 0x22u
#define ST_BUFFER_BYTES 4096u

enum { ST_DOT_F32 = 0, ST_DOT_I8_REF = 1, ST_DOT_I8_SIMD = 2, ST_SPIN = 3, ST_CRC = 4, ST_FAULT = 0xF0, ST_HANG = 0xF1 };

static union {
    float f[ST_BUFFER_BYTES / 4u];
    int8_t i8[ST_BUFFER_BYTES];
    uint8_t u8[ST_BUFFER_BYTES];
} g_buf[2];

static volatile uint32_t g_sink;

static uint8_t handle_load(const tl_msg_t *msg)
{
    if (msg->len < 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint8_t which = msg->data[0];
    uint32_t offset = tl_get_u16(msg->data + 2);
    uint32_t count = msg->len - 4u;
    if (which > 1u || offset + count > ST_BUFFER_BYTES) {
        return TL_ERR_BAD_ARGUMENT;
    }
    memcpy(&g_buf[which].u8[offset], msg->data + 4, count);
    return 0u;
}

static uint32_t run_once(uint8_t kernel, uint16_t n)
{
    uint32_t bits = 0u;
    switch (kernel) {
    case ST_DOT_F32: {
        float r = st_dot_f32(g_buf[0].f, g_buf[1].f, n);
        memcpy(&bits, &r, sizeof bits);
        break;
    }
    case ST_DOT_I8_REF:
        bits = (uint32_t)st_dot_i8_ref(g_buf[0].i8, g_buf[1].i8, n);
        break;
#if TL_HAS_DSP
    case ST_DOT_I8_SIMD:
        bits = (uint32_t)st_dot_i8_simd(g_buf[0].i8, g_buf[1].i8, n);
        break;
#endif
    case ST_CRC:
        bits = tl_crc32(0u, g_buf[0].u8, n);
        break;
    default:
        st_spin(n);
        break;
    }
    return bits;
}

static uint8_t handle_run(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 8u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint8_t kernel = msg->data[0];
    uint16_t n = tl_get_u16(msg->data + 2);
    uint32_t reps = tl_get_u32(msg->data + 4);
    if (kernel == ST_FAULT) {
        __asm volatile("udf #0");
    }
    if (kernel == ST_HANG) {
        for (;;) {
            tl_wfi();
        }
    }
    uint32_t limit = kernel == ST_DOT_F32 ? ST_BUFFER_BYTES / 4u : ST_BUFFER_BYTES;
    int known = kernel == ST_DOT_F32 || kernel == ST_DOT_I8_REF || kernel == ST_SPIN || kernel == ST_CRC;
#if TL_HAS_DSP
    known = known || kernel == ST_DOT_I8_SIMD;
#endif
    if (!known || reps == 0u || (kernel != ST_SPIN && n > limit)) {
        return TL_ERR_BAD_ARGUMENT;
    }
    uint32_t bits = 0u;
    uint32_t start = tl_measure_begin();
    for (uint32_t r = 0; r < reps; ++r) {
        bits = run_once(kernel, n);
        g_sink = bits;
    }
    uint64_t ticks = tl_measure_end(start);

    uint8_t out[24];
    memset(out, 0, sizeof out);
    out[0] = kernel;
    tl_put_u16(out + 2, n);
    tl_put_u32(out + 4, reps);
    tl_put_u32(out + 8, bits);
    tl_put_u32(out + 12, tl_measure_disturbances());
    tl_put_u64(out + 16, ticks);
    (void)tl_link_send(link, ST_MSG_RESULT, out, sizeof out);
    return 0u;
}

static uint8_t handle(tl_link_t *link, const tl_msg_t *msg)
{
    switch (msg->type) {
    case ST_MSG_LOAD: {
        uint8_t err = handle_load(msg);
        if (err == 0u) {
            uint8_t ok = 0u;
            (void)tl_link_send(link, ST_MSG_LOAD, &ok, 1u); /* LOAD is answered with a one-byte status */
        }
        return err;
    }
    case ST_MSG_RUN:
        return handle_run(link, msg);
    default:
        return TL_ERR_UNKNOWN_TYPE;
    }
}

int main(void)
{
    tl_session_run("selftest", handle);
}
