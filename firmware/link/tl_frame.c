#include "tl_frame.h"

#include "tl_crc32.h"

static uint32_t tl_read_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void tl_frame_rx_init(tl_frame_rx_t *rx)
{
    rx->n = 0u;
    rx->overflow = 0u;
    rx->dropped = 0u;
}

static int tl_frame_rx_complete(tl_frame_rx_t *rx, tl_frame_t *out)
{
    size_t body_len = tl_cobs_decode(rx->buf, rx->n, rx->body, sizeof rx->body);
    size_t crc_at;

    rx->n = 0u;
    if (body_len == SIZE_MAX || body_len < TL_LINK_MIN_BODY) {
        rx->dropped++;
        return 0;
    }
    crc_at = body_len - 4u;
    if (tl_crc32(0u, rx->body, crc_at) != tl_read_u32le(&rx->body[crc_at])) {
        rx->dropped++;
        return 0;
    }
    out->type = rx->body[0];
    out->seq = rx->body[1];
    out->len = (uint16_t)(crc_at - 2u);
    out->payload = &rx->body[2];
    return 1;
}

int tl_frame_rx_push(tl_frame_rx_t *rx, uint8_t byte, tl_frame_t *out)
{
    if (byte == 0u) {
        if (rx->overflow) {
            rx->overflow = 0u;
            return 0;
        }
        if (rx->n == 0u) {
            return 0; /* back-to-back delimiters carry nothing */
        }
        return tl_frame_rx_complete(rx, out);
    }
    if (rx->overflow) {
        return 0;
    }
    if (rx->n >= sizeof rx->buf) {
        rx->n = 0u;
        rx->overflow = 1u;
        rx->dropped++;
        return 0;
    }
    rx->buf[rx->n++] = byte;
    return 0;
}

size_t tl_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, uint8_t *out,
                       size_t cap)
{
    tl_cobs_enc_t enc;
    uint8_t head[2];
    uint8_t tail[4];
    uint32_t crc;
    size_t n;

    if (len > TL_LINK_MAX_PAYLOAD || (len > 0u && payload == NULL) || cap == 0u) {
        return 0u;
    }
    head[0] = type;
    head[1] = seq;
    crc = tl_crc32(0u, head, sizeof head);
    crc = tl_crc32(crc, payload, len);
    tail[0] = (uint8_t)crc;
    tail[1] = (uint8_t)(crc >> 8);
    tail[2] = (uint8_t)(crc >> 16);
    tail[3] = (uint8_t)(crc >> 24);

    tl_cobs_enc_begin(&enc, out, cap - 1u);
    tl_cobs_enc_put(&enc, head, sizeof head);
    tl_cobs_enc_put(&enc, payload, len);
    tl_cobs_enc_put(&enc, tail, sizeof tail);
    n = tl_cobs_enc_end(&enc);
    if (n == 0u) {
        return 0u;
    }
    out[n] = 0u;
    return n + 1u;
}
