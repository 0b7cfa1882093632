/*
 * tl_rce_impl.h - the TinyRCE rules, written once for both feature types. Included by tl_rce_s8.c and
 * tl_rce_f32.c, which define:
 *   RCE(name)        the variant's function name (tl_rce_s8_##name)
 *   RCE_T            the variant's state type
 *   RCE_D            the distance and radius type (int32_t, float)
 *   RCE_X            the input feature type (int8_t, float)
 *   RCE_ENCODE(s, x) encodes x into s->pool.x; returns TL_STATUS_OK or an error for bad features
 *   RCE_DISTANCES(s) fills s->pool.dist[0..count) from s->pool.x
 *   RCE_AGE_SCALE(d, r) floor(256 d / r) clamped to 0..256, computed as the host reference does
 */
#include <string.h>

static void RCE(remove)(RCE_T *s, uint16_t i)
{
    const uint16_t last = (uint16_t)(s->count - 1u);
    const uint32_t f = s->pool.features;
    if (i != last) {
        memcpy(&s->pool.protos[(uint32_t)i * f], &s->pool.protos[(uint32_t)last * f], f * sizeof s->pool.protos[0]);
        s->pool.radius[i] = s->pool.radius[last];
        s->pool.age[i] = s->pool.age[last];
        s->pool.hits[i] = s->pool.hits[last];
        s->pool.label[i] = s->pool.label[last];
        s->pool.dist[i] = s->pool.dist[last];
    }
    s->count = last;
}

/* The neuron pruning removes: the oldest; among equals the one with fewer hits, then the lower index. */
static uint16_t RCE(oldest)(const RCE_T *s)
{
    uint16_t best = 0u;
    for (uint16_t i = 1u; i < s->count; ++i) {
        const uint32_t a = s->pool.age[i], b = s->pool.age[best];
        if (a > b || (a == b && s->pool.hits[i] < s->pool.hits[best])) {
            best = i;
        }
    }
    return best;
}

