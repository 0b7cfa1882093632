/*
 * tl_replay.c - the latent-replay buffer (tl_replay.h).
 */
#include <string.h>

#include "tl_replay.h"

static uint32_t xorshift32(uint32_t s)
{
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

tl_status_t tl_replay_init(tl_replay_t *r, int8_t *latents, uint8_t *labels, uint16_t *owner, uint16_t *held,
                           uint16_t max_experiences, uint16_t capacity, uint16_t features, uint32_t seed)
{
    if (r == NULL || latents == NULL || labels == NULL || owner == NULL || held == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (capacity == 0u || features == 0u || seed == 0u || max_experiences == 0u) {
        return TL_STATUS_BAD_SHAPE;
    }
    r->latents = latents;
    r->labels = labels;
    r->owner = owner;
    r->held = held;
    r->max_experiences = max_experiences;
    r->capacity = capacity;
    r->features = features;
    r->count = 0u;
    r->experiences = 0u;
    r->state = seed;
    return TL_STATUS_OK;
}

tl_status_t tl_replay_end_experience(tl_replay_t *r, const int8_t *latents, const uint8_t *labels, uint32_t n,
                                     uint16_t *slots, uint16_t *written)
{
    if (r == NULL || (n != 0u && (latents == NULL || labels == NULL)) || slots == NULL || written == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (r->experiences >= r->max_experiences) {
        return TL_STATUS_BAD_SHAPE;
    }
    r->experiences++;
    const uint16_t current = (uint16_t)(r->experiences - 1u);
    uint32_t k = r->capacity / r->experiences;
    if (k > n) {
        k = n;
    }
    const uint32_t free_slots = (uint32_t)r->capacity - r->count;
    const uint32_t fresh = k < free_slots ? k : free_slots;
    uint32_t used = 0u;
    for (; used < fresh; ++used) {
        slots[used] = (uint16_t)(r->count + used);
    }
    for (; used < k; ++used) {
        memset(r->held, 0, r->experiences * sizeof r->held[0]);
        for (uint16_t i = 0; i < r->count; ++i) {
            r->held[r->owner[i]]++;
        }
        r->held[current] = 0u; /* the slots this experience has taken already stay */
        uint16_t victim = 0u;
        for (uint16_t e = 1u; e < r->experiences; ++e) {
            if (r->held[e] > r->held[victim]) {
                victim = e;
            }
        }
        if (r->held[victim] == 0u) {
            break; /* cannot happen: k <= free slots + stored latents */
        }
        r->state = xorshift32(r->state);
        uint32_t nth = r->state % r->held[victim];
        for (uint16_t i = 0; i < r->count; ++i) {
            if (r->owner[i] == victim && nth-- == 0u) {
                r->owner[i] = current;
                slots[used] = i;
                break;
            }
        }
    }
    for (uint32_t s = 0; s < fresh; ++s) {
        r->owner[slots[s]] = current;
    }
    k = used;
    for (uint32_t s = 0; s < k; ++s) {
        const uint32_t pick = (uint32_t)(((uint64_t)s * n) / k);
        memcpy(r->latents + (uint32_t)slots[s] * r->features, latents + pick * r->features, r->features);
        r->labels[slots[s]] = labels[pick];
    }
    r->count = (uint16_t)(r->count + fresh);
    *written = (uint16_t)k;
    return TL_STATUS_OK;
}
