/* Cluster helpers and the counter FSM: see cluster.h. */
#include "cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above first: the helpers fail the running test on a hang. */
#include <cmocka.h>

/* --- Counter FSM ------------------------------------------------------------------------ */

#define COUNTER_SNAPSHOT_LEN 24

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void counter_add(struct counter *c, uint64_t value)
{
    c->total += value;
    c->count += 1;
    c->hash = (c->hash ^ value) * 1099511628211ULL + 1;
}

static int counter_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct counter *c = fsm->data;
    if (buf->len != 8) {
        return RAFT_MALFORMED;
    }
    counter_add(c, get_u64(buf->base));
    *result = (void *)(uintptr_t)c->total;
    return 0;
}

/* One buffer, raft_malloc'ed: with version 3 and snapshot_finalize NULL, raft frees it. */
static int counter_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct counter *c = fsm->data;
    struct raft_buffer *b = raft_malloc(sizeof *b);
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    b->len = COUNTER_SNAPSHOT_LEN;
    b->base = raft_malloc(b->len);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    put_u64(b->base, c->total);
    put_u64((uint8_t *)b->base + 8, c->count);
    put_u64((uint8_t *)b->base + 16, c->hash);
    c->n_snapshots += 1;
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

/* On success the FSM owns (and frees) the buffer, as the classic API specifies. */
static int counter_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct counter *c = fsm->data;
    const uint8_t *p = buf->base;
    if (buf->len != COUNTER_SNAPSHOT_LEN) {
        return RAFT_MALFORMED;
    }
    c->total = get_u64(p);
    c->count = get_u64(p + 8);
    c->hash = get_u64(p + 16);
    c->n_restores += 1;
    raft_free(buf->base);
    return 0;
}

void counter_fsm_init(struct raft_fsm *fsm, struct counter *counter)
{
    memset(counter, 0, sizeof *counter);
    memset(fsm, 0, sizeof *fsm);
    fsm->version = 3;
    fsm->data = counter;
    fsm->apply = counter_apply;
    fsm->snapshot = counter_snapshot;
    fsm->restore = counter_restore;
    fsm->snapshot_finalize = NULL;
    fsm->snapshot_async = NULL;
}

void counter_expect(struct counter *expected, const uint64_t *values, unsigned n)
{
    unsigned i;
    memset(expected, 0, sizeof *expected);
    for (i = 0; i < n; i++) {
        counter_add(expected, values[i]);
    }
}

bool counter_equal(const struct counter *a, const struct counter *b)
{
    return a->total == b->total && a->count == b->count && a->hash == b->hash;
}

/* --- Callback records ------------------------------------------------------------------- */

unsigned cb_clock;

static void record(struct cb_record *rec, int status)
{
    rec->calls += 1;
    rec->status = status;
    rec->order = ++cb_clock;
}

void record_apply_cb(struct raft_apply *req, int status, void *result)
{
    struct cb_record *rec = req->data;
    record(rec, status);
    rec->result = (uint64_t)(uintptr_t)result;
}

void record_barrier_cb(struct raft_barrier *req, int status)
{
    record(req->data, status);
}

void record_change_cb(struct raft_change *req, int status)
{
    record(req->data, status);
}

void record_transfer_cb(struct raft_transfer *req)
{
    record(req->data, 0);
}

bool cb_fired(struct cluster *c, void *arg)
{
    (void)c;
    return ((struct cb_record *)arg)->calls > 0;
}

/* --- Servers ---------------------------------------------------------------------------- */

static struct cluster_server *server_of(struct raft *r)
{
    return (struct cluster_server *)((char *)r - offsetof(struct cluster_server, raft));
}

static void server_close_cb(struct raft *r)
{
    struct cluster_server *s = server_of(r);
    s->closes += 1;
    s->close_order = ++cb_clock;
    s->io_closed_at_close_cb = memio_closed(&s->io);
}

/* Timeouts shared by every test: C-Raft's defaults, but a short InstallSnapshot timeout so
 * that a failed snapshot transfer is retried within a test's time budget. */
static void server_settings(struct cluster_server *s)
{
    raft_set_election_timeout(&s->raft, 1000);
    raft_set_heartbeat_timeout(&s->raft, 100);
    raft_set_install_snapshot_timeout(&s->raft, 1000);
}

static int server_init(struct cluster *c, unsigned i)
{
    struct cluster_server *s = &c->servers[i];
    int rv;
    memio_init(&s->io, &c->net, &s->store);
    memio_seed(&s->io, s->id);
    counter_fsm_init(&s->fsm, &s->counter);
    rv = raft_init(&s->raft, &s->io, &s->fsm, s->id, s->address);
    if (rv != 0) {
        memio_destroy(&s->io);
        return rv;
    }
    server_settings(s);
    s->alive = true;
    s->started = false;
    return 0;
}

struct cluster *cluster_new(unsigned n)
{
    struct cluster *c = calloc(1, sizeof *c);
    unsigned i;
    if (c == NULL || n > CLUSTER_MAX) {
        abort();
    }
    memio_net_init(&c->net);
    c->n = n;
    for (i = 0; i < n; i++) {
        struct cluster_server *s = &c->servers[i];
        s->id = i + 1;
        snprintf(s->address, sizeof s->address, "server-%u", i + 1);
        memio_store_init(&s->store);
        if (server_init(c, i) != 0) {
            abort();
        }
    }
    return c;
}

static bool io_closed(struct cluster *c, void *arg)
{
    (void)c;
    return memio_closed(arg);
}

void cluster_wait_io_closed(struct cluster *c, unsigned i)
{
    if (!cluster_step_until(c, io_closed, &c->servers[i].io, 10000)) {
        /* The instance never closed its raft_io: freeing it now would leave raft pointing at
         * freed memory, so stop here. */
        fail_msg("server %u: raft_io not closed 10 s after raft_close", i);
    }
}

