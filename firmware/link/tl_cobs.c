#include "tl_cobs.h"

static void tl_cobs_reserve(tl_cobs_enc_t *enc)
{
    if (enc->pos >= enc->cap) {
        enc->error = 1u;
        return;
    }
    enc->code_pos = enc->pos++;
    enc->code = 1u;
    enc->open = 1u;
}

static void tl_cobs_close(tl_cobs_enc_t *enc)
{
    enc->out[enc->code_pos] = enc->code;
    enc->open = 0u;
}

void tl_cobs_enc_begin(tl_cobs_enc_t *enc, uint8_t *out, size_t out_cap)
{
    enc->out = out;
    enc->cap = out_cap;
    enc->pos = 0u;
    enc->code_pos = 0u;
    enc->code = 1u;
    enc->open = 0u;
    enc->error = 0u;
    tl_cobs_reserve(enc);
}

void tl_cobs_enc_put(tl_cobs_enc_t *enc, const uint8_t *data, size_t len)
{
    size_t i;

    for (i = 0; i < len && !enc->error; i++) {
        /* A full block (code 0xFF) implies no zero, so the next block opens lazily: input that
         * ends right after a full block needs no trailing empty block. */
        if (!enc->open) {
            tl_cobs_reserve(enc);
            if (enc->error) {
                break;
            }
        }
        if (data[i] == 0u) {
            tl_cobs_close(enc);
            tl_cobs_reserve(enc);
            continue;
        }
        if (enc->pos >= enc->cap) {
            enc->error = 1u;
            break;
        }
        enc->out[enc->pos++] = data[i];
        enc->code++;
        if (enc->code == 0xFFu) {
            tl_cobs_close(enc);
        }
    }
}

size_t tl_cobs_enc_end(tl_cobs_enc_t *enc)
{
    if (enc->error) {
        return 0u;
    }
    if (enc->open) {
        tl_cobs_close(enc);
    }
    return enc->pos;
}

size_t tl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    tl_cobs_enc_t enc;

    tl_cobs_enc_begin(&enc, out, out_cap);
    tl_cobs_enc_put(&enc, in, len);
    return tl_cobs_enc_end(&enc);
}

size_t tl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i = 0u;
    size_t n = 0u;

    if (len == 0u) {
        return SIZE_MAX;
    }
    while (i < len) {
        uint8_t code = in[i++];
        size_t k;

        if (code == 0u || (size_t)(code - 1u) > len - i || (size_t)(code - 1u) > out_cap - n) {
            return SIZE_MAX;
        }
        for (k = 1u; k < code; k++) {
            uint8_t b = in[i++];
            if (b == 0u) {
                return SIZE_MAX;
            }
            out[n++] = b;
        }
        if (code != 0xFFu && i < len) {
            if (n >= out_cap) {
                return SIZE_MAX;
            }
            out[n++] = 0u;
        }
    }
    return n;
}
