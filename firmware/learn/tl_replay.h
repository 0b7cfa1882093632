/*
 * tl_replay.h - the latent-replay buffer (tinyodl/learn/replay.py is its host reference: the same slots
 * are written in the same order).
 *
 * Up to `capacity` latents of `features` bytes each (int8 values, or any fixed-size record such as float32
 * values) and their labels, in the caller's static arrays.
 * After experience i (1, 2, ...), cap / i slots take evenly spaced latents of that experience: free slots
 * first, then, one at a time, a slot of the experience holding the most (ties: the oldest), drawn among
 * its slots by xorshift32, so that the experiences' shares never differ by more than one.
 */
#ifndef TL_REPLAY_H
#define TL_REPLAY_H

#include <stdint.h>

#include "tl_kernels.h"

typedef struct {
    int8_t *latents;  /* [capacity][features] */
    uint8_t *labels;  /* [capacity] */
    uint16_t *owner;  /* [capacity] the experience (0-based) each slot's latent came from */
    uint16_t *held;   /* [max experiences] scratch: slots held per experience */
    uint16_t max_experiences;
    uint16_t capacity;
    uint16_t features;
    uint16_t count;
    uint16_t experiences;
    uint32_t state; /* xorshift32; never 0 */
} tl_replay_t;

tl_status_t tl_replay_init(tl_replay_t *r, int8_t *latents, uint8_t *labels, uint16_t *owner, uint16_t *held,
                           uint16_t max_experiences, uint16_t capacity, uint16_t features, uint32_t seed);

/* Ends an experience of n latents (latents[n][features], labels[n]); writes the slots used into `slots`
 * (capacity entries at most) and their number into *written. */
tl_status_t tl_replay_end_experience(tl_replay_t *r, const int8_t *latents, const uint8_t *labels, uint32_t n,
                                     uint16_t *slots, uint16_t *written);

#endif /* TL_REPLAY_H */
