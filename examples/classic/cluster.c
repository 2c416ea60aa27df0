/* A Raft cluster in one process, written against C-Raft's classic ("v0") API only.
 *
 * Three servers share a tiny in-memory `struct raft_io` ("mio" below) and run a small key-value
 * state machine. The program bootstraps them, waits for a leader, applies commands, runs a
 * barrier, adds a fourth server and promotes it to voter, transfers leadership, takes snapshots,
 * stops one server and starts it again from what it had stored, and finally checks that every
 * state machine holds the same state. Each check prints "ok N - what" or "not ok N - what"; the
 * exit status is 0 only when every check passed.
 *
 * The same source builds against C-Raft 0.15 (Debian's libraft-dev), C-Raft 0.22.1 (default
 * build) and libraft-rs, and runs on any of their libraries:
 *
 *   cc -std=c11 -I<dir of raft.h> -o cluster examples/classic/cluster.c -L<lib dir> -lraft
 *
 * Everything is deterministic: time is simulated (it only moves when the loop runs the next
 * event), the "random" numbers come from a per-server generator seeded by the server's ID, and
 * every I/O request completes later, from the program's own loop, never inside the call that
 * started it, as a real disk or network would.
 *
 *   cluster [--prompt-callbacks]
 *
 * --prompt-callbacks also checks that each request's callback fires before the program moves on
 * (true of C-Raft 0.15 and libraft-rs). C-Raft 0.22 fires them only at raft_close when the
 * raft_io is not its own; without the option that is accepted (see "Client requests" below).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>

/* C-Raft 0.15 names message types RAFT_IO_*; 0.22.1 (which defines RAFT_VERSION_NUMBER) names
 * them RAFT_*. */
#ifdef RAFT_VERSION_NUMBER
#define MSG_APPEND_ENTRIES RAFT_APPEND_ENTRIES
#define MSG_INSTALL_SNAPSHOT RAFT_INSTALL_SNAPSHOT
#else
#define MSG_APPEND_ENTRIES RAFT_IO_APPEND_ENTRIES
#define MSG_INSTALL_SNAPSHOT RAFT_IO_INSTALL_SNAPSHOT
#endif

#define N_SERVERS 4         /* Servers 1-3 bootstrap the cluster; server 4 joins later. */
#define N_SLOTS 16          /* Keys of the key-value state machine. */
#define FIRST_BATCH 64      /* Commands applied by the first leader. */
#define SECOND_BATCH 32     /* Commands applied after the leadership transfer. */
#define THIRD_BATCH 32      /* Commands applied while one server is down. */
#define MAX_COMMANDS (FIRST_BATCH + SECOND_BATCH + THIRD_BATCH)
#define SNAPSHOT_THRESHOLD 16
#define SNAPSHOT_TRAILING 8
#define NETWORK_LATENCY 2   /* Simulated milliseconds from send to delivery. */
#define DISK_LATENCY 1      /* Simulated milliseconds per disk request. */
#define WAIT_LIMIT 30000    /* Simulated milliseconds any single wait may last. */

/* ------------------------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------------------------ */

static unsigned n_checks;
static unsigned n_failed;

/* Prints the outcome of one check; returns it so that a step can stop at its first failure. */
static bool check(bool passed, const char *what)
{
    n_checks++;
    if (!passed) {
        n_failed++;
    }
    printf("%s %u - %s\n", passed ? "ok" : "not ok", n_checks, what);
    fflush(stdout);
    return passed;
}

/* ------------------------------------------------------------------------------------------
 * What a server's disk holds. It belongs to the program, not to the raft_io, so that it
 * survives when the server is stopped and started again.
 * ------------------------------------------------------------------------------------------ */

struct stored_entry
{
    raft_term term;
    int type;
    void *data; /* malloc'd copy of the payload, or NULL when empty */
    size_t len;
};

struct store
{
    raft_term term;
    raft_id voted_for;
    raft_index start;             /* Index of entries[0]. */
    struct stored_entry *entries; /* The log, from index `start`. */
    size_t n;
    bool has_snapshot;
    raft_index snapshot_index;
    raft_term snapshot_term;
    struct raft_configuration snapshot_conf;
    raft_index snapshot_conf_index;
    void *snapshot_data;
    size_t snapshot_len;
    unsigned snapshots_written; /* Successful snapshot_put requests. */
};

static void store_init(struct store *s)
{
    memset(s, 0, sizeof *s);
    s->start = 1;
    raft_configuration_init(&s->snapshot_conf);
}

static bool store_is_empty(const struct store *s)
{
    return s->term == 0 && s->n == 0 && !s->has_snapshot;
}

/* Drops the entries from index `from` on (all of them when `from` precedes the log). */
static void store_truncate(struct store *s, raft_index from)
{
    size_t keep = from <= s->start ? 0 : (size_t)(from - s->start);
    while (s->n > keep) {
        s->n--;
        free(s->entries[s->n].data);
    }
}

/* Drops the entries up to and including index `upto`; the log then starts after it. */
static void store_drop_prefix(struct store *s, raft_index upto)
{
    if (upto < s->start) {
        return;
    }
    size_t drop = (size_t)(upto - s->start + 1);
    if (drop > s->n) {
        drop = s->n;
    }
    for (size_t i = 0; i < drop; i++) {
        free(s->entries[i].data);
    }
    memmove(s->entries, s->entries + drop, (s->n - drop) * sizeof *s->entries);
    s->n -= drop;
    s->start = upto + 1;
}

static int store_append(struct store *s, raft_term term, int type, const void *data, size_t len)
{
    struct stored_entry *grown = realloc(s->entries, (s->n + 1) * sizeof *grown);
    if (grown == NULL) {
        return RAFT_NOMEM;
    }
    s->entries = grown;
    struct stored_entry *e = &s->entries[s->n];
    e->term = term;
    e->type = type;
    e->len = len;
    e->data = NULL;
    if (len > 0) {
        e->data = malloc(len);
        if (e->data == NULL) {
            return RAFT_NOMEM;
        }
        memcpy(e->data, data, len);
    }
    s->n++;
    return 0;
}

/* Deep copy through the public API, so that the copy's memory is raft's to free or ours. */
static int configuration_copy(const struct raft_configuration *from, struct raft_configuration *to)
{
    raft_configuration_init(to);
    for (unsigned i = 0; i < from->n; i++) {
        const struct raft_server *s = &from->servers[i];
        int rv = raft_configuration_add(to, s->id, s->address, s->role);
        if (rv != 0) {
            raft_configuration_close(to);
            return rv;
        }
    }
    return 0;
}

static void store_close(struct store *s)
{
    store_truncate(s, 0);
    free(s->entries);
    free(s->snapshot_data);
    raft_configuration_close(&s->snapshot_conf);
}

/* A raft_snapshot with one buffer, every piece allocated with raft_malloc: raft_io's load and
 * snapshot_get hand these to raft, which frees them. */