void cluster_kill(struct cluster *c, unsigned i)
{
    struct cluster_server *s = &c->servers[i];
    unsigned closes = s->closes;
    raft_time deadline;
    if (!s->alive) {
        return;
    }
    raft_close(&s->raft, server_close_cb);
    s->alive = false;
    s->started = false;
    cluster_wait_io_closed(c, i);
    /* The close callback may come after the raft_io's (ours does so in the same event). */
    deadline = c->net.now + 10000;
    while (s->closes == closes && memio_net_next_time(&c->net) <= deadline &&
           memio_net_step(&c->net)) {
    }
    memio_destroy(&s->io);
}

void cluster_free(struct cluster *c)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        cluster_kill(c, i);
    }
    memio_net_close(&c->net);
    for (i = 0; i < c->n; i++) {
        memio_store_close(&c->servers[i].store);
    }
    free(c);
}

void cluster_configuration(struct cluster *c, unsigned n_voters, struct raft_configuration *conf)
{
    unsigned i;
    raft_configuration_init(conf);
    for (i = 0; i < n_voters; i++) {
        if (raft_configuration_add(conf, c->servers[i].id, c->servers[i].address, RAFT_VOTER) !=
            0) {
            abort();
        }
    }
}

int cluster_bootstrap(struct cluster *c, unsigned n_voters)
{
    struct raft_configuration conf;
    unsigned i;
    int rv = 0;
    cluster_configuration(c, n_voters, &conf);
    for (i = 0; i < n_voters && rv == 0; i++) {
        rv = raft_bootstrap(&c->servers[i].raft, &conf);
    }
    raft_configuration_close(&conf);
    return rv;
}

int cluster_start(struct cluster *c)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        struct cluster_server *s = &c->servers[i];
        if (s->alive && !s->started) {
            int rv = raft_start(&s->raft);
            if (rv != 0) {
                return rv;
            }
            s->started = true;
        }
    }
    return 0;
}

struct raft *cluster_raft(struct cluster *c, unsigned i)
{
    return &c->servers[i].raft;
}

int cluster_reinit(struct cluster *c, unsigned i)
{
    return server_init(c, i);
}

int cluster_restart(struct cluster *c, unsigned i)
{
    int rv = server_init(c, i);
    if (rv != 0) {
        return rv;
    }
    rv = raft_start(&c->servers[i].raft);
    if (rv == 0) {
        c->servers[i].started = true;
    }
    return rv;
}

void cluster_isolate(struct cluster *c, unsigned i, bool isolated)
{
    memio_net_isolate(&c->net, c->servers[i].id, isolated);
}

/* --- Loop ------------------------------------------------------------------------------- */

bool cluster_step_until(struct cluster *c, cluster_predicate pred, void *arg, unsigned max_ms)
{
    raft_time deadline = c->net.now + max_ms;
    for (;;) {
        if (pred(c, arg)) {
            return true;
        }
        if (memio_net_next_time(&c->net) > deadline || !memio_net_step(&c->net)) {
            return pred(c, arg);
        }
    }
}

static bool never(struct cluster *c, void *arg)
{
    (void)c;
    (void)arg;
    return false;
}

void cluster_step_for(struct cluster *c, unsigned ms)
{
    raft_time deadline = c->net.now + ms;
    cluster_step_until(c, never, NULL, ms);
    if (c->net.now < deadline) {
        c->net.now = deadline;
    }
}

static bool reachable(struct cluster *c, unsigned i)
{
    return c->servers[i].started && !c->net.isolated[c->servers[i].id];
}

static int server_index_of(struct cluster *c, raft_id id)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* Whether every reachable voter of the leader's configuration names it as leader. */
static bool followers_agree(struct cluster *c, unsigned l)
{
    const struct raft_configuration *conf = &c->servers[l].raft.configuration;
    unsigned k;
    for (k = 0; k < conf->n; k++) {
        int j = server_index_of(c, conf->servers[k].id);
        raft_id id = 0;
        const char *address = NULL;
        if (conf->servers[k].role != RAFT_VOTER || j < 0 || !reachable(c, (unsigned)j)) {
            continue;
        }
        raft_leader(&c->servers[j].raft, &id, &address);
        if (id != c->servers[l].id) {
            return false;
        }
    }
    return true;
}

int cluster_leader(struct cluster *c)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        if (reachable(c, i) && raft_state(&c->servers[i].raft) == RAFT_LEADER &&
            followers_agree(c, i)) {
            return (int)i;
        }
    }
    return -1;
}

bool cluster_has_leader(struct cluster *c, void *arg)
{
    (void)arg;
    return cluster_leader(c) >= 0;
}

int cluster_wait_leader(struct cluster *c)
{
    cluster_step_until(c, cluster_has_leader, NULL, 10000);
    return cluster_leader(c);
}

bool cluster_all_fsms_equal(struct cluster *c, void *arg)
{
    const struct counter *expected = arg;
    unsigned i;
    for (i = 0; i < c->n; i++) {
        if (reachable(c, i) && !counter_equal(&c->servers[i].counter, expected)) {
            return false;
        }
    }
    return true;
}

int cluster_apply(struct cluster *c, unsigned i, struct raft_apply *req, uint64_t value,
                  raft_apply_cb cb)
{
    struct raft_buffer buf;
    int rv;
    buf.len = 8;
    buf.base = raft_malloc(buf.len);
    if (buf.base == NULL) {
        return RAFT_NOMEM;
    }
    put_u64(buf.base, value);
    rv = raft_apply(&c->servers[i].raft, req, &buf, 1, cb);
    if (rv != 0) {
        raft_free(buf.base);
    }
    return rv;
}
