/* Host echo peer for the link tests: runs the firmware link over stdin/stdout.
 *
 * Sends HELLO (0x10, "echo"); answers each 0x20 message with 0x21 = the payload reversed followed by
 * the u32 LE CRC-32 of the payload. A payload too long for that (more than 1020 bytes) is answered
 * with 0x22 = the CRC followed by the first 1020 payload bytes reversed. 0x2F is answered with BYE
 * (0x30), after which the program exits 0. Exits 3 when stdin closes.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../firmware/link/tl_crc32.h"
#include "../../firmware/link/tl_link.h"

#define MSG_HELLO 0x10u
#define MSG_ECHO 0x20u
#define MSG_ECHO_REPLY 0x21u
#define MSG_ECHO_LONG_REPLY 0x22u
#define MSG_QUIT 0x2Fu
#define MSG_BYE 0x30u

typedef struct {
    uint8_t buf[4096];
    size_t pos;
    size_t len;
} host_io_t;

static void host_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    while (len > 0u) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                struct pollfd p = {STDOUT_FILENO, POLLOUT, 0};
                (void)poll(&p, 1, 10);
                continue;
            }
            exit(4);
        }
        data += n;
        len -= (size_t)n;
    }
}

static int host_read_byte(void *ctx)
{
    host_io_t *io = (host_io_t *)ctx;
    ssize_t n;

    if (io->pos < io->len) {
        return io->buf[io->pos++];
    }
    n = read(STDIN_FILENO, io->buf, sizeof io->buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        /* Nothing now: wait briefly so that polling loops do not spin a core. */
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        (void)poll(&p, 1, 1);
        n = read(STDIN_FILENO, io->buf, sizeof io->buf);
    }
    if (n == 0) {
        exit(3);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return -1;
        }
        exit(4);
    }
    io->pos = 1u;
    io->len = (size_t)n;
    return io->buf[0];
}

static uint32_t host_now_ms(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static tl_link_t link_state;
static host_io_t io_state;
static uint8_t reply[TL_LINK_MAX_PAYLOAD];

int main(int argc, char **argv)
{
    tl_link_io_t io;
    tl_msg_t msg;
    uint16_t i;

    io.write = host_write;
    io.read_byte = host_read_byte;
    io.now_ms = host_now_ms;
    io.ctx = &io_state;
    io.retransmit_ms = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 50u;
    if (fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK) != 0) {
        return 5;
    }
    tl_link_init(&link_state, &io);
    tl_link_send(&link_state, MSG_HELLO, "echo", 4u);
    for (;;) {
        tl_link_recv(&link_state, &msg);
        if (msg.type == MSG_ECHO) {
            uint32_t crc = tl_crc32(0u, msg.data, msg.len);
            uint16_t n = msg.len;
            if (n <= TL_LINK_MAX_PAYLOAD - 4u) {
                for (i = 0u; i < n; i++) {
                    reply[i] = msg.data[n - 1u - i];
                }
                put_u32le(&reply[n], crc);
                tl_link_send(&link_state, MSG_ECHO_REPLY, reply, (uint16_t)(n + 4u));
            } else {
                put_u32le(reply, crc);
                for (i = 0u; i < TL_LINK_MAX_PAYLOAD - 4u; i++) {
                    reply[4u + i] = msg.data[TL_LINK_MAX_PAYLOAD - 5u - i];
                }
                tl_link_send(&link_state, MSG_ECHO_LONG_REPLY, reply, (uint16_t)TL_LINK_MAX_PAYLOAD);
            }
        } else if (msg.type == MSG_QUIT) {
            tl_link_send(&link_state, MSG_BYE, NULL, 0u);
            fprintf(stderr, "link_echo_host: retransmissions=%lu duplicates=%lu busy_drops=%lu "
                            "ignored=%lu dropped=%lu\n",
                    (unsigned long)link_state.retransmissions, (unsigned long)link_state.duplicates,
                    (unsigned long)link_state.busy_drops, (unsigned long)link_state.ignored,
                    (unsigned long)link_state.rx.dropped);
            return 0;
        }
    }
}
