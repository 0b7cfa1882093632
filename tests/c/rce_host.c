/*
 * rce_host.c - the TinyRCE C learner on the host, driven by a byte stream on stdin (built with ASan and
 * UBSan by tests/test_learn_c.py, which plays the same stream through the numpy reference).
 *
 * stdin: header  u8 int8, u8 flags, u16 features, u16 capacity, u16 age_step, u32 age_limit,
 *                r_min, r_max (int32 or float32)
 *        steps   u8 op (0 predict, 1 predict + learn), i16 label, features (int8 or float32)
 * stdout per step: i16 label, u8 status, u8 outcome (255: none), u16 count, u8 predict status,
 *                  u8 learn status, distance (int32 or float32), u8 check status
 * Any byte sequence is accepted: a short read ends the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_rce.h"

static int get(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

int main(void)
{
    uint8_t int8, flags;
    uint16_t features, capacity, age_step;
    uint32_t age_limit, r_min_bits, r_max_bits;
    if (!get(&int8, 1) || !get(&flags, 1) || !get(&features, 2) || !get(&capacity, 2) || !get(&age_step, 2) ||
        !get(&age_limit, 4) || !get(&r_min_bits, 4) || !get(&r_max_bits, 4)) {
        return 0;
    }
    if (features == 0u || features > 1024u || capacity == 0u || capacity > 512u) {
        return 0;
    }
    tl_rce_rules_t rules = {flags, age_step, age_limit, capacity};
    const size_t elem = int8 ? 1u : 4u;
    void *protos = calloc((size_t)capacity * features, elem);
    void *radius = calloc(capacity, 4u);
    uint32_t *age = calloc(capacity, 4u);
    uint16_t *hits = calloc(capacity, 2u);
    uint8_t *label = calloc(capacity, 1u);
    void *dist = calloc(capacity, 4u);
    void *x = calloc(features, elem);
    void *in = calloc(features, elem);
    tl_rce_s8_t s8;
    tl_rce_f32_t f32;
    tl_status_t st;
    if (int8) {
        tl_rce_s8_pool_t pool = {protos, radius, age, hits, label, dist, x, capacity, features};
        int32_t lo, hi;
        memcpy(&lo, &r_min_bits, 4u);
        memcpy(&hi, &r_max_bits, 4u);
        st = tl_rce_s8_init(&s8, &pool, &rules, lo, hi);
    } else {
        tl_rce_f32_pool_t pool = {protos, radius, age, hits, label, dist, x, capacity, features};
        float lo, hi;
        memcpy(&lo, &r_min_bits, 4u);
        memcpy(&hi, &r_max_bits, 4u);
        st = tl_rce_f32_init(&f32, &pool, &rules, lo, hi);
    }
    if (st != TL_STATUS_OK) {
        printf("init %d\n", (int)st);
        return 0;
    }
    uint8_t op;
    int16_t lab;
    while (get(&op, 1) && get(&lab, 2) && get(in, features * elem)) {
        tl_rce_prediction_t p = {0, 0, 0, 0};
        tl_rce_outcome_t o = TL_RCE_FIRED;
        uint8_t outcome = 255u, learn_status = 0u, check;
        uint16_t count;
        uint32_t dbits;
        if (int8) {
            st = tl_rce_s8_predict(&s8, in, &p);
            int32_t d = tl_rce_s8_distance_of(&s8, p.winner);
            memcpy(&dbits, &d, 4u);
            if (st == TL_STATUS_OK && (op & 1u)) {
                learn_status = (uint8_t)tl_rce_s8_learn(&s8, lab, &o);
                outcome = learn_status ? 255u : (uint8_t)o;
            }
            count = s8.count;
            check = (uint8_t)tl_rce_s8_check(&s8);
        } else {
            st = tl_rce_f32_predict(&f32, in, &p);
            float d = tl_rce_f32_distance_of(&f32, p.winner);
            memcpy(&dbits, &d, 4u);
            if (st == TL_STATUS_OK && (op & 1u)) {
                learn_status = (uint8_t)tl_rce_f32_learn(&f32, lab, &o);
                outcome = learn_status ? 255u : (uint8_t)o;
            }
            count = f32.count;
            check = (uint8_t)tl_rce_f32_check(&f32);
        }
        fwrite(&p.label, 2, 1, stdout);
        fwrite(&p.status, 1, 1, stdout);
        fwrite(&outcome, 1, 1, stdout);
        fwrite(&count, 2, 1, stdout);
        uint8_t ps = (uint8_t)st;
        fwrite(&ps, 1, 1, stdout);
        fwrite(&learn_status, 1, 1, stdout);
        fwrite(&dbits, 4, 1, stdout);
        fwrite(&check, 1, 1, stdout);
    }
    free(protos);
    free(radius);
    free(age);
    free(hits);
    free(label);
    free(dist);
    free(x);
    free(in);
    return 0;
}
