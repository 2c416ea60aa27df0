/* memio on its own, driven through its raft_io methods as a raft instance would: completions
 * only in the loop, copies instead of shared memory, storage semantics, faults, close. */
#include <stdio.h>
#include <stdlib.h>

#include "testing.h"

struct two_ios
{
    struct memio_net net;
    struct memio_store stores[2];
    struct raft_io ios[2];
};

static struct two_ios *two_ios_new(void)
{
    struct two_ios *t = calloc(1, sizeof *t);
    unsigned i;
    assert_non_null(t);
    memio_net_init(&t->net);
    for (i = 0; i < 2; i++) {
        char address[16];
        snprintf(address, sizeof address, "io-%u", i + 1);
        memio_store_init(&t->stores[i]);
        memio_init(&t->ios[i], &t->net, &t->stores[i]);
        assert_int_equal(t->ios[i].init(&t->ios[i], i + 1, address), 0);
    }
    return t;
}

static void close_cb(struct raft_io *io)
{
    *(unsigned *)io->data = ++cb_clock;
}

static void two_ios_free(struct two_ios *t)
{
    unsigned i, closed[2] = {0, 0};
    for (i = 0; i < 2; i++) {
        t->ios[i].data = &closed[i];
        t->ios[i].close(&t->ios[i], close_cb);
    }
    while (memio_net_step(&t->net)) {
    }
    for (i = 0; i < 2; i++) {
        assert_true(closed[i] > 0);
        memio_destroy(&t->ios[i]);
        memio_store_close(&t->stores[i]);
    }
    memio_net_close(&t->net);
    free(t);
}

struct completion
{
    unsigned calls;
    int status;
    unsigned order;
};

static void append_cb(struct raft_io_append *req, int status)
{
    struct completion *c = req->data;
    c->calls += 1;
    c->status = status;
    c->order = ++cb_clock;
}

static void send_cb(struct raft_io_send *req, int status)
{
    struct completion *c = req->data;
    c->calls += 1;
    c->status = status;
    c->order = ++cb_clock;
}

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct completion *c = req->data;
    c->calls += 1;
    c->status = status;
    c->order = ++cb_clock;
}

static void get_cb(struct raft_io_snapshot_get *req, struct raft_snapshot *snapshot, int status)
{
    struct completion *c = req->data;
    unsigned i;
    c->calls += 1;
    c->status = status;
    c->order = ++cb_clock;
    if (snapshot != NULL) {
        raft_configuration_close(&snapshot->configuration);
        for (i = 0; i < snapshot->n_bufs; i++) {
            raft_free(snapshot->bufs[i].base);
        }
        raft_free(snapshot->bufs);
        raft_free(snapshot);
    }
}

static void entry_of(struct raft_entry *e, uint8_t *payload, uint8_t value)
{
    memset(payload, value, 8);
    e->term = 1;
    e->type = RAFT_COMMAND;
    e->buf.base = payload;
    e->buf.len = 8;
    e->batch = NULL;
}

/* Appends finish in the loop, not in the call; the store keeps its own copy. */
static void append_completes_in_loop_with_a_copy(void **state)
{
    struct two_ios *t = two_ios_new();
    struct raft_io_append req;
    struct completion done = {0};
    struct raft_entry entry;
    uint8_t payload[8];
    (void)state;

    entry_of(&entry, payload, 7);
    req.data = &done;
    assert_int_equal(t->ios[0].append(&t->ios[0], &req, &entry, 1, append_cb), 0);
    assert_int_equal(done.calls, 0);
    assert_int_equal(t->stores[0].n, 0);
    memset(payload, 0, sizeof payload);
    assert_true(memio_net_step(&t->net));
    assert_int_equal(done.calls, 1);
    assert_int_equal(done.status, 0);
    assert_int_equal(t->stores[0].n, 1);
    assert_int_equal(((uint8_t *)t->stores[0].entries[0].buf.base)[0], 7);
    two_ios_free(t);
}

static void receive_into(struct raft_io *io, struct raft_message *msg);
static struct raft_message received;
static unsigned n_received;

static void recv_cb(struct raft_io *io, struct raft_message *msg)
{
    receive_into(io, msg);
}

static void tick_cb(struct raft_io *io)
{
    (void)io;
}

/* The receiver owns what arrives: keep a copy of the header and free the payloads as raft
 * would. */
static void receive_into(struct raft_io *io, struct raft_message *msg)
{
    (void)io;
    received = *msg;
    n_received += 1;
    if (msg->type == MEMIO_APPEND_ENTRIES && msg->append_entries.n_entries > 0) {
        assert_int_equal(((uint8_t *)msg->append_entries.entries[1].buf.base)[0], 2);
        raft_free(msg->append_entries.entries[0].batch);
        raft_free(msg->append_entries.entries);
    }
}

