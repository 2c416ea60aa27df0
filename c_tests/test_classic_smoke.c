/* The classic API end to end on the smallest back-end that behaves like a real one: a
 * cluster of servers in one process, each with an in-memory raft_io whose writes, sends and
 * snapshot loads complete later (when the test's loop delivers them), deep copies on every
 * hand-over, and one clock. Scenario tests cover the driver's main paths (elect, apply,
 * barrier, membership, transfer, snapshots, restart, close with requests pending, I/O
 * failure); randomized runs (1 to 5 servers, random completion times, lost messages, crashes
 * and restarts, membership changes that shrink and grow the cluster, transfers) check election
 * safety after every round, state machine safety at every applied command, exactly-once
 * callbacks, and convergence once the faults stop. RAFT_CLASSIC_SEEDS=N runs N seeds. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

#define MAX_SERVERS 5
#define MAX_OPS 4096
#define MAX_LOG 4096

/* ---- storage ------------------------------------------------------------------------------ */

struct store {
    raft_term term;
    raft_id vote;
    raft_index start; /* index of log[0] */
    struct raft_entry log[MAX_LOG];
    unsigned n;
    bool has_snapshot;
    struct raft_snapshot snapshot; /* one buffer, owned */
};

static void *copy_bytes(const void *p, size_t n)
{
    void *q = raft_malloc(n > 0 ? n : 1);
    if (n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

static void copy_configuration(const struct raft_configuration *from, struct raft_configuration *to)
{
    raft_configuration_init(to);
    for (unsigned i = 0; i < from->n; i++) {
        assert_int_equal(raft_configuration_add(to, from->servers[i].id, from->servers[i].address,
                                                from->servers[i].role),
                         0);
    }
}

static void store_truncate(struct store *s, raft_index index)
{
    while (s->n > 0 && s->start + s->n - 1 >= index) {
        s->n--;
        raft_free(s->log[s->n].buf.base);
    }
}

static void store_drop_snapshot(struct store *s)
{
    if (s->has_snapshot) {
        raft_configuration_close(&s->snapshot.configuration);
        raft_free(s->snapshot.bufs[0].base);
        raft_free(s->snapshot.bufs);
        s->has_snapshot = false;
    }
}

static void store_close(struct store *s)
{
    store_truncate(s, 0);
    store_drop_snapshot(s);
}

/* ---- the back-end --------------------------------------------------------------------------- */

enum op_kind { OP_APPEND, OP_SEND, OP_DELIVER, OP_PUT, OP_GET };

struct op {
    enum op_kind kind;
    int node;
    raft_time due; /* completes in the first round at or after this time */
    uint64_t seq;
    void *req;
    void *cb;
    struct raft_message message; /* OP_DELIVER: owned copy */
    int status;
};

struct node {
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct store store;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    bool running;   /* raft_io started and not closed */
    bool alive;     /* raft_init'ed and not closed */
    bool closed;    /* close callback fired */
    uint64_t total; /* the FSM: sum of applied values, */
    uint64_t count; /* the number of commands applied */
    uint64_t hash;  /* and a hash of their sequence */
    raft_time last_tick;
    raft_id id;
    char address[24];
    bool fail_appends;
    unsigned refuse_applies; /* the FSM refuses this many commands before applying */
};

static struct node nodes[MAX_SERVERS];
static struct op ops[MAX_OPS];
static unsigned n_ops;
static raft_time now;
static uint64_t op_seq;

/* Randomized runs: completions take random time (a server's disk stays in order), messages
 * are lost, servers crash. Off for the scenario tests, which complete everything in the next
 * round in submission order. */
static struct {
    bool on;
    unsigned drop_percent;
    raft_time disk_due[MAX_SERVERS];
    uint64_t rng;
} chaos;

static unsigned chaos_rand(unsigned n)
{
    chaos.rng ^= chaos.rng << 13;
    chaos.rng ^= chaos.rng >> 7;
    chaos.rng ^= chaos.rng << 17;
    return n == 0 ? 0 : (unsigned)(chaos.rng % n);
}

/* What every server that applied its k-th command must agree on (state machine safety). */
#define MAX_COMMANDS 8192
static uint64_t hash_at[MAX_COMMANDS + 1];
static uint64_t value_at[MAX_COMMANDS + 1];

static int node_of(struct raft_io *io)
{
    return (int)((struct node *)io->impl - nodes);
}

static void free_message(struct raft_message *m);
static void run_op(struct op *op);

/* A back-end that completes requests from inside its methods (C-Raft's contract says it must
 * not; the library must still cope). */
static bool complete_inline;

static void push_op(struct op op)
{
    assert_true(n_ops < MAX_OPS);
    if (complete_inline) {
        run_op(&op);
        return;
    }
    op.seq = op_seq++;
    op.due = now;
    if (chaos.on) {
        switch (op.kind) {
            case OP_APPEND:
            case OP_PUT:
            case OP_GET:
                op.due = now + chaos_rand(25);
                if (op.due < chaos.disk_due[op.node]) {
                    op.due = chaos.disk_due[op.node];
                }
                chaos.disk_due[op.node] = op.due;
                break;
            case OP_SEND:
                op.due = now + chaos_rand(5);
                break;
            case OP_DELIVER:
                if (chaos_rand(100) < chaos.drop_percent) {
                    free_message(&op.message);
                    return;
                }
                op.due = now + 1 + chaos_rand(30);
                break;
        }
    }
    ops[n_ops++] = op;
}

static int io_init(struct raft_io *io, raft_id id, const char *address)
{
    (void)io;
    (void)id;
    (void)address;
    return 0;
}

static int io_load(struct raft_io *io, raft_term *term, raft_id *vote, struct raft_snapshot **snapshot,
                   raft_index *start, struct raft_entry **entries, size_t *n)
{
    struct store *s = &nodes[node_of(io)].store;
    *term = s->term;
    *vote = s->vote;
    *snapshot = NULL;
    if (s->has_snapshot) {
        struct raft_snapshot *copy = raft_malloc(sizeof *copy);
        *copy = s->snapshot;
        copy_configuration(&s->snapshot.configuration, &copy->configuration);
        copy->bufs = raft_malloc(sizeof *copy->bufs);
        copy->bufs[0].len = s->snapshot.bufs[0].len;
        copy->bufs[0].base = copy_bytes(s->snapshot.bufs[0].base, s->snapshot.bufs[0].len);
        copy->n_bufs = 1;
        *snapshot = copy;
    }
    *start = s->start;
    *n = s->n;
    *entries = NULL;
    if (s->n > 0) {
        *entries = raft_malloc(s->n * sizeof **entries);
        for (unsigned i = 0; i < s->n; i++) {
            (*entries)[i] = s->log[i];
            (*entries)[i].buf.base = copy_bytes(s->log[i].buf.base, s->log[i].buf.len);
            (*entries)[i].batch = (*entries)[i].buf.base;
        }
    }
    return 0;
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    (void)msecs;
    struct node *n = &nodes[node_of(io)];
    n->tick = tick;
    n->recv = recv;
    n->running = true;
    return 0;
}

static int io_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    struct store *s = &nodes[node_of(io)].store;
    if (s->term != 0 || s->n > 0) {
        return RAFT_CANTBOOTSTRAP;
    }
    struct raft_buffer buf;
    assert_int_equal(raft_configuration_encode(conf, &buf), 0);
    s->term = 1;
    s->start = 1;
    s->log[0] = (struct raft_entry){.term = 1, .type = RAFT_CHANGE, .buf = buf, .batch = buf.base};
    s->n = 1;
    return 0;
}

static int io_set_term(struct raft_io *io, raft_term term)
{
    struct store *s = &nodes[node_of(io)].store;
    s->term = term;
    s->vote = 0;
    return 0;
}

static int io_set_vote(struct raft_io *io, raft_id vote)
{
    nodes[node_of(io)].store.vote = vote;
    return 0;
}

static int io_truncate(struct raft_io *io, raft_index index)
{
    store_truncate(&nodes[node_of(io)].store, index);
    return 0;
}

static int io_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[],
                     unsigned n, raft_io_append_cb cb)
{
    struct node *node = &nodes[node_of(io)];
    struct store *s = &node->store;
    if (node->fail_appends) {
        push_op((struct op){.kind = OP_APPEND, .node = node_of(io), .req = req, .cb = (void *)cb,
                            .status = RAFT_IOERR});
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        assert_true(s->n < MAX_LOG);
        s->log[s->n] = entries[i];
        s->log[s->n].buf.base = copy_bytes(entries[i].buf.base, entries[i].buf.len);
        s->log[s->n].batch = s->log[s->n].buf.base;
        s->n++;
    }
    push_op((struct op){.kind = OP_APPEND, .node = node_of(io), .req = req, .cb = (void *)cb});
    return 0;
}

