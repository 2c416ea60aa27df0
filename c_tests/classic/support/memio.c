/* In-memory raft_io: see memio.h for what it simulates and why. */
#include "memio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    EV_TICK = 1,
    EV_APPEND,
    EV_TRUNCATE,
    EV_SNAPSHOT_PUT,
    EV_SNAPSHOT_GET,
    EV_SEND_DONE,
    EV_DELIVER,
    EV_CLOSE,
};

struct memio_event
{
    int kind;
    raft_time at;
    uint64_t seq;
    struct memio_event *next;
    struct memio *owner; /* The raft_io that issued it (NULL for a delivery). */
    int status;          /* Completion status decided when the request was made. */
    union {
        struct
        {
            struct raft_io_append *req;
            raft_io_append_cb cb;
            struct raft_entry *entries; /* Copies, malloc'ed */
            unsigned n;
        } append;
        struct
        {
            raft_index index;
        } truncate;
        struct
        {
            struct raft_io_snapshot_put *req;
            raft_io_snapshot_put_cb cb;
            struct raft_snapshot *snapshot; /* Copy, malloc'ed, one buffer */
            unsigned trailing;
        } put;
        struct
        {
            struct raft_io_snapshot_get *req;
            raft_io_snapshot_get_cb cb;
        } get;
        struct
        {
            struct raft_io_send *req;
            raft_io_send_cb cb;
        } send;
        struct
        {
            raft_id from;
            raft_id to;
            char *from_address;
            struct raft_message message; /* Deep copy in raft_malloc memory */
        } deliver;
    };
};

struct memio
{
    struct raft_io *io;
    struct memio_net *net;
    struct memio_store *store;
    raft_id id;
    char *address;
    bool started;
    bool closing;
    bool closed;
    unsigned tick_msecs;
    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    raft_io_close_cb close_cb;
    uint64_t random_state;
    raft_time disk_free_at; /* The disk completes requests one after the other. */
    unsigned fail_append;   /* Countdown to the failing call; 0 = none. */
    unsigned fail_send;
    unsigned fail_snapshot_put;
    bool fail_init;
    bool fail_load;
    bool disk_broken; /* An append failed: no more log writes until restart. */
};

/* --- Small helpers ---------------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        abort(); /* Test support: running out of memory is not a case we test here. */
    }
    return p;
}

static void *xraft_malloc(size_t n)
{
    void *p = raft_malloc(n > 0 ? n : 1);
    if (p == NULL) {
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *copy = xmalloc(strlen(s) + 1);
    strcpy(copy, s);
    return copy;
}

/* Whether this call is the one a countdown armed by memio_fail_* designates. */
static bool countdown_fires(unsigned *countdown)
{
    if (*countdown == 0) {
        return false;
    }
    *countdown -= 1;
    return *countdown == 0;
}

/* Copies a configuration with the library's own allocator (raft_configuration_add), so that
 * raft_configuration_close can release it whoever ends up owning it. */
static int copy_configuration(const struct raft_configuration *src, struct raft_configuration *dst)
{
    unsigned i;
    raft_configuration_init(dst);
    for (i = 0; i < src->n; i++) {
        const struct raft_server *s = &src->servers[i];
        int rv = raft_configuration_add(dst, s->id, s->address, s->role);
        if (rv != 0) {
            raft_configuration_close(dst);
            return rv;
        }
    }
    return 0;
}

/* Copies a snapshot into `alloc`'ed memory, joining its buffers into one. */
static struct raft_snapshot *copy_snapshot(const struct raft_snapshot *src,
                                           void *(*alloc)(size_t))
{
    struct raft_snapshot *dst = alloc(sizeof *dst);
    size_t size = 0;
    uint8_t *cursor;
    unsigned i;
    memset(dst, 0, sizeof *dst);
    dst->index = src->index;
    dst->term = src->term;
    dst->configuration_index = src->configuration_index;
    if (copy_configuration(&src->configuration, &dst->configuration) != 0) {
        abort();
    }
    for (i = 0; i < src->n_bufs; i++) {
        size += src->bufs[i].len;
    }
    dst->bufs = alloc(sizeof *dst->bufs);
    dst->bufs[0].base = alloc(size);
    dst->bufs[0].len = size;
    dst->n_bufs = 1;
    cursor = dst->bufs[0].base;
    for (i = 0; i < src->n_bufs; i++) {
        if (src->bufs[i].len > 0) {
            memcpy(cursor, src->bufs[i].base, src->bufs[i].len);
            cursor += src->bufs[i].len;
        }
    }
    return dst;
}

static void free_snapshot(struct raft_snapshot *s, void (*release)(void *))
{
    unsigned i;
    if (s == NULL) {
        return;
    }
    raft_configuration_close(&s->configuration);
    for (i = 0; i < s->n_bufs; i++) {
        release(s->bufs[i].base);
    }
    release(s->bufs);
    release(s);
}

/* Copies entries with malloc'ed payloads, for the store and for pending appends. */
static struct raft_entry *copy_entries_private(const struct raft_entry *src, size_t n)
{
    struct raft_entry *dst = xmalloc(n * sizeof *dst);
    size_t i;
    for (i = 0; i < n; i++) {
        dst[i].term = src[i].term;
        dst[i].type = src[i].type;
        dst[i].buf.len = src[i].buf.len;
        dst[i].buf.base = xmalloc(src[i].buf.len);
        if (src[i].buf.len > 0) {
            memcpy(dst[i].buf.base, src[i].buf.base, src[i].buf.len);
        }
        dst[i].batch = NULL;
    }
    return dst;
}

static void free_entries_private(struct raft_entry *entries, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(entries[i].buf.base);
    }
    free(entries);
}