static struct raft_snapshot *store_snapshot_copy(const struct store *s)
{
    struct raft_snapshot *snap = raft_malloc(sizeof *snap);
    if (snap == NULL) {
        return NULL;
    }
    memset(snap, 0, sizeof *snap);
    snap->index = s->snapshot_index;
    snap->term = s->snapshot_term;
    snap->configuration_index = s->snapshot_conf_index;
    snap->bufs = raft_malloc(sizeof *snap->bufs);
    void *data = raft_malloc(s->snapshot_len > 0 ? s->snapshot_len : 1);
    if (snap->bufs == NULL || data == NULL ||
        configuration_copy(&s->snapshot_conf, &snap->configuration) != 0) {
        raft_free(data);
        raft_free(snap->bufs);
        raft_free(snap);
        return NULL;
    }
    memcpy(data, s->snapshot_data, s->snapshot_len);
    snap->bufs[0].base = data;
    snap->bufs[0].len = s->snapshot_len;
    snap->n_bufs = 1;
    return snap;
}

/* ------------------------------------------------------------------------------------------
 * The event loop: a queue of timed events, run in (time, submission) order.
 * ------------------------------------------------------------------------------------------ */

enum event_kind {
    EV_TICK,          /* A raft_io's periodic tick. */
    EV_DELIVER,       /* A message reaches its destination server. */
    EV_APPEND_DONE,   /* Completions of requests... */
    EV_SEND_DONE,
    EV_PUT_DONE,
    EV_GET_DONE,
    EV_CLOSE_DONE     /* ...and of raft_io's close. */
};

struct mio;

struct event
{
    raft_time at;
    uint64_t seq;
    enum event_kind kind;
    struct mio *io;              /* The raft_io concerned (not for EV_DELIVER). */
    void *req;                   /* The request to complete. */
    struct raft_snapshot *snap;  /* EV_GET_DONE: the snapshot handed to raft. */
    raft_id to;                  /* EV_DELIVER: destination server. */
    struct raft_message message; /* EV_DELIVER: a deep copy, owned by the event. */
    char *from_address;          /* EV_DELIVER: the sender's address. */
    struct event *next;
};

struct network
{
    raft_time now;
    uint64_t seq;
    struct event *events; /* Sorted by (at, seq). */
    struct mio *by_id[N_SERVERS + 1]; /* Open raft_io of each server ID, or NULL. */
    unsigned delivered;
};

static struct event *event_new(struct network *net, enum event_kind kind, unsigned delay)
{
    struct event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        return NULL;
    }
    ev->kind = kind;
    ev->at = net->now + delay;
    ev->seq = net->seq++;
    struct event **link = &net->events;
    while (*link != NULL && ((*link)->at < ev->at ||
                             ((*link)->at == ev->at && (*link)->seq < ev->seq))) {
        link = &(*link)->next;
    }
    ev->next = *link;
    *link = ev;
    return ev;
}

/* Frees what a message copy owns, for a message that is never handed to raft. */
static void message_free_payload(struct raft_message *m)
{
    if (m->type == MSG_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
        raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    } else if (m->type == MSG_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

/* ------------------------------------------------------------------------------------------
 * mio: the in-memory raft_io (version 1). Its state hangs off io->impl; io->data belongs to raft.
 * ------------------------------------------------------------------------------------------ */

struct mio
{
    struct raft_io *io;
    struct network *net;
    struct store *store;
    raft_id id;
    char *address;
    unsigned tick_ms;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    raft_io_close_cb close_cb;
    bool closing;
    unsigned in_flight; /* Requests accepted and not completed yet. */
    uint64_t rng;
};

static struct mio *mio_of(struct raft_io *io)
{
    return io->impl;
}

/* Every accepted request completes through the loop; this counts it so close can wait. */
static int mio_schedule(struct mio *m, enum event_kind kind, unsigned delay, void *req,
                        struct raft_snapshot *snap)
{
    struct event *ev = event_new(m->net, kind, delay);
    if (ev == NULL) {
        return RAFT_NOMEM;
    }
    ev->io = m;
    ev->req = req;
    ev->snap = snap;
    m->in_flight++;
    return 0;
}

static int mio_init(struct raft_io *io, raft_id id, const char *address)
{
    struct mio *m = mio_of(io);
    if (id == 0 || id > N_SERVERS || m->net->by_id[id] != NULL) {
        snprintf(io->errmsg, sizeof io->errmsg, "server ID %llu unusable", (unsigned long long)id);
        return RAFT_BADID;
    }
    m->address = malloc(strlen(address) + 1);
    if (m->address == NULL) {
        return RAFT_NOMEM;
    }
    strcpy(m->address, address);
    m->id = id;
    m->rng = 0x9E3779B97F4A7C15ull * id;
    m->net->by_id[id] = m;
    return 0;
}

static int mio_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                    struct raft_snapshot **snapshot, raft_index *start_index,
                    struct raft_entry *entries[], size_t *n_entries)
{
    struct store *s = mio_of(io)->store;
    *snapshot = NULL;
    *entries = NULL;
    *n_entries = 0;
    if (s->has_snapshot) {
        *snapshot = store_snapshot_copy(s);
        if (*snapshot == NULL) {
            return RAFT_NOMEM;
        }
    }
    /* The start index names the first loaded entry; with no entries, the one after the
     * snapshot. */
    *start_index = s->n > 0 || !s->has_snapshot ? s->start : s->snapshot_index + 1;
    *term = s->term;
    *voted_for = s->voted_for;
    if (s->n == 0) {
        return 0;
    }
    /* All payloads in one batch, which raft frees once it released every entry. */
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        total += s->entries[i].len;
    }
    struct raft_entry *out = raft_malloc(s->n * sizeof *out);
    uint8_t *batch = raft_malloc(total > 0 ? total : 1);
    if (out == NULL || batch == NULL) {
        raft_free(out);
        raft_free(batch);
        return RAFT_NOMEM;
    }
    size_t offset = 0;
    for (size_t i = 0; i < s->n; i++) {
        out[i].term = s->entries[i].term;
        out[i].type = s->entries[i].type; /* an enum in 0.22.1, unsigned short in 0.15 */
        out[i].buf.base = batch + offset;
        out[i].buf.len = s->entries[i].len;
        out[i].batch = batch;
        if (s->entries[i].len > 0) {
            memcpy(batch + offset, s->entries[i].data, s->entries[i].len);
        }
        offset += s->entries[i].len;
    }
    *entries = out;
    *n_entries = s->n;
    return 0;
}

static int mio_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                     raft_io_recv_cb recv)
{
    struct mio *m = mio_of(io);
    m->tick_ms = msecs;
    m->tick = tick;
    m->recv = recv;
    struct event *ev = event_new(m->net, EV_TICK, msecs);
    if (ev == NULL) {
        return RAFT_NOMEM;
    }
    ev->io = m;
    return 0;
}

static int mio_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    struct store *s = mio_of(io)->store;
    if (!store_is_empty(s)) {
        return RAFT_CANTBOOTSTRAP;
    }
    struct raft_buffer buf;
    int rv = raft_configuration_encode(conf, &buf);
    if (rv != 0) {
        return rv;
    }
    rv = store_append(s, 1, RAFT_CHANGE, buf.base, buf.len);
    raft_free(buf.base);
    if (rv == 0) {
        s->term = 1;
        s->voted_for = 0;
    }
    return rv;
}