/* A message as the receiver gets it: everything it points to is a fresh raft-heap copy. */
static struct raft_message copy_message(const struct raft_message *m, int from)
{
    struct raft_message copy = *m;
    copy.server_id = nodes[from].id;
    copy.server_address = nodes[from].address;
    if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
        unsigned n = m->append_entries.n_entries;
        size_t total = 0;
        for (unsigned i = 0; i < n; i++) {
            total += m->append_entries.entries[i].buf.len;
        }
        uint8_t *batch = raft_malloc(total > 0 ? total : 1);
        struct raft_entry *entries = raft_malloc(n * sizeof *entries);
        size_t at = 0;
        for (unsigned i = 0; i < n; i++) {
            entries[i] = m->append_entries.entries[i];
            memcpy(batch + at, entries[i].buf.base, entries[i].buf.len);
            entries[i].buf.base = batch + at;
            entries[i].batch = batch;
            at += entries[i].buf.len;
        }
        copy.append_entries.entries = entries;
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT) {
        copy_configuration(&m->install_snapshot.conf, &copy.install_snapshot.conf);
        copy.install_snapshot.data.base =
            copy_bytes(m->install_snapshot.data.base, m->install_snapshot.data.len);
    }
    return copy;
}

static int find_node(raft_id id)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (nodes[i].id == id) {
            return i;
        }
    }
    return -1;
}

static int io_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
                   raft_io_send_cb cb)
{
    int from = node_of(io);
    int to = find_node(m->server_id);
    assert_string_equal(m->server_address, nodes[to].address);
    push_op((struct op){.kind = OP_DELIVER, .node = to, .message = copy_message(m, from)});
    push_op((struct op){.kind = OP_SEND, .node = from, .req = req, .cb = (void *)cb});
    return 0;
}

