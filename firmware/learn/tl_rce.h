/*
 * tl_rce.h - TinyRCE, the on-device incremental learner (tinyodl/learn/tinyrce.py is its host reference;
 * both must make the same decision on every step).
 *
 * Two variants of the same algorithm: tl_rce_s8_* for int8 features (stored as uint8 = x + 128, integer
 * L1 distances; the DSP variant sums four absolute differences per USADA8) and tl_rce_f32_* for float32
 * features (L1 or squared L2, summed in float32 in a fixed order: four partial sums over j mod 4, then
 * (s0 + s1) + (s2 + s3)). No malloc: the caller gives the pool (tl_rce_*_pool_t) as static arrays.
 *
 * A field contains x when d < radius. predict() computes every distance and decides; learn() applies the
 * rules to the distances of the predict() that just ran on the same x (the caller always pairs them).
 */
#ifndef TL_RCE_H
#define TL_RCE_H

#include <stdint.h>

#include "tl_kernels.h"

typedef enum { TL_RCE_IDENTIFIED = 0, TL_RCE_UNCERTAIN = 1, TL_RCE_UNKNOWN = 2 } tl_rce_status_t;
typedef enum {
    TL_RCE_FIRED = 0,
    TL_RCE_COMMITTED = 1,
    TL_RCE_COMMITTED_AFTER_PRUNE = 2,
    TL_RCE_DROPPED = 3
} tl_rce_outcome_t;

#define TL_RCE_AGING 0x01u
#define TL_RCE_PRUNING 0x02u
#define TL_RCE_L2 0x04u /* float32 only: squared L2 instead of L1 */
#define TL_RCE_AGE_MAX 0xFFFFFFFFu
#define TL_RCE_NO_LABEL (-1)
#define TL_RCE_MAX_LABEL 254

typedef struct {
    int16_t label;  /* the answer; for UNKNOWN the nearest prototype's class; -1 with no neuron */
    uint8_t status; /* tl_rce_status_t */
    uint8_t reserved;
    int16_t winner; /* neuron index, -1 with no neuron */
} tl_rce_prediction_t;

/* Parameters (the rules of tinyodl/learn/tinyrce.py RceParams); radii in the variant's distance units. */
typedef struct {
    uint8_t flags;     /* TL_RCE_AGING | TL_RCE_PRUNING | TL_RCE_L2 */
    uint16_t age_step; /* added to every age per learning step (256 = one step) */
    uint32_t age_limit; /* with pruning: neurons older than this are removed (0: never) */
    uint16_t capacity;  /* neurons used, <= the pool's size */
} tl_rce_rules_t;

/* ---- int8 features ---------------------------------------------------------------------------- */
typedef struct {
    uint8_t *protos;   /* [size][features], uint8 = x + 128; rows 4-byte aligned when features % 4 == 0 */
    int32_t *radius;   /* [size] */
    uint32_t *age;     /* [size] */
    uint16_t *hits;    /* [size] */
    uint8_t *label;    /* [size] */
    int32_t *dist;     /* [size] scratch: the last predict()'s distances */
    uint8_t *x;        /* [features] scratch: the last predict()'s input, encoded */
    uint16_t size;     /* neurons the arrays hold */
    uint16_t features;
} tl_rce_s8_pool_t;

typedef struct {
    tl_rce_s8_pool_t pool;
    tl_rce_rules_t rules;
    int32_t r_min, r_max;
    uint16_t count;
} tl_rce_s8_t;

tl_status_t tl_rce_s8_init(tl_rce_s8_t *s, const tl_rce_s8_pool_t *pool, const tl_rce_rules_t *rules,
                           int32_t r_min, int32_t r_max);
tl_status_t tl_rce_s8_predict(tl_rce_s8_t *s, const int8_t *x, tl_rce_prediction_t *out);
tl_status_t tl_rce_s8_learn(tl_rce_s8_t *s, int label, tl_rce_outcome_t *outcome);
int32_t tl_rce_s8_distance_of(const tl_rce_s8_t *s, int16_t neuron);
/* The distance pass alone, from the last encoded x to the first n neurons of the pool (n <= its size):
 * what predict() runs over the neurons in use; the learn application times it over the whole pool. */
void tl_rce_s8_distances(tl_rce_s8_t *s, uint16_t n);
tl_status_t tl_rce_s8_check(const tl_rce_s8_t *s);

/* L1 distances of x (features bytes, uint8) to n prototypes: the plain loop, and USADA8 (features % 4 == 0,
 * 4-byte aligned rows). */
void tl_rce_dist_u8_l1(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features, int32_t *out);
void tl_rce_dist_u8_l1_dsp(const uint8_t *x, const uint8_t *protos, uint32_t n, uint32_t features,
                           int32_t *out);

/* ---- float32 features ------------------------------------------------------------------------- */
typedef struct {
    float *protos;
    float *radius;
    uint32_t *age;
    uint16_t *hits;
    uint8_t *label;
    float *dist;
    float *x;
    uint16_t size;
    uint16_t features;
} tl_rce_f32_pool_t;

typedef struct {
    tl_rce_f32_pool_t pool;
    tl_rce_rules_t rules;
    float r_min, r_max;
    uint16_t count;
} tl_rce_f32_t;

tl_status_t tl_rce_f32_init(tl_rce_f32_t *s, const tl_rce_f32_pool_t *pool, const tl_rce_rules_t *rules,
                            float r_min, float r_max);
tl_status_t tl_rce_f32_predict(tl_rce_f32_t *s, const float *x, tl_rce_prediction_t *out);
tl_status_t tl_rce_f32_learn(tl_rce_f32_t *s, int label, tl_rce_outcome_t *outcome);
float tl_rce_f32_distance_of(const tl_rce_f32_t *s, int16_t neuron);
void tl_rce_f32_distances(tl_rce_f32_t *s, uint16_t n);
tl_status_t tl_rce_f32_check(const tl_rce_f32_t *s);

void tl_rce_dist_f32(const float *x, const float *protos, uint32_t n, uint32_t features, int l2, float *out);

#endif /* TL_RCE_H */