/* Appends the forced configuration as a new entry of the last stored term. */
static int mio_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    struct store *s = mio_of(io)->store;
    struct raft_buffer buf;
    int rv = raft_configuration_encode(conf, &buf);
    if (rv != 0) {
        return rv;
    }
    raft_term term = s->n > 0 ? s->entries[s->n - 1].term : s->term;
    rv = store_append(s, term, RAFT_CHANGE, buf.base, buf.len);
    raft_free(buf.base);
    return rv;
}

static int mio_set_term(struct raft_io *io, raft_term term)
{
    struct store *s = mio_of(io)->store;
    s->term = term;
    s->voted_for = 0;
    return 0;
}

static int mio_set_vote(struct raft_io *io, raft_id server_id)
{
    mio_of(io)->store->voted_for = server_id;
    return 0;
}

/* Copies the entries of an AppendEntries: payloads in one batch, the array with raft_malloc,
 * as the receiving raft expects to free them. */
static int copy_entries(const struct raft_entry *from, unsigned n, struct raft_entry **to)
{
    *to = NULL;
    if (n == 0) {
        return 0;
    }
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        total += from[i].buf.len;
    }
    struct raft_entry *out = raft_malloc(n * sizeof *out);
    uint8_t *batch = raft_malloc(total > 0 ? total : 1);
    if (out == NULL || batch == NULL) {
        raft_free(out);
        raft_free(batch);
        return RAFT_NOMEM;
    }
    size_t offset = 0;
    for (unsigned i = 0; i < n; i++) {
        out[i] = from[i];
        out[i].buf.base = batch + offset;
        out[i].batch = batch;
        if (from[i].buf.len > 0) {
            memcpy(batch + offset, from[i].buf.base, from[i].buf.len);
        }
        offset += from[i].buf.len;
    }
    *to = out;
    return 0;
}

/* A message as it would arrive off a wire: nothing shared with the sender's memory. */
static int copy_message(const struct raft_message *from, struct raft_message *to)
{
    *to = *from;
    if (from->type == MSG_APPEND_ENTRIES) {
        return copy_entries(from->append_entries.entries, from->append_entries.n_entries,
                            &to->append_entries.entries);
    }
    if (from->type == MSG_INSTALL_SNAPSHOT) {
        const struct raft_buffer *data = &from->install_snapshot.data;
        void *base = raft_malloc(data->len > 0 ? data->len : 1);
        if (base == NULL) {
            return RAFT_NOMEM;
        }
        if (configuration_copy(&from->install_snapshot.conf, &to->install_snapshot.conf) != 0) {
            raft_free(base);
            return RAFT_NOMEM;
        }
        memcpy(base, data->base, data->len);
        to->install_snapshot.data.base = base;
    }
    return 0;
}

static int mio_send(struct raft_io *io, struct raft_io_send *req,
                    const struct raft_message *message, raft_io_send_cb cb)
{
    struct mio *m = mio_of(io);
    req->cb = cb;
    struct event *ev = event_new(m->net, EV_DELIVER, NETWORK_LATENCY);
    if (ev == NULL) {
        return RAFT_NOMEM;
    }
    ev->to = message->server_id;
    ev->from_address = malloc(strlen(m->address) + 1);
    int rv = ev->from_address == NULL ? RAFT_NOMEM : copy_message(message, &ev->message);
    if (rv != 0) {
        /* Left in the queue without a destination: the loop discards it. */
        ev->to = 0;
        ev->message.type = 0;
        return rv;
    }
    strcpy(ev->from_address, m->address);
    ev->message.server_id = m->id;
    return mio_schedule(m, EV_SEND_DONE, 0, req, NULL);
}

/* The disk writes at once and reports later: what was handed over is stored even if the server
 * stops before the completion, as a disk may well do. */
static int mio_append(struct raft_io *io, struct raft_io_append *req,
                      const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct mio *m = mio_of(io);
    req->cb = cb;
    for (unsigned i = 0; i < n; i++) {
        int rv = store_append(m->store, entries[i].term, entries[i].type, entries[i].buf.base,
                              entries[i].buf.len);
        if (rv != 0) {
            return rv;
        }
    }
    return mio_schedule(m, EV_APPEND_DONE, DISK_LATENCY, req, NULL);
}

static int mio_truncate(struct raft_io *io, raft_index index)
{
    store_truncate(mio_of(io)->store, index);
    return 0;
}

/* Stores the snapshot, then compacts the log: with `trailing` 0 (a snapshot received from the
 * leader) the whole log goes; otherwise only entries older than the last `trailing` it covers. */
static int mio_snapshot_put(struct raft_io *io, unsigned trailing,
                            struct raft_io_snapshot_put *req,
                            const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct mio *m = mio_of(io);
    struct store *s = m->store;
    size_t len = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        len += snapshot->bufs[i].len;
    }
    uint8_t *data = malloc(len > 0 ? len : 1);
    struct raft_configuration conf;
    if (data == NULL) {
        return RAFT_NOMEM;
    }
    if (configuration_copy(&snapshot->configuration, &conf) != 0) {
        free(data);
        return RAFT_NOMEM;
    }
    size_t offset = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        memcpy(data + offset, snapshot->bufs[i].base, snapshot->bufs[i].len);
        offset += snapshot->bufs[i].len;
    }
    req->cb = cb;
    free(s->snapshot_data);
    raft_configuration_close(&s->snapshot_conf);
    s->has_snapshot = true;
    s->snapshot_index = snapshot->index;
    s->snapshot_term = snapshot->term;
    s->snapshot_conf = conf;
    s->snapshot_conf_index = snapshot->configuration_index;
    s->snapshot_data = data;
    s->snapshot_len = len;
    s->snapshots_written++;
    if (trailing == 0) {
        store_truncate(s, 0);
        s->start = snapshot->index + 1;
    } else if (snapshot->index > trailing) {
        store_drop_prefix(s, snapshot->index - trailing);
    }
    return mio_schedule(m, EV_PUT_DONE, DISK_LATENCY, req, NULL);
}

static int mio_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                            raft_io_snapshot_get_cb cb)
{
    struct mio *m = mio_of(io);
    if (!m->store->has_snapshot) {
        return RAFT_NOTFOUND;
    }
    struct raft_snapshot *snap = store_snapshot_copy(m->store);
    if (snap == NULL) {
        return RAFT_NOMEM;
    }
    req->cb = cb;
    return mio_schedule(m, EV_GET_DONE, DISK_LATENCY, req, snap);
}

static raft_time mio_time(struct raft_io *io)
{
    return mio_of(io)->net->now;
}

/* Uniform in [min, max), from a per-server xorshift generator. */
static int mio_random(struct raft_io *io, int min, int max)
{
    struct mio *m = mio_of(io);
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    if (max <= min) {
        return min;
    }
    uint64_t span = (uint64_t)((int64_t)max - (int64_t)min);
    return (int)((int64_t)min + (int64_t)(m->rng % span));
}

