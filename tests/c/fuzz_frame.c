/* Fuzz target for the link receive path: the frame receiver, COBS, and the link endpoint.
 *
 * Input: byte 0 selects what the endpoint does with delivered messages (bit 0: echo them back with
 * tl_link_send, bit 1: report them with tl_link_send_unreliable, bits 2+3: poll everything else while
 * the first one is held); the remaining bytes are what the endpoint receives. The frame receiver and the COBS decoder also get the whole input. Any broken
 * invariant calls abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../firmware/link/tl_cobs.h"
#include "../../firmware/link/tl_frame.h"
#include "../../firmware/link/tl_link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_SENDS 4u

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* The endpoint's peer: supplies the input, then (if a send waits) the ACK it needs; checks every
 * frame the endpoint writes. */
typedef struct {
    const uint8_t *in;
    size_t size;
    size_t pos;
    uint8_t ack[1u + TL_LINK_WIRE_SIZE(0u)];
    size_t ack_len;
    size_t ack_pos;
    uint32_t now;
    tl_frame_rx_t seen;
    const tl_link_t *link;
    int sending;              /* a data frame may be written now (2: it needs an ACK): */
    uint8_t send_type;        /* ... with this type, */
    const uint8_t *send_data; /* ... payload */
    uint16_t send_len;
} fuzz_peer_t;

static tl_frame_rx_t rx_main;
static tl_frame_rx_t rx_check;
static tl_link_t link_under_test;
static fuzz_peer_t peer;
static uint8_t wire[TL_LINK_MAX_WIRE];
static uint8_t cobs_buf[2u * TL_LINK_MAX_WIRE];
static uint8_t cobs_again[TL_COBS_MAX_ENCODED(sizeof cobs_buf)];
static uint8_t cobs_check[sizeof cobs_buf];
static uint8_t echo_copy[TL_LINK_MAX_PAYLOAD];

static void check_written_frame(fuzz_peer_t *p, const tl_frame_t *f)
{
    if (f->type == TL_LINK_TYPE_ACK) {
        /* Only the last delivered seq is ever acknowledged (new delivery or duplicate). */
        CHECK(f->len == 0u);
        CHECK(f->seq == (uint8_t)(p->link->rx_expected - 1u));
        return;
    }
    CHECK(p->sending);
    CHECK(f->type == p->send_type && f->len == p->send_len && f->seq == p->link->tx_seq);
    CHECK(f->len == 0u || memcmp(f->payload, p->send_data, f->len) == 0);
    if (p->sending == 2 && p->ack_len == 0u) {
        size_t n = tl_frame_encode((uint8_t)TL_LINK_TYPE_ACK, f->seq, NULL, 0u, &p->ack[1], sizeof p->ack - 1u);
        CHECK(n > 0u);
        p->ack[0] = 0u; /* resynchronises after whatever partial frame the input ended with */
        p->ack_len = n + 1u;
        p->ack_pos = 0u;
    }
}

static void peer_write(void *ctx, const uint8_t *data, size_t len)
{
    fuzz_peer_t *p = (fuzz_peer_t *)ctx;
    size_t i;
    tl_frame_t f;
    uint32_t dropped = p->seen.dropped;

    CHECK(len > 0u && data[len - 1u] == 0u);
    for (i = 0; i < len; i++) {
        if (tl_frame_rx_push(&p->seen, data[i], &f)) {
            CHECK(i == len - 1u);
            check_written_frame(p, &f);
        }
    }
    CHECK(p->seen.dropped == dropped && p->seen.n == 0u);
}

static int peer_read_byte(void *ctx)
{
    fuzz_peer_t *p = (fuzz_peer_t *)ctx;

    if (p->pos < p->size) {
        return p->in[p->pos++];
    }
    if (p->ack_pos < p->ack_len) {
        int c = p->ack[p->ack_pos++];
        if (p->ack_pos == p->ack_len) {
            p->ack_len = 0u;
            p->ack_pos = 0u;
        }
        return c;
    }
    return -1;
}

static uint32_t peer_now_ms(void *ctx)
{
    fuzz_peer_t *p = (fuzz_peer_t *)ctx;
    return p->now++;
}

/* A frame accepted by the receiver must re-encode into bytes that decode to the same frame. */
static void check_reencode(const tl_frame_t *f)
{
    tl_frame_t again;
    size_t n;
    size_t i;
    int got = 0;

    CHECK(f->len <= TL_LINK_MAX_PAYLOAD);
    n = tl_frame_encode(f->type, f->seq, f->payload, f->len, wire, sizeof wire);
    CHECK(n > 0u && n <= TL_LINK_MAX_WIRE && wire[n - 1u] == 0u);
    CHECK(memchr(wire, 0, n - 1u) == NULL);
    tl_frame_rx_init(&rx_check);
    for (i = 0; i < n; i++) {
        got += tl_frame_rx_push(&rx_check, wire[i], &again);
    }
    CHECK(got == 1);
    CHECK(again.type == f->type && again.seq == f->seq && again.len == f->len);
    CHECK(f->len == 0u || memcmp(again.payload, f->payload, f->len) == 0);
}