/* Copies entries as a transport or a disk loader hands them to raft: an array and one batch
 * holding every payload, both from raft_malloc; raft owns them afterwards. */
static struct raft_entry *copy_entries_for_raft(const struct raft_entry *src, size_t n)
{
    struct raft_entry *dst;
    size_t total = 0;
    uint8_t *batch;
    uint8_t *cursor;
    size_t i;
    if (n == 0) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        total += src[i].buf.len;
    }
    dst = xraft_malloc(n * sizeof *dst);
    batch = xraft_malloc(total);
    cursor = batch;
    for (i = 0; i < n; i++) {
        dst[i].term = src[i].term;
        dst[i].type = src[i].type;
        dst[i].buf.len = src[i].buf.len;
        dst[i].buf.base = cursor;
        dst[i].batch = batch;
        if (src[i].buf.len > 0) {
            memcpy(cursor, src[i].buf.base, src[i].buf.len);
        }
        cursor += src[i].buf.len;
    }
    return dst;
}

/* --- Store ------------------------------------------------------------------------------ */

void memio_store_init(struct memio_store *s)
{
    memset(s, 0, sizeof *s);
    s->start = 1;
}

void memio_store_close(struct memio_store *s)
{
    free_entries_private(s->entries, s->n);
    free_snapshot(s->snapshot, free);
    memio_store_init(s);
}

raft_index memio_store_last_index(const struct memio_store *s)
{
    if (s->n > 0) {
        return s->start + s->n - 1;
    }
    return s->snapshot != NULL ? s->snapshot->index : 0;
}

static bool store_is_pristine(const struct memio_store *s)
{
    return s->term == 0 && s->voted_for == 0 && s->snapshot == NULL && s->n == 0;
}

static void store_append(struct memio_store *s, struct raft_entry *entries, unsigned n)
{
    s->entries = realloc(s->entries, (s->n + n) * sizeof *s->entries);
    if (s->entries == NULL) {
        abort();
    }
    memcpy(&s->entries[s->n], entries, n * sizeof *entries);
    s->n += n;
    free(entries); /* The payloads now belong to the store. */
}

/* Deletes every stored entry from `index` on. */
static void store_truncate(struct memio_store *s, raft_index index)
{
    size_t keep;
    if (index <= s->start) {
        keep = 0;
    } else {
        keep = (size_t)(index - s->start);
    }
    while (s->n > keep) {
        s->n -= 1;
        free(s->entries[s->n].buf.base);
    }
}

