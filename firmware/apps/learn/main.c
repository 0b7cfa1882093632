/*
 * learn - the frozen feature extractor plus TinyRCE, learning on the device over the link.
 *
 * Generated: the model (tl_model.h: layers 0..TL_LEARN_FEATURE_LAYER are the extractor, the layers after
 * it, if any, the pretrained head) and tl_learn_cfg.h (feature count and type, the pool's size).
 * Messages (docs/apps.md):
 *   LINFO  0x40 host->fw  empty                reply LINFO: u16 features, u16 pool size, u8 int8 features,
 *                                              u8 head classes, u16 feature layer, u32 input bytes,
 *                                              u32 model hash, u32 learner RAM bytes, u16 layers, u16 0
 *   LINIT  0x41 host->fw  u8 flags, u8 0, u16 age step, u32 age limit, u16 capacity, u16 0,
 *                         r_min, r_max (int32, or float32 bits)          reply LINIT: u8 status
 *                         (forgets every neuron)
 *   WINDOW 0x42 host->fw  u32 offset, bytes of the input window          reply WINDOW: u8 0
 *   STEP   0x43 host->fw  u8 source (0: the window, 1: features follow), u8 flags (1: learn, 2: send the
 *                         features back), i16 label (-1: none), [features]
 *                         reply STEP: u8 0, u8 status, i16 label, i16 head label (-1: head not run),
 *                         u8 outcome (255: no learning), u8 0, u16 neurons, u16 disturbances,
 *                         u32 distance (int32 or float32 bits), u64 ticks: extract, predict, learn, head;
 *                         [features]
 *   EXPORT 0x44 host->fw  u32 offset, u16 length                         reply DATA 0x45: state bytes
 *   IMPORT 0x46 host->fw  u32 offset, bytes (offset 0 first: the header) reply IMPORT: u8 0
 *   ADOPT  0x47 host->fw  u32 total length        reply ADOPT: u8 status (0: the imported state is in use;
 *                                                 else the learner is empty)
 *   CHECK  0x48 host->fw  empty                                          reply CHECK: u8 status
 *   DPASS  0x49 host->fw  u16 repetitions    reply DPASS: u16 neurons, u16 features, u16 disturbances, u16 0,
 *                                            u64 ticks of that many distance passes over the whole pool
 * The head runs only when the learner answers UNKNOWN: that is the pretrained fallback.
 * A bad label, window or feature gets ERROR (bad argument) and changes nothing.
 */
#include <stdint.h>
#include <string.h>

#include "tl_learn_cfg.h"
#include "tl_link.h"
#include "tl_model.h"
#include "tl_rce.h"
#include "tl_runtime.h"
#include "tl_session.h"

#define MSG_LINFO 0x40u
#define MSG_LINIT 0x41u
#define MSG_WINDOW 0x42u
#define MSG_STEP 0x43u
#define MSG_EXPORT 0x44u
#define MSG_DATA 0x45u
#define MSG_IMPORT 0x46u
#define MSG_ADOPT 0x47u
#define MSG_CHECK 0x48u
#define MSG_DPASS 0x49u

#define STATE_MAGIC 0x31454352u /* "RCE1" */
#define STATE_HEADER 16u

#if TL_LEARN_INT8
typedef int8_t feature_t;
typedef uint8_t proto_t;
typedef int32_t dist_t;
typedef tl_rce_s8_t learner_t;
typedef tl_rce_s8_pool_t learner_pool_t;
#define RCE_CALL(name) tl_rce_s8_##name
#else
typedef float feature_t;
typedef float proto_t;
typedef float dist_t;
typedef tl_rce_f32_t learner_t;
typedef tl_rce_f32_pool_t learner_pool_t;
#define RCE_CALL(name) tl_rce_f32_##name
#endif

#define POOL TL_LEARN_POOL
#define FEATURES TL_LEARN_FEATURES

static proto_t g_protos[POOL * FEATURES] __attribute__((aligned(4)));
static dist_t g_radius[POOL];
static uint32_t g_age[POOL];
static uint16_t g_hits[POOL];
static uint8_t g_label[POOL];
static dist_t g_dist[POOL];
static proto_t g_x[FEATURES] __attribute__((aligned(4)));
static feature_t g_features[FEATURES];

static learner_t g_rce;
static uint8_t g_out[TL_LINK_MAX_PAYLOAD];
static uint16_t g_import_count;

#define LEARNER_BYTES                                                                                          \
    (sizeof g_protos + sizeof g_radius + sizeof g_age + sizeof g_hits + sizeof g_label + sizeof g_dist +       \
     sizeof g_x + sizeof g_features + sizeof g_rce)