static void fuzz_frame_rx(const uint8_t *data, size_t size)
{
    tl_frame_t f;
    size_t i;

    tl_frame_rx_init(&rx_main);
    for (i = 0; i < size; i++) {
        if (tl_frame_rx_push(&rx_main, data[i], &f)) {
            CHECK(data[i] == 0u);
            check_reencode(&f);
        }
        CHECK(rx_main.n <= sizeof rx_main.buf);
    }
}

static void fuzz_cobs(const uint8_t *data, size_t size)
{
    size_t n = tl_cobs_decode(data, size, cobs_buf, sizeof cobs_buf);
    size_t m;

    if (n == SIZE_MAX) {
        return;
    }
    CHECK(n < size);
    m = tl_cobs_encode(cobs_buf, n, cobs_again, sizeof cobs_again);
    CHECK(m > 0u && m <= TL_COBS_MAX_ENCODED(n) && memchr(cobs_again, 0, m) == NULL);
    CHECK(tl_cobs_decode(cobs_again, m, cobs_check, sizeof cobs_check) == n);
    CHECK(n == 0u || memcmp(cobs_check, cobs_buf, n) == 0);
}

static void fuzz_link(const uint8_t *data, size_t size)
{
    tl_link_io_t io;
    tl_msg_t msg;
    uint8_t mode = size > 0u ? data[0] : 0u;
    uint32_t delivered = 0u;
    unsigned sends = 0u;

    memset(&peer, 0, sizeof peer);
    peer.in = size > 0u ? data + 1 : data;
    peer.size = size > 0u ? size - 1u : 0u;
    peer.now = 0xFFFFFFF0u; /* crosses the wrap of the millisecond clock */
    peer.link = &link_under_test;
    tl_frame_rx_init(&peer.seen);
    io.write = peer_write;
    io.read_byte = peer_read_byte;
    io.now_ms = peer_now_ms;
    io.ctx = &peer;
    io.retransmit_ms = 5u;
    tl_link_init(&link_under_test, &io);

    CHECK(tl_link_send(&link_under_test, 0x0Fu, NULL, 0u) == TL_LINK_EBADTYPE);
    CHECK(tl_link_send(&link_under_test, 0x80u, NULL, 0u) == TL_LINK_EBADTYPE);
    CHECK(tl_link_send(&link_under_test, 0x10u, NULL, TL_LINK_MAX_PAYLOAD + 1u) == TL_LINK_EBADLEN);

    while (tl_link_try_recv(&link_under_test, &msg)) {
        delivered++;
        CHECK(msg.type >= TL_LINK_TYPE_DATA_MIN && msg.type <= TL_LINK_TYPE_DATA_MAX);
        CHECK(msg.len <= TL_LINK_MAX_PAYLOAD && msg.data != NULL);
        CHECK(link_under_test.rx_expected == (uint8_t)delivered);
        if (delivered == 1u && (mode & 0x0Cu) == 0x0Cu) {
            /* Everything else arrives while the first message is held: no more deliveries. */
            tl_link_poll(&link_under_test);
            CHECK(link_under_test.rx_expected == (uint8_t)delivered);
        }
        if (sends >= FUZZ_MAX_SENDS || (mode & 3u) == 0u) {
            continue;
        }
        sends++;
        peer.sending = (mode & 1u) ? 2 : 1;
        peer.send_type = msg.type;
        peer.send_len = msg.len;
        if (mode & 1u) {
            /* Echo straight from the held inbox slot: it must stay intact during the send. */
            memcpy(echo_copy, msg.data, msg.len);
            peer.send_data = echo_copy;
            CHECK(tl_link_send(&link_under_test, msg.type, msg.data, msg.len) == TL_LINK_OK);
            CHECK(memcmp(msg.data, echo_copy, msg.len) == 0);
        } else {
            peer.send_data = msg.data;
            tl_link_send_unreliable(&link_under_test, msg.type, msg.data, msg.len);
        }
        peer.sending = 0;
        CHECK(link_under_test.tx_seq == (uint8_t)sends);
    }
    CHECK(peer.pos == peer.size);
    CHECK(link_under_test.rx_expected == (uint8_t)delivered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_frame_rx(data, size);
    fuzz_cobs(data, size);
    fuzz_link(data, size);
    return 0;
}
