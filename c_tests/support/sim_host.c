/* The simulated host of one server: processing updates in docs/contract.md#update-order, disk
 * writes and their completions, applying committed entries, snapshots, and the safety checks
 * that concern one server. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"


/* --- Steps and updates ------------------------------------------------------------------- */

void handle_update(struct sim *s, struct server *srv, struct raft_update *u);

void trace_emit(struct raft_tracer *t, int type, const void *data)
{
    struct server *srv = t->impl;
    const struct raft_tracer_info *info = data;
    if (type != RAFT_TRACER_DIAGNOSTIC) {
        return;
    }
    fprintf(stderr, "[%6llu] %llu: %s\n", srv->sim->now, srv->id, info->diagnostic.message);
}

static bool chance(struct sim *s, unsigned percent)
{
    return percent > 0 && draw(s, 0, 99) < percent;
}

/* Timeouts at every point (sim_options): a server that just appended a configuration entry
 * may be cut off at once, so that it reaches its election deadline under that configuration;
 * any step may be followed by an early RAFT_TIMEOUT. */
static void disturb_after_step(struct sim *s, struct server *srv)
{
    bool landed = srv->change_landed;
    srv->change_landed = false;
    if (!srv->alive || s->failed || srv->in_extra_timeout) {
        return;
    }
    if (landed && chance(s, s->o.isolate_after_change_percent)) {
        note(s, "s%u: cut off right after a configuration entry", srv->i);
        sim_isolate(s, srv->i, true);
    }
    if (chance(s, s->o.early_timeout_percent)) {
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_TIMEOUT;
        srv->in_extra_timeout = true;
        step_or_fail(s, srv->i, &ev, "early RAFT_TIMEOUT");
        srv->in_extra_timeout = false;
    }
}

int sim_step_event(struct sim *s, unsigned i, struct raft_event *event)
{
    struct server *srv = &s->servers[i];
    struct raft_update update;
    struct sim_batch *lent = srv->lent;
    srv->lent = NULL;
    event->time = s->now;
    event->capacity = srv->capacity;
    s->stats.steps++;
    if (s->o.step_hook != NULL) {
        s->o.step_hook(s->o.step_hook_arg, true);
    }
    int rv = raft_step(&srv->raft, event, &update);
    if (s->o.step_hook != NULL) {
        s->o.step_hook(s->o.step_hook_arg, false);
    }
    if (rv != 0) {
        note(s, "s%u: step type %d failed: %s (%s)", i, event->type, raft_strerror(rv),
             raft_errmsg(&srv->raft));
        return rv;
    }
    srv->lent = lent;
    handle_update(s, srv, &update);
    srv->lent = NULL;
    check_server(s, srv);
    /* Events the update queued (configurations, snapshots) run after it is fully handled. */
    while (srv->n_queue > 0 && srv->alive && !s->failed) {
        struct queued_event q = srv->queue[0];
        memmove(srv->queue, srv->queue + 1, --srv->n_queue * sizeof *srv->queue);
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = (enum raft_event_type)q.type;
        if (q.type == RAFT_CONFIGURATION) {
            struct sim_entry *e = sim_log_get(&srv->mem, q.index);
            if (e == NULL || e->type != RAFT_CHANGE ||
                decode_conf(sim_entry_data(e), e->len, &ev.configuration.conf) != 0) {
                continue; /* replaced since it was applied: nothing to confirm */
            }
            ev.configuration.index = q.index;
            rv = sim_step_event(s, i, &ev);
            raft_configuration_close(&ev.configuration.conf);
            if (rv != 0) {
                fail(s, "server %u: RAFT_CONFIGURATION %llu failed: %s", i, q.index,
                     raft_errmsg(&srv->raft));
            }
        } else if (q.type == RAFT_SNAPSHOT) {
            rv = sim_snapshot(s, i, q.trailing);
            if (rv != 0 && rv != RAFT_BUSY) {
                fail(s, "server %u: RAFT_SNAPSHOT failed: %s", i, raft_errmsg(&srv->raft));
            }
        }
    }
    disturb_after_step(s, srv);
    return 0;
}