static int io_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct store *s = &nodes[node_of(io)].store;
    store_drop_snapshot(s);
    s->snapshot = *snapshot;
    copy_configuration(&snapshot->configuration, &s->snapshot.configuration);
    size_t total = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        total += snapshot->bufs[i].len;
    }
    uint8_t *data = raft_malloc(total > 0 ? total : 1);
    size_t at = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        memcpy(data + at, snapshot->bufs[i].base, snapshot->bufs[i].len);
        at += snapshot->bufs[i].len;
    }
    s->snapshot.bufs = raft_malloc(sizeof *s->snapshot.bufs);
    s->snapshot.bufs[0] = (struct raft_buffer){.base = data, .len = total};
    s->snapshot.n_bufs = 1;
    s->has_snapshot = true;
    if (trailing == 0) {
        store_truncate(s, 0);
        s->start = snapshot->index + 1;
    } else {
        /* Keep `trailing` entries before the snapshot's index. */
        raft_index keep_from = snapshot->index > trailing ? snapshot->index - trailing + 1 : 1;
        while (s->n > 0 && s->start < keep_from) {
            raft_free(s->log[0].buf.base);
            memmove(&s->log[0], &s->log[1], (s->n - 1) * sizeof s->log[0]);
            s->n--;
            s->start++;
        }
    }
    push_op((struct op){.kind = OP_PUT, .node = node_of(io), .req = req, .cb = (void *)cb});
    return 0;
}

static int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req, raft_io_snapshot_get_cb cb)
{
    push_op((struct op){.kind = OP_GET, .node = node_of(io), .req = req, .cb = (void *)cb});
    return 0;
}

static raft_time io_time(struct raft_io *io)
{
    (void)io;
    return now;
}

static int io_random(struct raft_io *io, int min, int max)
{
    (void)max;
    return min + node_of(io) * 7919;
}

/* Completes every queued operation of the node with RAFT_CANCELED, as a closing back-end does. */
static void cancel_ops_of(int node);

static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
    int i = node_of(io);
    nodes[i].running = false;
    cancel_ops_of(i);
    cb(io);
}

/* ---- the state machine ---------------------------------------------------------------------- */

/* The result of a command is the sum so far in the scenario tests, its ordinal in the
 * randomized runs. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    uint64_t value;
    if (n->refuse_applies > 0) {
        n->refuse_applies--;
        return RAFT_IOERR;
    }
    assert_true(buf->len >= 8);
    memcpy(&value, buf->base, 8);
    for (size_t i = 8; i < buf->len; i++) {
        assert_int_equal(((const uint8_t *)buf->base)[i], (uint8_t)(value + i - 8));
    }
    value += (uint64_t)(buf->len - 8) << 32; /* the length is part of what must agree */
    n->total += value;
    n->count++;
    n->hash = (n->hash ^ value) * 1099511628211ULL;
    assert_true(n->count <= MAX_COMMANDS);
    if (hash_at[n->count] == 0) {
        hash_at[n->count] = n->hash;
        value_at[n->count] = value;
    }
    /* State machine safety: every server applies the same command as its k-th. */
    assert_int_equal(hash_at[n->count], n->hash);
    *result = (void *)(uintptr_t)(chaos.on ? n->count : n->total);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    uint64_t state[3] = {n->total, n->count, n->hash};
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].base = copy_bytes(state, sizeof state);
    (*bufs)[0].len = sizeof state;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    uint64_t state[3];
    assert_int_equal(buf->len, sizeof state);
    memcpy(state, buf->base, sizeof state);
    n->total = state[0];
    n->count = state[1];
    n->hash = state[2];
    raft_free(buf->base);
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------------- */

static void run_op(struct op *op)
{
    struct node *n = &nodes[op->node];
    switch (op->kind) {
        case OP_APPEND:
            ((raft_io_append_cb)op->cb)(op->req, op->status);
            break;
        case OP_SEND:
            ((raft_io_send_cb)op->cb)(op->req, op->status);
            break;
        case OP_PUT:
            ((raft_io_snapshot_put_cb)op->cb)(op->req, op->status);
            break;
        case OP_GET: {
            struct raft_snapshot *copy = NULL;
            if (op->status == 0) {
                struct store *s = &n->store;
                copy = raft_malloc(sizeof *copy);
                *copy = s->snapshot;
                copy_configuration(&s->snapshot.configuration, &copy->configuration);
                copy->bufs = raft_malloc(sizeof *copy->bufs);
                copy->bufs[0].len = s->snapshot.bufs[0].len;
                copy->bufs[0].base = copy_bytes(s->snapshot.bufs[0].base, s->snapshot.bufs[0].len);
            }
            ((raft_io_snapshot_get_cb)op->cb)(op->req, copy, op->status);
            break;
        }
        case OP_DELIVER: {
            struct raft_message *m = raft_malloc(sizeof *m);
            *m = op->message;
            if (n->running) {
                n->recv(&n->io, m);
            } else {
                free_message(m);
            }
            raft_free(m);
            break;
        }
    }
}

