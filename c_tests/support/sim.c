/* The simulated cluster: options, lifecycle of servers (bootstrap, crash, restart), the event
 * loop and the run helpers. The host logic is in sim_host.c, the network in sim_net.c. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"


void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "simulator: out of memory\n");
        abort();
    }
    return p;
}

void note(struct sim *s, const char *fmt, ...)
{
    char *line = s->trace[s->trace_next++ % TRACE_LINES];
    int n = snprintf(line, TRACE_WIDTH, "%8llu ", s->now);
    va_list args;
    va_start(args, fmt);
    vsnprintf(line + n, TRACE_WIDTH - (size_t)n, fmt, args);
    va_end(args);
}

void fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed) {
        return;
    }
    s->failed = true;
    char why[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, sizeof why, fmt, args);
    va_end(args);
    fprintf(stderr, "\nSIMULATION FAILURE (seed %u, %u servers, t=%llu): %s\n", s->o.seed,
            s->o.n_servers, s->now, why);
    fprintf(stderr, "replay: RAFT_SEED=%u; last events:\n", s->o.seed);
    unsigned n = s->trace_next < TRACE_LINES ? s->trace_next : TRACE_LINES;
    for (unsigned k = s->trace_next - n; k < s->trace_next; k++) {
        fprintf(stderr, "  %s\n", s->trace[k % TRACE_LINES]);
    }
}

unsigned draw(struct sim *s, unsigned min, unsigned max)
{
    return raft_random(&s->rng, min, max);
}

void sim_options_default(struct sim_options *o, unsigned n_servers, unsigned seed)
{
    memset(o, 0, sizeof *o);
    o->n_servers = n_servers;
    o->seed = seed;
    o->latency_min = 5;
    o->latency_max = 15;
    o->disk_min = 1;
    o->disk_max = 10;
    o->election_timeout = 100;
    o->heartbeat_timeout = 20;
    o->install_snapshot_timeout = 200;
    o->snapshot_trailing = 10;
}

/* --- Configurations ------------------------------------------------------------------------ */

void encode_conf(struct raft_configuration *c, void **out, size_t *len)
{
    struct raft_buffer buf;
    if (raft_configuration_encode(c, &buf) != 0) {
        fprintf(stderr, "simulator: cannot encode configuration\n");
        abort();
    }
    *out = xmalloc(buf.len);
    memcpy(*out, buf.base, buf.len);
    *len = buf.len;
    raft_free(buf.base);
}

int decode_conf(const void *data, size_t len, struct raft_configuration *c)
{
    struct raft_buffer buf = {(void *)data, len};
    return raft_configuration_decode(&buf, c);
}

/* The configuration the host believes current: the last RAFT_CHANGE entry of its log, else
 * its snapshot's. */
static bool current_conf(struct server *srv, struct raft_configuration *c)
{
    for (size_t k = srv->mem.n; k > 0; k--) {
        struct sim_entry *e = sim_log_at(&srv->mem, k - 1);
        if (e->type == RAFT_CHANGE) {
            return decode_conf(sim_entry_data(e), e->len, c) == 0;
        }
    }
    if (srv->snap.present) {
        return decode_conf(srv->snap.conf, srv->snap.conf_len, c) == 0;
    }
    return false;
}

/* --- Lifecycle ----------------------------------------------------------------------------- */

/* Whether the durable snapshot supersedes the whole durable log. A log that stops short of
 * the snapshot was written before the snapshot was installed. A log whose entry at the
 * snapshot index has another term is older than what the snapshot covers: the server applied
 * (and snapshotted) committed entries that replaced it in memory, learned from the leader
 * before its own write of them was durable, and a crash lost that write (seed 20426 of the
 * randomized runs). Entries after a disagreeing one were never committed (log matching), so
 * the host drops them as the lost write would have. */
static bool durable_log_is_stale(struct server *srv)
{
    const struct sim_snapshot *snap = &srv->durable_snap;
    if (!snap->present) {
        return false;
    }
    if (durable_last(srv) < snap->index) {
        return true;
    }
    struct sim_entry *e = durable_get(srv, snap->index);
    return e != NULL && e->term != snap->term;
}