static const learner_pool_t k_pool = {g_protos, g_radius, g_age, g_hits, g_label, g_dist, g_x, POOL, FEATURES};

static uint32_t bits_of(dist_t d)
{
    uint32_t b;
    memcpy(&b, &d, 4u);
    return b;
}

static dist_t dist_of(uint32_t b)
{
    dist_t d;
    memcpy(&d, &b, 4u);
    return d;
}

static int finite_f32(const uint8_t *p, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        float v;
        memcpy(&v, p + 4u * i, 4u);
        if (!(v - v == 0.0f)) {
            return 0;
        }
    }
    return 1;
}

static uint8_t reset_learner(const tl_rce_rules_t *rules, dist_t r_min, dist_t r_max)
{
    return (uint8_t)RCE_CALL(init)(&g_rce, &k_pool, rules, r_min, r_max);
}

static uint8_t handle_info(tl_link_t *link)
{
    uint8_t p[24];
    tl_put_u16(p, FEATURES);
    tl_put_u16(p + 2, POOL);
    p[4] = TL_LEARN_INT8;
    p[5] = TL_LEARN_HEAD_CLASSES;
    tl_put_u16(p + 6, TL_LEARN_FEATURE_LAYER);
    tl_put_u32(p + 8, TL_MODEL_INPUT_BYTES);
    tl_put_u32(p + 12, TL_MODEL_HASH);
    tl_put_u32(p + 16, (uint32_t)LEARNER_BYTES);
    tl_put_u16(p + 20, TL_MODEL_LAYERS);
    tl_put_u16(p + 22, 0u);
    (void)tl_link_send(link, MSG_LINFO, p, sizeof p);
    return 0u;
}

static uint8_t handle_init(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 20u) {
        return TL_ERR_BAD_LENGTH;
    }
    tl_rce_rules_t rules;
    rules.flags = msg->data[0];
    rules.age_step = tl_get_u16(msg->data + 2);
    rules.age_limit = tl_get_u32(msg->data + 4);
    rules.capacity = tl_get_u16(msg->data + 8);
    uint8_t status = reset_learner(&rules, dist_of(tl_get_u32(msg->data + 12)), dist_of(tl_get_u32(msg->data + 16)));
    (void)tl_link_send(link, MSG_LINIT, &status, 1u);
    return 0u;
}

static uint8_t handle_window(tl_link_t *link, const tl_msg_t *msg)
{
    return tl_session_upload(link, msg, TL_MODEL(input)(), TL_MODEL_INPUT_BYTES);
}

static int16_t head_label(void)
{
#if TL_LEARN_HEAD_CLASSES > 0
    for (uint32_t i = TL_LEARN_FEATURE_LAYER + 1u; i < TL_MODEL_LAYERS; ++i) {
        if (TL_MODEL(run_layer)(i) != TL_STATUS_OK) {
            return -1;
        }
    }
    const uint8_t *out = TL_MODEL(output)();
    int16_t best = 0;
#if TL_LEARN_HEAD_INT8
    const int8_t *logits = (const int8_t *)out;
#else
    float logits[TL_LEARN_HEAD_CLASSES];
    memcpy(logits, out, sizeof logits);
#endif
    for (int16_t c = 1; c < TL_LEARN_HEAD_CLASSES; ++c) {
        if (logits[c] > logits[best]) {
            best = c;
        }
    }
    return best;
#else
    return -1;
#endif
}