tl_status_t RCE(init)(RCE_T *s, const RCE(pool_t) *pool, const tl_rce_rules_t *rules, RCE_D r_min, RCE_D r_max)
{
    if (s == NULL || pool == NULL || rules == NULL || pool->protos == NULL || pool->radius == NULL ||
        pool->age == NULL || pool->hits == NULL || pool->label == NULL || pool->dist == NULL || pool->x == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (pool->features == 0u || rules->capacity == 0u || rules->capacity > pool->size ||
        !(r_min >= (RCE_D)0) || !(r_max >= r_min)) {
        return TL_STATUS_BAD_SHAPE;
    }
    s->pool = *pool;
    s->rules = *rules;
    s->r_min = r_min;
    s->r_max = r_max;
    s->count = 0u;
    return TL_STATUS_OK;
}

tl_status_t RCE(predict)(RCE_T *s, const RCE_X *x, tl_rce_prediction_t *out)
{
    if (s == NULL || x == NULL || out == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    tl_status_t st = RCE_ENCODE(s, x);
    if (st != TL_STATUS_OK) {
        return st;
    }
    RCE_DISTANCES(s);
    out->reserved = 0u;
    if (s->count == 0u) {
        out->label = TL_RCE_NO_LABEL;
        out->status = TL_RCE_UNKNOWN;
        out->winner = -1;
        return TL_STATUS_OK;
    }
    const RCE_D *d = s->pool.dist;
    int32_t inside = -1, nearest = 0;
    for (uint16_t i = 0u; i < s->count; ++i) {
        if (d[i] < d[nearest]) {
            nearest = i;
        }
        if (d[i] < s->pool.radius[i] && (inside < 0 || d[i] < d[inside])) {
            inside = i;
        }
    }
    if (inside < 0) {
        out->label = s->pool.label[nearest];
        out->status = TL_RCE_UNKNOWN;
        out->winner = (int16_t)nearest;
        return TL_STATUS_OK;
    }
    uint8_t status = TL_RCE_IDENTIFIED;
    for (uint16_t i = 0u; i < s->count; ++i) {
        if (d[i] < s->pool.radius[i] && s->pool.label[i] != s->pool.label[inside]) {
            status = TL_RCE_UNCERTAIN;
            break;
        }
    }
    out->label = s->pool.label[inside];
    out->status = status;
    out->winner = (int16_t)inside;
    return TL_STATUS_OK;
}

tl_status_t RCE(learn)(RCE_T *s, int label, tl_rce_outcome_t *outcome)
{
    if (s == NULL || outcome == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (label < 0 || label > TL_RCE_MAX_LABEL) {
        return TL_STATUS_BAD_SHAPE;
    }
    const RCE_D *d = s->pool.dist;
    const uint8_t y = (uint8_t)label;
    const int aging = (s->rules.flags & TL_RCE_AGING) != 0u;
    const int pruning = (s->rules.flags & TL_RCE_PRUNING) != 0u;
    int32_t fired = -1;
    int32_t other = -1; /* the nearest neuron of another class */
    for (uint16_t i = 0u; i < s->count; ++i) {
        if (aging) {
            const uint32_t a = s->pool.age[i];
            s->pool.age[i] = a > TL_RCE_AGE_MAX - s->rules.age_step ? TL_RCE_AGE_MAX : a + s->rules.age_step;
        }
        const int in = d[i] < s->pool.radius[i];
        if (s->pool.label[i] != y) {
            if (other < 0 || d[i] < d[other]) {
                other = i;
            }
            if (in) {
                s->pool.radius[i] = d[i] > s->r_min ? d[i] : s->r_min;
            }
        } else if (in && (fired < 0 || d[i] < d[fired])) {
            fired = i;
        }
    }
    if (fired >= 0) {
        if (s->pool.hits[fired] < 0xFFFFu) {
            s->pool.hits[fired]++;
        }
        if (aging) {
            const uint32_t q = RCE_AGE_SCALE(d[fired], s->pool.radius[fired]);
            s->pool.age[fired] = (uint32_t)(((uint64_t)s->pool.age[fired] * q) >> 8);
        }
        *outcome = TL_RCE_FIRED;
    } else {
        RCE_D r = s->r_max;
        if (other >= 0 && d[other] < r) {
            r = d[other];
        }
        if (r < s->r_min) {
            r = s->r_min;
        }
        *outcome = TL_RCE_COMMITTED;
        if (s->count == s->rules.capacity) {
            if (!pruning) {
                *outcome = TL_RCE_DROPPED;
                return TL_STATUS_OK;
            }
            RCE(remove)(s, RCE(oldest)(s));
            *outcome = TL_RCE_COMMITTED_AFTER_PRUNE;
        }
        const uint16_t i = s->count;
        memcpy(&s->pool.protos[(uint32_t)i * s->pool.features], s->pool.x,
               s->pool.features * sizeof s->pool.protos[0]);
        s->pool.radius[i] = r;
        s->pool.age[i] = 0u;
        s->pool.hits[i] = 0u;
        s->pool.label[i] = y;
        s->pool.dist[i] = (RCE_D)0;
        s->count++;
    }
    if (pruning && s->rules.age_limit != 0u) {
        for (int32_t i = (int32_t)s->count - 1; i >= 0; --i) {
            if (s->pool.age[i] > s->rules.age_limit) {
                RCE(remove)(s, (uint16_t)i);
            }
        }
    }
    return TL_STATUS_OK;
}

RCE_D RCE(distance_of)(const RCE_T *s, int16_t neuron)
{
    return (neuron >= 0 && (uint16_t)neuron < s->count) ? s->pool.dist[neuron] : (RCE_D)0;
}

tl_status_t RCE(check)(const RCE_T *s)
{
    if (s == NULL) {
        return TL_STATUS_NULL_ARG;
    }
    if (s->count > s->rules.capacity || s->rules.capacity > s->pool.size) {
        return TL_STATUS_BAD_SHAPE;
    }
    for (uint16_t i = 0u; i < s->count; ++i) {
        if (!(s->pool.radius[i] >= (RCE_D)0) || s->pool.label[i] > TL_RCE_MAX_LABEL) {
            return TL_STATUS_BAD_SHAPE;
        }
        if ((s->rules.flags & TL_RCE_PRUNING) != 0u && s->rules.age_limit != 0u &&
            s->pool.age[i] > s->rules.age_limit) {
            return TL_STATUS_BAD_SHAPE;
        }
    }
    return TL_STATUS_OK;
}
