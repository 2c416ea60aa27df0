/* The node program: arguments, start-up (load or bootstrap), the poll(2) loop, SIGTERM.
 *
 *   node --id N --cluster 1=127.0.0.1:9001,2=127.0.0.1:9002,3=127.0.0.1:9003 --dir DIR
 *        [--snapshot-every ENTRIES] [--trailing ENTRIES] [--pre-vote 0|1] [--fsync 0|1]
 *        [--snapshot-chunk BYTES]
 *        [--read index|lease|stale] [--listen HOST:PORT]
 *
 * --listen makes the node listen for peers on another address than its own in --cluster (and
 * for clients on that address's port + 1000): for tests that put a proxy in front of each node.
 * --read picks how GET is served: index (default) and lease are linearizable (docs/reads.md);
 * stale answers from the leader's applied state without any check (what GET did before, and
 * what the linearizability test must catch).
 * --fsync 0 makes nothing durable (no fsync/fdatasync): for benchmarks only.
 *
 * Every server of --cluster starts as a voter; a brand-new node bootstraps that
 * configuration (all of them store the same first entry), a node with data resumes from it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node.h"

#define MAX_POLLFDS 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

struct options {
    raft_id id;
    const char *dir;
    char cluster[1024];
    unsigned snapshot_every, trailing;
    bool pre_vote, no_fsync;
    int read_mode;
    const char *listen;
    unsigned long long snapshot_chunk;
};

static void usage(void)
{
    fprintf(stderr, "usage: node --id N --cluster ID=HOST:PORT,... --dir DIR "
                    "[--snapshot-every N] [--trailing N] [--pre-vote 0|1] [--fsync 0|1] "
                    "[--read index|lease|stale] [--listen HOST:PORT] [--snapshot-chunk BYTES]\n");
    exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->snapshot_every = 1024;
    o->trailing = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--id") == 0) {
            o->id = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--cluster") == 0) {
            snprintf(o->cluster, sizeof o->cluster, "%s", argv[i + 1]);
        } else if (strcmp(argv[i], "--dir") == 0) {
            o->dir = argv[i + 1];
        } else if (strcmp(argv[i], "--snapshot-every") == 0) {
            o->snapshot_every = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--trailing") == 0) {
            o->trailing = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--pre-vote") == 0) {
            o->pre_vote = atoi(argv[i + 1]) != 0;
        } else if (strcmp(argv[i], "--fsync") == 0) {
            o->no_fsync = atoi(argv[i + 1]) == 0;
        } else if (strcmp(argv[i], "--snapshot-chunk") == 0) {
            o->snapshot_chunk = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--listen") == 0) {
            o->listen = argv[i + 1];
        } else if (strcmp(argv[i], "--read") == 0) {
            const char *m = argv[i + 1];
            o->read_mode = strcmp(m, "index") == 0   ? READ_INDEX
                           : strcmp(m, "lease") == 0 ? READ_LEASE
                           : strcmp(m, "stale") == 0 ? READ_STALE
                                                     : -1;
            if (o->read_mode < 0) {
                usage();
            }
        } else {
            usage();
        }
    }
    if (o->id == 0 || o->dir == NULL || o->cluster[0] == '\0') {
        usage();
    }
}

/* Builds the configuration from "1=host:port,2=host:port" and finds our own address. */
static int parse_cluster(char *spec, raft_id self, struct raft_configuration *conf,
                         char *address, size_t len)
{
    raft_configuration_init(conf);
    char *save = NULL;
    for (char *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            return -1;
        }
        *eq = '\0';
        raft_id id = strtoull(item, NULL, 10);
        if (raft_configuration_add(conf, id, eq + 1, RAFT_VOTER) != 0) {
            return -1;
        }
        if (id == self) {
            snprintf(address, len, "%s", eq + 1);
        }
    }
    return address[0] != '\0' ? 0 : -1;
}

static int load(struct host *h, const struct options *o, const struct raft_configuration *conf,
                raft_term *term, raft_id *vote)
{
    h->storage = storage_open(o->dir, term, vote, &h->snap, &h->log);
    if (h->storage == NULL) {
        return -1;
    }
    if (storage_is_empty(&h->log, *term, &h->snap)) {
        fprintf(stderr, "node %llu: bootstrapping a new cluster in %s\n", o->id, o->dir);
        memlog_close(&h->log);
        storage_close(h->storage);
        h->storage = storage_open(o->dir, term, vote, &h->snap, &h->log);
        if (storage_bootstrap(h->storage, conf) != 0) {
            return -1;
        }
        memlog_close(&h->log);
        storage_close(h->storage);
        h->storage = storage_open(o->dir, term, vote, &h->snap, &h->log);
    }
    fprintf(stderr, "node %llu: term %llu, vote %llu, snapshot %llu, log %llu..%llu\n", o->id,
            *term, *vote, h->snap.present ? h->snap.index : 0, h->log.first,
            memlog_last(&h->log));
    return h->storage != NULL ? 0 : -1;
}