/* Frees what a message copy owns (a delivery that never happened). */
static void free_message(struct raft_message *m)
{
    if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
        raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    } else if (m->type == RAFT_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

static void cancel_ops_of(int node)
{
    for (unsigned i = 0; i < n_ops; i++) {
        if (ops[i].node == node && ops[i].kind != OP_DELIVER) {
            struct op op = ops[i];
            memmove(&ops[i], &ops[i + 1], (n_ops - i - 1) * sizeof ops[0]);
            n_ops--;
            i--;
            op.status = RAFT_CANCELED;
            run_op(&op);
        }
    }
}

static int op_order(const void *a, const void *b)
{
    const struct op *x = a;
    const struct op *y = b;
    if (x->due != y->due) {
        return x->due < y->due ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/* One round: every queued operation that is due completes (in order of due time, then of
 * submission), then time moves 10 ms and ticks fire. */
static void round_trip(void)
{
    static struct op batch[MAX_OPS];
    unsigned n = 0;
    unsigned kept = 0;
    for (unsigned i = 0; i < n_ops; i++) {
        if (ops[i].due <= now) {
            batch[n++] = ops[i];
        } else {
            ops[kept++] = ops[i];
        }
    }
    n_ops = kept;
    qsort(batch, n, sizeof batch[0], op_order);
    for (unsigned i = 0; i < n; i++) {
        run_op(&batch[i]);
    }
    now += 10;
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct node *node = &nodes[i];
        if (node->running && now - node->last_tick >= node->raft.heartbeat_timeout) {
            node->last_tick = now;
            node->tick(&node->io);
        }
    }
}

static void node_init(int i)
{
    struct node *n = &nodes[i];
    n->io = (struct raft_io){.version = 2,
                             .impl = n,
                             .init = io_init,
                             .close = io_close,
                             .load = io_load,
                             .start = io_start,
                             .bootstrap = io_bootstrap,
                             .set_term = io_set_term,
                             .set_vote = io_set_vote,
                             .send = io_send,
                             .append = io_append,
                             .truncate = io_truncate,
                             .snapshot_put = io_snapshot_put,
                             .snapshot_get = io_snapshot_get,
                             .time = io_time,
                             .random = io_random};
    n->fsm = (struct raft_fsm){.version = 1, .data = n, .apply = fsm_apply, .snapshot = fsm_snapshot,
                               .restore = fsm_restore};
    n->total = 0;
    n->count = 0;
    n->hash = 0;
    n->closed = false;
    assert_int_equal(raft_init(&n->raft, &n->io, &n->fsm, n->id, n->address), 0);
    assert_ptr_equal(n->io.data, &n->raft);
    n->raft.data = n;
    n->alive = true;
}

static void cluster_init(int n_servers, int n_voters)
{
    memset(nodes, 0, sizeof nodes);
    memset(hash_at, 0, sizeof hash_at);
    complete_inline = false;
    memset(value_at, 0, sizeof value_at);
    n_ops = 0;
    now = 1000;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (int i = 0; i < n_servers; i++) {
        nodes[i].id = (raft_id)(i + 1);
        snprintf(nodes[i].address, sizeof nodes[i].address, "node-%d", i + 1);
    }
    for (int i = 0; i < n_voters; i++) {
        assert_int_equal(raft_configuration_add(&conf, nodes[i].id, nodes[i].address, RAFT_VOTER), 0);
    }
    for (int i = 0; i < n_servers; i++) {
        node_init(i);
        if (i < n_voters) {
            assert_int_equal(raft_bootstrap(&nodes[i].raft, &conf), 0);
        }
        raft_set_election_timeout(&nodes[i].raft, 200 + 50 * (unsigned)i);
        raft_set_heartbeat_timeout(&nodes[i].raft, 50);
        assert_int_equal(raft_start(&nodes[i].raft), 0);
    }
    raft_configuration_close(&conf);
}

static void close_cb(struct raft *r)
{
    struct node *n = r->data;
    n->closed = true;
}

static void node_close(int i)
{
    nodes[i].alive = false;
    raft_close(&nodes[i].raft, close_cb);
    assert_true(nodes[i].closed);
}

static void cluster_close(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (nodes[i].alive) {
            node_close(i);
        }
    }
    /* Deliveries to closed servers release their copies. */
    while (n_ops > 0) {
        round_trip();
    }
    for (int i = 0; i < MAX_SERVERS; i++) {
        store_close(&nodes[i].store);
    }
}

static int leader(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (nodes[i].alive && nodes[i].raft.state == RAFT_LEADER) {
            return i;
        }
    }
    return -1;
}

static int wait_for_leader(void)
{
    for (int round = 0; round < 2000; round++) {
        int l = leader();
        if (l >= 0 && nodes[l].raft.commit_index >= nodes[l].raft.last_stored &&
            raft_last_applied(&nodes[l].raft) == nodes[l].raft.commit_index) {
            return l;
        }
        round_trip();
    }
    fail_msg("no leader");
    return -1;
}

/* ---- requests ------------------------------------------------------------------------------- */

struct outcome {
    int fired;
    int status;
    uint64_t result;
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct outcome *o = req->data;
    o->fired++;
    o->status = status;
    o->result = (uint64_t)(uintptr_t)result;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct outcome *o = req->data;
    o->fired++;
    o->status = status;
}

static void change_cb(struct raft_change *req, int status)
{
    struct outcome *o = req->data;
    o->fired++;
    o->status = status;
}

static void transfer_cb(struct raft_transfer *req)
{
    struct outcome *o = req->data;
    o->fired++;
}

