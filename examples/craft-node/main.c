/* The example key-value node on C-Raft 0.15 (Debian's libraft-dev, the v0 API: libuv I/O,
 * raft_apply, an FSM), the counterpart of examples/node for interoperability tests and
 * benchmarks. Same state machine (examples/node/kv.c, compiled in: same command format, same
 * snapshot format, same digest), same command line, same client line protocol on the raft
 * port + 1000 (see examples/node/clients.c):
 *
 *   PUT key value  -> OK | REDIRECT host:port | ERR reason      (answered once applied)
 *   GET key        -> VALUE value | NOTFOUND | REDIRECT host:port
 *   STATUS         -> STATUS id=.. state=.. term=.. commit=.. applied=.. leader=.. keys=.. last=..
 *   HASH           -> HASH digest applied keys
 *   TRANSFER id    -> OK | REDIRECT host:port | ERR reason
 *
 *   craft-node --id N --cluster 1=127.0.0.1:9001,2=... --dir DIR
 *              [--snapshot-every N] [--trailing N] [--compress 0|1] [--pre-vote 0|1]
 *
 * Built against the SYSTEM raft.h (/usr/include) and libraft.so.2, never against this
 * repository's include/raft.h (same name, different library). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "address.h"
#include "kv.h"

/* Built against C-Raft 0.15 for the interoperability test, (make craft-node-on-rs) against
 * libraft-rs's headers as a C-Raft classic-API program moving to it, and (make bench-net-uv,
 * CRAFT_NODE_ON_CRAFT_0_22) against C-Raft 0.22.1 built from source, to compare the two. */
#if defined(RAFT_VERSION_NUMBER) && !defined(CRAFT_NODE_ON_LIBRAFT_RS) && \
    !defined(CRAFT_NODE_ON_CRAFT_0_22)
#error "build with C-Raft 0.15's raft.h (the system header), or define CRAFT_NODE_ON_LIBRAFT_RS"
#endif

#define MAX_CLIENTS 256

struct client {
    uv_tcp_t tcp;
    unsigned long long serial;
    char in[4096];
    size_t in_len;
    bool closing;
};

struct put_req {
    struct raft_apply req;
    unsigned long long serial;
};

static struct {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    struct kv *kv;
    raft_id id;
    char address[128];
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t watch; /* logs role changes: the v0 API has no callback for them */
    int last_state;
    struct client *clients[MAX_CLIENTS];
    unsigned n_clients;
    unsigned long long next_serial;
    bool started; /* raft_start returned: a restore now is a snapshot from the leader */
    bool stopping;
} node;

/* ---- the state machine ---------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)fsm;
    *result = NULL;
    if (kv_apply(node.kv, buf->base, buf->len) != 0) {
        fprintf(stderr, "craft-node: an entry is not a command of this store\n");
    }
    return 0;
}

/* Version 1 FSM: the library frees the buffers and the array with raft_free. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL) {
        return RAFT_NOMEM;
    }
    (*bufs)[0] = kv_snapshot(node.kv);
    *n_bufs = 1;
    return 0;
}

/* Takes ownership of buf->base on success. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    if (kv_restore(node.kv, buf->base, buf->len) != 0) {
        fprintf(stderr, "craft-node: snapshot does not decode\n");
        return RAFT_MALFORMED;
    }
    fprintf(stderr, "craft-node %llu: %s (%zu keys)\n", node.id,
            node.started ? "installed snapshot from the leader" : "loaded snapshot",
            kv_count(node.kv));
    raft_free(buf->base);
    return 0;
}

/* ---- clients ---------------------------------------------------------------------------- */

static struct client *by_serial(unsigned long long serial)
{
    for (unsigned i = 0; i < node.n_clients; i++) {
        if (node.clients[i]->serial == serial) {
            return node.clients[i];
        }
    }
    return NULL;
}

struct write_req {
    uv_write_t req;
    char data[];
};

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void reply(struct client *cl, const char *fmt, const char *arg)
{
    if (cl == NULL || cl->closing) {
        return;
    }
    char line[4200];
    int n = snprintf(line, sizeof line, fmt, arg);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    struct write_req *w = malloc(sizeof *w + len);
    memcpy(w->data, line, len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&cl->tcp, &buf, 1, on_written) != 0) {
        free(w);
    }
}