void step_or_fail(struct sim *s, unsigned i, struct raft_event *ev, const char *what)
{
    int rv = sim_step_event(s, i, ev);
    if (rv != 0) {
        fail(s, "server %u: %s failed: %s (%s)", i, what, raft_strerror(rv),
             raft_errmsg(&s->servers[i].raft));
    }
}

/* --- The disk queue ---------------------------------------------------------------------- */

struct write *disk_head(struct server *srv)
{
    return srv->disk.n > 0 ? &srv->disk.writes[srv->disk.head] : NULL;
}

static struct write *disk_at(struct server *srv, size_t k)
{
    return &srv->disk.writes[(srv->disk.head + k) & (srv->disk.cap - 1)];
}

/* A new write at the tail, due after a random delay and never before the previous one. The
 * pointer is valid until the next push. */
static struct write *disk_push(struct server *srv)
{
    struct sim *s = srv->sim;
    struct disk *d = &srv->disk;
    raft_time delay = draw(s, s->o.disk_min, s->o.disk_max);
    raft_time after = d->n > 0 ? disk_at(srv, d->n - 1)->due : 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct write *writes = xmalloc(cap * sizeof *writes);
        for (size_t k = 0; k < d->n; k++) {
            writes[k] = *disk_at(srv, k);
        }
        free(d->writes);
        d->writes = writes;
        d->cap = cap;
        d->head = 0;
    }
    struct write *w = &d->writes[(d->head + d->n++) & (d->cap - 1)];
    memset(w, 0, sizeof *w);
    w->due = s->now + delay > after ? s->now + delay : after;
    return w;
}

/* Removes the oldest write (its copied entries, if any, stay until disk_release). */
static struct write disk_pop(struct server *srv)
{
    struct disk *d = &srv->disk;
    struct write w = d->writes[d->head];
    d->head = (d->head + 1) & (d->cap - 1);
    d->n--;
    return w;
}

/* Releases what the oldest write, popped before, owns. */
static void disk_release(const struct write *w)
{
    if (w->copy != NULL) {
        for (size_t k = 0; k < w->n; k++) {
            sim_batch_unref(w->copy[k].batch);
        }
        free(w->copy);
    }
    if (w->snap != NULL) {
        sim_snapshot_clear(w->snap);
        free(w->snap);
    }
}

void disk_drop(struct server *srv, bool free_ring)
{
    struct disk *d = &srv->disk;
    while (d->n > 0) {
        struct write w = disk_pop(srv);
        disk_release(&w);
    }
    if (free_ring) {
        free(d->writes);
        memset(d, 0, sizeof *d);
    }
}

void disk_preserve(struct server *srv, raft_index lo, raft_index hi)
{
    for (size_t k = 0; k < srv->disk.n; k++) {
        struct write *w = disk_at(srv, k);
        if (w->snapshot || w->copy != NULL || w->n == 0 || w->first > hi ||
            w->first + w->n - 1 < lo) {
            continue;
        }
        w->copy = xmalloc(w->n * sizeof *w->copy);
        for (size_t j = 0; j < w->n; j++) {
            struct sim_entry *e = sim_log_get(&srv->mem, w->first + j);
            if (e == NULL) {
                fprintf(stderr, "simulator: pending write %llu..%llu left the log\n", w->first,
                        w->first + w->n - 1);
                abort();
            }
            w->copy[j] = *e;
            sim_batch_ref(e->batch);
        }
    }
}