/* A command: the value, then `padding` bytes derived from it (payloads of any length travel,
 * are stored and come back intact). */
static int apply_padded(int node, struct raft_apply *req, struct outcome *o, uint64_t value,
                        size_t padding)
{
    struct raft_buffer buf = {.base = raft_malloc(8 + padding), .len = 8 + padding};
    memcpy(buf.base, &value, 8);
    for (size_t i = 0; i < padding; i++) {
        ((uint8_t *)buf.base)[8 + i] = (uint8_t)(value + i);
    }
    req->data = o;
    int rv = raft_apply(&nodes[node].raft, req, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(buf.base);
    }
    return rv;
}

static int apply_value(int node, struct raft_apply *req, struct outcome *o, uint64_t value)
{
    return apply_padded(node, req, o, value, 0);
}

static void run_until_fired(struct outcome *o)
{
    for (int round = 0; round < 2000 && o->fired == 0; round++) {
        round_trip();
    }
    assert_int_equal(o->fired, 1);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void single_server_applies_and_publishes_its_state(void **state)
{
    (void)state;
    cluster_init(1, 1);
    int l = wait_for_leader();
    struct raft *r = &nodes[l].raft;
    assert_int_equal(r->state, RAFT_LEADER);
    assert_int_equal(r->current_term, raft_current_term(r));
    assert_int_equal(r->voted_for, 1);
    assert_int_equal(r->configuration.n, 1);
    assert_int_equal(r->configuration.servers[0].id, 1);
    assert_string_equal(r->configuration.servers[0].address, "node-1");
    struct raft_apply req;
    struct outcome o = {0};
    assert_int_equal(apply_value(l, &req, &o, 5), 0);
    run_until_fired(&o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.result, 5);
    assert_int_equal(raft_last_applied(r), req.index);
    assert_int_equal(r->last_applied, req.index);
    assert_int_equal(r->commit_index, req.index);
    cluster_close();
}

static void three_servers_replicate_and_followers_refuse(void **state)
{
    (void)state;
    cluster_init(3, 3);
    int l = wait_for_leader();
    int f = (l + 1) % 3;
    struct raft_apply reqs[10];
    struct outcome outs[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(apply_value(l, &reqs[i], &outs[i], (uint64_t)i + 1), 0);
    }
    run_until_fired(&outs[9]);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(outs[i].fired, 1);
        assert_int_equal(outs[i].status, 0);
    }
    assert_int_equal(outs[9].result, 55);
    struct raft_apply refused;
    struct outcome o = {0};
    assert_int_equal(apply_value(f, &refused, &o, 1), RAFT_NOTLEADER);
    struct raft_barrier barrier = {.data = &o};
    assert_int_equal(raft_barrier(&nodes[l].raft, &barrier, barrier_cb), 0);
    run_until_fired(&o);
    assert_int_equal(o.status, 0);
    for (int round = 0; round < 50; round++) {
        round_trip();
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i].total, 55);
        assert_int_equal(nodes[i].raft.follower_state.current_leader.id * (i != l),
                         (i != l) * nodes[l].id);
    }
    cluster_close();
}

static void add_assign_remove_and_transfer(void **state)
{
    (void)state;
    cluster_init(4, 3);
    int l = wait_for_leader();
    struct raft_apply a;
    struct outcome oa = {0};
    assert_int_equal(apply_value(l, &a, &oa, 3), 0);
    run_until_fired(&oa);

    struct raft_change change;
    struct outcome oc = {0};
    change.data = &oc;
    assert_int_equal(raft_add(&nodes[l].raft, &change, 4, "node-4", change_cb), 0);
    run_until_fired(&oc);
    assert_int_equal(oc.status, 0);
    assert_int_equal(nodes[l].raft.configuration.n, 4);

    oc = (struct outcome){0};
    assert_int_equal(raft_assign(&nodes[l].raft, &change, 4, RAFT_VOTER, change_cb), 0);
    run_until_fired(&oc);
    assert_int_equal(oc.status, 0);
    assert_int_equal(nodes[l].raft.configuration.servers[3].role, RAFT_VOTER);
    assert_int_equal(raft_assign(&nodes[l].raft, &change, 4, RAFT_VOTER, change_cb), RAFT_BADROLE);
    assert_int_equal(raft_assign(&nodes[l].raft, &change, 9, RAFT_VOTER, change_cb), RAFT_NOTFOUND);

    struct raft_transfer transfer;
    struct outcome ot = {0};
    transfer.data = &ot;
    assert_int_equal(raft_transfer(&nodes[l].raft, &transfer, 4, transfer_cb), 0);
    run_until_fired(&ot);
    int new_leader = wait_for_leader();
    assert_int_equal(nodes[new_leader].id, 4);

    oc = (struct outcome){0};
    raft_id removed = nodes[l].id;
    assert_int_equal(raft_remove(&nodes[new_leader].raft, &change, removed, change_cb), 0);
    run_until_fired(&oc);
    assert_int_equal(oc.status, 0);
    assert_int_equal(nodes[new_leader].raft.configuration.n, 3);
    assert_int_equal(nodes[3].total, 3);
    cluster_close();
}

