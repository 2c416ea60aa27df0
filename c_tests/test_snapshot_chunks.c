/* Streamed snapshots through raft_step and the wire codec (libraft-rs extension,
 * docs/snapshots.md): a leader streams its snapshot in chunks to a follower that takes them,
 * every message going through raft_encode_message and a raft_decoder; the follower stores the
 * chunks in order and installs the snapshot byte for byte. Servers that do not opt in send and
 * take snapshots whole, as C-Raft does. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/host.h"

enum { CHUNK = 64, WINDOW = 4, MAX_QUEUE = 64 };

struct node {
    struct raft r;
    raft_id id;
    struct raft_buffer conf;       /* the bootstrap configuration, encoded */
    struct raft_entry log[2];      /* the leader's log: bootstrap, barrier */
    unsigned n_log;
    uint8_t *snap;                 /* the leader's snapshot data */
    size_t snap_len;
    uint8_t *staged;               /* the follower's: what it stored so far */
    size_t staged_len;
    unsigned chunks_stored, whole_installs, chunk_installs;
    struct raft_decoder *decoder;  /* what the other node sends to this one */
};

struct queue {
    struct raft_buffer bytes[MAX_QUEUE];
    int type[MAX_QUEUE];
    unsigned n;
    unsigned most_chunks; /* the most chunk messages ever queued at once */
};

static raft_time now;

static void step(struct node *n, struct raft_event *ev, struct raft_update *u)
{
    ev->time = now;
    int rv = raft_step(&n->r, ev, u);
    if (rv != 0) {
        fprintf(stderr, "server %llu: event %d: %s\n", (unsigned long long)n->id, ev->type,
                raft_errmsg(&n->r));
    }
    assert_int_equal(rv, 0);
}

static unsigned queued_chunks(const struct queue *q)
{
    unsigned k = 0;
    for (unsigned i = 0; i < q->n; i++) {
        k += q->type[i] == RAFT_INSTALL_SNAPSHOT_CHUNK;
    }
    return k;
}

/* Attaches what the library leaves to the host (entries, snapshot data, configuration),
 * encodes the message and queues it for the other node. */
static void send_message(struct node *from, struct raft_message *m, struct queue *q)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_decode(&from->conf, &conf), 0);
    switch (m->type) {
    case RAFT_APPEND_ENTRIES: {
        raft_index prev = m->append_entries.prev_log_index;
        assert_true(prev + m->append_entries.n_entries <= from->n_log);
        m->append_entries.entries = m->append_entries.n_entries ? &from->log[prev] : NULL;
        break;
    }
    case RAFT_INSTALL_SNAPSHOT:
        m->install_snapshot.conf = conf;
        m->install_snapshot.data = (struct raft_buffer){from->snap, from->snap_len};
        break;
    case RAFT_INSTALL_SNAPSHOT_CHUNK: {
        struct raft_install_snapshot_chunk *c = &m->install_snapshot_chunk;
        size_t offset = (size_t)c->chunk * CHUNK;
        assert_null(c->data.base);
        assert_true(offset + c->data.len <= from->snap_len);
        assert_int_equal(c->last, offset + c->data.len == from->snap_len);
        c->data.base = from->snap + offset;
        if (c->last) {
            c->conf = conf;
        }
        break;
    }
    default:
        break;
    }
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    assert_true(q->n < MAX_QUEUE);
    assert_int_equal(raft_encode_message(m, &q->bytes[q->n], errmsg), 0);
    q->type[q->n++] = m->type;
    unsigned chunks = queued_chunks(q);
    q->most_chunks = chunks > q->most_chunks ? chunks : q->most_chunks;
    raft_configuration_close(&conf);
}

/* Carries out an update: entries and snapshot chunks are durable at once. */
static void handle(struct node *n, struct raft_update *u, struct queue *out)
{
    struct raft_event ev;
    struct raft_update next;
    /* New entries join the log that fills AppendEntries before the messages go out. */
    for (unsigned k = 0; (u->flags & RAFT_UPDATE_ENTRIES) && k < u->entries.n; k++) {
        assert_true(n->n_log < 2);
        n->log[n->n_log++] = u->entries.batch[k];
    }
    if (u->flags & RAFT_UPDATE_MESSAGES) {
        for (unsigned k = 0; k < u->messages.n; k++) {
            send_message(n, &u->messages.batch[k], out);
        }
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        raft_index last = u->entries.index + u->entries.n - 1;
        raft_free(u->entries.batch);
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_ENTRIES;
        ev.persisted_entries.index = last;
        step(n, &ev, &next);
        handle(n, &next, out);
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        struct raft_buffer chunk = u->snapshot.chunk;
        if (u->snapshot.offset == 0) {
            n->staged_len = 0;
        }
        assert_int_equal(u->snapshot.offset, n->staged_len);
        n->staged = realloc(n->staged, n->staged_len + chunk.len + 1);
        memcpy(n->staged + n->staged_len, chunk.base, chunk.len);
        n->staged_len += chunk.len;
        raft_free(chunk.base);
        n->chunks_stored++;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_SNAPSHOT;
        ev.persisted_snapshot.metadata = u->snapshot.metadata;
        ev.persisted_snapshot.offset = u->snapshot.offset;
        ev.persisted_snapshot.last = u->snapshot.last;
        if (u->snapshot.last) {
            /* The whole snapshot arrives as one last chunk at offset 0. */
            bool whole = u->snapshot.offset == 0 && n->chunks_stored == 1;
            n->whole_installs += whole;
            n->chunk_installs += !whole;
            n->chunks_stored = 0;
        } else {
            assert_null(u->snapshot.metadata.configuration.servers);
        }
        step(n, &ev, &next);
        raft_configuration_close(&u->snapshot.metadata.configuration);
        handle(n, &next, out);
    }
}

