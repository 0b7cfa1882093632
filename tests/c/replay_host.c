/*
 * replay_host.c - the latent-replay buffer on the host, driven by stdin (tests/test_replay_buffer.py plays
 * the same experiences through the numpy reference).
 * stdin: u16 capacity, u16 features, u32 seed, then per experience: u32 n, latents (n x features int8),
 * labels (n uint8). stdout per experience: u16 written, then the slots (u16 each); at the end: u16 count,
 * then every stored latent and label.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tl_replay.h"

static int get(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

int main(void)
{
    uint16_t capacity, features;
    uint32_t seed;
    if (!get(&capacity, 2) || !get(&features, 2) || !get(&seed, 4) || capacity == 0u || features == 0u) {
        return 1;
    }
    int8_t *latents = calloc((size_t)capacity * features, 1);
    uint8_t *labels = calloc(capacity, 1);
    uint16_t *owner = calloc(capacity, 2);
    uint16_t *held = calloc(256, 2);
    uint16_t *slots = calloc(capacity, 2);
    tl_replay_t r;
    if (tl_replay_init(&r, latents, labels, owner, held, 256, capacity, features, seed) != TL_STATUS_OK) {
        return 1;
    }
    uint32_t n;
    while (get(&n, 4)) {
        int8_t *x = calloc((size_t)n * features + 1u, 1);
        uint8_t *y = calloc(n + 1u, 1);
        if (!get(x, (size_t)n * features) || !get(y, n)) {
            return 1;
        }
        uint16_t written = 0;
        if (tl_replay_end_experience(&r, x, y, n, slots, &written) != TL_STATUS_OK) {
            return 1;
        }
        fwrite(&written, 2, 1, stdout);
        fwrite(slots, 2, written, stdout);
        free(x);
        free(y);
    }
    fwrite(&r.count, 2, 1, stdout);
    fwrite(latents, 1, (size_t)r.count * features, stdout);
    fwrite(labels, 1, r.count, stdout);
    free(latents);
    free(labels);
    free(owner);
    free(held);
    free(slots);
    return 0;
}