static void start_server(struct sim *s, struct server *srv)
{
    srv->alive = true;
    srv->incarnation++;
    if (raft_init(&srv->raft, NULL, NULL, srv->id, srv->address) != 0) {
        fail(s, "raft_init failed for server %u", srv->i);
        return;
    }
    srv->tracer.impl = srv;
    srv->tracer.version = 2;
    srv->tracer.emit = trace_emit;
    srv->raft.tracer = s->o.trace ? &srv->tracer : NULL;
    raft_seed(&srv->raft, s->o.seed * 7919u + srv->i * 104729u + srv->incarnation * 31u);
    raft_set_election_timeout(&srv->raft, s->o.election_timeout);
    raft_set_heartbeat_timeout(&srv->raft, s->o.heartbeat_timeout);
    raft_set_install_snapshot_timeout(&srv->raft, s->o.install_snapshot_timeout);
    raft_set_pre_vote(&srv->raft, s->o.pre_vote);
    if (s->o.max_inflight_entries > 0) {
        raft_set_max_inflight_entries(&srv->raft, s->o.max_inflight_entries);
    }
    if (durable_log_is_stale(srv)) {
        durable_reset(srv, srv->durable_snap.index + 1);
    }
    /* The in-memory log is loaded from the persisted one, which then shares its entries. */
    if (srv->durable.shared_last >= srv->durable.first) {
        fprintf(stderr, "simulator: a stopped server's persisted log shares entries\n");
        abort();
    }
    sim_log_copy(&srv->mem, &srv->durable.priv);
    srv->mem.first = srv->durable.first;
    srv->durable.shared_last = durable_last(srv);
    sim_log_reset(&srv->durable.priv, srv->durable.shared_last + 1);
    sim_snapshot_copy(&srv->snap, &srv->durable_snap);
    srv->last_applied = 0;
    srv->sm_hash = 0;
    srv->sm_count = 0;
    srv->commit = 0;
    srv->installing = false;
    srv->n_queue = 0;

    struct raft_event ev;
    struct raft_snapshot_metadata meta;
    struct raft_entry *entries = NULL;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = srv->term;
    ev.start.voted_for = srv->vote;
    ev.start.start_index = srv->durable.first;
    size_t n_durable = (size_t)(durable_last(srv) + 1 - srv->durable.first);
    if (srv->durable_snap.present) {
        memset(&meta, 0, sizeof meta);
        meta.index = srv->durable_snap.index;
        meta.term = srv->durable_snap.term;
        meta.configuration_index = srv->durable_snap.conf_index;
        decode_conf(srv->durable_snap.conf, srv->durable_snap.conf_len, &meta.configuration);
        ev.start.metadata = &meta;
    }
    if (n_durable > 0) {
        entries = xmalloc(n_durable * sizeof *entries);
        for (size_t k = 0; k < n_durable; k++) {
            struct sim_entry *e = durable_get(srv, srv->durable.first + k);
            entries[k].term = e->term;
            entries[k].type = (enum raft_entry_type)e->type;
            entries[k].buf.base = (void *)sim_entry_data(e);
            entries[k].buf.len = e->len;
            entries[k].batch = e->batch;
        }
        ev.start.entries = entries;
        ev.start.n_entries = (unsigned)n_durable;
    }
    note(s, "s%u: start term %llu vote %llu log %llu..%llu snapshot %llu", srv->i, srv->term,
         srv->vote, srv->durable.first, durable_last(srv),
         srv->durable_snap.present ? srv->durable_snap.index : 0);
    step_or_fail(s, srv->i, &ev, "RAFT_START");
    if (ev.start.metadata != NULL) {
        raft_configuration_close(&meta.configuration);
    }
    free(entries);
}

struct sim *sim_create(const struct sim_options *o)
{
    if (o->n_servers == 0 || o->n_servers > SIM_MAX_SERVERS) {
        return NULL;
    }
    struct sim *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->o = *o;
    if (s->o.n_voters == 0 || s->o.n_voters > s->o.n_servers) {
        s->o.n_voters = s->o.n_servers;
    }
    s->rng = o->seed;
    s->now = 1000;
    s->next_command = 1;
    sim_record_init(&s->record);
    net_init(s);