/* Deletes the stored entries up to and including `index`. */
static void store_drop_prefix(struct memio_store *s, raft_index index)
{
    size_t drop, i;
    if (index < s->start) {
        return;
    }
    drop = (size_t)(index - s->start + 1);
    if (drop > s->n) {
        drop = s->n;
    }
    for (i = 0; i < drop; i++) {
        free(s->entries[i].buf.base);
    }
    memmove(s->entries, &s->entries[drop], (s->n - drop) * sizeof *s->entries);
    s->n -= drop;
    s->start += drop;
}

/* Stores a snapshot: trailing 0 replaces the whole log (an installed snapshot); otherwise the
 * entries up to `index - trailing` go, as C-Raft's disk backend does. */
static void store_put_snapshot(struct memio_store *s, struct raft_snapshot *snapshot,
                               unsigned trailing)
{
    free_snapshot(s->snapshot, free);
    s->snapshot = snapshot;
    s->n_snapshots_stored += 1;
    if (trailing == 0) {
        store_truncate(s, s->start);
        s->start = snapshot->index + 1;
    } else if (snapshot->index > trailing) {
        store_drop_prefix(s, snapshot->index - trailing);
    }
    if (s->n == 0 && s->start <= snapshot->index) {
        s->start = snapshot->index + 1;
    }
}

/* --- Events ----------------------------------------------------------------------------- */

static struct memio_event *event_new(struct memio_net *net, int kind, raft_time at,
                                     struct memio *owner)
{
    struct memio_event *e = xmalloc(sizeof *e);
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->at = at;
    e->seq = net->seq++;
    e->owner = owner;
    return e;
}

static void event_schedule(struct memio_net *net, struct memio_event *e)
{
    struct memio_event **p = &net->events;
    while (*p != NULL && ((*p)->at < e->at || ((*p)->at == e->at && (*p)->seq < e->seq))) {
        p = &(*p)->next;
    }
    e->next = *p;
    *p = e;
}

/* Frees what an event holds without running it. */
static void event_discard(struct memio_event *e)
{
    switch (e->kind) {
        case EV_APPEND:
            free_entries_private(e->append.entries, e->append.n);
            break;
        case EV_SNAPSHOT_PUT:
            free_snapshot(e->put.snapshot, free);
            break;
        case EV_DELIVER: {
            struct raft_message *m = &e->deliver.message;
            if (m->type == MEMIO_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
                raft_free(m->append_entries.entries[0].batch);
                raft_free(m->append_entries.entries);
            } else if (m->type == MEMIO_INSTALL_SNAPSHOT) {
                raft_configuration_close(&m->install_snapshot.conf);
                raft_free(m->install_snapshot.data.base);
            }
            free(e->deliver.from_address);
            break;
        }
        default:
            break;
    }
    free(e);
}

/* Requests go to the disk one after the other, each taking disk_latency. */
static raft_time disk_slot(struct memio *m)
{
    raft_time at = m->net->now + m->net->disk_latency;
    if (at <= m->disk_free_at) {
        at = m->disk_free_at + 1;
    }
    m->disk_free_at = at;
    return at;
}

static void run_tick(struct memio *m)
{
    struct memio_event *next = event_new(m->net, EV_TICK, m->net->now + m->tick_msecs, m);
    event_schedule(m->net, next);
    m->tick_cb(m->io);
}

static void run_append(struct memio *m, struct memio_event *e)
{
    if (e->status == 0) {
        store_append(m->store, e->append.entries, e->append.n);
    } else {
        free_entries_private(e->append.entries, e->append.n);
    }
    e->append.entries = NULL;
    e->append.n = 0;
    if (e->append.cb != NULL) {
        e->append.cb(e->append.req, e->status);
    }
}

static void run_snapshot_put(struct memio *m, struct memio_event *e)
{
    if (e->status == 0) {
        store_put_snapshot(m->store, e->put.snapshot, e->put.trailing);
    } else {
        free_snapshot(e->put.snapshot, free);
    }
    e->put.snapshot = NULL;
    if (e->put.cb != NULL) {
        e->put.cb(e->put.req, e->status);
    }
}

static void run_snapshot_get(struct memio *m, struct memio_event *e)
{
    struct raft_snapshot *copy = NULL;
    int status = e->status;
    if (status == 0 && m->store->snapshot == NULL) {
        status = RAFT_NOTFOUND;
    }
    if (status == 0) {
        copy = copy_snapshot(m->store->snapshot, xraft_malloc);
    }
    e->get.cb(e->get.req, copy, status);
}