static void snapshots_compact_and_restart_restores(void **state)
{
    (void)state;
    cluster_init(3, 3);
    for (int i = 0; i < 3; i++) {
        raft_set_snapshot_threshold(&nodes[i].raft, 8);
        raft_set_snapshot_trailing(&nodes[i].raft, 2);
    }
    int l = wait_for_leader();
    int lagging = (l + 1) % 3;
    /* The lagging follower is closed while the others take snapshots. */
    node_close(lagging);
    struct raft_apply reqs[30];
    struct outcome outs[30] = {{0}};
    for (int i = 0; i < 30; i++) {
        assert_int_equal(apply_value(l, &reqs[i], &outs[i], 1), 0);
    }
    run_until_fired(&outs[29]);
    assert_true(nodes[l].store.has_snapshot);
    assert_true(nodes[l].store.start > 1);
    /* Restarted, it is far behind the leader's compacted log: InstallSnapshot. */
    node_init(lagging);
    raft_set_election_timeout(&nodes[lagging].raft, 1000);
    raft_set_heartbeat_timeout(&nodes[lagging].raft, 50);
    assert_int_equal(raft_start(&nodes[lagging].raft), 0);
    for (int round = 0; round < 300; round++) {
        round_trip();
    }
    assert_int_equal(nodes[lagging].total, 30);
    assert_true(nodes[lagging].store.has_snapshot);
    /* The leader restarts from its snapshot and trailing entries. */
    node_close(l);
    node_init(l);
    raft_set_election_timeout(&nodes[l].raft, 300);
    raft_set_heartbeat_timeout(&nodes[l].raft, 50);
    assert_int_equal(raft_start(&nodes[l].raft), 0);
    assert_int_equal(raft_last_applied(&nodes[l].raft), nodes[l].store.snapshot.index);
    for (int round = 0; round < 300; round++) {
        round_trip();
    }
    assert_int_equal(nodes[l].total, 30);
    cluster_close();
}

static void close_fails_pending_requests_once(void **state)
{
    (void)state;
    cluster_init(3, 3);
    int l = wait_for_leader();
    struct raft_apply reqs[3];
    struct outcome outs[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(apply_value(l, &reqs[i], &outs[i], 1), 0);
    }
    node_close(l);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outs[i].fired, 1);
        assert_int_equal(outs[i].status, RAFT_SHUTDOWN);
    }
    cluster_close();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outs[i].fired, 1);
    }
}

static void leadership_lost_fails_pending_requests(void **state)
{
    (void)state;
    cluster_init(3, 3);
    int l = wait_for_leader();
    /* The leader's writes fail from now on: it stops, its requests fail with the I/O error,
     * and the others elect a new leader. */
    nodes[l].fail_appends = true;
    struct raft_apply req;
    struct outcome o = {0};
    assert_int_equal(apply_value(l, &req, &o, 1), 0);
    run_until_fired(&o);
    assert_int_equal(o.status, RAFT_IOERR);
    assert_int_equal(apply_value(l, &req, &o, 1) != 0, 1);
    cluster_close();
}

static void back_end_completing_inside_its_methods(void **state)
{
    (void)state;
    cluster_init(3, 3);
    complete_inline = true;
    int l = wait_for_leader();
    struct raft_apply reqs[10];
    struct outcome outs[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(apply_value(l, &reqs[i], &outs[i], 2), 0);
    }
    run_until_fired(&outs[9]);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(outs[i].fired, 1);
        assert_int_equal(outs[i].status, 0);
    }
    for (int round = 0; round < 20; round++) {
        round_trip();
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i].total, 20);
    }
    cluster_close();
    complete_inline = false;
}

/* An FSM that refuses a command gets it again later, in order; the request completes once. */
static void refused_command_is_applied_again(void **state)
{
    (void)state;
    cluster_init(1, 1);
    int l = wait_for_leader();
    nodes[l].refuse_applies = 2;
    struct raft_apply req;
    struct outcome o = {0};
    assert_int_equal(apply_value(l, &req, &o, 7), 0);
    run_until_fired(&o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.result, 7);
    assert_int_equal(nodes[l].refuse_applies, 0);
    assert_int_equal(raft_last_applied(&nodes[l].raft), req.index);
    cluster_close();
}

static void wrong_calls_are_refused(void **state)
{
    (void)state;
    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_bootstrap(&r, &conf), RAFT_INVALID);
    assert_int_equal(raft_start(&r), RAFT_INVALID);
    assert_int_equal(raft_last_applied(&r), 0);
    raft_close(&r, NULL);
    assert_int_equal(raft_start(NULL), RAFT_INVALID);

    cluster_init(1, 1);
    assert_int_equal(raft_start(&nodes[0].raft), RAFT_BUSY);
    assert_int_equal(raft_bootstrap(&nodes[0].raft, &conf), RAFT_BUSY);
    assert_int_equal(raft_apply(&nodes[0].raft, NULL, NULL, 1, apply_cb), RAFT_INVALID);
    /* Its events come from its raft_io: a step from outside is refused. */
    struct raft_event event;
    struct raft_update update;
    memset(&event, 0, sizeof event);
    event.type = RAFT_TIMEOUT;
    assert_int_equal(raft_step(&nodes[0].raft, &event, &update), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&nodes[0].raft), "classic"));
    cluster_close();
}


/* ---- randomized runs ------------------------------------------------------------------------ */

#define MAX_REQUESTS 600