static void schedule_close_done(struct mio *m)
{
    struct event *ev = event_new(m->net, EV_CLOSE_DONE, 0);
    if (ev != NULL) {
        ev->io = m;
    }
}

/* Stops ticks and deliveries at once; requests in flight still complete (writes succeed, sends
 * report success, the message may be lost like any sent message), then the callback fires. */
static void mio_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct mio *m = mio_of(io);
    m->closing = true;
    m->close_cb = cb;
    if (m->id != 0 && m->net->by_id[m->id] == m) {
        m->net->by_id[m->id] = NULL;
    }
    for (struct event **link = &m->net->events; *link != NULL;) {
        struct event *ev = *link;
        if (ev->kind == EV_TICK && ev->io == m) {
            *link = ev->next;
            free(ev);
        } else {
            link = &ev->next;
        }
    }
    if (m->in_flight == 0) {
        schedule_close_done(m);
    }
}

static void mio_setup(struct raft_io *io, struct mio *m, struct network *net, struct store *store)
{
    memset(io, 0, sizeof *io);
    memset(m, 0, sizeof *m);
    m->io = io;
    m->net = net;
    m->store = store;
    io->version = 1;
#ifdef RAFT_VERSION_NUMBER
    /* C-Raft 0.22 reports this (KiB of disk reserved for new entries) to the leader, which
     * refuses new entries with RAFT_NOSPACE while a majority of voters report less than 4 MiB.
     * Memory is never short here: report the most the field holds. 0.15 has no such field. */
    io->capacity = UINT16_MAX;
#endif
    io->impl = m;
    io->init = mio_init;
    io->close = mio_close;
    io->load = mio_load;
    io->start = mio_start;
    io->bootstrap = mio_bootstrap;
    io->recover = mio_recover;
    io->set_term = mio_set_term;
    io->set_vote = mio_set_vote;
    io->send = mio_send;
    io->append = mio_append;
    io->truncate = mio_truncate;
    io->snapshot_put = mio_snapshot_put;
    io->snapshot_get = mio_snapshot_get;
    io->time = mio_time;
    io->random = mio_random;
}

static void mio_teardown(struct mio *m)
{
    free(m->address);
    m->address = NULL;
}

/* A completion: the request's callback, if it has one (C-Raft 0.15 sends its TimeoutNow with
 * none), then close's once nothing is left in flight. */
static void complete(struct event *ev)
{
    struct mio *m = ev->io;
    switch (ev->kind) {
        case EV_APPEND_DONE: {
            struct raft_io_append *req = ev->req;
            if (req->cb != NULL) {
                req->cb(req, 0);
            }
            break;
        }
        case EV_SEND_DONE: {
            struct raft_io_send *req = ev->req;
            if (req->cb != NULL) {
                req->cb(req, 0);
            }
            break;
        }
        case EV_PUT_DONE: {
            struct raft_io_snapshot_put *req = ev->req;
            if (req->cb != NULL) {
                req->cb(req, 0);
            }
            break;
        }
        case EV_GET_DONE: {
            struct raft_io_snapshot_get *req = ev->req;
            req->cb(req, ev->snap, 0); /* raft always asks for the snapshot it will use */
            break;
        }
        default:
            return;
    }
    m->in_flight--;
    if (m->closing && m->in_flight == 0) {
        schedule_close_done(m);
    }
}

static void deliver(struct network *net, struct event *ev)
{
    struct mio *to = ev->to <= N_SERVERS ? net->by_id[ev->to] : NULL;
    if (ev->to == 0 || ev->message.type == 0) {
        free(ev->from_address);
        return;
    }
    if (to == NULL || to->closing || to->recv == NULL) {
        message_free_payload(&ev->message);
        free(ev->from_address);
        return;
    }
    ev->message.server_address = ev->from_address;
    net->delivered++;
    /* raft takes the entries, the snapshot data and configuration; the address is ours. */
    to->recv(to->io, &ev->message);
    free(ev->from_address);
}

/* Runs the earliest event. Returns false when the queue is empty. */
static bool network_step(struct network *net)
{
    struct event *ev = net->events;
    if (ev == NULL) {
        return false;
    }
    net->events = ev->next;
    net->now = ev->at;
    switch (ev->kind) {
        case EV_TICK: {
            struct mio *m = ev->io;
            struct event *next = event_new(net, EV_TICK, m->tick_ms);
            if (next != NULL) {
                next->io = m;
            }
            m->tick(m->io);
            break;
        }
        case EV_DELIVER:
            deliver(net, ev);
            break;
        case EV_CLOSE_DONE:
            ev->io->closing = false;
            ev->io->close_cb(ev->io->io);
            break;
        default:
            complete(ev);
            break;
    }
    free(ev);
    return true;
}

/* Frees the messages still in flight once every raft_io is closed. */
static void network_close(struct network *net)
{
    while (net->events != NULL) {
        struct event *ev = net->events;
        net->events = ev->next;
        if (ev->kind == EV_DELIVER) {
            if (ev->to != 0 && ev->message.type != 0) {
                message_free_payload(&ev->message);
            }
            free(ev->from_address);
        } else if (ev->kind == EV_GET_DONE && ev->snap != NULL) {
            raft_configuration_close(&ev->snap->configuration);
            raft_free(ev->snap->bufs[0].base);
            raft_free(ev->snap->bufs);
            raft_free(ev->snap);
        }
        free(ev);
    }
}

/* ------------------------------------------------------------------------------------------
 * The state machine: N_SLOTS integer keys. A command sets one key; the machine also counts the
 * commands it applied and folds them into an order-sensitive hash, so that two machines agree
 * only if they applied the same commands in the same order.
 * ------------------------------------------------------------------------------------------ */

struct kv
{
    uint64_t slots[N_SLOTS];
    uint64_t applied;
    uint64_t hash;
    unsigned restores;  /* restore() calls that succeeded */
    unsigned snapshots; /* snapshot() calls */
};

#define KV_COMMAND_SIZE 16
#define KV_SNAPSHOT_SIZE ((N_SLOTS + 2) * 8)

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static int kv_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct kv *kv = fsm->data;
    if (buf->len != KV_COMMAND_SIZE) {
        return RAFT_MALFORMED;
    }
    uint64_t slot = get_u64(buf->base);
    uint64_t value = get_u64((const uint8_t *)buf->base + 8);
    if (slot >= N_SLOTS) {
        return RAFT_MALFORMED;
    }
    kv->slots[slot] = value;
    kv->applied++;
    kv->hash = (kv->hash ^ (slot << 56) ^ value) * 1099511628211ull;
    /* The result reaches the apply callback: the command's position in the machine's history. */
    *result = (void *)(uintptr_t)kv->applied;
    return 0;
}