static void run_deliver(struct memio_net *net, struct memio_event *e)
{
    struct memio *dst = net->live[e->deliver.to];
    struct raft_message *msg = &e->deliver.message;
    bool lost = dst == NULL || !dst->started || net->isolated[e->deliver.from] ||
                net->isolated[e->deliver.to] || net->drop[msg->type];
    if (lost) {
        event_discard(e);
        return;
    }
    msg->server_id = e->deliver.from;
    msg->server_address = e->deliver.from_address;
    net->n_delivered[msg->type] += 1;
    /* Entries, batch, snapshot configuration and data now belong to the receiver. */
    dst->recv_cb(dst->io, msg);
    free(e->deliver.from_address);
    free(e);
}

/* Finishes every request of `m` still in flight, then fires close. The disk completes its
 * queued writes (as a disk does before the process exits cleanly); sends and snapshot reads
 * are canceled. Canceling the writes instead would trip C-Raft 0.15, which asserts
 * (log.c, removeSuffix) when two leader appends fail one after the other. */
static void run_close(struct memio *m)
{
    struct memio_net *net = m->net;
    struct memio_event **p = &net->events;
    while (*p != NULL) {
        struct memio_event *e = *p;
        if (e->owner != m) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        switch (e->kind) {
            case EV_APPEND:
                run_append(m, e);
                break;
            case EV_TRUNCATE:
                store_truncate(m->store, e->truncate.index);
                break;
            case EV_SNAPSHOT_PUT:
                run_snapshot_put(m, e);
                break;
            case EV_SNAPSHOT_GET:
                e->get.cb(e->get.req, NULL, RAFT_CANCELED);
                break;
            case EV_SEND_DONE:
                if (e->send.cb != NULL) {
                    e->send.cb(e->send.req, RAFT_CANCELED);
                }
                break;
            default:
                break;
        }
        event_discard(e);
        p = &net->events; /* A callback may have changed the list: rescan. */
    }
    m->closed = true;
    if (m->close_cb != NULL) {
        m->close_cb(m->io);
    }
}

static void run_event(struct memio_net *net, struct memio_event *e)
{
    struct memio *m = e->owner;
    switch (e->kind) {
        case EV_TICK:
            run_tick(m);
            break;
        case EV_APPEND:
            run_append(m, e);
            break;
        case EV_TRUNCATE:
            store_truncate(m->store, e->truncate.index);
            break;
        case EV_SNAPSHOT_PUT:
            run_snapshot_put(m, e);
            break;
        case EV_SNAPSHOT_GET:
            run_snapshot_get(m, e);
            break;
        case EV_SEND_DONE:
            if (e->send.cb != NULL) {
                e->send.cb(e->send.req, e->status);
            }
            break;
        case EV_DELIVER:
            run_deliver(net, e);
            return; /* run_deliver frees e */
        case EV_CLOSE:
            run_close(m);
            break;
    }
    event_discard(e);
}

/* --- Network ---------------------------------------------------------------------------- */

void memio_net_init(struct memio_net *net)
{
    memset(net, 0, sizeof *net);
    net->network_latency = 10;
    net->disk_latency = 5;
}

void memio_net_close(struct memio_net *net)
{
    while (net->events != NULL) {
        struct memio_event *e = net->events;
        net->events = e->next;
        event_discard(e);
    }
}

bool memio_net_step(struct memio_net *net)
{
    struct memio_event *e = net->events;
    if (e == NULL) {
        return false;
    }
    net->events = e->next;
    if (e->at > net->now) {
        net->now = e->at;
    }
    run_event(net, e);
    return true;
}

raft_time memio_net_next_time(const struct memio_net *net)
{
    return net->events != NULL ? net->events->at : UINT64_MAX;
}

void memio_net_isolate(struct memio_net *net, raft_id id, bool isolated)
{
    if (id >= 1 && id <= MEMIO_MAX_ID) {
        net->isolated[id] = isolated;
    }
}

void memio_net_drop(struct memio_net *net, int type, bool drop)
{
    if (type >= 0 && type < (int)(sizeof net->drop / sizeof net->drop[0])) {
        net->drop[type] = drop;
    }
}