/* Delivers everything queued for `to`, through its decoder. */
static void deliver(struct node *to, raft_id from, struct queue *q, struct queue *replies)
{
    struct queue pending = *q;
    q->n = 0;
    for (unsigned k = 0; k < pending.n; k++) {
        char errmsg[RAFT_ERRMSG_BUF_SIZE];
        assert_int_equal(raft_decoder_feed(to->decoder, pending.bytes[k].base,
                                           pending.bytes[k].len, errmsg),
                         0);
        raft_free(pending.bytes[k].base);
        int frame;
        struct raft_message m;
        assert_int_equal(raft_decoder_next(to->decoder, &frame, &m, errmsg), 0);
        assert_int_equal(frame, RAFT_FRAME_MESSAGE);
        assert_int_equal(m.type, pending.type[k]);
        m.server_id = from;
        m.server_address = from == 1 ? "s1" : "s2";
        struct raft_event ev;
        struct raft_update u;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_RECEIVE;
        ev.receive.message = &m;
        step(to, &ev, &u);
        raft_message_release(&m, true);
        handle(to, &u, replies);
    }
}

static void node_init(struct node *n, raft_id id, uint64_t chunk_size)
{
    memset(n, 0, sizeof *n);
    n->id = id;
    char address[8];
    snprintf(address, sizeof address, "s%llu", (unsigned long long)id);
    assert_int_equal(raft_init(&n->r, NULL, NULL, id, address), 0);
    assert_int_equal(raft_set_snapshot_chunks(&n->r, chunk_size, WINDOW), 0);
    n->conf = host_configuration(1, 2);
    assert_int_equal(raft_decoder_new(&n->decoder, false), 0);
}

static void node_close(struct node *n)
{
    raft_close(&n->r, NULL);
    raft_decoder_free(n->decoder);
    for (unsigned k = 0; k < n->n_log; k++) {
        raft_free(n->log[k].batch);
    }
    raft_free(n->conf.base);
    free(n->snap);
    free(n->staged);
}

/* Leader 1 (the only voter) with a snapshot of `len` bytes at its barrier (index 2), and
 * server 2, a stand-by with an empty log; messages held until the snapshot exists. */