static void handle_snapshot_update(struct sim *s, struct server *srv, struct raft_update *u)
{
    struct sim_snapshot *snap = xmalloc(sizeof *snap);
    memset(snap, 0, sizeof *snap);
    struct raft_snapshot_metadata *meta = &u->snapshot.metadata;
    snap->present = true;
    snap->index = meta->index;
    snap->term = meta->term;
    snap->conf_index = meta->configuration_index;
    encode_conf(&meta->configuration, &snap->conf, &snap->conf_len);
    raft_configuration_close(&meta->configuration);
    if (u->snapshot.chunk.len != 16 || u->snapshot.offset != 0 || !u->snapshot.last) {
        fail(s, "server %u: unexpected snapshot chunk (len %zu offset %zu)", srv->i,
             u->snapshot.chunk.len, u->snapshot.offset);
    } else {
        const uint64_t *data = u->snapshot.chunk.base;
        snap->sm_hash = data[0];
        snap->sm_count = data[1];
    }
    raft_free(u->snapshot.chunk.base);
    /* The log is replaced by the snapshot; writes in flight are no longer reported. */
    disk_preserve(srv, 0, (raft_index)-1);
    durable_unshare(srv, 0);
    sim_log_clear(&srv->mem, meta->index + 1);
    for (size_t k = 0; k < srv->disk.n; k++) {
        disk_at(srv, k)->dropped = true;
    }
    srv->installing = true;
    note(s, "s%u: installing snapshot %llu/%llu", srv->i, meta->index, meta->term);
    struct write *w = disk_push(srv);
    w->snapshot = true;
    w->snap = snap;
}

/* The host's reference to the payload of an entry the update hands back: the simulator's own
 * batch lent in this step is adopted as it is; anything else (a barrier the library made) is
 * copied into a new batch. Returns a new reference. */
static struct sim_batch *adopt(const struct raft_entry *e, struct sim_batch *lent,
                               const void **data)
{
    if (lent != NULL && e->batch == (void *)lent) {
        sim_batch_ref(lent);
        *data = e->buf.base;
        return lent;
    }
    struct sim_batch *b = sim_batch_new(e->buf.len);
    if (e->buf.len > 0) {
        memcpy(sim_batch_data(b), e->buf.base, e->buf.len);
    }
    *data = sim_batch_data(b);
    return b;
}

/* Releases the batches the library handed back: the lent one loses the library's reference,
 * the others are freed once each. */
static void release_handed_back(struct raft_entry *entries, unsigned n, struct sim_batch *lent)
{
    bool lent_back = false;
    for (unsigned k = 0; k < n; k++) {
        if (lent != NULL && entries[k].batch == (void *)lent) {
            lent_back = true;
            continue;
        }
        bool seen = false;
        for (unsigned j = 0; j < k && !seen; j++) {
            seen = entries[j].batch == entries[k].batch;
        }
        if (!seen) {
            raft_free(entries[k].batch);
        }
    }
    if (lent_back) {
        sim_batch_unref(lent);
    }
    raft_free(entries);
}

static void handle_entries_update(struct sim *s, struct server *srv, struct raft_update *u)
{
    raft_index index = u->entries.index;
    if (index == 0 || index > sim_log_last(&srv->mem) + 1) {
        fail(s, "server %u: entries at %llu leave a gap after %llu", srv->i, index,
             sim_log_last(&srv->mem));
        release_handed_back(u->entries.batch, u->entries.n, srv->lent);
        return;
    }
    if (index <= sim_log_last(&srv->mem)) {
        disk_preserve(srv, index, (raft_index)-1);
        durable_unshare(srv, index);
        sim_log_truncate(&srv->mem, index);
        for (size_t k = 0; k < srv->disk.n; k++) {
            struct write *p = disk_at(srv, k);
            if (!p->snapshot && p->report_end >= index) {
                p->report_end = index - 1;
            }
        }
    }
    unsigned n = u->entries.n;
    sim_log_reserve(&srv->mem, n);
    for (unsigned k = 0; k < n; k++) {
        struct raft_entry *e = &u->entries.batch[k];
        srv->change_landed |= e->type == RAFT_CHANGE;
        const void *data;
        struct sim_batch *b = adopt(e, srv->lent, &data);
        uint64_t hash = s->o.unchecked ? sim_quick_hash(e->type, data, e->buf.len)
                                       : sim_hash(e->type, data, e->buf.len);
        sim_log_append_shared(&srv->mem, e->term, e->type, data, e->buf.len, b, hash);
        sim_batch_unref(b); /* the log took its own reference */
    }
    release_handed_back(u->entries.batch, n, srv->lent);
    struct write *w = disk_push(srv);
    w->first = index;
    w->n = n;
    w->report_end = index + n - 1;
}