static uint8_t handle_step(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len < 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint8_t source = msg->data[0];
    const uint8_t flags = msg->data[1];
    const int16_t label = (int16_t)tl_get_u16(msg->data + 2);
    if (source > 1u || (flags & ~3u) != 0u || label < -1 || label > TL_RCE_MAX_LABEL ||
        ((flags & 1u) != 0u && label < 0)) {
        return TL_ERR_BAD_ARGUMENT;
    }
    uint64_t ticks[4] = {0u, 0u, 0u, 0u};
    const uint32_t rx_before = tl_console_rx_count();
    if (source == 1u) {
        if (msg->len != 4u + sizeof g_features) {
            return TL_ERR_BAD_LENGTH;
        }
        if (!TL_LEARN_INT8 && !finite_f32(msg->data + 4, FEATURES)) {
            return TL_ERR_BAD_ARGUMENT;
        }
        memcpy(g_features, msg->data + 4, sizeof g_features);
    } else {
        if (msg->len != 4u) {
            return TL_ERR_BAD_LENGTH;
        }
        if (TL_LEARN_INPUT_F32 && !finite_f32(TL_MODEL(input)(), TL_MODEL_INPUT_BYTES / 4u)) {
            return TL_ERR_BAD_ARGUMENT;
        }
        uint32_t t = tl_measure_begin();
        tl_status_t st = TL_STATUS_OK;
        for (uint32_t i = 0; i <= TL_LEARN_FEATURE_LAYER && st == TL_STATUS_OK; ++i) {
            st = TL_MODEL(run_layer)(i);
        }
        ticks[0] = tl_measure_end(t);
        if (st != TL_STATUS_OK) {
            return TL_ERR_BAD_ARGUMENT;
        }
        uint32_t size = 0u;
        const uint8_t *f = TL_MODEL(layer_output)(TL_LEARN_FEATURE_LAYER, &size);
        if (size != sizeof g_features) {
            return TL_ERR_BAD_ARGUMENT;
        }
        memcpy(g_features, f, sizeof g_features);
        if (!TL_LEARN_INT8 && !finite_f32(f, FEATURES)) {
            return TL_ERR_BAD_ARGUMENT;
        }
    }
    tl_rce_prediction_t pred;
    uint32_t t = tl_measure_begin();
    tl_status_t st = RCE_CALL(predict)(&g_rce, g_features, &pred);
    ticks[1] = tl_measure_end(t);
    if (st != TL_STATUS_OK) {
        return TL_ERR_BAD_ARGUMENT;
    }
    const dist_t distance = RCE_CALL(distance_of)(&g_rce, pred.winner);
    uint8_t outcome = 255u;
    if ((flags & 1u) != 0u) {
        tl_rce_outcome_t o;
        t = tl_measure_begin();
        st = RCE_CALL(learn)(&g_rce, label, &o);
        ticks[2] = tl_measure_end(t);
        if (st != TL_STATUS_OK) {
            return TL_ERR_BAD_ARGUMENT;
        }
        outcome = (uint8_t)o;
    }
    int16_t head = -1;
    if (pred.status == TL_RCE_UNKNOWN && source == 0u && TL_LEARN_HEAD_CLASSES > 0) {
        t = tl_measure_begin();
        head = head_label();
        ticks[3] = tl_measure_end(t);
    }
    const uint32_t disturbances = tl_console_rx_count() - rx_before;
    memset(g_out, 0, 48u);
    g_out[1] = pred.status;
    tl_put_u16(g_out + 2, (uint16_t)pred.label);
    tl_put_u16(g_out + 4, (uint16_t)head);
    g_out[6] = outcome;
    tl_put_u16(g_out + 8, g_rce.count);
    tl_put_u16(g_out + 10, (uint16_t)(disturbances > 0xFFFFu ? 0xFFFFu : disturbances));
    tl_put_u32(g_out + 12, bits_of(distance));
    for (int i = 0; i < 4; ++i) {
        tl_put_u64(g_out + 16 + 8 * i, ticks[i]);
    }
    uint16_t len = 48u;
    if ((flags & 2u) != 0u) {
        memcpy(g_out + len, g_features, sizeof g_features);
        len = (uint16_t)(len + sizeof g_features);
    }
    (void)tl_link_send(link, MSG_STEP, g_out, len);
    return 0u;
}

/* The state as bytes: a header, then the arrays of the neurons in use. */
static uint32_t state_size(uint16_t count)
{
    return STATE_HEADER + (uint32_t)count * (FEATURES * sizeof(proto_t) + sizeof(dist_t) + 4u + 2u + 1u);
}

static uint8_t *state_byte(uint32_t offset, uint16_t count, uint8_t *header)
{
    if (offset < STATE_HEADER) {
        return header + offset;
    }
    offset -= STATE_HEADER;
    const uint32_t sections[5] = {count * FEATURES * (uint32_t)sizeof(proto_t), count * (uint32_t)sizeof(dist_t),
                                  count * 4u, count * 2u, count * 1u};
    uint8_t *const bases[5] = {(uint8_t *)g_protos, (uint8_t *)g_radius, (uint8_t *)g_age, (uint8_t *)g_hits,
                               g_label};
    for (int k = 0; k < 5; ++k) {
        if (offset < sections[k]) {
            return bases[k] + offset;
        }
        offset -= sections[k];
    }
    return NULL;
}

static void fill_header(uint8_t *h, uint16_t count)
{
    tl_put_u32(h, STATE_MAGIC);
    tl_put_u16(h + 4, FEATURES);
    tl_put_u16(h + 6, count);
    h[8] = TL_LEARN_INT8;
    h[9] = g_rce.rules.flags;
    tl_put_u16(h + 10, g_rce.rules.capacity);
    tl_put_u32(h + 12, 0u);
}