static void redirect(struct client *cl)
{
    raft_id id;
    const char *address;
    char client_address[160];
    raft_leader(&node.raft, &id, &address);
    if (id == 0 || address == NULL ||
        address_client_of(address, client_address, sizeof client_address) != 0) {
        reply(cl, "ERR %s\n", "no leader");
    } else {
        reply(cl, "REDIRECT %s\n", client_address);
    }
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct put_req *p = (struct put_req *)req;
    struct client *cl = by_serial(p->serial);
    if (status == 0) {
        reply(cl, "OK%s\n", "");
    } else {
        reply(cl, "ERR %s\n", raft_strerror(status));
    }
    free(p);
}

static void put(struct client *cl, const char *key, const char *value)
{
    if (raft_state(&node.raft) != RAFT_LEADER) {
        redirect(cl);
        return;
    }
    struct put_req *p = calloc(1, sizeof *p);
    p->serial = cl->serial;
    struct raft_buffer buf = kv_encode_put(key, value);
    int rv = raft_apply(&node.raft, &p->req, &buf, 1, on_applied);
    if (rv != 0) {
        raft_free(buf.base);
        free(p);
        if (rv == RAFT_NOTLEADER) {
            redirect(cl);
        } else {
            reply(cl, "ERR %s\n", raft_strerror(rv));
        }
    }
}

static void on_transferred(struct raft_transfer *req)
{
    free(req);
}

static const char *state_name(int state)
{
    switch (state) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    default:
        return "unavailable";
    }
}

static void execute(struct client *cl, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " \r", &save);
    char *key = strtok_r(NULL, " \r", &save);
    char *value = strtok_r(NULL, "\r", &save);
    if (verb == NULL) {
        return;
    }
    if (strcmp(verb, "PUT") == 0 && key != NULL && value != NULL) {
        put(cl, key, value);
    } else if (strcmp(verb, "GET") == 0 && key != NULL) {
        if (raft_state(&node.raft) != RAFT_LEADER) {
            redirect(cl);
        } else {
            const char *v = kv_get(node.kv, key);
            reply(cl, v ? "VALUE %s\n" : "NOTFOUND%s\n", v ? v : "");
        }
    } else if (strcmp(verb, "TRANSFER") == 0 && key != NULL) {
        if (raft_state(&node.raft) != RAFT_LEADER) {
            redirect(cl);
            return;
        }
        struct raft_transfer *req = calloc(1, sizeof *req);
        int rv = raft_transfer(&node.raft, req, strtoull(key, NULL, 10), on_transferred);
        if (rv != 0) {
            free(req);
        }
        reply(cl, rv == 0 ? "OK%s\n" : "ERR %s\n", rv == 0 ? "" : raft_strerror(rv));
    } else if (strcmp(verb, "STATUS") == 0) {
        raft_id leader;
        const char *address;
        char out[400];
        raft_leader(&node.raft, &leader, &address);
        snprintf(out, sizeof out,
                 "STATUS id=%llu state=%s term=%llu commit=%llu applied=%llu leader=%llu "
                 "keys=%zu last=%llu",
                 node.id, state_name(raft_state(&node.raft)), node.raft.current_term,
                 node.raft.commit_index, raft_last_applied(&node.raft), leader,
                 kv_count(node.kv), raft_last_index(&node.raft));
        reply(cl, "%s\n", out);
    } else if (strcmp(verb, "HASH") == 0) {
        char out[128];
        snprintf(out, sizeof out, "%016llx %llu %zu", (unsigned long long)kv_digest(node.kv),
                 raft_last_applied(&node.raft), kv_count(node.kv));
        reply(cl, "HASH %s\n", out);
    } else {
        reply(cl, "ERR %s\n", "unknown request");
    }
}

static void on_client_closed(uv_handle_t *h)
{
    free(h->data);
}