static void run(struct host *h)
{
    struct pollfd pfds[MAX_POLLFDS];
    while (!stopping && !h->failed) {
        int nt = transport_fill_pollfds(h->transport, pfds, MAX_POLLFDS);
        int nc = clients_fill_pollfds(h->clients, pfds + nt, MAX_POLLFDS - nt);
        int rv = poll(pfds, (nfds_t)(nt + nc), poll_timeout(raft_timeout(&h->raft), 1000));
        if (rv < 0 && errno != EINTR) {
            perror("poll");
            return;
        }
        if (rv > 0) {
            transport_handle(h->transport, pfds, nt, now_ms());
            clients_handle(h->clients, pfds + nt, nc);
        }
        if (now_ms() >= raft_timeout(&h->raft)) {
            struct raft_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = RAFT_TIMEOUT;
            host_step(h, &ev);
        }
        host_flush(h); /* one fdatasync for the round's appends, then acknowledgements */
    }
}

int main(int argc, char **argv)
{
    struct options o;
    parse_options(argc, argv, &o);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct host h;
    struct raft_configuration conf;
    char address[128] = "";
    raft_term term;
    raft_id vote;
    h.id = o.id;
    h.snapshot_threshold = o.snapshot_every;
    h.snapshot_trailing = o.trailing;
    h.kv = kv_new();
    if (parse_cluster(o.cluster, o.id, &conf, address, sizeof address) != 0) {
        fprintf(stderr, "bad --cluster, or it does not name --id %llu\n", o.id);
        return 2;
    }
    storage_set_fsync(!o.no_fsync);
    if (load(&h, &o, &conf, &term, &vote) != 0) {
        return 1;
    }
    raft_configuration_close(&conf);
    raft_init(&h.raft, NULL, NULL, o.id, address);
    /* The built-in tracer prints to stderr when LIBRAFT_TRACE is set (as C-Raft's does). */
    raft_seed(&h.raft, (unsigned)(o.id * 2654435761u) ^ (unsigned)time(NULL));
    raft_set_election_timeout(&h.raft, 600);
    raft_set_heartbeat_timeout(&h.raft, 60);
    raft_set_pre_vote(&h.raft, o.pre_vote);
    h.read_mode = o.read_mode;
    /* The lease assumes clocks drift apart by less than 100 ms per election timeout, and that a
     * crashed node stays down at least an election timeout (docs/reads.md). */
    raft_set_read_lease(&h.raft, o.read_mode == READ_LEASE, 100);
    /* Streamed snapshots (docs/snapshots.md): with peers that take them; C-Raft peers and
     * nodes without the option keep getting whole snapshots. */
    h.chunk_size = o.snapshot_chunk;
    if (raft_set_snapshot_chunks(&h.raft, h.chunk_size, 4) != 0) {
        fprintf(stderr, "node: %s\n", raft_errmsg(&h.raft));
        return 1;
    }
    /* A snapshot sent while the peer was down is lost with the connection: retry soon rather
     * than after the default 30 s. */
    raft_set_install_snapshot_timeout(&h.raft, 2000);
    const char *listen = o.listen != NULL ? o.listen : address;
    h.transport = transport_new(o.id, address, listen, host_receive, &h);
    h.clients = clients_new(&h, listen);
    if (h.transport == NULL || h.clients == NULL || host_start(&h, term, vote) != 0) {
        return 1;
    }
    fprintf(stderr, "node %llu: listening on %s\n", o.id, address);
    run(&h);
    int status = h.failed ? 1 : 0;
    fprintf(stderr, "node %llu: %s (applied %llu, %zu keys)\n", o.id,
            h.failed ? "stopped on a storage error" : "clean shutdown", h.last_applied,
            kv_count(h.kv));
    raft_close(&h.raft, NULL);
    clients_free(h.clients);
    transport_free(h.transport);
    storage_close(h.storage);
    memlog_close(&h.log);
    if (h.snap.present) {
        raft_configuration_close(&h.snap.conf);
        raft_free(h.snap.data.base);
    }
    raft_free(h.applied_conf.base);
    kv_free(h.kv);
    return status;
}