/* A sent message is copied on send: changing the sender's memory afterwards changes nothing
 * on the receiver; it arrives in the loop, after the send callback; isolation loses it. */
static void send_deep_copies_and_isolation_loses(void **state)
{
    struct two_ios *t = two_ios_new();
    struct raft_io_send req;
    struct completion done = {0};
    struct raft_message msg;
    struct raft_entry entries[2];
    uint8_t payloads[2][8];
    (void)state;

    assert_int_equal(t->ios[1].start(&t->ios[1], 100, tick_cb, recv_cb), 0);
    n_received = 0;
    entry_of(&entries[0], payloads[0], 1);
    entry_of(&entries[1], payloads[1], 2);
    memset(&msg, 0, sizeof msg);
    msg.type = MEMIO_APPEND_ENTRIES;
    msg.server_id = 2;
    msg.server_address = "io-2";
    msg.append_entries.term = 3;
    msg.append_entries.entries = entries;
    msg.append_entries.n_entries = 2;
    req.data = &done;
    assert_int_equal(t->ios[0].send(&t->ios[0], &req, &msg, send_cb), 0);
    memset(payloads, 0, sizeof payloads);
    assert_int_equal(done.calls, 0);
    while (n_received == 0 && t->net.now < 1000 && memio_net_step(&t->net)) {
    }
    assert_int_equal(done.calls, 1);
    assert_int_equal(done.status, 0);
    assert_int_equal(n_received, 1);
    assert_int_equal(received.server_id, 1);
    assert_int_equal(received.append_entries.term, 3);

    memio_net_isolate(&t->net, 2, true);
    done.calls = 0;
    msg.append_entries.n_entries = 0;
    msg.append_entries.entries = NULL;
    assert_int_equal(t->ios[0].send(&t->ios[0], &req, &msg, send_cb), 0);
    while (memio_net_next_time(&t->net) < t->net.now + 50 && memio_net_step(&t->net)) {
    }
    assert_int_equal(done.calls, 1);
    assert_int_equal(done.status, RAFT_NOCONNECTION);
    assert_int_equal(n_received, 1);
    two_ios_free(t);
}

/* The Nth append fails and the disk stays broken: later appends fail too, nothing after the
 * last good write is stored. */
static void append_failure_breaks_the_disk(void **state)
{
    struct two_ios *t = two_ios_new();
    struct raft_io_append reqs[3];
    struct completion done[3] = {{0}};
    struct raft_entry entries[3];
    uint8_t payloads[3][8];
    unsigned i;
    (void)state;

    memio_fail_append(&t->ios[0], 2);
    for (i = 0; i < 3; i++) {
        entry_of(&entries[i], payloads[i], (uint8_t)i);
        reqs[i].data = &done[i];
        assert_int_equal(t->ios[0].append(&t->ios[0], &reqs[i], &entries[i], 1, append_cb), 0);
    }
    while (memio_net_step(&t->net)) {
    }
    assert_int_equal(done[0].status, 0);
    assert_int_equal(done[1].status, RAFT_IOERR);
    assert_int_equal(done[2].status, RAFT_IOERR);
    assert_true(done[0].order < done[1].order && done[1].order < done[2].order);
    assert_int_equal(t->stores[0].n, 1);
    two_ios_free(t);
}

/* Truncation is ordered with the writes around it; a snapshot with trailing entries drops the
 * older ones; load returns the snapshot and the entries after start. */
