/* 3-node clusters of classic-API instances (raft_init with an io and an fsm) on raft_uv over
 * TCP, in one process on one loop.
 *
 * - elect_apply_and_restart: the cluster elects a leader, applies 100 commands that every state
 *   machine applies in the same order, survives the loss of its leader (which later comes back
 *   and catches up), and after a restart of every node from its data directory, the state
 *   machines are rebuilt from the logs.
 * - a_lagging_follower_catches_up_through_a_streamed_snapshot: streamed snapshots in the
 *   classic mode (docs/snapshots.md), every node opted in with raft_set_snapshot_chunks. A
 *   follower that was down while the others compacted their logs catches up through a snapshot
 *   streamed in many chunks, stored chunk by chunk in its data directory; stopped in the middle
 *   of a stream, it restarts from a directory without leftovers and gets the whole snapshot
 *   again. The state machines end byte for byte equal, also after a restart of every node. */
#include "uv_test.h"

enum {
    N_NODES = 3,
    CHUNK = 256,         /* bytes per chunk, when streaming */
    WINDOW = 4,          /* chunks in flight */
    STATE_MAX = 1 << 20, /* bytes a state may reach */
};

/* How a test runs its nodes. */
struct options
{
    bool stream;
    unsigned snapshot_threshold; /* 0: the library's default */
    unsigned snapshot_trailing;
};

struct node
{
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport transport;
    struct raft_tracer tracer;
    raft_id id;
    char address[64];
    char *dir;
    unsigned char *state; /* every command's bytes, in order */
    size_t len;
    unsigned restores;
    unsigned chunks_received; /* traced by the core for each chunk it receives */
    bool running;
    bool closed;
};

static uv_loop_t loop;
static struct node nodes[N_NODES];
static struct options options;

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    assert_true(n->len + buf->len <= STATE_MAX);
    memcpy(n->state + n->len, buf->base, buf->len);
    n->len += buf->len;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].len = n->len;
    (*bufs)[0].base = raft_malloc(n->len > 0 ? n->len : 1);
    memcpy((*bufs)[0].base, n->state, n->len);
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    assert_true(buf->len <= STATE_MAX);
    memcpy(n->state, buf->base, buf->len);
    n->len = buf->len;
    n->restores++;
    raft_free(buf->base);
    return 0;
}

static void trace(struct raft_tracer *t, int type, const void *info)
{
    struct node *n = t->impl;
    const struct raft_tracer_info *i = info;
    if (getenv("STREAM_TEST_TRACE") != NULL && type == RAFT_TRACER_DIAGNOSTIC) {
        fprintf(stderr, "[%llu] %s\n", n->id, i->diagnostic.message);
    }
    if (type == RAFT_TRACER_DIAGNOSTIC && strstr(i->diagnostic.message, " chunk ") != NULL &&
        strstr(i->diagnostic.message, "> snapshot ") != NULL &&
        strstr(i->diagnostic.message, "result") == NULL) {
        n->chunks_received++;
    }
}

static void start(int i, bool bootstrap)
{
    struct node *n = &nodes[i];
    n->id = (raft_id)(i + 1);
    snprintf(n->address, sizeof n->address, "127.0.0.1:%d", test_port(i));
    n->len = 0;
    n->restores = 0;
    n->chunks_received = 0;
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
    n->tracer = (struct raft_tracer){.impl = n, .version = 2, .emit = trace};
    n->raft.tracer = &n->tracer;
    /* Long enough for a leader slowed down by valgrind to keep its term. */
    raft_set_election_timeout(&n->raft, 1000 + 200 * (unsigned)i);
    raft_set_heartbeat_timeout(&n->raft, 50);
    if (options.snapshot_threshold > 0) {
        raft_set_snapshot_threshold(&n->raft, options.snapshot_threshold);
        raft_set_snapshot_trailing(&n->raft, options.snapshot_trailing);
    }
    if (options.stream) {
        assert_int_equal(raft_set_snapshot_chunks(&n->raft, CHUNK, WINDOW), 0);
    }
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

static bool all_hold(size_t len)
{
    for (int i = 0; i < N_NODES; i++) {
        if (!nodes[i].running || nodes[i].len != len) {
            return false;
        }
    }
    return true;
}

static void assert_states_equal(void)
{
    for (int i = 1; i < N_NODES; i++) {
        assert_int_equal(nodes[i].len, nodes[0].len);
        assert_memory_equal(nodes[i].state, nodes[0].state, nodes[0].len);
    }
}

/* Counts the files of `dir` whose name starts with `prefix`. */
static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            count++;
        }
    }
    closedir(d);
    return count;
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

static int applied_calls(struct apply *a, int n)
{
    int calls = 0;
    for (int i = 0; i < n; i++) {
        calls += a[i].calls;
    }
    return calls;
}

/* Applies `n` commands of `value_len` bytes (values from `first`) through the leader, all
 * succeeding. */