static uint8_t handle_export(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 6u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint32_t offset = tl_get_u32(msg->data);
    const uint16_t length = tl_get_u16(msg->data + 4);
    const uint32_t size = state_size(g_rce.count);
    if (length > TL_LINK_MAX_PAYLOAD || offset > size || length > size - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    uint8_t header[STATE_HEADER];
    fill_header(header, g_rce.count);
    for (uint16_t i = 0; i < length; ++i) {
        g_out[i] = *state_byte(offset + i, g_rce.count, header);
    }
    (void)tl_link_send(link, MSG_DATA, g_out, length);
    return 0u;
}

static uint8_t g_import_header[STATE_HEADER];

static uint8_t handle_import(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len < 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint32_t offset = tl_get_u32(msg->data);
    const uint32_t count = msg->len - 4u;
    if (offset == 0u) {
        if (count < STATE_HEADER || tl_get_u32(msg->data + 4) != STATE_MAGIC ||
            tl_get_u16(msg->data + 8) != FEATURES || msg->data[12] != TL_LEARN_INT8 ||
            tl_get_u16(msg->data + 10) > g_rce.rules.capacity) {
            return TL_ERR_BAD_ARGUMENT;
        }
        g_import_count = tl_get_u16(msg->data + 10);
        g_rce.count = 0u; /* the pool is being overwritten: empty until ADOPT */
    }
    if (offset > state_size(g_import_count) || count > state_size(g_import_count) - offset) {
        return TL_ERR_BAD_ARGUMENT;
    }
    for (uint32_t i = 0; i < count; ++i) {
        *state_byte(offset + i, g_import_count, g_import_header) = msg->data[4 + i];
    }
    uint8_t ok = 0u;
    (void)tl_link_send(link, MSG_IMPORT, &ok, 1u);
    return 0u;
}

static uint8_t handle_adopt(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 4u) {
        return TL_ERR_BAD_LENGTH;
    }
    uint8_t status = tl_get_u32(msg->data) == state_size(g_import_count) ? 0u : (uint8_t)TL_STATUS_BAD_SHAPE;
    if (status == 0u) {
        g_rce.count = g_import_count;
        status = (uint8_t)RCE_CALL(check)(&g_rce);
    }
    if (status != 0u) {
        g_rce.count = 0u;
    }
    (void)tl_link_send(link, MSG_ADOPT, &status, 1u);
    return 0u;
}

static uint8_t handle_check(tl_link_t *link)
{
    uint8_t status = (uint8_t)RCE_CALL(check)(&g_rce);
    (void)tl_link_send(link, MSG_CHECK, &status, 1u);
    return 0u;
}

/* The distance pass over the whole pool, timed: its cost does not depend on the prototypes' values. */
static uint8_t handle_dpass(tl_link_t *link, const tl_msg_t *msg)
{
    if (msg->len != 2u) {
        return TL_ERR_BAD_LENGTH;
    }
    const uint16_t reps = tl_get_u16(msg->data);
    if (reps == 0u) {
        return TL_ERR_BAD_ARGUMENT;
    }
    const uint32_t t = tl_measure_begin();
    for (uint16_t r = 0; r < reps; ++r) {
        RCE_CALL(distances)(&g_rce, POOL);
    }
    const uint64_t ticks = tl_measure_end(t);
    uint8_t p[16];
    tl_put_u16(p, POOL);
    tl_put_u16(p + 2, FEATURES);
    const uint32_t d = tl_measure_disturbances();
    tl_put_u16(p + 4, (uint16_t)(d > 0xFFFFu ? 0xFFFFu : d));
    tl_put_u16(p + 6, 0u);
    tl_put_u64(p + 8, ticks);
    (void)tl_link_send(link, MSG_DPASS, p, sizeof p);
    return 0u;
}

static uint8_t handle(tl_link_t *link, const tl_msg_t *msg)
{
    switch (msg->type) {
    case MSG_LINFO:
        return handle_info(link);
    case MSG_LINIT:
        return handle_init(link, msg);
    case MSG_WINDOW:
        return handle_window(link, msg);
    case MSG_STEP:
        return handle_step(link, msg);
    case MSG_EXPORT:
        return handle_export(link, msg);
    case MSG_IMPORT:
        return handle_import(link, msg);
    case MSG_ADOPT:
        return handle_adopt(link, msg);
    case MSG_CHECK:
        return handle_check(link);
    case MSG_DPASS:
        return handle_dpass(link, msg);
    default:
        return TL_ERR_UNKNOWN_TYPE;
    }
}

int main(void)
{
    static const tl_rce_rules_t defaults = {TL_RCE_AGING | TL_RCE_PRUNING, 256u, 0u, POOL};
    (void)reset_learner(&defaults, (dist_t)0, (dist_t)0);
    (void)TL_MODEL(init)(); /* the params are checked once here, not inside the first measured extraction */
    tl_session_run("learn", handle);
}
