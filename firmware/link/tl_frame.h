/* Link frames: COBS(type | seq | payload | crc32 LE) 0x00 -- see docs/link.md. */
#ifndef TL_FRAME_H
#define TL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tl_cobs.h"

#define TL_LINK_MAX_PAYLOAD 1024u
#define TL_LINK_TYPE_ACK 0x01u
#define TL_LINK_TYPE_DATA_MIN 0x10u
#define TL_LINK_TYPE_DATA_MAX 0x7Fu

/* Body = type, seq, payload, crc. */
#define TL_LINK_MIN_BODY 6u
#define TL_LINK_MAX_BODY (TL_LINK_MAX_PAYLOAD + TL_LINK_MIN_BODY)
/* Longest COBS-encoded body, and longest frame on the wire (with the delimiter). */
#define TL_LINK_MAX_ENCODED TL_COBS_MAX_ENCODED(TL_LINK_MAX_BODY)
#define TL_LINK_MAX_WIRE (TL_LINK_MAX_ENCODED + 1u)
/* Longest wire size of a frame carrying `len` payload bytes. */
#define TL_LINK_WIRE_SIZE(len) (TL_COBS_MAX_ENCODED((len) + TL_LINK_MIN_BODY) + 1u)

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    const uint8_t *payload; /* points into the receiver's decoded buffer */
} tl_frame_t;

typedef struct {
    uint8_t buf[TL_LINK_MAX_ENCODED];   /* encoded bytes since the last delimiter */
    size_t n;
    uint8_t overflow;                   /* 1 while discarding an overlong run up to the next 0x00 */
    uint8_t body[TL_LINK_MAX_BODY];     /* decoded body of the last complete frame */
    uint32_t dropped;                   /* runs rejected: overlong, bad COBS, bad length, bad CRC */
} tl_frame_rx_t;

void tl_frame_rx_init(tl_frame_rx_t *rx);

/* Feeds one received byte. Returns 1 when it completed a valid frame and fills `out` (its payload
 * stays valid until the next push), 0 otherwise. */
int tl_frame_rx_push(tl_frame_rx_t *rx, uint8_t byte, tl_frame_t *out);

/* Writes the complete wire bytes of one frame (including the trailing 0x00) into `out`. Returns the
 * number of bytes written, or 0 when `len` exceeds TL_LINK_MAX_PAYLOAD or `cap` is too small. */
size_t tl_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, uint8_t *out,
                       size_t cap);

#endif /* TL_FRAME_H */
