/* The network side of raft_uv through struct raft_io: messages between two instances over
 * the TCP transport and over a transport of the program's own (socket pairs handed over as
 * uv pipes, as cowsql hands over its own streams), reconnection, and the bounded queue of a
 * peer that cannot be reached. */
#include "uv_test.h"

enum { MAX_RECEIVED = 16 };

struct node
{
    uv_loop_t *loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    char *dir;
    raft_id id;
    char address[64];
    struct raft_message received[MAX_RECEIVED];
    char received_address[MAX_RECEIVED][64];
    int n_received;
    bool closed;
    bool custom; /* uses the socket-pair transport below */
};

static void release_message(struct raft_message *m)
{
    if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
        raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

static void recv_cb(struct raft_io *io, struct raft_message *m)
{
    struct node *n = io->data;
    assert_true(n->n_received < MAX_RECEIVED);
    n->received[n->n_received] = *m;
    snprintf(n->received_address[n->n_received], 64, "%s", m->server_address);
    n->received[n->n_received].server_address = n->received_address[n->n_received];
    n->n_received++;
}

static void tick_cb(struct raft_io *io)
{
    (void)io;
}

static void custom_transport_init(struct raft_uv_transport *t, uv_loop_t *loop);

static void start_node(struct node *n, uv_loop_t *loop, raft_id id, int port, bool custom)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->id = id;
    n->custom = custom;
    n->dir = make_dir();
    snprintf(n->address, sizeof n->address, "127.0.0.1:%d", port);
    if (custom) {
        custom_transport_init(&n->transport, loop);
    } else {
        assert_int_equal(raft_uv_tcp_init(&n->transport, loop), 0);
    }
    assert_int_equal(raft_uv_init(&n->io, loop, n->dir, &n->transport), 0);
    raft_uv_set_connect_retry_delay(&n->io, 20);
    n->io.data = n;
    assert_int_equal(n->io.init(&n->io, id, n->address), 0);
    assert_int_equal(n->io.start(&n->io, 50, tick_cb, recv_cb), 0);
}

static void closed_cb(struct raft_io *io)
{
    ((struct node *)io->data)->closed = true;
}

static void custom_transport_release(struct raft_uv_transport *t);

static void stop_node(struct node *n)
{
    n->io.close(&n->io, closed_cb);
    RUN_UNTIL(n->loop, n->closed);
    raft_uv_close(&n->io);
    if (n->custom) {
        custom_transport_release(&n->transport);
    } else {
        raft_uv_tcp_close(&n->transport);
    }
    for (int i = 0; i < n->n_received; i++) {
        release_message(&n->received[i]);
    }
    remove_dir(n->dir);
    free(n->dir);
}

struct send
{
    struct raft_io_send req;
    int status;
    int calls;
};

static void send_cb(struct raft_io_send *req, int status)
{
    struct send *s = req->data;
    s->status = status;
    s->calls++;
}

static void send_to(struct node *from, struct node *to, struct raft_message *m, struct send *s)
{
    memset(s, 0, sizeof *s);
    s->req.data = s;
    s->status = -1;
    m->server_id = to->id;
    m->server_address = to->address;
    assert_int_equal(from->io.send(&from->io, &s->req, m, send_cb), 0);
    assert_int_equal(s->calls, 0); /* never from inside send */
}

static struct raft_message request_vote(raft_term term)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_REQUEST_VOTE;
    m.request_vote.version = 2;
    m.request_vote.term = term;
    m.request_vote.candidate_id = 1;
    m.request_vote.last_log_index = 7;
    m.request_vote.last_log_term = 2;
    m.request_vote.pre_vote = true;
    return m;
}