static void queue_event(struct sim *s, struct server *srv, struct queued_event q)
{
    if (srv->n_queue == MAX_QUEUED_EVENTS) {
        fail(s, "server %u: too many queued events", srv->i);
        return;
    }
    srv->queue[srv->n_queue++] = q;
}

/* Records newly committed entries and checks them against what others committed. */
static void observe_commit(struct sim *s, struct server *srv, raft_index commit)
{
    char why[256];
    if (commit < srv->commit) {
        fail(s, "server %u: commit index went back from %llu to %llu", srv->i, srv->commit,
             commit);
        return;
    }
    if (s->o.unchecked) {
        srv->commit = commit;
        return;
    }
    for (raft_index k = srv->commit + 1; k <= commit; k++) {
        struct sim_entry *e = sim_log_get(&srv->mem, k);
        if (e == NULL) {
            continue; /* covered by a snapshot */
        }
        if (!sim_record_committed(&s->record, k, e->term, e->hash,
                                  raft_current_term(&srv->raft), why, sizeof why)) {
            fail(s, "server %u: %s", srv->i, why);
            return;
        }
    }
    srv->commit = commit;
}

static void apply_committed(struct sim *s, struct server *srv)
{
    raft_index commit = raft_commit_index(&srv->raft);
    observe_commit(s, srv, commit);
    if (srv->snap.present && srv->last_applied < srv->snap.index && commit >= srv->snap.index) {
        /* Restore from the snapshot just installed or loaded. */
        srv->last_applied = srv->snap.index;
        srv->sm_hash = srv->snap.sm_hash;
        srv->sm_count = srv->snap.sm_count;
        free(srv->sm_conf);
        srv->sm_conf = xmalloc(srv->snap.conf_len);
        memcpy(srv->sm_conf, srv->snap.conf, srv->snap.conf_len);
        srv->sm_conf_len = srv->snap.conf_len;
        srv->sm_conf_index = srv->snap.conf_index;
    }
    while (srv->last_applied < commit) {
        raft_index k = srv->last_applied + 1;
        struct sim_entry *e = sim_log_get(&srv->mem, k);
        if (e == NULL) {
            fail(s, "server %u: committed entry %llu is not in its log (%llu..%llu)", srv->i, k,
                 srv->mem.first, sim_log_last(&srv->mem));
            return;
        }
        const struct sim_committed *c = sim_record_get_committed(&s->record, k);
        if (c != NULL && (c->term != e->term || c->hash != e->hash)) {
            fail(s, "server %u applies entry %llu (term %llu) unlike the committed one (term %llu)",
                 srv->i, k, e->term, c->term);
            return;
        }
        if (e->type == RAFT_COMMAND && s->o.unchecked) {
            srv->sm_hash = (srv->sm_hash ^ e->hash) * 1099511628211ULL;
            srv->sm_count++;
        } else if (e->type == RAFT_COMMAND) {
            srv->sm_hash = sim_hash((int)srv->sm_hash, sim_entry_data(e), e->len) ^ srv->sm_hash;
            srv->sm_count++;
        } else if (e->type == RAFT_CHANGE) {
            free(srv->sm_conf);
            srv->sm_conf = xmalloc(e->len);
            memcpy(srv->sm_conf, sim_entry_data(e), e->len);
            srv->sm_conf_len = e->len;
            srv->sm_conf_index = k;
            queue_event(s, srv, (struct queued_event){RAFT_CONFIGURATION, k, 0});
        }
        srv->last_applied = k;
    }
    if (s->o.snapshot_threshold > 0 && !srv->installing &&
        srv->last_applied >= (srv->snap.present ? srv->snap.index : 0) + s->o.snapshot_threshold) {
        queue_event(s, srv, (struct queued_event){RAFT_SNAPSHOT, 0, s->o.snapshot_trailing});
    }
}