/* fsm version 1: raft owns the buffers returned here and frees them with raft_free. */
static int kv_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct kv *kv = fsm->data;
    struct raft_buffer *out = raft_malloc(sizeof *out);
    uint8_t *data = raft_malloc(KV_SNAPSHOT_SIZE);
    if (out == NULL || data == NULL) {
        raft_free(out);
        raft_free(data);
        return RAFT_NOMEM;
    }
    for (int i = 0; i < N_SLOTS; i++) {
        put_u64(data + 8 * i, kv->slots[i]);
    }
    put_u64(data + 8 * N_SLOTS, kv->applied);
    put_u64(data + 8 * (N_SLOTS + 1), kv->hash);
    out->base = data;
    out->len = KV_SNAPSHOT_SIZE;
    *bufs = out;
    *n_bufs = 1;
    kv->snapshots++;
    return 0;
}

/* On success the machine owns buf->base (raft_free); on failure raft keeps it. */
static int kv_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct kv *kv = fsm->data;
    if (buf->len != KV_SNAPSHOT_SIZE) {
        return RAFT_MALFORMED;
    }
    const uint8_t *data = buf->base;
    for (int i = 0; i < N_SLOTS; i++) {
        kv->slots[i] = get_u64(data + 8 * i);
    }
    kv->applied = get_u64(data + 8 * N_SLOTS);
    kv->hash = get_u64(data + 8 * (N_SLOTS + 1));
    kv->restores++;
    raft_free(buf->base);
    return 0;
}

static void kv_setup(struct raft_fsm *fsm, struct kv *kv)
{
    memset(fsm, 0, sizeof *fsm);
    memset(kv, 0, sizeof *kv);
    fsm->version = 1;
    fsm->data = kv;
    fsm->apply = kv_apply;
    fsm->snapshot = kv_snapshot;
    fsm->restore = kv_restore;
}

static bool kv_equal(const struct kv *a, const struct kv *b)
{
    return a->applied == b->applied && a->hash == b->hash &&
           memcmp(a->slots, b->slots, sizeof a->slots) == 0;
}

/* ------------------------------------------------------------------------------------------
 * Servers and the cluster
 * ------------------------------------------------------------------------------------------ */

struct server
{
    raft_id id;
    char address[16];
    struct store store; /* survives restarts */
    struct raft_io io;
    struct mio mio;
    struct raft_fsm fsm;
    struct kv kv;
    struct raft *raft; /* NULL while the server is down */
    unsigned closes;   /* raft_close callbacks received for the current instance */
};

struct cluster
{
    struct network net;
    struct server servers[N_SERVERS + 1]; /* Indexed by ID; 0 unused. */
};

static void on_raft_closed(struct raft *r)
{
    struct server *s = r->data;
    s->closes++;
}

/* raft_init over the server's store, with a fresh raft_io and a fresh (empty) state machine, as
 * a process starting anew would have. */
static int server_init(struct cluster *c, struct server *s)
{
    s->raft = calloc(1, sizeof *s->raft);
    if (s->raft == NULL) {
        return RAFT_NOMEM;
    }
    s->closes = 0;
    mio_setup(&s->io, &s->mio, &c->net, &s->store);
    kv_setup(&s->fsm, &s->kv);
    int rv = raft_init(s->raft, &s->io, &s->fsm, s->id, s->address);
    if (rv != 0) {
        mio_teardown(&s->mio);
        free(s->raft);
        s->raft = NULL;
        return rv;
    }
    s->raft->data = s;
    raft_set_snapshot_threshold(s->raft, SNAPSHOT_THRESHOLD);
    raft_set_snapshot_trailing(s->raft, SNAPSHOT_TRAILING);
    return 0;
}

/* Runs the loop until `done` holds or WAIT_LIMIT simulated milliseconds passed. */
static bool run_until(struct cluster *c, bool (*done)(struct cluster *c, void *arg), void *arg)
{
    raft_time deadline = c->net.now + WAIT_LIMIT;
    while (!done(c, arg)) {
        if (c->net.now > deadline || !network_step(&c->net)) {
            return done(c, arg);
        }
    }
    return true;
}

static bool server_closed(struct cluster *c, void *arg)
{
    (void)c;
    return ((struct server *)arg)->closes > 0;
}

/* raft_close, then the loop until its callback fired; frees the instance. */
static bool server_stop(struct cluster *c, struct server *s)
{
    raft_close(s->raft, on_raft_closed);
    bool closed = run_until(c, server_closed, s);
    if (closed) {
        mio_teardown(&s->mio);
        free(s->raft);
        s->raft = NULL;
    }
    return closed && s->closes == 1;
}

/* The ID of the one leader every running server agrees on, or 0. */
static raft_id agreed_leader(struct cluster *c)
{
    raft_id leader = 0;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct raft *r = c->servers[id].raft;
        if (r == NULL || raft_state(r) == RAFT_UNAVAILABLE) {
            continue;
        }
        raft_id seen;
        const char *address;
        raft_leader(r, &seen, &address);
        if (seen == 0 || (leader != 0 && seen != leader)) {
            return 0;
        }
        leader = seen;
    }
    if (leader == 0 || c->servers[leader].raft == NULL ||
        raft_state(c->servers[leader].raft) != RAFT_LEADER) {
        return 0;
    }
    return leader;
}

static bool has_agreed_leader(struct cluster *c, void *arg)
{
    (void)arg;
    return agreed_leader(c) != 0;
}

/* ------------------------------------------------------------------------------------------
 * Client requests
 *
 * C-Raft 0.15 fires a request's callback as soon as the request completes. C-Raft 0.22's v0
 * layer queues completed requests and runs that queue only from its own libuv raft_io and its
 * fixture, and from raft_close: with any other raft_io, like this one, the callbacks all arrive
 * during raft_close. So the program waits for what its requests do (what the state machine
 * applied, the configuration, who leads) and accounts for the callbacks on their own: each must
 * fire exactly once, with status 0, by the time raft_close completed. With --prompt-callbacks it
 * also checks that they fired before the program moved on from the step that made them.
 * ------------------------------------------------------------------------------------------ */

struct outcome
{
    unsigned fired;
    int status;
    unsigned order; /* position among all request callbacks, from 1 */
};

enum { BARRIER_FIRST, BARRIER_PROMOTED, BARRIER_FINAL, N_BARRIERS };
enum { CHANGE_ADD, CHANGE_ASSIGN, N_CHANGES };

struct client
{
    bool prompt; /* --prompt-callbacks */
    unsigned n_fired;
    struct raft_apply applies[MAX_COMMANDS];
    struct outcome apply_out[MAX_COMMANDS];
    uintptr_t apply_result[MAX_COMMANDS];
    uintptr_t apply_expected[MAX_COMMANDS];
    unsigned n_applies;
    struct raft_barrier barriers[N_BARRIERS];
    struct outcome barrier_out[N_BARRIERS];
    unsigned n_barriers;
    struct raft_change changes[N_CHANGES];
    struct outcome change_out[N_CHANGES];
    unsigned n_changes;
    struct raft_transfer transfer;
    struct outcome transfer_out;
    unsigned n_transfers;
    struct raft_apply refused; /* submitted to a follower: must be refused */
    unsigned refused_fired;
};

static void record(struct client *cl, struct outcome *o, int status)
{
    o->fired++;
    o->status = status;
    o->order = ++cl->n_fired;
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    struct client *cl = req->data;
    size_t i = (size_t)(req - cl->applies);
    cl->apply_result[i] = (uintptr_t)result;
    record(cl, &cl->apply_out[i], status);
}