/* --- raft_io methods -------------------------------------------------------------------- */

static struct memio *impl_of(struct raft_io *io)
{
    return io->impl;
}

static int method_init(struct raft_io *io, raft_id id, const char *address)
{
    struct memio *m = impl_of(io);
    if (m->fail_init) {
        snprintf(io->errmsg, sizeof io->errmsg, "memio: injected init failure");
        return RAFT_IOERR;
    }
    if (id < 1 || id > MEMIO_MAX_ID || m->net->live[id] != NULL) {
        snprintf(io->errmsg, sizeof io->errmsg, "memio: ID %llu unusable", id);
        return RAFT_INVALID;
    }
    m->id = id;
    m->address = xstrdup(address);
    m->net->live[id] = m;
    return 0;
}

static void method_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct memio *m = impl_of(io);
    struct memio_event *e;
    if (m->closing) {
        return;
    }
    m->closing = true;
    m->close_cb = cb;
    if (m->id != 0 && m->net->live[m->id] == m) {
        m->net->live[m->id] = NULL;
    }
    e = event_new(m->net, EV_CLOSE, m->net->now, m);
    event_schedule(m->net, e);
}

static int method_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                       struct raft_snapshot **snapshot, raft_index *start_index,
                       struct raft_entry *entries[], size_t *n_entries)
{
    struct memio *m = impl_of(io);
    struct memio_store *s = m->store;
    if (m->fail_load) {
        snprintf(io->errmsg, sizeof io->errmsg, "memio: injected load failure");
        return RAFT_IOERR;
    }
    *term = s->term;
    *voted_for = s->voted_for;
    *snapshot = s->snapshot != NULL ? copy_snapshot(s->snapshot, xraft_malloc) : NULL;
    *start_index = s->start;
    *entries = copy_entries_for_raft(s->entries, s->n);
    *n_entries = s->n;
    return 0;
}

static int method_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                        raft_io_recv_cb recv)
{
    struct memio *m = impl_of(io);
    if (m->started || m->closing) {
        return RAFT_BUSY;
    }
    m->started = true;
    m->tick_msecs = msecs > 0 ? msecs : 1;
    m->tick_cb = tick;
    m->recv_cb = recv;
    event_schedule(m->net, event_new(m->net, EV_TICK, m->net->now + m->tick_msecs, m));
    return 0;
}

static struct raft_entry *configuration_entry(const struct raft_configuration *conf,
                                              raft_term term)
{
    struct raft_buffer buf;
    struct raft_entry *entry;
    if (raft_configuration_encode(conf, &buf) != 0) {
        return NULL;
    }
    entry = xmalloc(sizeof *entry);
    entry->term = term;
    entry->type = RAFT_CHANGE;
    entry->buf.len = buf.len;
    entry->buf.base = xmalloc(buf.len);
    memcpy(entry->buf.base, buf.base, buf.len);
    entry->batch = NULL;
    raft_free(buf.base);
    return entry;
}

static int method_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    struct memio *m = impl_of(io);
    struct raft_entry *entry;
    if (!store_is_pristine(m->store)) {
        snprintf(io->errmsg, sizeof io->errmsg, "memio: storage is not empty");
        return RAFT_CANTBOOTSTRAP;
    }
    entry = configuration_entry(conf, 1);
    if (entry == NULL) {
        return RAFT_INVALID;
    }
    m->store->term = 1;
    m->store->voted_for = 0;
    m->store->start = 1;
    store_append(m->store, entry, 1);
    return 0;
}

/* Appends the forced configuration to the stored log, in the stored term. */
static int method_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    struct memio *m = impl_of(io);
    struct raft_entry *entry;
    if (m->store->term == 0) {
        snprintf(io->errmsg, sizeof io->errmsg, "memio: nothing to recover");
        return RAFT_IOERR;
    }
    entry = configuration_entry(conf, m->store->term);
    if (entry == NULL) {
        return RAFT_INVALID;
    }
    store_append(m->store, entry, 1);
    return 0;
}

static int method_set_term(struct raft_io *io, raft_term term)
{
    struct memio *m = impl_of(io);
    m->store->term = term;
    m->store->voted_for = 0;
    return 0;
}