/* Keeps the outcomes of the reads of the last step, for sim_read_result. */
static void keep_reads(struct sim *s, struct server *srv)
{
    const struct raft_read_result *reads = NULL;
    unsigned n = 0;
    int rv = raft_update_reads(&srv->raft, &reads, &n);
    if (rv != 0 || (n > 0 && reads == NULL)) {
        fail(s, "server %u: raft_update_reads: %d", srv->i, rv);
        return;
    }
    for (unsigned k = 0; k < n; k++) {
        if (srv->n_reads == SIM_READS) {
            memmove(srv->reads, srv->reads + 1, (SIM_READS - 1) * sizeof srv->reads[0]);
            srv->n_reads--;
        }
        srv->reads[srv->n_reads++] = reads[k];
        note(s, "s%u: read %llu -> status %d index %llu", srv->i,
             (unsigned long long)reads[k].id, reads[k].status,
             (unsigned long long)reads[k].index);
    }
}

int sim_read(struct sim *s, unsigned i, uint64_t id)
{
    struct raft_event event;
    memset(&event, 0, sizeof event);
    event.type = RAFT_READ;
    event.read.id = id;
    return sim_step_event(s, i, &event);
}

bool sim_read_result(const struct sim *s, unsigned i, uint64_t id, raft_index *index, int *status)
{
    const struct server *srv = &s->servers[i];
    for (unsigned k = 0; k < srv->n_reads; k++) {
        if (srv->reads[k].id == id) {
            *index = srv->reads[k].index;
            *status = srv->reads[k].status;
            return true;
        }
    }
    return false;
}

void handle_update(struct sim *s, struct server *srv, struct raft_update *u)
{
    if (u->flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR)) {
        srv->term = raft_current_term(&srv->raft);
        srv->vote = raft_voted_for(&srv->raft);
        note(s, "s%u: persisted term %llu vote %llu", srv->i, srv->term, srv->vote);
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        handle_snapshot_update(s, srv, u);
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        handle_entries_update(s, srv, u);
    }
    if (u->flags & RAFT_UPDATE_MESSAGES) {
        for (unsigned k = 0; k < u->messages.n && !s->failed; k++) {
            send_message(s, srv, &u->messages.batch[k]);
        }
    } else if (u->messages.n != 0) {
        fail(s, "server %u: messages without RAFT_UPDATE_MESSAGES", srv->i);
    }
    if (u->flags & RAFT_UPDATE_STATE) {
        enum raft_state st = raft_state(&srv->raft);
        note(s, "s%u: now %s in term %llu", srv->i, raft_state_name(st),
             raft_current_term(&srv->raft));
        if (st == RAFT_LEADER) {
            s->stats.elections_won++;
        }
    }
    if (u->flags & RAFT_UPDATE_COMMIT_INDEX) {
        apply_committed(s, srv);
    }
    if (u->flags & RAFT_UPDATE_READS) {
        keep_reads(s, srv);
    }
}

/* Safety checks that concern one server after one of its steps. */
void check_server(struct sim *s, struct server *srv)
{
    char why[256];
    if (s->o.unchecked || raft_state(&srv->raft) != RAFT_LEADER) {
        return;
    }
    raft_term term = raft_current_term(&srv->raft);
    if (!sim_record_leader(&s->record, term, srv->id, why, sizeof why)) {
        fail(s, "%s", why);
        return;
    }
    /* Leader completeness (Raft paper section 5.4, dissertation 3.6.3): an entry committed
     * in a term before this leader's is in its log. "Committed in term T" is the term of the
     * leader that committed it, not the entry's own: a leader of term 7 may rightly lack an
     * entry of term 5 that only the leader of term 8 committed (it was on a minority when
     * term 7 was won), and a stale leader lacks what a newer leader committed meanwhile. */
    raft_index from = srv->snap.present ? srv->snap.index + 1 : 1;
    if (from < srv->mem.first) {
        from = srv->mem.first;
    }
    for (raft_index k = srv->commit + 1 > from ? srv->commit + 1 : from; k <= s->record.max_commit; k++) {
        const struct sim_committed *c = sim_record_get_committed(&s->record, k);
        struct sim_entry *e = sim_log_get(&srv->mem, k);
        if (c == NULL || c->committed_in >= term) {
            continue;
        }
        if (e == NULL || e->term != c->term || e->hash != c->hash) {
            fail(s, "leader completeness: leader %u of term %llu lacks committed entry %llu",
                 srv->i, term, k);
            return;
        }
    }
}