static void two_servers(struct node *l, struct node *f, uint64_t leader_chunks,
                        uint64_t follower_chunks, size_t len, struct queue *to_f)
{
    node_init(l, 1, leader_chunks);
    node_init(f, 2, follower_chunks);
    struct raft_event ev;
    struct raft_update u;
    struct raft_entry entry;
    host_bootstrap_start(&ev, &entry, l->conf);
    l->log[l->n_log++] = (struct raft_entry){1, RAFT_CHANGE, l->conf, NULL};
    now = 1;
    step(l, &ev, &u);
    handle(l, &u, to_f);
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.start_index = 1;
    step(f, &ev, &u);
    struct queue none = {0};
    handle(f, &u, &none);
    while (raft_state(&l->r) != RAFT_LEADER || raft_commit_index(&l->r) < 2) {
        now = raft_timeout(&l->r);
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_TIMEOUT;
        step(l, &ev, &u);
        handle(l, &u, to_f);
    }
    l->snap_len = len;
    l->snap = malloc(len + 1);
    for (size_t k = 0; k < len; k++) {
        l->snap[k] = (uint8_t)(k * 7 + k / 256);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    ev.snapshot.metadata.index = 2;
    ev.snapshot.metadata.term = raft_current_term(&l->r);
    ev.snapshot.metadata.configuration_index = 1;
    raft_configuration_init(&ev.snapshot.metadata.configuration);
    assert_int_equal(raft_configuration_decode(&l->conf, &ev.snapshot.metadata.configuration), 0);
    step(l, &ev, &u);
    raft_configuration_close(&ev.snapshot.metadata.configuration);
    assert_int_equal(raft_set_snapshot_length(&l->r, 2, len), 0);
}

static void queue_free(struct queue *q)
{
    for (unsigned k = 0; k < q->n; k++) {
        raft_free(q->bytes[k].base);
    }
    q->n = 0;
}

/* Runs heartbeats and deliveries until server 2 has committed the snapshot. */
static void run_until_installed(struct node *l, struct node *f, struct queue *to_f)
{
    struct queue to_l = {0};
    for (int round = 0; round < 5000 && raft_commit_index(&f->r) < 2; round++) {
        deliver(f, 1, to_f, &to_l);
        deliver(l, 2, &to_l, to_f);
        if (to_f->n == 0 && to_l.n == 0) {
            struct raft_event ev;
            struct raft_update u;
            now = raft_timeout(&l->r);
            memset(&ev, 0, sizeof ev);
            ev.type = RAFT_TIMEOUT;
            step(l, &ev, &u);
            handle(l, &u, to_f);
        }
    }
    queue_free(&to_l);
    assert_true(raft_commit_index(&f->r) >= 2);
    assert_int_equal(f->staged_len, l->snap_len);
    assert_memory_equal(f->staged, l->snap, l->snap_len);
}

static void snapshot_streams_in_chunks_when_both_sides_opt_in(void **state)
{
    (void)state;
    struct node l, f;
    struct queue to_f = {0};
    size_t len = 1000 * CHUNK + 13;
    two_servers(&l, &f, CHUNK, CHUNK, len, &to_f);
    run_until_installed(&l, &f, &to_f);
    assert_int_equal(f.chunk_installs, 1);
    assert_int_equal(f.whole_installs, 0);
    assert_true(to_f.most_chunks <= WINDOW);
    queue_free(&to_f);
    node_close(&l);
    node_close(&f);
}

static void snapshot_goes_whole_unless_both_sides_opt_in(void **state)
{
    (void)state;
    uint64_t sides[3][2] = {{CHUNK, 0}, {0, CHUNK}, {0, 0}};
    for (int k = 0; k < 3; k++) {
        struct node l, f;
        struct queue to_f = {0};
        two_servers(&l, &f, sides[k][0], sides[k][1], 5000, &to_f);
        run_until_installed(&l, &f, &to_f);
        assert_int_equal(f.whole_installs, 1);
        assert_int_equal(f.chunk_installs, 0);
        queue_free(&to_f);
        node_close(&l);
        node_close(&f);
    }
}

static void a_chunk_to_a_server_that_does_not_stream_is_malformed(void **state)
{
    (void)state;
    struct node f;
    node_init(&f, 2, 0);
    struct raft_event ev;
    struct raft_update u;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.start_index = 1;
    step(&f, &ev, &u);
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_INSTALL_SNAPSHOT_CHUNK;
    m.server_id = 1;
    m.server_address = "s1";
    m.install_snapshot_chunk.term = 2;
    m.install_snapshot_chunk.last_index = 5;
    m.install_snapshot_chunk.last_term = 2;
    m.install_snapshot_chunk.conf_index = 1;
    m.install_snapshot_chunk.data = (struct raft_buffer){raft_malloc(8), 8};
    struct host_observed before = host_observe(&f.r);
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &m;
    ev.time = now;
    assert_int_equal(raft_step(&f.r, &ev, &u), RAFT_MALFORMED);
    assert_non_null(strstr(raft_errmsg(&f.r), "does not stream snapshots"));
    struct host_observed after = host_observe(&f.r);
    assert_memory_equal(&before, &after, sizeof before);
    raft_free(m.install_snapshot_chunk.data.base);
    node_close(&f);
}

static void snapshot_length_of_another_snapshot_is_refused(void **state)
{
    (void)state;
    struct node l, f;
    struct queue to_f = {0};
    two_servers(&l, &f, CHUNK, CHUNK, 100, &to_f);
    assert_int_equal(raft_set_snapshot_length(&l.r, 1, 100), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&l.r), "not the latest"));
    assert_int_equal(raft_set_snapshot_length(NULL, 2, 100), RAFT_INVALID);
    assert_int_equal(raft_set_snapshot_chunks(NULL, 64, 4), RAFT_INVALID);
    queue_free(&to_f);
    node_close(&l);
    node_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_streams_in_chunks_when_both_sides_opt_in),
        cmocka_unit_test(snapshot_goes_whole_unless_both_sides_opt_in),
        cmocka_unit_test(a_chunk_to_a_server_that_does_not_stream_is_malformed),
        cmocka_unit_test(snapshot_length_of_another_snapshot_is_refused),
    };
    return cmocka_run_group_tests_name("snapshot_chunks", tests, NULL, NULL);
}