static void apply_commands(int first, int n, size_t value_len)
{
    static struct apply applies[512];
    assert_true(n <= 512);
    memset(applies, 0, sizeof applies);
    int l = leader();
    assert_true(l >= 0);
    for (int i = 0; i < n; i++) {
        struct raft_buffer buf = {.base = raft_malloc(value_len), .len = value_len};
        for (size_t b = 0; b < value_len; b++) {
            ((unsigned char *)buf.base)[b] = (unsigned char)((size_t)(first + i) * 31 + b);
        }
        applies[i].req.data = &applies[i];
        assert_int_equal(raft_apply(&nodes[l].raft, &applies[i].req, &buf, 1, apply_cb), 0);
    }
    RUN_UNTIL(&loop, applied_calls(applies, n) == n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(applies[i].calls, 1);
        assert_int_equal(applies[i].status, 0);
    }
}

static int setup(void **state)
{
    options = *(const struct options *)*state;
    assert_int_equal(uv_loop_init(&loop), 0);
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < N_NODES; i++) {
        nodes[i].dir = make_dir();
        nodes[i].state = malloc(STATE_MAX);
        assert_non_null(nodes[i].state);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Nodes still running here belong to a test that failed half-way: stop them, or the run
     * below would never end (their timers keep the loop alive) and hide the failure. */
    for (int i = 0; i < N_NODES; i++) {
        if (nodes[i].running) {
            stop(i);
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int i = 0; i < N_NODES; i++) {
        remove_dir(nodes[i].dir);
        free(nodes[i].dir);
        free(nodes[i].state);
    }
    return 0;
}

/* Every node stops, then starts again from its data directory alone: they elect a leader and
 * rebuild the same states, holding `total` bytes each; then they stop for good. */
static void restart_all_from_their_directories(size_t total)
{
    for (int i = 0; i < N_NODES; i++) {
        stop(i);
    }
    for (int i = 0; i < N_NODES; i++) {
        start(i, false);
    }
    RUN_UNTIL(&loop, leader() >= 0 && all_hold(total));
    assert_states_equal();
    for (int i = 0; i < N_NODES; i++) {
        stop(i);
    }
}

static void elect_apply_and_restart(void **state)
{
    (void)state;
    enum { N_COMMANDS = 100, VALUE_LEN = 8 };
    for (int i = 0; i < N_NODES; i++) {
        start(i, true);
    }
    RUN_UNTIL(&loop, leader() >= 0);
    apply_commands(0, N_COMMANDS, VALUE_LEN);
    RUN_UNTIL(&loop, all_hold(N_COMMANDS * VALUE_LEN));
    assert_states_equal();

    /* The leader stops: the other two elect a new one and commit more; the old leader comes
     * back from its directory and catches up. */
    int l = leader();
    stop(l);
    RUN_UNTIL(&loop, leader() >= 0 && leader() != l);
    apply_commands(N_COMMANDS, 10, VALUE_LEN);
    start(l, false);
    size_t total = (N_COMMANDS + 10) * VALUE_LEN;
    RUN_UNTIL(&loop, all_hold(total));
    assert_states_equal();

    restart_all_from_their_directories(total);
}

static void a_lagging_follower_catches_up_through_a_streamed_snapshot(void **state)
{
    (void)state;
    enum { VALUE_LEN = 64 }; /* 310 commands make a snapshot of ~78 chunks */
    for (int i = 0; i < N_NODES; i++) {
        start(i, true);
    }
    RUN_UNTIL(&loop, leader() >= 0);
    apply_commands(0, 10, VALUE_LEN);
    RUN_UNTIL(&loop, all_hold(10 * VALUE_LEN));

    /* A follower goes down; the others apply enough to snapshot and drop the entries it
     * lacks (threshold 32, trailing 4). */
    int f = (leader() + 1) % N_NODES;
    stop(f);
    apply_commands(10, 300, VALUE_LEN);
    size_t total = 310 * VALUE_LEN; /* ~78 chunks of 256 bytes */

    /* It comes back and is stopped in the middle of the stream. */
    start(f, false);
    RUN_UNTIL(&loop, nodes[f].chunks_received >= 5);
    assert_int_equal(nodes[f].restores, 0);
    stop(f);

    /* Back again: nothing of the interrupted stream is left, and the snapshot comes whole
     * through a new stream of many chunks. */
    start(f, false);
    assert_int_equal(count_files(nodes[f].dir, "tmp-"), 0);
    RUN_UNTIL(&loop, nodes[f].len == total);
    assert_int_equal(nodes[f].restores, 1);
    assert_true(nodes[f].chunks_received >= total / CHUNK / 2);
    assert_true(count_files(nodes[f].dir, "snapshot-") >= 2); /* data and .meta */
    RUN_UNTIL(&loop, all_hold(total));
    assert_states_equal();

    /* Entries after the snapshot replicate as usual; restarted, every node rebuilds the same
     * state from its directory. */
    apply_commands(310, 20, VALUE_LEN);
    total += 20 * VALUE_LEN;
    RUN_UNTIL(&loop, all_hold(total));
    assert_states_equal();
    restart_all_from_their_directories(total);
}

int main(void)
{
    static const struct options plain = {.stream = false};
    static const struct options streamed = {
        .stream = true, .snapshot_threshold = 32, .snapshot_trailing = 4};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(elect_apply_and_restart, setup, teardown,
                                                 (void *)&plain),
        cmocka_unit_test_prestate_setup_teardown(
            a_lagging_follower_catches_up_through_a_streamed_snapshot, setup, teardown,
            (void *)&streamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