static void on_refused_applied(struct raft_apply *req, int status, void *result)
{
    (void)status;
    (void)result;
    ((struct client *)req->data)->refused_fired++;
}

static void on_barrier(struct raft_barrier *req, int status)
{
    struct client *cl = req->data;
    record(cl, &cl->barrier_out[req - cl->barriers], status);
}

static void on_change(struct raft_change *req, int status)
{
    struct client *cl = req->data;
    record(cl, &cl->change_out[req - cl->changes], status);
}

static void on_transfer(struct raft_transfer *req)
{
    struct client *cl = req->data;
    record(cl, &cl->transfer_out, 0);
}

struct outcomes
{
    const struct outcome *first;
    unsigned n;
};

static bool outcomes_fired(struct cluster *c, void *arg)
{
    (void)c;
    const struct outcomes *o = arg;
    for (unsigned i = 0; i < o->n; i++) {
        if (o->first[i].fired == 0) {
            return false;
        }
    }
    return true;
}

/* With --prompt-callbacks, a check that the step's callbacks fire (the loop runs until they do,
 * within the wait limit); without, a note of how many did so far. */
static void expect_fired(struct cluster *c, struct client *cl, const struct outcome *first,
                         unsigned n, const char *what)
{
    struct outcomes o = {first, n};
    char line[160];
    if (cl->prompt) {
        snprintf(line, sizeof line, "%s: the callbacks fired before the next step", what);
        check(run_until(c, outcomes_fired, &o), line);
        return;
    }
    unsigned fired = 0;
    for (unsigned i = 0; i < n; i++) {
        fired += first[i].fired > 0;
    }
    printf("# %s: %u of %u callbacks fired so far\n", what, fired, n);
}

/* Command number `i` sets key i % N_SLOTS to a value derived from i. */
static int submit_command(struct client *cl, struct raft *leader, unsigned i)
{
    struct raft_buffer buf;
    buf.len = KV_COMMAND_SIZE;
    buf.base = raft_malloc(buf.len);
    if (buf.base == NULL) {
        return RAFT_NOMEM;
    }
    put_u64(buf.base, i % N_SLOTS);
    put_u64((uint8_t *)buf.base + 8, 1000003ull * (i + 1));
    struct raft_apply *req = &cl->applies[i];
    req->data = cl;
    int rv = raft_apply(leader, req, &buf, 1, on_applied);
    if (rv != 0) {
        raft_free(buf.base); /* still ours when raft_apply fails */
    }
    return rv;
}

struct applied_wait
{
    const struct kv *kv;
    uint64_t target;
};

static bool machine_applied(struct cluster *c, void *arg)
{
    (void)c;
    const struct applied_wait *w = arg;
    return w->kv->applied >= w->target;
}

/* Submits commands [from, to) to the leader and runs until its state machine applied them. */
static bool apply_batch(struct cluster *c, struct client *cl, raft_id leader, unsigned from,
                        unsigned to, const char *what)
{
    struct raft *r = c->servers[leader].raft;
    uint64_t base = c->servers[leader].kv.applied;
    bool accepted = true;
    for (unsigned i = from; i < to && accepted; i++) {
        /* The result the state machine will hand back: the command's position in its history. */
        cl->apply_expected[i] = (uintptr_t)(base + (i - from) + 1);
        int rv = submit_command(cl, r, i);
        if (rv != 0) {
            printf("# raft_apply of command %u: %s (%s)\n", i, raft_strerror(rv), r->errmsg);
            accepted = false;
        }
        cl->n_applies = i + 1;
    }
    char line[160];
    snprintf(line, sizeof line, "%s: raft_apply accepted %u commands", what, to - from);
    if (!check(accepted, line)) {
        return false;
    }
    struct applied_wait w = {&c->servers[leader].kv, base + (to - from)};
    bool applied = run_until(c, machine_applied, &w);
    snprintf(line, sizeof line,
             "%s: the leader applied them; last_applied reached the last one's index", what);
    applied = check(applied && w.kv->applied == w.target &&
                        r->last_applied >= cl->applies[to - 1].index &&
                        raft_last_applied(r) == r->last_applied &&
                        r->commit_index >= r->last_applied,
                    line);
    expect_fired(c, cl, &cl->apply_out[from], to - from, what);
    return applied;
}

struct index_wait
{
    const struct raft *r;
    raft_index index;
};

static bool index_applied(struct cluster *c, void *arg)
{
    (void)c;
    const struct index_wait *w = arg;
    return w->r->last_applied >= w->index;
}

static bool run_barrier(struct cluster *c, struct client *cl, raft_id leader, unsigned which,
                        const char *what)
{
    struct raft *r = c->servers[leader].raft;
    struct raft_barrier *req = &cl->barriers[which];
    req->data = cl;
    char line[160];
    snprintf(line, sizeof line, "%s: raft_barrier accepted", what);
    if (!check(raft_barrier(r, req, on_barrier) == 0, line)) {
        return false;
    }
    cl->n_barriers = which + 1;
    struct index_wait w = {r, req->index};
    bool applied = run_until(c, index_applied, &w);
    snprintf(line, sizeof line, "%s: the leader applied the barrier", what);
    applied = check(applied && req->index > 0, line);
    expect_fired(c, cl, &cl->barrier_out[which], 1, what);
    return applied;
}

/* ------------------------------------------------------------------------------------------
 * The scenario
 * ------------------------------------------------------------------------------------------ */

static const struct raft_server *find_server(const struct raft_configuration *conf, raft_id id)
{
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id == id) {
            return &conf->servers[i];
        }
    }
    return NULL;
}

static bool bootstrap_and_start(struct cluster *c)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    bool ok = true;
    for (raft_id id = 1; id <= 3; id++) {
        ok = ok && raft_configuration_add(&conf, id, c->servers[id].address, RAFT_VOTER) == 0;
    }
    bool init = ok, boot = ok, start = ok;
    for (raft_id id = 1; id <= 3 && ok; id++) {
        struct server *s = &c->servers[id];
        init = init && server_init(c, s) == 0;
        boot = boot && init && raft_bootstrap(s->raft, &conf) == 0;
        start = start && boot && raft_start(s->raft) == 0;
    }
    raft_configuration_close(&conf);
    check(init, "raft_init with a raft_io and a raft_fsm on servers 1-3");
    check(boot, "raft_bootstrap of a 3-voter configuration on servers 1-3");
    return check(start, "raft_start on servers 1-3");
}

static raft_id elect(struct cluster *c)
{
    bool found = run_until(c, has_agreed_leader, NULL);
    raft_id leader = agreed_leader(c);
    if (!check(found && leader != 0, "a leader is elected and every server names it")) {
        return 0;
    }
    struct raft *r = c->servers[leader].raft;
    printf("# leader %llu at term %llu (simulated time %llu ms)\n", (unsigned long long)leader,
           (unsigned long long)r->current_term, (unsigned long long)c->net.now);
    bool terms = true;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct raft *other = c->servers[id].raft;
        terms = terms && (other == NULL || other->current_term == r->current_term);
    }
    check(terms && r->current_term >= 2 && r->voted_for == leader,
          "every server is at the leader's term (past the bootstrap term), the leader voted "
          "for itself");
    return leader;
}