    /* Bootstrap: every initial voter stores term 1 and the same configuration entry. */
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        srv->i = i;
        srv->id = i + 1;
        srv->sim = s;
        snprintf(srv->address, sizeof srv->address, "server-%u", i + 1);
        durable_init(srv, 1);
        sim_log_init(&srv->mem, 1);
        if (i < s->o.n_voters) {
            raft_configuration_add(&conf, srv->id, srv->address, RAFT_VOTER);
        }
    }
    void *bootstrap;
    size_t bootstrap_len;
    encode_conf(&conf, &bootstrap, &bootstrap_len);
    raft_configuration_close(&conf);
    for (unsigned i = 0; i < s->o.n_voters; i++) {
        struct server *srv = &s->servers[i];
        srv->term = 1;
        sim_log_append(&srv->durable.priv, 1, RAFT_CHANGE, bootstrap, bootstrap_len);
    }
    free(bootstrap);
    for (unsigned i = 0; i < s->o.n_servers && !s->failed; i++) {
        start_server(s, &s->servers[i]);
    }
    return s;
}

void sim_crash(struct sim *s, unsigned i)
{
    struct server *srv = &s->servers[i];
    if (!srv->alive) {
        return;
    }
    note(s, "s%u: CRASH", i);
    s->stats.crashes++;
    raft_close(&srv->raft, NULL);
    srv->alive = false;
    disk_drop(srv, false);
    durable_unshare(srv, 0);
    sim_log_clear(&srv->mem, 1);
    purge_packets(s, i);
}

void sim_restart(struct sim *s, unsigned i)
{
    struct server *srv = &s->servers[i];
    if (srv->alive) {
        return;
    }
    note(s, "s%u: RESTART", i);
    start_server(s, srv);
}

void sim_destroy(struct sim *s)
{
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        if (srv->alive) {
            raft_close(&srv->raft, NULL);
        }
        disk_drop(srv, true);
        durable_clear(srv);
        sim_log_clear(&srv->mem, 1);
        sim_snapshot_clear(&srv->snap);
        sim_snapshot_clear(&srv->durable_snap);
        free(srv->sm_conf);
    }
    net_destroy(s);
    free(s->submit_entries);
    sim_record_free(&s->record);
    free(s);
}

/* --- The event loop ------------------------------------------------------------------------ */

bool sim_step(struct sim *s)
{
    if (s->failed) {
        return false;
    }
    /* The earliest of: a disk completion, a delivery, a timer. Ties go in that order, then by
     * server number, so that runs are deterministic. */
    raft_time best = (raft_time)-1;
    int kind = -1;
    unsigned who = 0;
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        struct write *w = srv->alive ? disk_head(srv) : NULL;
        if (w != NULL && w->due < best) {
            best = w->due;
            kind = 0;
            who = i;
        }
    }
    struct packet *p = net_peek(s);
    if (p != NULL && p->due < best) {
        best = p->due;
        kind = 1;
    }
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        if (srv->alive && raft_timeout(&srv->raft) < best) {
            best = raft_timeout(&srv->raft);
            kind = 2;
            who = i;
        }
    }
    if (kind < 0) {
        fail(s, "nothing left to do");
        return false;
    }
    if (best <= s->now) {
        if (++s->same_time_events > 100000) {
            fail(s, "livelock: 100000 events at time %llu", s->now);
            return false;
        }
    } else {
        s->same_time_events = 0;
        s->now = best;
    }
    if (kind == 0) {
        complete_write(s, &s->servers[who]);
    } else if (kind == 1) {
        struct packet arrived;
        net_pop(s, &arrived);
        deliver(s, &arrived);
    } else {
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_TIMEOUT;
        step_or_fail(s, who, &ev, "RAFT_TIMEOUT");
    }
    return !s->failed;
}

bool sim_failed(const struct sim *s)
{
    return s->failed;
}

raft_time sim_now(const struct sim *s)
{
    return s->now;
}

bool sim_run_until(struct sim *s, raft_time deadline)
{
    while (!s->failed) {
        /* Peek: stop before the first event past the deadline. */
        raft_time next = (raft_time)-1;
        for (unsigned i = 0; i < s->o.n_servers; i++) {
            struct server *srv = &s->servers[i];
            if (!srv->alive) {
                continue;
            }
            struct write *w = disk_head(srv);
            if (w != NULL && w->due < next) {
                next = w->due;
            }
            if (raft_timeout(&srv->raft) < next) {
                next = raft_timeout(&srv->raft);
            }
        }
        struct packet *p = net_peek(s);
        if (p != NULL && p->due < next) {
            next = p->due;
        }
        if (next > deadline) {
            if (s->now < deadline) {
                s->now = deadline;
            }
            return true;
        }
        sim_step(s);
    }
    return false;
}

