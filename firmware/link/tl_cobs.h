/* Consistent overhead byte stuffing: removes every 0x00 from a block of bytes. */
#ifndef TL_COBS_H
#define TL_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound of the encoded size of `n` input bytes (without the 0x00 delimiter). */
#define TL_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Incremental encoder: writes into a caller buffer one input byte at a time. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t pos;      /* bytes written so far (including reserved code bytes) */
    size_t code_pos; /* where the code byte of the open block goes */
    uint8_t code;    /* 1 + number of data bytes in the open block */
    uint8_t open;    /* 1 while a block is open (a code byte is reserved) */
    uint8_t error;   /* 1 once the output buffer was too small */
} tl_cobs_enc_t;

void tl_cobs_enc_begin(tl_cobs_enc_t *enc, uint8_t *out, size_t out_cap);
void tl_cobs_enc_put(tl_cobs_enc_t *enc, const uint8_t *data, size_t len);
/* Closes the encoding; returns the number of bytes written, or 0 if the buffer was too small. */
size_t tl_cobs_enc_end(tl_cobs_enc_t *enc);

/* Encodes `len` bytes. Returns the number of bytes written (at least 1), or 0 when `out_cap` is too
 * small. Does not write the 0x00 frame delimiter. */
size_t tl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* Decodes one COBS block (without its delimiter). Returns the decoded length, or SIZE_MAX when the
 * input is empty, contains a 0x00, has a code reaching past its end, or does not fit in `out_cap`. */
size_t tl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

#endif /* TL_COBS_H */