static int method_set_vote(struct raft_io *io, raft_id server_id)
{
    struct memio *m = impl_of(io);
    m->store->voted_for = server_id;
    return 0;
}

/* Copies a message's dynamic parts into raft_malloc memory for the receiver. */
static void copy_message(const struct raft_message *src, struct raft_message *dst)
{
    *dst = *src;
    if (src->type == MEMIO_APPEND_ENTRIES) {
        dst->append_entries.entries =
            copy_entries_for_raft(src->append_entries.entries, src->append_entries.n_entries);
    } else if (src->type == MEMIO_INSTALL_SNAPSHOT) {
        const struct raft_install_snapshot *is = &src->install_snapshot;
        if (copy_configuration(&is->conf, &dst->install_snapshot.conf) != 0) {
            abort();
        }
        dst->install_snapshot.data.base = xraft_malloc(is->data.len);
        if (is->data.len > 0) {
            memcpy(dst->install_snapshot.data.base, is->data.base, is->data.len);
        }
    }
}

static int method_send(struct raft_io *io, struct raft_io_send *req,
                       const struct raft_message *message, raft_io_send_cb cb)
{
    struct memio *m = impl_of(io);
    struct memio_net *net = m->net;
    raft_id to = message->server_id;
    struct memio_event *done = event_new(net, EV_SEND_DONE, net->now, m);
    done->send.req = req;
    done->send.cb = cb;
    if (countdown_fires(&m->fail_send)) {
        done->status = RAFT_IOERR;
    } else if (to < 1 || to > MEMIO_MAX_ID || net->isolated[to] || net->isolated[m->id]) {
        done->status = RAFT_NOCONNECTION;
    } else {
        struct memio_event *d = event_new(net, EV_DELIVER, net->now + net->network_latency, NULL);
        d->deliver.from = m->id;
        d->deliver.to = to;
        d->deliver.from_address = xstrdup(m->address);
        copy_message(message, &d->deliver.message);
        event_schedule(net, d);
    }
    event_schedule(net, done);
    return 0;
}

static int method_append(struct raft_io *io, struct raft_io_append *req,
                         const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct memio *m = impl_of(io);
    struct memio_event *e = event_new(m->net, EV_APPEND, disk_slot(m), m);
    e->append.req = req;
    e->append.cb = cb;
    e->append.entries = copy_entries_private(entries, n);
    e->append.n = n;
    if (countdown_fires(&m->fail_append)) {
        m->disk_broken = true;
    }
    e->status = m->disk_broken ? RAFT_IOERR : 0;
    event_schedule(m->net, e);
    return 0;
}

/* Ordered with the appends around it, as a disk backend queues it. */
static int method_truncate(struct raft_io *io, raft_index index)
{
    struct memio *m = impl_of(io);
    struct memio_event *e;
    if (m->disk_broken) {
        return 0; /* The log on disk is frozen at its last good write. */
    }
    e = event_new(m->net, EV_TRUNCATE, disk_slot(m), m);
    e->truncate.index = index;
    event_schedule(m->net, e);
    return 0;
}

static int method_snapshot_put(struct raft_io *io, unsigned trailing,
                               struct raft_io_snapshot_put *req,
                               const struct raft_snapshot *snapshot,
                               raft_io_snapshot_put_cb cb)
{
    struct memio *m = impl_of(io);
    struct memio_event *e = event_new(m->net, EV_SNAPSHOT_PUT, disk_slot(m), m);
    e->put.req = req;
    e->put.cb = cb;
    e->put.snapshot = copy_snapshot(snapshot, xmalloc);
    e->put.trailing = trailing;
    e->status = countdown_fires(&m->fail_snapshot_put) || m->disk_broken ? RAFT_IOERR : 0;
    event_schedule(m->net, e);
    return 0;
}

static int method_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                               raft_io_snapshot_get_cb cb)
{
    struct memio *m = impl_of(io);
    struct memio_event *e = event_new(m->net, EV_SNAPSHOT_GET, disk_slot(m), m);
    e->get.req = req;
    e->get.cb = cb;
    event_schedule(m->net, e);
    return 0;
}

static raft_time method_time(struct raft_io *io)
{
    return impl_of(io)->net->now;
}