int sim_leader(const struct sim *s)
{
    int best = -1;
    raft_term best_term = 0;
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        const struct server *srv = &s->servers[i];
        if (srv->alive && raft_state((struct raft *)&srv->raft) == RAFT_LEADER &&
            raft_current_term(&srv->raft) >= best_term) {
            best = (int)i;
            best_term = raft_current_term(&srv->raft);
        }
    }
    return best;
}

int sim_role_in(struct sim *s, unsigned i, unsigned target)
{
    struct raft_configuration c;
    int role = -1;
    if (!s->servers[i].alive || !current_conf(&s->servers[i], &c)) {
        return -1;
    }
    for (unsigned k = 0; k < c.n; k++) {
        if (c.servers[k].id == (raft_id)target + 1) {
            role = c.servers[k].role;
        }
    }
    raft_configuration_close(&c);
    return role;
}

/* A leader that a majority of the voters of its configuration know as leader. */
static int stable_leader(struct sim *s)
{
    int l = sim_leader(s);
    if (l < 0) {
        return -1;
    }
    unsigned followers = 0, voters = 0;
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        if (sim_role_in(s, (unsigned)l, i) != RAFT_VOTER) {
            continue;
        }
        voters++;
        raft_id leader_id = 0;
        if (s->servers[i].alive) {
            raft_leader(&s->servers[i].raft, &leader_id, NULL);
        }
        followers += leader_id == (raft_id)l + 1;
    }
    return followers * 2 > voters ? l : -1;
}

int sim_run_until_leader(struct sim *s, unsigned ms)
{
    raft_time deadline = s->now + ms;
    while (!s->failed && s->now <= deadline) {
        int l = stable_leader(s);
        if (l >= 0) {
            return l;
        }
        sim_step(s);
    }
    return -1;
}

static bool all_applied(struct sim *s, raft_index index)
{
    int leader = sim_leader(s);
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        if (!srv->alive) {
            continue;
        }
        /* Servers removed from the cluster are not expected to follow it. */
        int role = leader >= 0 ? sim_role_in(s, (unsigned)leader, i) : raft_role(&srv->raft);
        if (role != RAFT_VOTER && role != RAFT_STANDBY) {
            continue;
        }
        if (srv->last_applied < index) {
            return false;
        }
    }
    return true;
}

bool sim_run_until_applied(struct sim *s, raft_index index, unsigned ms)
{
    raft_time deadline = s->now + ms;
    while (!s->failed && s->now <= deadline) {
        if (all_applied(s, index)) {
            return true;
        }
        sim_step(s);
    }
    return false;
}

struct raft *sim_raft(struct sim *s, unsigned i)
{
    return &s->servers[i].raft;
}

bool sim_alive(const struct sim *s, unsigned i)
{
    return s->servers[i].alive;
}

raft_index sim_applied(const struct sim *s, unsigned i)
{
    return s->servers[i].last_applied;
}

raft_index sim_durable_last_index(const struct sim *s, unsigned i)
{
    return durable_last(&s->servers[i]);
}

raft_term sim_term_at(const struct sim *s, unsigned i, raft_index index)
{
    struct sim_entry *e = sim_log_get(&s->servers[i].mem, index);
    return e != NULL ? e->term : 0;
}

const void *sim_payload_at(const struct sim *s, unsigned i, raft_index index, size_t *len)
{
    struct sim_entry *e = sim_log_get(&s->servers[i].mem, index);
    *len = e != NULL ? e->len : 0;
    return e != NULL ? sim_entry_data(e) : NULL;
}

unsigned sim_durable_count(const struct sim *s, raft_index index, raft_term term)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct sim_entry *e = durable_get(&s->servers[i], index);
        n += e != NULL && e->term == term;
    }
    return n;
}

raft_index sim_max_commit(const struct sim *s)
{
    return s->record.max_commit;
}

int sim_submit(struct sim *s, unsigned i, unsigned n)
{
    return sim_submit_sized(s, i, n, 8);
}

