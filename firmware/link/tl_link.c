#include "tl_link.h"

#include <string.h>

#define TL_LINK_INBOX_EMPTY 0u
#define TL_LINK_INBOX_FULL 1u   /* delivered by the link, not yet handed to the application */
#define TL_LINK_INBOX_HELD 2u   /* handed to the application, valid until the next recv */
#define TL_LINK_DEFAULT_RETRANSMIT_MS 50u

void tl_link_init(tl_link_t *l, const tl_link_io_t *io)
{
    memset(l, 0, sizeof *l);
    l->io = *io;
    if (l->io.retransmit_ms == 0u) {
        l->io.retransmit_ms = TL_LINK_DEFAULT_RETRANSMIT_MS;
    }
    tl_frame_rx_init(&l->rx);
}

static void tl_link_send_ack(tl_link_t *l, uint8_t seq)
{
    size_t n = tl_frame_encode((uint8_t)TL_LINK_TYPE_ACK, seq, NULL, 0u, l->ack, sizeof l->ack);
    l->io.write(l->io.ctx, l->ack, n);
}

static void tl_link_on_data(tl_link_t *l, const tl_frame_t *f)
{
    if (f->seq == l->rx_expected) {
        if (l->inbox_state != TL_LINK_INBOX_EMPTY) {
            l->busy_drops++; /* no room: the sender retransmits later */
            return;
        }
        memcpy(l->inbox, f->payload, f->len);
        l->inbox_type = f->type;
        l->inbox_len = f->len;
        l->inbox_state = TL_LINK_INBOX_FULL;
        l->rx_expected++;
        tl_link_send_ack(l, f->seq);
    } else if (f->seq == (uint8_t)(l->rx_expected - 1u)) {
        l->duplicates++;
        tl_link_send_ack(l, f->seq);
    } else {
        l->ignored++;
    }
}

static void tl_link_on_frame(tl_link_t *l, const tl_frame_t *f)
{
    if (f->type == TL_LINK_TYPE_ACK) {
        if (l->waiting && f->seq == l->tx_seq && f->len == 0u) {
            l->acked = 1u;
        } else {
            l->ignored++;
        }
    } else if (f->type >= TL_LINK_TYPE_DATA_MIN && f->type <= TL_LINK_TYPE_DATA_MAX) {
        tl_link_on_data(l, f);
    } else {
        l->ignored++;
    }
}

/* Processes at most one received byte; returns 0 when none was available. */
static int tl_link_step(tl_link_t *l)
{
    tl_frame_t f;
    int c = l->io.read_byte(l->io.ctx);

    if (c < 0) {
        return 0;
    }
    if (tl_frame_rx_push(&l->rx, (uint8_t)c, &f)) {
        tl_link_on_frame(l, &f);
    }
    return 1;
}

void tl_link_poll(tl_link_t *l)
{
    while (tl_link_step(l)) {
    }
}

static int tl_link_check(uint8_t type, const void *payload, uint16_t len)
{
    if (type < TL_LINK_TYPE_DATA_MIN || type > TL_LINK_TYPE_DATA_MAX) {
        return TL_LINK_EBADTYPE;
    }
    if (len > TL_LINK_MAX_PAYLOAD || (len > 0u && payload == NULL)) {
        return TL_LINK_EBADLEN;
    }
    return TL_LINK_OK;
}

int tl_link_send(tl_link_t *l, uint8_t type, const void *payload, uint16_t len)
{
    size_t n;
    uint32_t sent_at;
    int rc = tl_link_check(type, payload, len);

    if (rc != TL_LINK_OK) {
        return rc;
    }
    n = tl_frame_encode(type, l->tx_seq, (const uint8_t *)payload, len, l->tx, sizeof l->tx);
    l->waiting = 1u;
    l->acked = 0u;
    l->io.write(l->io.ctx, l->tx, n);
    sent_at = l->io.now_ms(l->io.ctx);
    while (!l->acked) {
        /* Stop right after the ACK so that bytes behind it wait for the application's next recv. */
        if (tl_link_step(l)) {
            continue;
        }
        if ((uint32_t)(l->io.now_ms(l->io.ctx) - sent_at) >= l->io.retransmit_ms) {
            l->retransmissions++;
            l->io.write(l->io.ctx, l->tx, n);
            sent_at = l->io.now_ms(l->io.ctx);
        }
    }
    l->waiting = 0u;
    l->tx_seq++;
    return TL_LINK_OK;
}

void tl_link_send_unreliable(tl_link_t *l, uint8_t type, const void *payload, uint16_t len)
{
    size_t n;

    if (tl_link_check(type, payload, len) != TL_LINK_OK) {
        return;
    }
    n = tl_frame_encode(type, l->tx_seq, (const uint8_t *)payload, len, l->tx, sizeof l->tx);
    l->io.write(l->io.ctx, l->tx, n);
    l->tx_seq++;
}

int tl_link_try_recv(tl_link_t *l, tl_msg_t *msg)
{
    if (l->inbox_state == TL_LINK_INBOX_HELD) {
        l->inbox_state = TL_LINK_INBOX_EMPTY;
    }
    /* Take bytes one at a time so that a second frame queued behind the first one is not dropped
     * for lack of room before the application had a chance to read the first. */
    while (l->inbox_state == TL_LINK_INBOX_EMPTY && tl_link_step(l)) {
    }
    if (l->inbox_state != TL_LINK_INBOX_FULL) {
        return 0;
    }
    l->inbox_state = TL_LINK_INBOX_HELD;
    msg->type = l->inbox_type;
    msg->len = l->inbox_len;
    msg->data = l->inbox;
    return 1;
}

int tl_link_recv(tl_link_t *l, tl_msg_t *msg)
{
    while (!tl_link_try_recv(l, msg)) {
    }
    return TL_LINK_OK;
}