static void drop_client(struct client *cl)
{
    if (cl->closing) {
        return;
    }
    cl->closing = true;
    for (unsigned i = 0; i < node.n_clients; i++) {
        if (node.clients[i] == cl) {
            node.clients[i] = node.clients[--node.n_clients];
            break;
        }
    }
    uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct client *cl = h->data;
    *buf = uv_buf_init(cl->in + cl->in_len, (unsigned)(sizeof cl->in - cl->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct client *cl = s->data;
    if (n < 0) {
        drop_client(cl);
        return;
    }
    cl->in_len += (size_t)n;
    char *nl;
    while (!cl->closing && (nl = memchr(cl->in, '\n', cl->in_len)) != NULL) {
        *nl = '\0';
        execute(cl, cl->in);
        size_t used = (size_t)(nl - cl->in) + 1;
        memmove(cl->in, cl->in + used, cl->in_len - used);
        cl->in_len -= used;
    }
    if (cl->in_len == sizeof cl->in) {
        drop_client(cl); /* a line that long is not a request */
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status != 0) {
        return;
    }
    struct client *cl = calloc(1, sizeof *cl);
    uv_tcp_init(&node.loop, &cl->tcp);
    cl->tcp.data = cl;
    if (uv_accept(server, (uv_stream_t *)&cl->tcp) != 0 || node.n_clients == MAX_CLIENTS ||
        node.stopping) {
        uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
        return;
    }
    uv_tcp_nodelay(&cl->tcp, 1);
    cl->serial = ++node.next_serial;
    node.clients[node.n_clients++] = cl;
    uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read);
}

static int listen_clients(void)
{
    char address[160], host[128];
    int port;
    int rv = UV_EINVAL;
    if (address_client_of(node.address, address, sizeof address) == 0 &&
        address_split(address, host, sizeof host, &port) == 0) {
        struct sockaddr_in sa;
        rv = uv_ip4_addr(host, port, &sa);
        if (rv == 0) {
            uv_tcp_init(&node.loop, &node.listener);
            rv = uv_tcp_bind(&node.listener, (const struct sockaddr *)&sa, 0);
        }
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&node.listener, 64, on_connection);
    }
    if (rv != 0) {
        fprintf(stderr, "craft-node: cannot listen on %s: %s\n", address, uv_strerror(rv));
    }
    return rv;
}

/* ---- start-up and shutdown ------------------------------------------------------------- */

static void on_watch(uv_timer_t *t)
{
    (void)t;
    int state = raft_state(&node.raft);
    if (state != node.last_state) {
        node.last_state = state;
        fprintf(stderr, "craft-node %llu: now %s in term %llu (last index %llu)\n", node.id,
                state_name(state), node.raft.current_term, raft_last_index(&node.raft));
    }
}

static void on_raft_closed(struct raft *r)
{
    (void)r;
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (node.stopping) {
        return;
    }
    node.stopping = true;
    fprintf(stderr, "craft-node %llu: clean shutdown (applied %llu, %zu keys)\n", node.id,
            raft_last_applied(&node.raft), kv_count(node.kv));
    uv_close((uv_handle_t *)&node.sigterm, NULL);
    uv_close((uv_handle_t *)&node.sigint, NULL);
    uv_close((uv_handle_t *)&node.listener, NULL);
    uv_close((uv_handle_t *)&node.watch, NULL);
    while (node.n_clients > 0) {
        drop_client(node.clients[0]);
    }
    raft_close(&node.raft, on_raft_closed);
}

static void usage(void)
{
    fprintf(stderr, "usage: craft-node --id N --cluster ID=HOST:PORT,... --dir DIR "
                    "[--snapshot-every N] [--trailing N] [--compress 0|1] [--pre-vote 0|1]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    char cluster[1024] = "";
    unsigned snapshot_every = 1024, trailing = 128;
    int compress = 1, pre_vote = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--id") == 0) {
            node.id = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--cluster") == 0) {
            snprintf(cluster, sizeof cluster, "%s", argv[i + 1]);
        } else if (strcmp(argv[i], "--dir") == 0) {
            dir = argv[i + 1];
        } else if (strcmp(argv[i], "--snapshot-every") == 0) {
            snapshot_every = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--trailing") == 0) {
            trailing = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--compress") == 0) {
            compress = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--pre-vote") == 0) {
            pre_vote = atoi(argv[i + 1]);
        } else {
            usage();
        }
    }
    if (node.id == 0 || dir == NULL || cluster[0] == '\0' || (argc - 1) % 2 != 0) {
        usage();
    }

    /* The configuration, in --cluster order (every node must encode the same entry 1). */
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    char *save = NULL;
    for (char *item = strtok_r(cluster, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            usage();
        }
        *eq = '\0';
        raft_id id = strtoull(item, NULL, 10);
        if (raft_configuration_add(&conf, id, eq + 1, RAFT_VOTER) != 0) {
            fprintf(stderr, "craft-node: bad --cluster\n");
            return 2;
        }
        if (id == node.id) {
            snprintf(node.address, sizeof node.address, "%s", eq + 1);
        }
    }
    if (node.address[0] == '\0') {
        fprintf(stderr, "craft-node: --cluster does not name --id %llu\n", node.id);
        return 2;
    }
    mkdir(dir, 0755);
    signal(SIGPIPE, SIG_IGN);

    node.kv = kv_new();
    node.fsm = (struct raft_fsm){.version = 1,
                                 .apply = fsm_apply,
                                 .snapshot = fsm_snapshot,
                                 .restore = fsm_restore};
    int rv = uv_loop_init(&node.loop);