int sim_submit_sized(struct sim *s, unsigned i, unsigned n, size_t len)
{
    struct server *srv = &s->servers[i];
    if (!srv->alive || n == 0 || len > SIM_ENTRY_MAX_LEN) {
        return RAFT_INVALID;
    }
    struct sim_batch *batch = sim_batch_new(len * n);
    if (s->submit_cap < n) {
        free(s->submit_entries);
        s->submit_cap = n;
        s->submit_entries = xmalloc(n * sizeof *s->submit_entries);
    }
    struct raft_entry *entries = s->submit_entries;
    char *payload = sim_batch_data(batch);
    for (unsigned k = 0; k < n; k++, payload += len) {
        /* The command's number, as much of it as fits, then its low byte repeated. */
        uint64_t command = s->next_command++;
        size_t head = len < sizeof command ? len : sizeof command;
        memcpy(payload, &command, head);
        memset(payload + head, (int)(command & 0xff), len - head);
        entries[k].term = raft_current_term(&srv->raft);
        entries[k].type = RAFT_COMMAND;
        entries[k].buf.base = payload;
        entries[k].buf.len = len;
        entries[k].batch = batch;
    }
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = entries;
    ev.submit.n = n;
    srv->lent = batch;
    int rv = sim_step_event(s, i, &ev);
    if (rv != 0) {
        sim_batch_unref(batch); /* on error the host still owns it */
    }
    return rv;
}

int sim_change(struct sim *s, unsigned leader, unsigned target, int role)
{
    struct server *srv = &s->servers[leader];
    struct raft_configuration cur, next;
    if (!srv->alive || !current_conf(srv, &cur)) {
        return RAFT_INVALID;
    }
    raft_configuration_init(&next);
    bool found = false;
    for (unsigned k = 0; k < cur.n; k++) {
        struct raft_server *sv = &cur.servers[k];
        if (sv->id == target + 1) {
            found = true;
            if (role < 0) {
                continue;
            }
            raft_configuration_add(&next, sv->id, sv->address, role);
        } else {
            raft_configuration_add(&next, sv->id, sv->address, sv->role);
        }
    }
    if (!found && role >= 0) {
        raft_configuration_add(&next, target + 1, s->servers[target].address, role);
    }
    raft_configuration_close(&cur);
    struct raft_buffer buf;
    int rv = raft_configuration_encode(&next, &buf);
    raft_configuration_close(&next);
    if (rv != 0) {
        return rv;
    }
    struct sim_batch *batch = sim_batch_new(buf.len);
    memcpy(sim_batch_data(batch), buf.base, buf.len);
    struct raft_entry entry = {raft_current_term(&srv->raft), RAFT_CHANGE,
                               {sim_batch_data(batch), buf.len}, batch};
    raft_free(buf.base);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = &entry;
    ev.submit.n = 1;
    srv->lent = batch;
    rv = sim_step_event(s, leader, &ev);
    if (rv != 0) {
        sim_batch_unref(batch);
    }
    note(s, "s%u: change s%u to role %d: %d", leader, target, role, rv);
    return rv;
}

void sim_set_capacity(struct sim *s, unsigned i, unsigned short capacity)
{
    s->servers[i].capacity = capacity;
}

/* The latest configuration in the server's log, as "conf: 1=V 2=S 3=P" (Voter, Stand-by, sPare). */
static void dump_configuration(struct server *srv)
{
    struct raft_configuration c;
    if (!current_conf(srv, &c)) {
        fprintf(stderr, "      conf: none\n");
        return;
    }
    fprintf(stderr, "      conf:");
    for (unsigned k = 0; k < c.n; k++) {
        int role = c.servers[k].role;
        fprintf(stderr, " %llu=%c", c.servers[k].id,
                role == RAFT_VOTER ? 'V' : role == RAFT_STANDBY ? 'S' : 'P');
    }
    fprintf(stderr, "\n");
    raft_configuration_close(&c);
}

void sim_dump(struct sim *s)
{
    for (unsigned i = 0; i < s->o.n_servers; i++) {
        struct server *srv = &s->servers[i];
        if (!srv->alive) {
            fprintf(stderr, "  s%u: down\n", i);
            continue;
        }
        raft_id leader = 0;
        raft_leader(&srv->raft, &leader, NULL);
        fprintf(stderr,
                "  s%u: %s term %llu leader %llu role %d commit %llu applied %llu last %llu "
                "durable %llu snapshot %llu%s writes %s\n",
                i, raft_state_name(raft_state(&srv->raft)), raft_current_term(&srv->raft), leader,
                raft_role(&srv->raft), raft_commit_index(&srv->raft), srv->last_applied,
                raft_last_index(&srv->raft), durable_last(srv),
                srv->snap.present ? srv->snap.index : 0, srv->installing ? " (installing)" : "",
                srv->disk.n > 0 ? "pending" : "none");
        dump_configuration(srv);
    }
}

void sim_stats(const struct sim *s, struct sim_stats *out)
{
    *out = s->stats;
}