static raft_id some_follower(struct cluster *c, raft_id leader)
{
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        if (id != leader && c->servers[id].raft != NULL) {
            return id;
        }
    }
    return 0;
}

static void apply_on_follower_fails(struct cluster *c, struct client *cl, raft_id leader)
{
    struct raft *follower = c->servers[some_follower(c, leader)].raft;
    struct raft_buffer buf = {raft_malloc(KV_COMMAND_SIZE), KV_COMMAND_SIZE};
    if (buf.base != NULL) {
        memset(buf.base, 0, KV_COMMAND_SIZE);
    }
    cl->refused.data = cl;
    int rv = raft_apply(follower, &cl->refused, &buf, 1, on_refused_applied);
    if (rv != 0) {
        raft_free(buf.base);
    }
    check(rv == RAFT_NOTLEADER && raft_state(follower) == RAFT_FOLLOWER,
          "raft_apply on a follower returns RAFT_NOTLEADER");
}

static bool snapshots_taken(struct cluster *c)
{
    bool stored = true, compacted = true, taken = true;
    for (raft_id id = 1; id <= 3; id++) {
        struct server *s = &c->servers[id];
        stored = stored && s->store.snapshots_written > 0 && s->store.has_snapshot;
        /* The stored log keeps at most the trailing entries before the snapshot plus what
         * came after it. */
        compacted = compacted && s->store.n <= SNAPSHOT_THRESHOLD + SNAPSHOT_TRAILING + 2;
        taken = taken && s->kv.snapshots > 0;
    }
    check(taken, "every state machine was asked for snapshots (threshold 16)");
    check(stored, "every raft_io stored a snapshot through snapshot_put");
    return check(compacted, "every stored log was compacted to the trailing entries");
}

static bool caught_up(struct cluster *c, void *arg)
{
    raft_id leader = *(raft_id *)arg;
    const struct kv *ref = &c->servers[leader].kv;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct server *s = &c->servers[id];
        if (s->raft != NULL && !kv_equal(&s->kv, ref)) {
            return false;
        }
    }
    return true;
}

/* Same state machines, and every server knows the leader's commit index and applied it all. */
static bool all_agree(struct cluster *c, void *arg)
{
    raft_id leader = *(raft_id *)arg;
    const struct raft *lr = c->servers[leader].raft;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        const struct raft *r = c->servers[id].raft;
        if (r != NULL && (r->commit_index != lr->commit_index ||
                          r->last_applied != lr->last_applied)) {
            return false;
        }
    }
    return caught_up(c, arg);
}

struct role_wait
{
    const struct raft *r;
    raft_id id;
    int role;
};

/* The server has the role in a configuration with no change pending. */
static bool role_committed(struct cluster *c, void *arg)
{
    (void)c;
    const struct role_wait *w = arg;
    const struct raft_server *s = find_server(&w->r->configuration, w->id);
    return s != NULL && s->role == w->role && w->r->configuration_uncommitted_index == 0;
}

static bool change_role(struct cluster *c, struct client *cl, raft_id leader, unsigned which,
                        int role, const char *what)
{
    struct raft *r = c->servers[leader].raft;
    struct raft_change *req = &cl->changes[which];
    req->data = cl;
    int rv = which == CHANGE_ADD
                 ? raft_add(r, req, 4, c->servers[4].address, on_change)
                 : raft_assign(r, req, 4, role, on_change);
    cl->n_changes = which + 1;
    char line[160];
    snprintf(line, sizeof line, "%s: accepted", what);
    if (!check(rv == 0, line)) {
        printf("# %s: %s (%s)\n", what, raft_strerror(rv), r->errmsg);
        return false;
    }
    struct role_wait w = {r, 4, role};
    snprintf(line, sizeof line, "%s: server 4 is a %s, the change is committed", what,
             role == RAFT_VOTER ? "voter" : "spare");
    bool done = check(run_until(c, role_committed, &w), line);
    expect_fired(c, cl, &cl->change_out[which], 1, what);
    return done;
}

static bool add_fourth_server(struct cluster *c, struct client *cl, raft_id leader)
{
    struct server *s4 = &c->servers[4];
    if (!check(server_init(c, s4) == 0 && raft_start(s4->raft) == 0,
               "server 4 starts with empty storage (no bootstrap)")) {
        return false;
    }
    if (!change_role(c, cl, leader, CHANGE_ADD, RAFT_SPARE, "raft_add of server 4") ||
        !change_role(c, cl, leader, CHANGE_ASSIGN, RAFT_VOTER,
                     "raft_assign(RAFT_VOTER) of server 4")) {
        return false;
    }
    check(c->servers[leader].raft->configuration.n == 4, "the configuration has 4 servers");
    run_barrier(c, cl, leader, BARRIER_PROMOTED, "after the promotion");
    bool same = run_until(c, caught_up, &leader);
    return check(same && s4->kv.restores > 0,
                 "server 4 caught up through an InstallSnapshot (its state machine was "
                 "restored)");
}

struct leader_wait
{
    raft_id target;
};

static bool target_leads(struct cluster *c, void *arg)
{
    return agreed_leader(c) == ((struct leader_wait *)arg)->target;
}

static raft_id transfer_leadership(struct cluster *c, struct client *cl, raft_id leader,
                                   raft_id target)
{
    struct raft *r = c->servers[leader].raft;
    cl->transfer.data = cl;
    int rv = raft_transfer(r, &cl->transfer, target, on_transfer);
    char line[160];
    snprintf(line, sizeof line, "raft_transfer from server %llu to server %llu accepted",
             (unsigned long long)leader, (unsigned long long)target);
    if (!check(rv == 0, line)) {
        return 0;
    }
    cl->n_transfers = 1;
    struct leader_wait w = {target};
    bool moved = run_until(c, target_leads, &w);
    snprintf(line, sizeof line, "server %llu leads, the old leader follows, every server names it",
             (unsigned long long)target);
    check(moved && raft_state(c->servers[target].raft) == RAFT_LEADER &&
              raft_state(r) == RAFT_FOLLOWER,
          line);
    expect_fired(c, cl, &cl->transfer_out, 1, "raft_transfer");
    return moved ? target : 0;
}

