/* A 3-node cluster of classic-API instances (raft_init with an io and an fsm) on raft_uv over
 * TCP, in one process on one loop: it elects a leader, applies 100 commands that every state
 * machine applies in the same order, survives the loss of its leader (which later comes back
 * and catches up), and after a restart of every node from its data directory, the state
 * machines are rebuilt from the logs. */
#include "uv_test.h"

enum { N_NODES = 3, N_COMMANDS = 100 };

struct node
{
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport transport;
    raft_id id;
    char address[64];
    char *dir;
    uint64_t count; /* commands applied */
    uint64_t hash;  /* of the values, in order */
    bool running;
    bool closed;
};

static uv_loop_t loop;
static struct node nodes[N_NODES];

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    uint64_t value;
    assert_int_equal(buf->len, sizeof value);
    memcpy(&value, buf->base, sizeof value);
    n->count++;
    n->hash = n->hash * 1099511628211ULL + value;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].len = 16;
    (*bufs)[0].base = raft_malloc(16);
    memcpy((*bufs)[0].base, &n->count, 8);
    memcpy((char *)(*bufs)[0].base + 8, &n->hash, 8);
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    assert_int_equal(buf->len, 16);
    memcpy(&n->count, buf->base, 8);
    memcpy(&n->hash, (char *)buf->base + 8, 8);
    raft_free(buf->base);
    return 0;
}

static void start(int i, bool bootstrap)
{
    struct node *n = &nodes[i];
    n->id = (raft_id)(i + 1);
    snprintf(n->address, sizeof n->address, "127.0.0.1:%d", test_port(i));
    n->count = 0;
    n->hash = 0;
    n->closed = false;
    memset(&n->transport, 0, sizeof n->transport);
    memset(&n->io, 0, sizeof n->io);
    assert_int_equal(raft_uv_tcp_init(&n->transport, &loop), 0);
    assert_int_equal(raft_uv_init(&n->io, &loop, n->dir, &n->transport), 0);
    raft_uv_set_connect_retry_delay(&n->io, 50);
    n->fsm = (struct raft_fsm){.version = 1,
                               .data = n,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore};
    assert_int_equal(raft_init(&n->raft, &n->io, &n->fsm, n->id, n->address), 0);
    n->raft.data = n;
    raft_set_election_timeout(&n->raft, 300 + 100 * (unsigned)i);
    raft_set_heartbeat_timeout(&n->raft, 50);
    if (bootstrap) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        for (int j = 0; j < N_NODES; j++) {
            char address[64];
            snprintf(address, sizeof address, "127.0.0.1:%d", test_port(j));
            assert_int_equal(raft_configuration_add(&conf, (raft_id)(j + 1), address, RAFT_VOTER), 0);
        }
        assert_int_equal(raft_bootstrap(&n->raft, &conf), 0);
        raft_configuration_close(&conf);
    }
    assert_int_equal(raft_start(&n->raft), 0);
    n->running = true;
}

static void close_cb(struct raft *r)
{
    ((struct node *)r->data)->closed = true;
}

static void stop(int i)
{
    struct node *n = &nodes[i];
    raft_close(&n->raft, close_cb);
    RUN_UNTIL(&loop, n->closed);
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->transport);
    n->running = false;
}

static int leader(void)
{
    for (int i = 0; i < N_NODES; i++) {
        if (nodes[i].running && raft_state(&nodes[i].raft) == RAFT_LEADER) {
            return i;
        }
    }
    return -1;
}

static bool all_applied(uint64_t count)
{
    for (int i = 0; i < N_NODES; i++) {
        if (nodes[i].count != count) {
            return false;
        }
    }
    return true;
}

struct apply
{
    struct raft_apply req;
    int status;
    int calls;
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct apply *a = req->data;
    a->status = status;
    a->calls++;
}

static bool all_called(struct apply *a, int n)
{
    for (int i = 0; i < n; i++) {
        if (a[i].calls == 0) {
            return false;
        }
    }
    return true;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < N_NODES; i++) {
        nodes[i].dir = make_dir();
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int i = 0; i < N_NODES; i++) {
        remove_dir(nodes[i].dir);
        free(nodes[i].dir);
    }
    return 0;
}

static void elect_apply_and_restart(void **state)
{
    (void)state;
    for (int i = 0; i < N_NODES; i++) {
        start(i, true);
    }
    RUN_UNTIL(&loop, leader() >= 0);
    int l = leader();

    static struct apply applies[N_COMMANDS];
    memset(applies, 0, sizeof applies);
    for (int i = 0; i < N_COMMANDS; i++) {
        struct raft_buffer buf = {.base = raft_malloc(8), .len = 8};
        uint64_t value = (uint64_t)i * 7 + 1;
        memcpy(buf.base, &value, 8);
        applies[i].req.data = &applies[i];
        assert_int_equal(raft_apply(&nodes[l].raft, &applies[i].req, &buf, 1, apply_cb), 0);
    }
    RUN_UNTIL(&loop, all_called(applies, N_COMMANDS));
    for (int i = 0; i < N_COMMANDS; i++) {
        assert_int_equal(applies[i].calls, 1);
        assert_int_equal(applies[i].status, 0);
    }
    RUN_UNTIL(&loop, all_applied(N_COMMANDS));
    uint64_t hash = nodes[0].hash;
    for (int i = 1; i < N_NODES; i++) {
        assert_true(nodes[i].hash == hash);
    }

    /* The leader stops: the other two elect a new one and commit more; the old leader comes
     * back from its directory and catches up. */
    stop(l);
    RUN_UNTIL(&loop, leader() >= 0 && leader() != l);
    int l2 = leader();
    static struct apply more[10];
    memset(more, 0, sizeof more);
    for (int i = 0; i < 10; i++) {
        struct raft_buffer buf = {.base = raft_malloc(8), .len = 8};
        uint64_t value = 5000 + (uint64_t)i;
        memcpy(buf.base, &value, 8);
        more[i].req.data = &more[i];
        assert_int_equal(raft_apply(&nodes[l2].raft, &more[i].req, &buf, 1, apply_cb), 0);
    }
    RUN_UNTIL(&loop, all_called(more, 10));
    for (int i = 0; i < 10; i++) {
        assert_int_equal(more[i].status, 0);
    }
    start(l, false);
    RUN_UNTIL(&loop, all_applied(N_COMMANDS + 10));
    hash = nodes[0].hash;
    for (int i = 1; i < N_NODES; i++) {
        assert_true(nodes[i].hash == hash);
    }

    /* Every node stops, then starts again from its data directory alone. */
    for (int i = 0; i < N_NODES; i++) {
        stop(i);
    }
    for (int i = 0; i < N_NODES; i++) {
        start(i, false);
    }
    RUN_UNTIL(&loop, leader() >= 0 && all_applied(N_COMMANDS + 10));
    for (int i = 0; i < N_NODES; i++) {
        assert_true(nodes[i].hash == hash);
    }
    for (int i = 0; i < N_NODES; i++) {
        stop(i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(elect_apply_and_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