/* xorshift64*, seeded by memio_seed: the same run every time. C-Raft 0.22.1 draws from it in
 * raft_init, before io->init tells the ID, hence an explicit seed. */
static int method_random(struct raft_io *io, int min, int max)
{
    struct memio *m = impl_of(io);
    uint64_t x = m->random_state;
    uint64_t span;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->random_state = x;
    if (max <= min) {
        return min;
    }
    /* The span is computed in 64 bits: random(0, INT_MAX) is a legitimate call. */
    span = (uint64_t)((int64_t)max - (int64_t)min + 1);
    return (int)((int64_t)min + (int64_t)((x * 2685821657736338717ULL) % span));
}

/* --- Setup ------------------------------------------------------------------------------ */

int memio_init(struct raft_io *io, struct memio_net *net, struct memio_store *store)
{
    struct memio *m = xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    m->io = io;
    m->net = net;
    m->store = store;
    m->random_state = 0x9E3779B97F4A7C15ULL;

    memset(io, 0, sizeof *io);
    io->version = 2;
    io->impl = m;
    io->init = method_init;
    io->close = method_close;
    io->load = method_load;
    io->start = method_start;
    io->bootstrap = method_bootstrap;
    io->recover = method_recover;
    io->set_term = method_set_term;
    io->set_vote = method_set_vote;
    io->send = method_send;
    io->append = method_append;
    io->truncate = method_truncate;
    io->snapshot_put = method_snapshot_put;
    io->snapshot_get = method_snapshot_get;
    io->time = method_time;
    io->random = method_random;
    /* C-Raft 0.15's version 2 also has async_work, for asynchronous FSM snapshots, which the
     * tests' FSM does not use; 0.22.1's header (RAFT_VERSION_NUMBER) dropped the member. */
#ifndef RAFT_VERSION_NUMBER
    io->async_work = NULL;
#else
    /* 0.22.1's header reports the free disk space of each server (to refuse commands with
     * RAFT_NOSPACE when a majority runs out); memio never does. */
    io->capacity = UINT16_MAX;
#endif
    return 0;
}

void memio_destroy(struct raft_io *io)
{
    struct memio *m = impl_of(io);
    if (m == NULL) {
        return;
    }
    if (m->id != 0 && m->net->live[m->id] == m) {
        m->net->live[m->id] = NULL;
    }
    /* A raft_io that raft never closed may still have requests queued: drop them. */
    {
        struct memio_event **p = &m->net->events;
        while (*p != NULL) {
            struct memio_event *e = *p;
            if (e->owner == m) {
                *p = e->next;
                event_discard(e);
            } else {
                p = &e->next;
            }
        }
    }
    free(m->address);
    free(m);
    io->impl = NULL;
}

void memio_seed(struct raft_io *io, uint64_t seed)
{
    /* xorshift must never hold 0 */
    impl_of(io)->random_state = 0x9E3779B97F4A7C15ULL ^ (seed * 0xBF58476D1CE4E5B9ULL);
    if (impl_of(io)->random_state == 0) {
        impl_of(io)->random_state = 1;
    }
}

void memio_fail_append(struct raft_io *io, unsigned nth)
{
    impl_of(io)->fail_append = nth;
}

void memio_fail_send(struct raft_io *io, unsigned nth)
{
    impl_of(io)->fail_send = nth;
}

void memio_fail_snapshot_put(struct raft_io *io, unsigned nth)
{
    impl_of(io)->fail_snapshot_put = nth;
}

void memio_fail_init(struct raft_io *io, bool fail)
{
    impl_of(io)->fail_init = fail;
}

void memio_fail_load(struct raft_io *io, bool fail)
{
    impl_of(io)->fail_load = fail;
}

bool memio_closed(const struct raft_io *io)
{
    return ((const struct memio *)io->impl)->closed;
}

unsigned memio_in_flight(const struct raft_io *io)
{
    const struct memio *m = io->impl;
    const struct memio_event *e;
    unsigned n = 0;
    for (e = m->net->events; e != NULL; e = e->next) {
        if (e->owner == m && e->kind != EV_TICK && e->kind != EV_CLOSE) {
            n++;
        }
    }
    return n;
}