struct tracked_apply {
    struct raft_apply req;
    struct outcome outcome;
    uint64_t value; /* as the FSM sees it: the value plus the padding's length << 32 */
};

struct run {
    struct tracked_apply applies[MAX_REQUESTS];
    unsigned n_applies;
    struct raft_change change;
    struct outcome change_outcome;
    bool change_pending;
    struct raft_transfer transfer;
    struct outcome transfer_outcome;
    bool transfer_pending;
    raft_time down_until[MAX_SERVERS];
    raft_id leader_of_term[4096];
};

/* Election safety (§5.2): at most one leader per term, whatever the faults. */
static void check_one_leader_per_term(struct run *run)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct raft *r = &nodes[i].raft;
        if (!nodes[i].alive || r->state != RAFT_LEADER) {
            continue;
        }
        assert_true(r->current_term < 4096);
        raft_id *seen = &run->leader_of_term[r->current_term];
        if (*seen == 0) {
            *seen = r->id;
        }
        if (*seen != r->id) {
            fprintf(stderr, "term %llu: leaders %llu and %llu at %llu\n", (unsigned long long)r->current_term,
                    (unsigned long long)*seen, (unsigned long long)r->id, (unsigned long long)now);
            for (int j = 0; j < MAX_SERVERS; j++) {
                struct raft *q = &nodes[j].raft;
                if (!nodes[j].alive) continue;
                fprintf(stderr, " node %d state %d term %llu vote %llu commit %llu conf:", j, q->state,
                        (unsigned long long)q->current_term, (unsigned long long)q->voted_for,
                        (unsigned long long)q->commit_index);
                for (unsigned k = 0; k < q->configuration.n; k++) {
                    fprintf(stderr, " %llu/%d", (unsigned long long)q->configuration.servers[k].id,
                            q->configuration.servers[k].role);
                }
                fprintf(stderr, " (uncommitted %llu committed %llu)\n",
                        (unsigned long long)q->configuration_uncommitted_index,
                        (unsigned long long)q->configuration_committed_index);
            }
        }
        assert_int_equal(*seen, r->id);
    }
}

static void restart(int i)
{
    node_init(i);
    raft_set_election_timeout(&nodes[i].raft, 200 + 50 * (unsigned)i);
    raft_set_heartbeat_timeout(&nodes[i].raft, 50);
    raft_set_snapshot_threshold(&nodes[i].raft, 16);
    raft_set_snapshot_trailing(&nodes[i].raft, 4);
    raft_set_install_snapshot_timeout(&nodes[i].raft, 500);
    assert_int_equal(raft_start(&nodes[i].raft), 0);
}

static bool change_done(struct run *run)
{
    if (run->change_pending && run->change_outcome.fired == 1) {
        run->change_pending = false;
    }
    return !run->change_pending;
}

/* One random action of clients and operators against the current leader. */
static void act(struct run *run, int n_servers)
{
    int l = leader();
    unsigned dice = chaos_rand(100);
    if (l >= 0 && dice < 40 && run->n_applies < MAX_REQUESTS) {
        struct tracked_apply *t = &run->applies[run->n_applies];
        t->value = 1 + chaos_rand(1000);
        size_t padding = chaos_rand(10) == 0 ? chaos_rand(5000) : chaos_rand(64);
        int rv = apply_padded(l, &t->req, &t->outcome, t->value, padding);
        t->value += (uint64_t)padding << 32;
        if (rv == 0) {
            run->n_applies++;
        }
    } else if (l >= 0 && dice < 43 && change_done(run)) {
        /* Grow or shrink: remove a random other server, or add back one that is out. */
        struct raft *r = &nodes[l].raft;
        int target = (int)chaos_rand((unsigned)n_servers);
        bool member = false;
        int role = -1;
        for (unsigned k = 0; k < r->configuration.n; k++) {
            if (r->configuration.servers[k].id == nodes[target].id) {
                member = true;
                role = r->configuration.servers[k].role;
            }
        }
        run->change_outcome = (struct outcome){0};
        run->change.data = &run->change_outcome;
        int rv;
        if (!member) {
            rv = raft_add(r, &run->change, nodes[target].id, nodes[target].address, change_cb);
        } else if (role != RAFT_VOTER) {
            rv = raft_assign(r, &run->change, nodes[target].id, RAFT_VOTER, change_cb);
        } else if (target != l && r->configuration.n > 1) {
            rv = raft_remove(r, &run->change, nodes[target].id, change_cb);
        } else {
            rv = -1;
        }
        run->change_pending = rv == 0;
    } else if (l >= 0 && dice < 45 && (!run->transfer_pending || run->transfer_outcome.fired)) {
        run->transfer_outcome = (struct outcome){0};
        run->transfer.data = &run->transfer_outcome;
        run->transfer_pending = raft_transfer(&nodes[l].raft, &run->transfer, 0, transfer_cb) == 0;
    } else if (dice >= 99) {
        /* A crash (1% of rounds): close the server (its disk keeps what it wrote), restart it
         * later. */
        int victim = (int)chaos_rand((unsigned)n_servers);
        if (nodes[victim].alive) {
            node_close(victim);
            run->down_until[victim] = now + 100 + chaos_rand(2000);
        }
    }
    for (int i = 0; i < n_servers; i++) {
        if (!nodes[i].alive && now >= run->down_until[i]) {
            restart(i);
        }
    }
}