/* --- The persisted log -------------------------------------------------------------------- */

void durable_init(struct server *srv, raft_index first)
{
    srv->durable.first = first;
    srv->durable.shared_last = first - 1;
    sim_log_init(&srv->durable.priv, first);
}

void durable_reset(struct server *srv, raft_index first)
{
    srv->durable.first = first;
    srv->durable.shared_last = first - 1;
    sim_log_reset(&srv->durable.priv, first);
}

void durable_clear(struct server *srv)
{
    sim_log_clear(&srv->durable.priv, 1);
    durable_init(srv, 1);
}

raft_index durable_last(const struct server *srv)
{
    return sim_log_last(&srv->durable.priv);
}

struct sim_entry *durable_get(const struct server *srv, raft_index index)
{
    const struct durable_log *d = &srv->durable;
    if (index < d->first) {
        return NULL;
    }
    if (index <= d->shared_last) {
        return sim_log_get(&srv->mem, index);
    }
    return sim_log_get(&d->priv, index);
}

void durable_unshare(struct server *srv, raft_index from)
{
    struct durable_log *d = &srv->durable;
    if (from < d->first) {
        from = d->first;
    }
    if (from > d->shared_last) {
        return;
    }
    struct sim_log priv;
    sim_log_init(&priv, from);
    sim_log_reserve(&priv, (size_t)(d->shared_last - from + 1) + d->priv.n);
    for (raft_index k = from; k <= d->shared_last; k++) {
        struct sim_entry *e = sim_log_get(&srv->mem, k);
        if (e == NULL) {
            fprintf(stderr, "simulator: persisted entry %llu left the log\n", k);
            abort();
        }
        sim_log_append_entry(&priv, e);
    }
    for (size_t k = 0; k < d->priv.n; k++) {
        sim_log_append_entry(&priv, sim_log_at(&d->priv, k));
    }
    sim_log_clear(&d->priv, 1);
    d->priv = priv;
    d->shared_last = from - 1;
}

/* Removes the entries from `from` on (first <= from <= last + 1). */
static void durable_truncate(struct server *srv, raft_index from)
{
    struct durable_log *d = &srv->durable;
    if (from <= d->shared_last) {
        d->shared_last = from - 1;
        sim_log_reset(&d->priv, from);
    } else {
        sim_log_truncate(&d->priv, from);
    }
}

/* Appends `e`, the in-memory log's entry at the same index when `in_mem`. */
static void durable_append(struct server *srv, const struct sim_entry *e, bool in_mem)
{
    struct durable_log *d = &srv->durable;
    if (in_mem && d->priv.n == 0) {
        d->shared_last++;
        d->priv.first = d->shared_last + 1;
    } else {
        sim_log_append_entry(&d->priv, e);
    }
}

static void durable_drop_prefix(struct server *srv, raft_index upto)
{
    struct durable_log *d = &srv->durable;
    if (upto < d->first) {
        return;
    }
    d->first = upto + 1;
    if (upto > d->shared_last) {
        d->shared_last = upto;
        sim_log_drop_prefix(&d->priv, upto);
    }
}

/* --- Disk completions -------------------------------------------------------------------- */

static raft_term durable_term_at(struct server *srv, raft_index index)
{
    if (index == 0) {
        return 0;
    }
    struct sim_entry *e = durable_get(srv, index);
    if (e != NULL) {
        return e->term;
    }
    if (srv->durable_snap.present && srv->durable_snap.index == index) {
        return srv->durable_snap.term;
    }
    return (raft_term)-1; /* unknown */
}