static bool restart_server(struct cluster *c, struct client *cl, raft_id leader, raft_id victim)
{
    struct server *s = &c->servers[victim];
    raft_term term_before = s->raft->current_term;
    uint64_t applied_before = s->kv.applied;
    char line[160];
    snprintf(line, sizeof line, "raft_close of server %llu: its close callback fired once",
             (unsigned long long)victim);
    if (!check(server_stop(c, s), line)) {
        return false;
    }
    if (!apply_batch(c, cl, leader, FIRST_BATCH + SECOND_BATCH, MAX_COMMANDS,
                     "while a server is down")) {
        return false;
    }
    if (!check(server_init(c, s) == 0, "raft_init again over the stopped server's storage")) {
        return false;
    }
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, victim, s->address, RAFT_VOTER);
    if (rv == 0) {
        rv = raft_bootstrap(s->raft, &conf);
    }
    raft_configuration_close(&conf);
    check(rv == RAFT_CANTBOOTSTRAP, "raft_bootstrap over non-empty storage: RAFT_CANTBOOTSTRAP");
    if (!check(raft_start(s->raft) == 0, "raft_start of the restarted server")) {
        return false;
    }
    struct raft *r = s->raft;
    check(r->current_term >= term_before && r->configuration.n == 4,
          "restart: term and 4-server configuration loaded from storage");
    check(s->kv.restores == 1 && r->last_applied >= s->store.snapshot_index &&
              s->kv.applied > 0 && s->kv.applied <= applied_before,
          "restart: raft_start restored the state machine from the stored snapshot");
    bool same = run_until(c, caught_up, &leader);
    return check(same && s->kv.applied == MAX_COMMANDS,
                 "the restarted server caught up with the commands it missed");
}

static void final_agreement(struct cluster *c, struct client *cl, raft_id leader)
{
    run_barrier(c, cl, leader, BARRIER_FINAL, "final");
    bool same = run_until(c, all_agree, &leader);
    const struct kv *ref = &c->servers[leader].kv;
    check(same && ref->applied == MAX_COMMANDS,
          "all 4 state machines hold the same state (every command, same order)");
    /* Every key holds what the last command on it wrote. */
    bool values = true;
    for (unsigned slot = 0; slot < N_SLOTS; slot++) {
        unsigned last = MAX_COMMANDS - N_SLOTS + slot;
        values = values && ref->slots[slot] == 1000003ull * (last + 1);
    }
    check(values, "each key holds the value of the last command that set it");
    bool applied = same;
    struct raft *lr = c->servers[leader].raft;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct raft *r = c->servers[id].raft;
        applied = applied && r != NULL && raft_last_applied(r) == raft_last_applied(lr);
    }
    printf("# %u commands, commit index %llu, %u messages delivered, %llu simulated ms\n",
           (unsigned)ref->applied, (unsigned long long)lr->commit_index, c->net.delivered,
           (unsigned long long)c->net.now);
    check(applied, "every server has the same commit index and last applied index");
}

static bool all_closed(struct cluster *c, void *arg)
{
    (void)arg;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        if (c->servers[id].raft != NULL && c->servers[id].closes == 0) {
            return false;
        }
    }
    return true;
}

/* raft_close on every running server, then the loop until every close callback fired. */
static void close_all(struct cluster *c)
{
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        if (c->servers[id].raft != NULL) {
            raft_close(c->servers[id].raft, on_raft_closed);
        }
    }
    bool closed = run_until(c, all_closed, NULL);
    bool once = true;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct server *s = &c->servers[id];
        if (s->raft == NULL) {
            continue;
        }
        once = once && s->closes == 1;
        if (s->closes > 0) {
            mio_teardown(&s->mio);
            free(s->raft);
            s->raft = NULL;
        }
    }
    check(closed && once, "raft_close on every server: each close callback fired once");
}

static bool all_once_with_success(const struct outcome *o, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (o[i].fired != 1 || o[i].status != 0) {
            return false;
        }
    }
    return true;
}

/* After every raft_close completed: each accepted request completed exactly once. */
static void account_callbacks(const struct client *cl)
{
    bool results = true, ordered = true;
    for (unsigned i = 0; i < cl->n_applies; i++) {
        results = results && cl->apply_result[i] == cl->apply_expected[i];
        /* Commands of one batch went to one leader and complete in log order. */
        bool same_batch = i + 1 < cl->n_applies && i + 1 != FIRST_BATCH &&
                          i + 1 != FIRST_BATCH + SECOND_BATCH;
        ordered = ordered && (!same_batch || cl->apply_out[i].order < cl->apply_out[i + 1].order);
    }
    printf("# callbacks: %u applies, %u barriers, %u changes, %u transfers submitted\n",
           cl->n_applies, cl->n_barriers, cl->n_changes, cl->n_transfers);
    check(cl->n_applies == MAX_COMMANDS && all_once_with_success(cl->apply_out, cl->n_applies),
          "every apply callback fired exactly once, with status 0");
    check(results, "each apply callback got the command's position in the leader's machine");
    check(ordered, "the apply callbacks of each batch fired in submission order");
    check(cl->n_barriers == N_BARRIERS && all_once_with_success(cl->barrier_out, N_BARRIERS),
          "every barrier callback fired exactly once, with status 0");
    check(cl->n_changes == N_CHANGES && all_once_with_success(cl->change_out, N_CHANGES),
          "the raft_add and raft_assign callbacks fired exactly once, with status 0");
    check(cl->n_transfers == 1 && cl->transfer_out.fired == 1,
          "the raft_transfer callback fired exactly once");
    check(cl->refused_fired == 0, "the request refused by a follower never completed");
}

static void scenario(struct cluster *c, struct client *cl)
{
    if (!bootstrap_and_start(c)) {
        return;
    }
    raft_id leader = elect(c);
    if (leader == 0) {
        return;
    }
    apply_on_follower_fails(c, cl, leader);
    if (!apply_batch(c, cl, leader, 0, FIRST_BATCH, "first leader") ||
        !run_barrier(c, cl, leader, BARRIER_FIRST, "first leader") || !snapshots_taken(c) ||
        !add_fourth_server(c, cl, leader)) {
        return;
    }
    leader = transfer_leadership(c, cl, leader, 4);
    if (leader == 0 ||
        !apply_batch(c, cl, leader, FIRST_BATCH, FIRST_BATCH + SECOND_BATCH, "new leader")) {
        return;
    }
    if (!restart_server(c, cl, leader, some_follower(c, leader))) {
        return;
    }
    final_agreement(c, cl, leader);
}

static void usage(const char *program)
{
    fprintf(stderr,
            "usage: %s [--prompt-callbacks]\n"
            "  --prompt-callbacks  also check that each request's callback fires before the\n"
            "                      next step (C-Raft 0.15, libraft-rs); without it callbacks may\n"
            "                      arrive as late as raft_close (C-Raft 0.22 with a raft_io\n"
            "                      other than its own)\n",
            program);
}

int main(int argc, char *argv[])
{
    static struct cluster cluster;
    static struct client client;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--prompt-callbacks") == 0) {
            client.prompt = true;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    struct cluster *c = &cluster;
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        struct server *s = &c->servers[id];
        s->id = id;
        snprintf(s->address, sizeof s->address, "server-%llu", (unsigned long long)id);
        store_init(&s->store);
    }
    scenario(c, &client);
    close_all(c);
    account_callbacks(&client);
    network_close(&c->net);
    for (raft_id id = 1; id <= N_SERVERS; id++) {
        store_close(&c->servers[id].store);
    }
    if (n_failed > 0) {
        printf("# FAILED: %u of %u checks\n", n_failed, n_checks);
        return 1;
    }
    printf("# all %u checks passed\n", n_checks);
    return 0;
}