/* Messages both ways between two instances, with entries carried intact. */
static void exchange(bool custom)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node a, b;
    start_node(&a, &loop, 1, test_port(0), custom);
    start_node(&b, &loop, 2, test_port(1), custom);

    struct raft_message m = request_vote(3);
    struct send s1;
    send_to(&a, &b, &m, &s1);
    RUN_UNTIL(&loop, b.n_received == 1 && s1.calls == 1);
    assert_int_equal(s1.status, 0);
    struct raft_message *r = &b.received[0];
    assert_int_equal(r->type, RAFT_REQUEST_VOTE);
    assert_int_equal(r->server_id, 1);
    assert_string_equal(r->server_address, a.address);
    assert_int_equal(r->request_vote.term, 3);
    assert_int_equal(r->request_vote.last_log_index, 7);
    assert_int_equal(r->request_vote.last_log_term, 2);
    assert_true(r->request_vote.pre_vote);

    uint64_t payloads[6] = {1, 2, 3, 4, 5, 6};
    struct raft_entry entries[3] = {
        {.term = 2, .type = RAFT_COMMAND, .buf = {&payloads[0], 8}},
        {.term = 2, .type = RAFT_BARRIER, .buf = {&payloads[1], 16}},
        {.term = 3, .type = RAFT_COMMAND, .buf = {&payloads[3], 24}},
    };
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES;
    m.append_entries.term = 3;
    m.append_entries.prev_log_index = 4;
    m.append_entries.prev_log_term = 2;
    m.append_entries.leader_commit = 4;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = 3;
    struct send s2;
    send_to(&a, &b, &m, &s2);
    RUN_UNTIL(&loop, b.n_received == 2 && s2.calls == 1);
    r = &b.received[1];
    assert_int_equal(r->type, RAFT_APPEND_ENTRIES);
    assert_int_equal(r->append_entries.n_entries, 3);
    assert_int_equal(r->append_entries.prev_log_index, 4);
    assert_int_equal(r->append_entries.entries[1].type, RAFT_BARRIER);
    assert_int_equal(r->append_entries.entries[2].term, 3);
    assert_int_equal(r->append_entries.entries[2].buf.len, 24);
    assert_memory_equal(r->append_entries.entries[2].buf.base, &payloads[3], 24);

    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES_RESULT;
    m.append_entries_result.term = 3;
    m.append_entries_result.last_log_index = 7;
    struct send s3;
    send_to(&b, &a, &m, &s3);
    RUN_UNTIL(&loop, a.n_received == 1 && s3.calls == 1);
    assert_int_equal(a.received[0].type, RAFT_APPEND_ENTRIES_RESULT);
    assert_int_equal(a.received[0].server_id, 2);
    assert_int_equal(a.received[0].append_entries_result.last_log_index, 7);

    stop_node(&a);
    stop_node(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void exchange_over_tcp(void **state)
{
    (void)state;
    exchange(false);
}

static void exchange_over_custom_transport(void **state)
{
    (void)state;
    exchange(true);
}

/* A peer that restarts is reached again after the retry delay. */
static void reconnects_after_peer_restart(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node a, b;
    start_node(&a, &loop, 1, test_port(0), false);
    start_node(&b, &loop, 2, test_port(1), false);
    struct raft_message m = request_vote(1);
    struct send s;
    send_to(&a, &b, &m, &s);
    RUN_UNTIL(&loop, b.n_received == 1);
    stop_node(&b);

    start_node(&b, &loop, 2, test_port(1), false);
    /* Keep sending until one arrives: the first ones may go to the dead connection. */
    for (int attempt = 0; b.n_received == 0; attempt++) {
        assert_true(attempt < 200);
        m = request_vote(2);
        send_to(&a, &b, &m, &s);
        RUN_UNTIL(&loop, s.calls == 1);
    }
    assert_int_equal(b.received[0].request_vote.term, 2);
    stop_node(&a);
    stop_node(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Messages to a peer nobody listens for: at most 3 wait, older ones fail with
 * RAFT_NOCONNECTION, the waiting ones are canceled at close. */
static void unreachable_peer_queue_is_bounded(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node a;
    start_node(&a, &loop, 1, test_port(0), false);
    struct node ghost;
    memset(&ghost, 0, sizeof ghost);
    ghost.id = 9;
    snprintf(ghost.address, sizeof ghost.address, "127.0.0.1:%d", test_port(2));
    enum { N = 8 };
    struct send s[N];
    for (int i = 0; i < N; i++) {
        struct raft_message m = request_vote((raft_term)i + 1);
        send_to(&a, &ghost, &m, &s[i]);
    }
    RUN_UNTIL(&loop, s[N - 4].calls == 1);
    for (int i = 0; i < N - 3; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].status, RAFT_NOCONNECTION);
    }
    stop_node(&a);
    for (int i = N - 3; i < N; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].status, RAFT_CANCELED);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* --- A transport of the program's own: in-process socket pairs handed over as uv pipes --- */

struct custom
{
    uv_loop_t *loop;
    raft_id id;
    char address[64];
    raft_uv_accept_cb accept_cb;
    struct custom *next; /* registry of listening transports */
    struct raft_uv_transport *t;
    int pending; /* connects whose callback has not fired */
    raft_uv_transport_close_cb close_cb;
    uv_timer_t close_timer;
};

static struct custom *registry;

struct custom_connect
{
    uv_timer_t timer;
    struct custom *from;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    char address[64];
};

static int custom_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct custom *c = t->impl;
    c->id = id;
    snprintf(c->address, sizeof c->address, "%s", address);
    return 0;
}