void complete_write(struct sim *s, struct server *srv)
{
    struct write w = disk_pop(srv);
    char why[256];
    if (w.snapshot) {
        sim_snapshot_copy(&srv->durable_snap, w.snap);
        sim_snapshot_copy(&srv->snap, w.snap);
        durable_reset(srv, w.snap->index + 1);
        srv->installing = false;
        s->stats.snapshots_installed++;
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_SNAPSHOT;
        ev.persisted_snapshot.metadata.index = w.snap->index;
        ev.persisted_snapshot.metadata.term = w.snap->term;
        ev.persisted_snapshot.metadata.configuration_index = w.snap->conf_index;
        decode_conf(w.snap->conf, w.snap->conf_len,
                    &ev.persisted_snapshot.metadata.configuration);
        ev.persisted_snapshot.offset = 0;
        ev.persisted_snapshot.last = true;
        note(s, "s%u: snapshot %llu durable", srv->i, w.snap->index);
        disk_release(&w);
        step_or_fail(s, srv->i, &ev, "RAFT_PERSISTED_SNAPSHOT");
        raft_configuration_close(&ev.persisted_snapshot.metadata.configuration);
        return;
    }
    raft_index first = w.first;
    if (first <= durable_last(srv) + 1 && first >= srv->durable.first) {
        durable_truncate(srv, first);
    } else if (first > durable_last(srv) + 1 || first < srv->durable.first) {
        /* The durable log was replaced by a snapshot meanwhile; start over from here. */
        durable_reset(srv, first);
    }
    for (size_t k = 0; k < w.n; k++) {
        struct sim_entry *e = w.copy != NULL ? &w.copy[k] : sim_log_get(&srv->mem, first + k);
        raft_index index = first + k;
        if (e == NULL) {
            fail(s, "server %u: pending write %llu..%llu left the log", srv->i, first,
                 first + w.n - 1);
            break;
        }
        raft_term prev = s->o.unchecked ? (raft_term)-1 : durable_term_at(srv, index - 1);
        durable_append(srv, e, w.copy == NULL);
        if (prev != (raft_term)-1 &&
            !sim_record_persisted(&s->record, index, e->term, e->hash, prev, why, sizeof why)) {
            fail(s, "server %u: %s", srv->i, why);
        }
    }
    disk_release(&w);
    if (!w.dropped && w.report_end >= first && !s->failed) {
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_ENTRIES;
        ev.persisted_entries.index = w.report_end;
        step_or_fail(s, srv->i, &ev, "RAFT_PERSISTED_ENTRIES");
    }
}

int sim_snapshot(struct sim *s, unsigned i, unsigned trailing)
{
    struct server *srv = &s->servers[i];
    if (!srv->alive || srv->installing || srv->last_applied == 0 || srv->sm_conf == NULL) {
        return RAFT_BUSY;
    }
    if (srv->snap.present && srv->snap.index >= srv->last_applied) {
        return RAFT_BUSY;
    }
    struct sim_entry *e = sim_log_get(&srv->mem, srv->last_applied);
    if (e == NULL) {
        return RAFT_BUSY;
    }
    struct sim_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.present = true;
    snap.index = srv->last_applied;
    snap.term = e->term;
    snap.conf_index = srv->sm_conf_index;
    snap.conf = xmalloc(srv->sm_conf_len);
    memcpy(snap.conf, srv->sm_conf, srv->sm_conf_len);
    snap.conf_len = srv->sm_conf_len;
    snap.sm_hash = srv->sm_hash;
    snap.sm_count = srv->sm_count;

    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    ev.snapshot.metadata.index = snap.index;
    ev.snapshot.metadata.term = snap.term;
    ev.snapshot.metadata.configuration_index = snap.conf_index;
    decode_conf(snap.conf, snap.conf_len, &ev.snapshot.metadata.configuration);
    ev.snapshot.trailing = trailing;
    /* The snapshot is durable before the library hears of it. */
    sim_snapshot_copy(&srv->durable_snap, &snap);
    sim_snapshot_copy(&srv->snap, &snap);
    sim_snapshot_clear(&snap);
    int rv = sim_step_event(s, i, &ev);
    raft_configuration_close(&ev.snapshot.metadata.configuration);
    if (rv == 0) {
        s->stats.snapshots_taken++;
        raft_index keep_from = srv->snap.index > trailing ? srv->snap.index - trailing : 0;
        if (keep_from > 0) {
            disk_preserve(srv, 0, keep_from);
            durable_drop_prefix(srv, keep_from);
            sim_log_drop_prefix(&srv->mem, keep_from);
        }
        note(s, "s%u: snapshot at %llu (trailing %u)", i, srv->snap.index, trailing);
    }
    return rv;
}