static void randomized_run(unsigned seed, int n_servers)
{
    struct run *run = calloc(1, sizeof *run);
    cluster_init(n_servers, n_servers);
    chaos.on = true;
    chaos.rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed << 17) ^ seed;
    chaos.drop_percent = 5;
    memset(chaos.disk_due, 0, sizeof chaos.disk_due);
    for (int i = 0; i < n_servers; i++) {
        raft_set_snapshot_threshold(&nodes[i].raft, 16);
        raft_set_snapshot_trailing(&nodes[i].raft, 4);
        /* A lost InstallSnapshot is retried after this long (30 s by default). */
        raft_set_install_snapshot_timeout(&nodes[i].raft, 500);
    }
    for (int round = 0; round < 3000; round++) {
        act(run, n_servers);
        round_trip();
        check_one_leader_per_term(run);
    }
    /* Heal: everyone up, no loss; the cluster must converge (liveness after faults end). */
    chaos.drop_percent = 0;
    for (int i = 0; i < n_servers; i++) {
        if (!nodes[i].alive) {
            restart(i);
        }
    }
    /* A barrier through whoever leads, retried until one is applied. */
    struct raft_barrier barrier;
    struct outcome done = {0};
    bool submitted = false;
    barrier.data = &done;
    for (int round = 0; round < 5000 && !(done.fired && done.status == 0); round++) {
        if (done.fired) {
            done = (struct outcome){0};
            submitted = false;
        }
        int l = leader();
        if (l >= 0 && !submitted) {
            submitted = raft_barrier(&nodes[l].raft, &barrier, barrier_cb) == 0;
        }
        round_trip();
        check_one_leader_per_term(run);
    }
    assert_int_equal(done.status, 0);
    for (int round = 0; round < 300; round++) {
        round_trip();
    }
    int l = leader();
    assert_true(l >= 0);
    /* Voters and stand-bys get the log; spares do not. */
    for (unsigned k = 0; k < nodes[l].raft.configuration.n; k++) {
        if (nodes[l].raft.configuration.servers[k].role == RAFT_SPARE) {
            continue;
        }
        int i = find_node(nodes[l].raft.configuration.servers[k].id);
        if (nodes[i].count != nodes[l].count) {
            fprintf(stderr, "seed %u: server %d applied %llu commands, the leader %llu\n", seed, i,
                    (unsigned long long)nodes[i].count, (unsigned long long)nodes[l].count);
            for (int j = 0; j < n_servers; j++) {
                struct raft *q = &nodes[j].raft;
                fprintf(stderr, " node %d alive %d state %d term %llu commit %llu applied %llu stored %llu store %llu+%u snap %d err '%s'\n",
                        j, nodes[j].alive, q->state, (unsigned long long)q->current_term,
                        (unsigned long long)q->commit_index, (unsigned long long)raft_last_applied(q),
                        (unsigned long long)q->last_stored, (unsigned long long)nodes[j].store.start,
                        nodes[j].store.n, nodes[j].store.has_snapshot, raft_errmsg(q));
            }
        }
        assert_int_equal(nodes[i].count, nodes[l].count);
        assert_int_equal(nodes[i].hash, nodes[l].hash);
    }
    unsigned succeeded = 0;
    for (unsigned k = 0; k < run->n_applies; k++) {
        succeeded += run->applies[k].outcome.status == 0 && run->applies[k].outcome.fired;
    }
    if (getenv("RAFT_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "seed %u: %d servers, %u applies (%u ok), %llu commands applied, term %llu\n",
                seed, n_servers, run->n_applies, succeeded, (unsigned long long)nodes[l].count,
                (unsigned long long)nodes[l].raft.current_term);
    }
    cluster_close();
    /* Every request completed exactly once; a success means its command was applied. */
    for (unsigned k = 0; k < run->n_applies; k++) {
        struct tracked_apply *t = &run->applies[k];
        assert_int_equal(t->outcome.fired, 1);
        if (t->outcome.status == 0) {
            assert_int_equal(value_at[t->outcome.result], t->value);
        }
    }
    chaos.on = false;
    free(run);
}

static void randomized_runs_keep_servers_in_agreement(void **state)
{
    (void)state;
    unsigned seeds = getenv("RAFT_TEST_QUICK") != NULL ? 3 : 12;
    if (getenv("RAFT_CLASSIC_SEEDS") != NULL) {
        seeds = (unsigned)atoi(getenv("RAFT_CLASSIC_SEEDS"));
    }
    for (unsigned seed = 1; seed <= seeds; seed++) {
        randomized_run(seed, 1 + (int)(seed % 5));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_server_applies_and_publishes_its_state),
        cmocka_unit_test(three_servers_replicate_and_followers_refuse),
        cmocka_unit_test(add_assign_remove_and_transfer),
        cmocka_unit_test(snapshots_compact_and_restart_restores),
        cmocka_unit_test(close_fails_pending_requests_once),
        cmocka_unit_test(leadership_lost_fails_pending_requests),
        cmocka_unit_test(back_end_completing_inside_its_methods),
        cmocka_unit_test(refused_command_is_applied_again),
        cmocka_unit_test(wrong_calls_are_refused),
        cmocka_unit_test(randomized_runs_keep_servers_in_agreement),
    };
    return cmocka_run_group_tests_name("classic smoke", tests, NULL, NULL);
}