static int custom_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct custom *c = t->impl;
    c->accept_cb = cb;
    c->next = registry;
    registry = c;
    return 0;
}

static void unregister(struct custom *c)
{
    for (struct custom **p = &registry; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

static uv_stream_t *pipe_of(uv_loop_t *loop, int fd)
{
    uv_pipe_t *p = raft_malloc(sizeof *p);
    assert_int_equal(uv_pipe_init(loop, p, 0), 0);
    assert_int_equal(uv_pipe_open(p, fd), 0);
    return (uv_stream_t *)p;
}

static void free_timer_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Fires the connect callback on the next loop iteration (never from inside connect). */
static void custom_connected(uv_timer_t *timer)
{
    struct custom_connect *cc = timer->data;
    struct custom *to = NULL;
    for (struct custom *c = registry; c != NULL; c = c->next) {
        if (strcmp(c->address, cc->address) == 0) {
            to = c;
        }
    }
    cc->from->pending--;
    if (to == NULL) {
        cc->cb(cc->req, NULL, RAFT_NOCONNECTION);
    } else {
        int fds[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        to->accept_cb(to->t, cc->from->id, cc->from->address, pipe_of(to->loop, fds[1]));
        cc->cb(cc->req, pipe_of(cc->from->loop, fds[0]), 0);
    }
    uv_close((uv_handle_t *)&cc->timer, free_timer_cb);
}

static int custom_connect(struct raft_uv_transport *t,
                          struct raft_uv_connect *req,
                          raft_id id,
                          const char *address,
                          raft_uv_connect_cb cb)
{
    (void)id;
    struct custom *c = t->impl;
    struct custom_connect *cc = calloc(1, sizeof *cc);
    cc->from = c;
    cc->req = req;
    cc->cb = cb;
    snprintf(cc->address, sizeof cc->address, "%s", address);
    uv_timer_init(c->loop, &cc->timer);
    cc->timer.data = cc;
    c->pending++;
    uv_timer_start(&cc->timer, custom_connected, 0, 0);
    return 0;
}

static void custom_closed(uv_handle_t *h)
{
    struct custom *c = h->data;
    c->close_cb(c->t);
}

static void custom_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct custom *c = t->impl;
    unregister(c);
    c->close_cb = cb;
    /* Connect timers in flight fire first (they were started earlier). */
    uv_timer_init(c->loop, &c->close_timer);
    c->close_timer.data = c;
    uv_close((uv_handle_t *)&c->close_timer, custom_closed);
}

static void custom_transport_init(struct raft_uv_transport *t, uv_loop_t *loop)
{
    struct custom *c = calloc(1, sizeof *c);
    c->loop = loop;
    c->t = t;
    memset(t, 0, sizeof *t);
    t->version = 1;
    t->impl = c;
    t->init = custom_init;
    t->listen = custom_listen;
    t->connect = custom_connect;
    t->close = custom_close;
}

static void custom_transport_release(struct raft_uv_transport *t)
{
    struct custom *c = t->impl;
    assert_int_equal(c->pending, 0);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange_over_tcp),
        cmocka_unit_test(exchange_over_custom_transport),
        cmocka_unit_test(reconnects_after_peer_restart),
        cmocka_unit_test(unreachable_peer_queue_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