static void storage_truncate_snapshot_and_load(void **state)
{
    struct two_ios *t = two_ios_new();
    struct raft_io_append req;
    struct raft_io_snapshot_put put;
    struct completion done = {0}, put_done = {0};
    struct raft_entry entries[6];
    uint8_t payloads[6][8];
    struct raft_snapshot snapshot;
    struct raft_buffer data;
    uint8_t bytes[4] = {1, 2, 3, 4};
    raft_term term;
    raft_id vote;
    struct raft_snapshot *loaded;
    raft_index start;
    struct raft_entry *loaded_entries;
    size_t n;
    unsigned i;
    (void)state;

    for (i = 0; i < 6; i++) {
        entry_of(&entries[i], payloads[i], (uint8_t)(i + 1));
    }
    req.data = &done;
    assert_int_equal(t->ios[0].append(&t->ios[0], &req, entries, 6, append_cb), 0);
    assert_int_equal(t->ios[0].truncate(&t->ios[0], 5), 0); /* drops 5 and 6, after the write */
    while (memio_net_step(&t->net)) {
    }
    assert_int_equal(t->stores[0].n, 4);

    memset(&snapshot, 0, sizeof snapshot);
    snapshot.index = 3;
    snapshot.term = 1;
    raft_configuration_init(&snapshot.configuration);
    assert_int_equal(raft_configuration_add(&snapshot.configuration, 1, "io-1", RAFT_VOTER), 0);
    snapshot.configuration_index = 1;
    data.base = bytes;
    data.len = sizeof bytes;
    snapshot.bufs = &data;
    snapshot.n_bufs = 1;
    put.data = &put_done;
    assert_int_equal(t->ios[0].snapshot_put(&t->ios[0], 1, &put, &snapshot, put_cb), 0);
    raft_configuration_close(&snapshot.configuration); /* copied by the call */
    while (memio_net_step(&t->net)) {
    }
    assert_int_equal(put_done.status, 0);
    assert_int_equal(t->stores[0].start, 3); /* one trailing entry kept: 3, then 4 */
    assert_int_equal(t->stores[0].n, 2);

    assert_int_equal(t->ios[0].set_term(&t->ios[0], 4), 0);
    assert_int_equal(t->ios[0].set_vote(&t->ios[0], 2), 0);
    assert_int_equal(t->ios[0].load(&t->ios[0], &term, &vote, &loaded, &start, &loaded_entries,
                                    &n),
                     0);
    assert_int_equal(term, 4);
    assert_int_equal(vote, 2);
    assert_non_null(loaded);
    assert_int_equal(loaded->index, 3);
    assert_int_equal(loaded->n_bufs, 1);
    assert_memory_equal(loaded->bufs[0].base, bytes, sizeof bytes);
    assert_int_equal(start, 3);
    assert_int_equal(n, 2);
    assert_int_equal(((uint8_t *)loaded_entries[1].buf.base)[0], 4);
    raft_configuration_close(&loaded->configuration);
    raft_free(loaded->bufs[0].base);
    raft_free(loaded->bufs);
    raft_free(loaded);
    raft_free(loaded_entries[0].batch);
    raft_free(loaded_entries);

    /* Storage that is not pristine refuses to bootstrap. */
    raft_configuration_init(&snapshot.configuration);
    assert_int_equal(raft_configuration_add(&snapshot.configuration, 1, "io-1", RAFT_VOTER), 0);
    assert_int_equal(t->ios[0].bootstrap(&t->ios[0], &snapshot.configuration),
                     RAFT_CANTBOOTSTRAP);
    raft_configuration_close(&snapshot.configuration);
    two_ios_free(t);
}

/* close returns at once; then the send (already on the wire) and the queued write complete,
 * the snapshot read is canceled, and only then the close callback fires. */
static void close_finishes_requests_first(void **state)
{
    struct two_ios *t = two_ios_new();
    struct raft_io *io = &t->ios[0];
    struct raft_io_append append;
    struct raft_io_send send;
    struct raft_io_snapshot_get get;
    struct completion a = {0}, s = {0}, g = {0};
    struct raft_entry entry;
    uint8_t payload[8];
    struct raft_message msg;
    unsigned closed = 0;
    (void)state;

    entry_of(&entry, payload, 9);
    append.data = &a;
    send.data = &s;
    get.data = &g;
    memset(&msg, 0, sizeof msg);
    msg.type = MEMIO_APPEND_ENTRIES;
    msg.server_id = 2;
    msg.server_address = "io-2";
    assert_int_equal(io->append(io, &append, &entry, 1, append_cb), 0);
    assert_int_equal(io->send(io, &send, &msg, send_cb), 0);
    assert_int_equal(io->snapshot_get(io, &get, get_cb), 0);
    assert_int_equal(memio_in_flight(io), 3);

    io->data = &closed;
    io->close(io, close_cb);
    assert_int_equal(closed, 0);
    assert_int_equal(a.calls + s.calls + g.calls, 0);
    while (closed == 0 && memio_net_step(&t->net)) {
    }
    assert_true(closed > 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, RAFT_CANCELED);
    assert_true(a.order < closed && s.order < closed && g.order < closed);
    assert_int_equal(memio_in_flight(io), 0);
    assert_int_equal(t->stores[0].n, 1);

    /* The second io closes in two_ios_free; the first is already closed. */
    memio_destroy(io);
    memio_init(io, &t->net, &t->stores[0]);
    two_ios_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_completes_in_loop_with_a_copy),
        cmocka_unit_test(send_deep_copies_and_isolation_loses),
        cmocka_unit_test(append_failure_breaks_the_disk),
        cmocka_unit_test(storage_truncate_snapshot_and_load),
        cmocka_unit_test(close_finishes_requests_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
