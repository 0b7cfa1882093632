/*
 * tl_session.h - the messages every application shares (docs/apps.md), over the framed link.
 *
 * An application calls tl_session_run() with its name and a handler for its own message types.
 * The session sends HELLO, hands each message to the handler, answers END with STATS and halts.
 */
#ifndef TL_SESSION_H
#define TL_SESSION_H

#include <stdint.h>

#include "tl_link.h"

#define TL_PROTOCOL_VERSION 1u

#define TL_MSG_HELLO 0x10u
#define TL_MSG_END 0x11u
#define TL_MSG_STATS 0x12u
#define TL_MSG_FAULT 0x13u
#define TL_MSG_ERROR 0x15u

#define TL_ERR_UNKNOWN_TYPE 1u
#define TL_ERR_BAD_LENGTH 2u
#define TL_ERR_BAD_ARGUMENT 3u

/* Returns 0 when the message was handled (the handler sent its reply), or a TL_ERR_* code. */
typedef uint8_t (*tl_app_handler_t)(tl_link_t *link, const tl_msg_t *msg);

void tl_session_run(const char *app_name, tl_app_handler_t handler) __attribute__((noreturn));

/* An upload into dst[0..size): the message is a u32 byte offset, then the data. Copies it and replies with
 * the message's own type and one status byte 0; returns TL_ERR_BAD_LENGTH / TL_ERR_BAD_ARGUMENT (nothing
 * copied) when the header is missing or the data would not fit. */
uint8_t tl_session_upload(tl_link_t *link, const tl_msg_t *msg, uint8_t *dst, uint32_t size);

/* Little-endian helpers for payloads (unaligned-safe). */
static inline uint16_t tl_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tl_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void tl_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tl_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline void tl_put_u64(uint8_t *p, uint64_t v)
{
    tl_put_u32(p, (uint32_t)v);
    tl_put_u32(p + 4, (uint32_t)(v >> 32));
}

#endif /* TL_SESSION_H */
