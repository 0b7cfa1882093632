/* Seeded random driver for fuzz_frame.c, for compilers without libFuzzer.
 *
 * usage: fuzz_driver SEED ITERATIONS
 * Each input is a mode byte followed by a run of valid frames (consecutive sequence numbers, with
 * repeats and gaps) and a few frames whose body length is just out of range, then mutated: bit flips, truncation, zero or random byte insertion, deletion,
 * duplication of a range, and random bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../firmware/link/tl_cobs.h"
#include "../../firmware/link/tl_crc32.h"
#include "../../firmware/link/tl_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 8192u

static uint64_t rng_state;
static uint8_t input[MAX_INPUT];
static uint8_t payload[TL_LINK_MAX_PAYLOAD];
static uint8_t scratch[MAX_INPUT];
static uint8_t body[TL_LINK_MAX_BODY + 8u];

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t below(size_t n)
{
    return n == 0u ? 0u : (size_t)(rnd() % n);
}

static uint16_t pick_len(void)
{
    switch (below(32u)) {
    case 0:
        return (uint16_t)TL_LINK_MAX_PAYLOAD;
    case 1:
    case 2:
        return (uint16_t)below(TL_LINK_MAX_PAYLOAD + 1u);
    case 3:
    case 4:
        return (uint16_t)(250u + below(10u)); /* around the 254-byte COBS block */
    default:
        return (uint16_t)below(48u);
    }
}

static uint8_t pick_type(void)
{
    switch (below(10u)) {
    case 0:
        return (uint8_t)TL_LINK_TYPE_ACK;
    case 1:
        return (uint8_t)rnd();
    default:
        return (uint8_t)(TL_LINK_TYPE_DATA_MIN + below(TL_LINK_TYPE_DATA_MAX - TL_LINK_TYPE_DATA_MIN + 1u));
    }
}

/* A frame whose body has a valid CRC but a length just outside 6..1030 bytes. */
static size_t build_bad_length(size_t n)
{
    size_t len = below(2u) ? below(2u) : TL_LINK_MAX_BODY - 4u + 1u + below(4u);
    uint32_t crc;
    size_t k;
    size_t w;

    for (k = 0; k < len; k++) {
        body[k] = (uint8_t)rnd();
    }
    crc = tl_crc32(0u, body, len);
    for (k = 0; k < 4u; k++) {
        body[len + k] = (uint8_t)(crc >> (8u * k));
    }
    w = tl_cobs_encode(body, len + 4u, input + n, MAX_INPUT - n - 1u);
    if (w == 0u) {
        return n;
    }
    input[n + w] = 0u;
    return n + w + 1u;
}

static size_t build_frames(size_t n)
{
    size_t frames = 1u + below(8u);
    uint8_t seq = 0u;
    size_t i;
    size_t k;

    for (i = 0; i < frames; i++) {
        uint16_t len = pick_len();
        int zeros = below(3u) == 0u;
        size_t w;

        for (k = 0; k < len; k++) {
            payload[k] = (zeros && below(4u) == 0u) ? 0u : (uint8_t)rnd();
        }
        if (below(16u) == 0u) {
            n = build_bad_length(n);
            continue;
        }
        w = tl_frame_encode(pick_type(), seq, payload, len, input + n, MAX_INPUT - n);
        if (w == 0u) {
            break;
        }
        n += w;
        switch (below(8u)) {
        case 0:
            break; /* repeat: a duplicate */
        case 1:
            seq = (uint8_t)rnd();
            break;
        default:
            seq++;
        }
    }
    return n;
}

static size_t mutate(size_t n)
{
    size_t at = below(n + 1u);
    size_t len;
    size_t k;

    switch (below(7u)) {
    case 0: /* bit flips */
        for (k = 1u + below(4u); k > 0u && n > 0u; k--) {
            input[below(n)] ^= (uint8_t)(1u << below(8u));
        }
        return n;
    case 1: /* truncation */
        return at;
    case 2: /* zero insertion */
    case 3: /* random byte insertion */
        if (n >= MAX_INPUT) {
            return n;
        }
        memmove(input + at + 1u, input + at, n - at);
        input[at] = below(7u) == 2u ? 0u : (uint8_t)rnd();
        return n + 1u;
    case 4: /* deletion of a range */
        len = below(n - at + 1u);
        memmove(input + at, input + at + len, n - at - len);
        return n - len;
    case 5: /* duplication of a range (concatenation of frames or of pieces) */
        len = below(n - at + 1u);
        if (n + len > MAX_INPUT) {
            return n;
        }
        memcpy(scratch, input + at, len);
        memmove(input + at + len, input + at, n - at);
        memcpy(input + at, scratch, len);
        return n + len;
    default: /* random bytes overwrite a range */
        len = below(n - at + 1u);
        for (k = 0; k < len && k < 64u; k++) {
            input[at + k] = (uint8_t)rnd();
        }
        return n;
    }
}

int main(int argc, char **argv)
{
    unsigned long long seed;
    unsigned long iterations;
    unsigned long it;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SEED ITERATIONS\n", argv[0]);
        return 2;
    }
    seed = strtoull(argv[1], NULL, 0);
    iterations = strtoul(argv[2], NULL, 0);
    rng_state = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1u;
    for (it = 0; it < iterations; it++) {
        size_t n;
        size_t m;

        input[0] = (uint8_t)rnd(); /* mode byte */
        n = build_frames(1u);
        if (below(2u) == 0u) {
            for (m = 1u + below(3u); m > 0u; m--) {
                n = mutate(n);
            }
        }
        if (below(256u) == 0u) {
            n = 1u + below(MAX_INPUT - 1u);
            for (m = 1u; m < n; m++) {
                input[m] = (uint8_t)rnd();
            }
        }
        LLVMFuzzerTestOneInput(input, n);
    }
    printf("fuzz_driver: %lu iterations, seed %llu\n", iterations, seed);
    return 0;
}
