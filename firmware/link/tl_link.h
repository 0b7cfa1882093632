/* Stop-and-wait link endpoint (firmware side) -- see docs/link.md. */
#ifndef TL_LINK_H
#define TL_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tl_frame.h"

#define TL_LINK_OK 0
#define TL_LINK_EBADTYPE (-1)
#define TL_LINK_EBADLEN (-2)

typedef struct {
    void (*write)(void *ctx, const uint8_t *data, size_t len); /* blocking write of raw bytes */
    int (*read_byte)(void *ctx);                               /* next received byte, or -1 if none now */
    uint32_t (*now_ms)(void *ctx);                             /* monotonic milliseconds (wraps) */
    void *ctx;
    uint32_t retransmit_ms;                                    /* e.g. 50 */
} tl_link_io_t;

typedef struct {
    uint8_t type;
    uint16_t len;
    const uint8_t *data;
} tl_msg_t;

typedef struct {
    tl_link_io_t io;
    tl_frame_rx_t rx;
    uint8_t tx_seq;       /* seq of the next (or outstanding) data frame we send */
    uint8_t rx_expected;  /* seq of the next data frame we deliver */
    uint8_t waiting;      /* 1 while a data frame with tx_seq is outstanding */
    uint8_t acked;        /* set when the ACK for the outstanding frame arrived */
    uint8_t inbox_state;  /* TL_LINK_INBOX_* (internal) */
    uint8_t inbox_type;
    uint16_t inbox_len;
    uint8_t inbox[TL_LINK_MAX_PAYLOAD];
    uint8_t tx[TL_LINK_MAX_WIRE];               /* outstanding data frame, kept for retransmission */
    uint8_t ack[TL_LINK_WIRE_SIZE(0u)];
    uint32_t retransmissions;                   /* data frames sent again after a timeout */
    uint32_t duplicates;                        /* duplicate data frames re-acknowledged */
    uint32_t busy_drops;                        /* frames dropped because the inbox was occupied */
    uint32_t ignored;                           /* valid frames ignored (stale seq, unknown type) */
} tl_link_t;

void tl_link_init(tl_link_t *l, const tl_link_io_t *io);

/* Sends one data message and blocks until it is acknowledged, receiving meanwhile. Retries forever.
 * Returns TL_LINK_OK, TL_LINK_EBADTYPE (type not in 0x10..0x7F) or TL_LINK_EBADLEN (len too long, or
 * payload NULL with len > 0). */
int tl_link_send(tl_link_t *l, uint8_t type, const void *payload, uint16_t len);

/* Blocks until a message is delivered. msg->data stays valid until the next recv/try_recv: the inbox
 * slot is held (new data frames are not acknowledged) until then. Returns TL_LINK_OK. */
int tl_link_recv(tl_link_t *l, tl_msg_t *msg);

/* Non-blocking receive: 1 when a message was delivered into `msg`, 0 when none is available yet.
 * Releases the message handed out by the previous recv/try_recv. */
int tl_link_try_recv(tl_link_t *l, tl_msg_t *msg);

/* Processes every byte available now. */
void tl_link_poll(tl_link_t *l);

/* Transmits one data frame once, without waiting for its ACK (fault reports); consumes a seq.
 * Invalid arguments are ignored. */
void tl_link_send_unreliable(tl_link_t *l, uint8_t type, const void *payload, uint16_t len);

#endif /* TL_LINK_H */