#if defined(RAFT_VERSION_NUMBER)
    /* C-Raft 0.22.1's raft/uv.h has a transport version, which its raft_uv_tcp_init requires
     * to be 1 (0.15's has none; libraft-rs accepts 0 as well). */
    node.transport.version = 1;
#endif
    if (rv == 0) {
        rv = raft_uv_tcp_init(&node.transport, &node.loop);
    }
    if (rv == 0) {
        rv = raft_uv_init(&node.io, &node.loop, dir, &node.transport);
    }
    if (rv != 0) {
        fprintf(stderr, "craft-node: raft_uv_init(%s): %s\n", dir, raft_strerror(rv));
        return 1;
    }
    if (!compress) {
        raft_uv_set_snapshot_compression(&node.io, false);
    }
    raft_uv_set_connect_retry_delay(&node.io, 200);
    rv = raft_init(&node.raft, &node.io, &node.fsm, node.id, node.address);
    if (rv != 0) {
        fprintf(stderr, "craft-node: raft_init: %s\n", raft_errmsg(&node.raft));
        return 1;
    }
    raft_set_election_timeout(&node.raft, 600);
    raft_set_heartbeat_timeout(&node.raft, 60);
    raft_set_install_snapshot_timeout(&node.raft, 2000);
    raft_set_snapshot_threshold(&node.raft, snapshot_every);
    raft_set_snapshot_trailing(&node.raft, trailing);
    raft_set_pre_vote(&node.raft, pre_vote != 0);

    rv = raft_bootstrap(&node.raft, &conf);
    if (rv == 0) {
        fprintf(stderr, "craft-node %llu: bootstrapped a new cluster in %s\n", node.id, dir);
    } else if (rv != RAFT_CANTBOOTSTRAP) {
        fprintf(stderr, "craft-node: raft_bootstrap: %s\n", raft_errmsg(&node.raft));
        return 1;
    }
    raft_configuration_close(&conf);
    rv = raft_start(&node.raft);
    if (rv != 0) {
        fprintf(stderr, "craft-node: raft_start: %s\n", raft_errmsg(&node.raft));
        return 1;
    }
    node.started = true;
    fprintf(stderr, "craft-node %llu: term %llu, vote %llu, log up to %llu, applied %llu\n",
            node.id, node.raft.current_term, node.raft.voted_for, raft_last_index(&node.raft),
            raft_last_applied(&node.raft));
    if (listen_clients() != 0) {
        return 1;
    }
    uv_signal_init(&node.loop, &node.sigterm);
    uv_signal_start(&node.sigterm, on_signal, SIGTERM);
    uv_signal_init(&node.loop, &node.sigint);
    uv_signal_start(&node.sigint, on_signal, SIGINT);
    uv_timer_init(&node.loop, &node.watch);
    uv_timer_start(&node.watch, on_watch, 10, 10);
    fprintf(stderr, "craft-node %llu: listening on %s\n", node.id, node.address);

    uv_run(&node.loop, UV_RUN_DEFAULT);

    raft_uv_close(&node.io);
    raft_uv_tcp_close(&node.transport);
    uv_loop_close(&node.loop);
    kv_free(node.kv);
    return 0;
}
