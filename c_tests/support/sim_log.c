/* The simulated host's logs and the record of facts checked for safety. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        fprintf(stderr, "simulator: out of memory\n");
        abort();
    }
    return q;
}

uint64_t sim_hash(int type, const void *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t sim_quick_hash(int type, const void *data, size_t len)
{
    uint64_t head = 0;
    memcpy(&head, data, len < sizeof head ? len : sizeof head);
    return (head ^ ((uint64_t)len << 32) ^ (uint64_t)type) * 0x9E3779B97F4A7C15ULL;
}

struct sim_batch *sim_batch_new(size_t len)
{
    struct sim_batch *b = raft_malloc(sizeof *b + len);
    if (b == NULL) {
        fprintf(stderr, "simulator: out of memory\n");
        abort();
    }
    b->refs = 1;
    b->len = len;
    return b;
}

void sim_batch_unref(struct sim_batch *b)
{
    if (--b->refs == 0) {
        raft_free(b);
    }
}

void sim_log_init(struct sim_log *l, raft_index first)
{
    l->first = first;
    l->entries = NULL;
    l->head = 0;
    l->n = 0;
    l->cap = 0;
}

void sim_log_reset(struct sim_log *l, raft_index first)
{
    for (size_t i = 0; i < l->n; i++) {
        sim_batch_unref(sim_log_at(l, i)->batch);
    }
    l->head = 0;
    l->n = 0;
    l->first = first;
}

void sim_log_clear(struct sim_log *l, raft_index first)
{
    sim_log_reset(l, first);
    free(l->entries);
    sim_log_init(l, first);
}

void sim_log_reserve(struct sim_log *l, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        while (cap < l->n + n) {
            cap *= 2;
        }
        struct sim_entry *entries = xrealloc(NULL, cap * sizeof *entries);
        for (size_t i = 0; i < l->n; i++) {
            entries[i] = *sim_log_at(l, i);
        }
        free(l->entries);
        l->entries = entries;
        l->head = 0;
        l->cap = cap;
    }
}

raft_index sim_log_last(const struct sim_log *l)
{
    return l->first + l->n - 1;
}

struct sim_entry *sim_log_get(const struct sim_log *l, raft_index index)
{
    if (index < l->first || index >= l->first + l->n) {
        return NULL;
    }
    return sim_log_at(l, (size_t)(index - l->first));
}

void sim_log_truncate(struct sim_log *l, raft_index from)
{
    while (l->n > 0 && sim_log_last(l) >= from) {
        sim_batch_unref(sim_log_at(l, --l->n)->batch);
    }
    if (l->n == 0 && from < l->first) {
        l->first = from;
    }
}

void sim_log_append(struct sim_log *l, raft_term term, int type, const void *data, size_t len)
{
    struct sim_batch *b = sim_batch_new(len);
    if (len > 0) {
        memcpy(sim_batch_data(b), data, len);
    }
    sim_log_append_shared(l, term, type, sim_batch_data(b), len, b, sim_hash(type, data, len));
    sim_batch_unref(b);
}

void sim_log_append_shared(struct sim_log *l, raft_term term, int type, const void *data,
                           size_t len, struct sim_batch *batch, uint64_t hash)
{
    size_t offset = (size_t)((const char *)data - (const char *)sim_batch_data(batch));
    if (len > SIM_ENTRY_MAX_LEN || offset > UINT32_MAX || type < 0 || type > 7) {
        fprintf(stderr, "simulator: entry too large or of unknown type\n");
        abort();
    }
    if (l->n == l->cap) {
        sim_log_reserve(l, 1);
    }
    struct sim_entry *e = sim_log_at(l, l->n++);
    e->term = term;
    e->hash = hash;
    e->batch = batch;
    e->offset = (uint32_t)offset;
    e->len = (uint32_t)len;
    e->type = (uint32_t)type;
    sim_batch_ref(batch);
}

void sim_log_append_entry(struct sim_log *l, const struct sim_entry *e)
{
    if (l->n == l->cap) {
        sim_log_reserve(l, 1);
    }
    *sim_log_at(l, l->n++) = *e;
    sim_batch_ref(e->batch);
}

void sim_log_drop_prefix(struct sim_log *l, raft_index upto)
{
    size_t drop = 0;
    while (drop < l->n && l->first + drop <= upto) {
        sim_batch_unref(sim_log_at(l, drop)->batch);
        drop++;
    }
    l->head = l->n > drop ? (l->head + drop) & (l->cap - 1) : 0;
    l->n -= drop;
    if (upto >= l->first) {
        l->first = upto + 1;
    }
}

void sim_log_copy(struct sim_log *dst, const struct sim_log *src)
{
    sim_log_reset(dst, src->first);
    sim_log_reserve(dst, src->n);
    for (size_t i = 0; i < src->n; i++) {
        sim_log_append_entry(dst, sim_log_at(src, i));
    }
}

void sim_snapshot_clear(struct sim_snapshot *snap)
{
    free(snap->conf);
    memset(snap, 0, sizeof *snap);
}

void sim_snapshot_copy(struct sim_snapshot *dst, const struct sim_snapshot *src)
{
    sim_snapshot_clear(dst);
    *dst = *src;
    dst->conf = NULL;
    if (src->conf_len > 0) {
        dst->conf = xrealloc(NULL, src->conf_len);
        memcpy(dst->conf, src->conf, src->conf_len);
    }
}

void sim_record_init(struct sim_record *r)
{
    memset(r, 0, sizeof *r);
}

void sim_record_free(struct sim_record *r)
{
    free(r->pairs);
    free(r->committed);
    free(r->leaders);
    memset(r, 0, sizeof *r);
}

static size_t pair_slot(const struct sim_record *r, raft_index index, raft_term term)
{
    uint64_t h = (index * 0x9E3779B97F4A7C15ULL) ^ (term * 0xC2B2AE3D27D4EB4FULL);
    return (size_t)(h & (r->cap_pairs - 1));
}

static void pairs_grow(struct sim_record *r)
{
    struct sim_pair *old = r->pairs;
    size_t old_cap = r->cap_pairs;
    r->cap_pairs = old_cap ? old_cap * 2 : 1024;
    r->pairs = xrealloc(NULL, r->cap_pairs * sizeof *r->pairs);
    memset(r->pairs, 0, r->cap_pairs * sizeof *r->pairs);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].used) {
            continue;
        }
        size_t slot = pair_slot(r, old[i].index, old[i].term);
        while (r->pairs[slot].used) {
            slot = (slot + 1) & (r->cap_pairs - 1);
        }
        r->pairs[slot] = old[i];
    }
    free(old);
}

bool sim_record_persisted(struct sim_record *r, raft_index index, raft_term term, uint64_t hash,
                          raft_term prev_term, char *why, size_t why_len)
{
    if (2 * (r->n_pairs + 1) > r->cap_pairs) {
        pairs_grow(r);
    }
    size_t slot = pair_slot(r, index, term);
    while (r->pairs[slot].used) {
        struct sim_pair *p = &r->pairs[slot];
        if (p->index == index && p->term == term) {
            if (p->hash != hash) {
                snprintf(why, why_len, "log matching: two entries at index %llu term %llu differ",
                         index, term);
                return false;
            }
            if (p->prev_term != prev_term) {
                snprintf(why, why_len,
                         "log matching: entries at index %llu term %llu follow entries of terms "
                         "%llu and %llu",
                         index, term, p->prev_term, prev_term);
                return false;
            }
            return true;
        }
        slot = (slot + 1) & (r->cap_pairs - 1);
    }
    r->pairs[slot] = (struct sim_pair){index, term, hash, prev_term, true};
    r->n_pairs++;
    return true;
}

bool sim_record_committed(struct sim_record *r, raft_index index, raft_term term, uint64_t hash,
                          raft_term observer_term, char *why, size_t why_len)
{
    if (index >= r->cap_committed) {
        size_t cap = r->cap_committed ? r->cap_committed : 1024;
        while (cap <= index) {
            cap *= 2;
        }
        r->committed = xrealloc(r->committed, cap * sizeof *r->committed);
        memset(r->committed + r->cap_committed, 0,
               (cap - r->cap_committed) * sizeof *r->committed);
        r->cap_committed = cap;
    }
    struct sim_committed *c = &r->committed[index];
    if (c->known && (c->term != term || c->hash != hash)) {
        snprintf(why, why_len,
                 "state machine safety: committed entry %llu was term %llu, now term %llu%s",
                 index, c->term, term, c->term == term ? " with other content" : "");
        return false;
    }
    if (!c->known || observer_term < c->committed_in) {
        c->committed_in = observer_term;
    }
    c->known = true;
    c->term = term;
    c->hash = hash;
    if (index > r->max_commit) {
        r->max_commit = index;
    }
    return true;
}

const struct sim_committed *sim_record_get_committed(const struct sim_record *r,
                                                     raft_index index)
{
    if (index >= r->cap_committed || !r->committed[index].known) {
        return NULL;
    }
    return &r->committed[index];
}

bool sim_record_leader(struct sim_record *r, raft_term term, raft_id id, char *why,
                       size_t why_len)
{
    if (term >= r->cap_leaders) {
        size_t cap = r->cap_leaders ? r->cap_leaders : 64;
        while (cap <= term) {
            cap *= 2;
        }
        r->leaders = xrealloc(r->leaders, cap * sizeof *r->leaders);
        memset(r->leaders + r->cap_leaders, 0, (cap - r->cap_leaders) * sizeof *r->leaders);
        r->cap_leaders = cap;
    }
    if (r->leaders[term] != 0 && r->leaders[term] != id) {
        snprintf(why, why_len, "election safety: servers %llu and %llu both led term %llu",
                 r->leaders[term], id, term);
        return false;
    }
    r->leaders[term] = id;
    return true;
}
