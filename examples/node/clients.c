/* The client line protocol, on the raft port + 1000. Requests and replies are one line each:
 *   PUT key value  -> OK | REDIRECT host:port | ERR reason      (answered once committed)
 *   GET key        -> VALUE value | NOTFOUND | REDIRECT host:port | ERR reason
 *   STATUS         -> STATUS id=.. state=.. term=.. commit=.. applied=.. leader=.. keys=.. last=..
 *                     read=index|lease|stale reads=..  (the GET mode, and GETs it served)
 *   HASH           -> HASH digest applied keys  (any node: compares state machines)
 *   TRANSFER id    -> OK | REDIRECT host:port | ERR reason  (leader: hand leadership to id,
 *                     0 for any; OK means started, poll STATUS for the outcome)
 * GET is linearizable by default (--read index or lease): the node asks the library for a read
 * (RAFT_READ; a follower forwards it to its leader), and answers once the read is confirmed and
 * its state machine has applied up to the read index; a read that fails (leadership lost, no
 * answer from the leader) gets "ERR leadership lost", and the client retries. --read stale
 * answers from the leader's applied state at once and redirects on followers. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "node.h"

#define MAX_CLIENTS 64
#define MAX_PENDING 4096
#define MAX_BATCH 1024

struct client {
    int fd;
    unsigned long long serial; /* identifies the connection for pending replies */
    char in[4096];
    size_t in_len;
    char *out;
    size_t out_len, out_cap;
};

struct pending {
    raft_index index;
    raft_term term;
    unsigned long long serial;
};

/* A GET waiting for its read to be confirmed (ready == false) or applied. */
struct pending_read {
    uint64_t id;
    unsigned long long serial;
    char *key;
    raft_index index;
    bool ready;
};

struct clients {
    struct host *host;
    struct pending_read reads[MAX_PENDING];
    unsigned n_reads;
    uint64_t next_read;
    unsigned long long reads_served;
    int listen_fd;
    struct client c[MAX_CLIENTS];
    unsigned n;
    unsigned long long next_serial;
    struct pending pending[MAX_PENDING];
    unsigned n_pending;
    struct raft_buffer batch[MAX_BATCH]; /* PUTs of this poll round, not yet submitted */
    unsigned long long batch_serial[MAX_BATCH];
    unsigned n_batch;
    int slot_of[1 + MAX_CLIENTS]; /* -1: the listening socket */
};

static int listen_client_port(const char *address)
{
    struct sockaddr_in sa;
    if (address_sockaddr(address, &sa) != 0) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "clients: cannot listen on %s: %s\n", address, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct clients *clients_new(struct host *h, const char *raft_address)
{
    char address[160];
    if (address_client_of(raft_address, address, sizeof address) != 0) {
        return NULL;
    }
    struct clients *c = calloc(1, sizeof *c);
    c->host = h;
    c->listen_fd = listen_client_port(address);
    if (c->listen_fd < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void drop_client(struct clients *c, unsigned i)
{
    close(c->c[i].fd);
    free(c->c[i].out);
    c->c[i] = c->c[--c->n];
}

void clients_free(struct clients *c)
{
    if (c == NULL) {
        return;
    }
    while (c->n > 0) {
        drop_client(c, 0);
    }
    for (unsigned i = 0; i < c->n_reads; i++) {
        free(c->reads[i].key);
    }
    close(c->listen_fd);
    free(c);
}

static struct client *by_serial(struct clients *c, unsigned long long serial)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->c[i].serial == serial) {
            return &c->c[i];
        }
    }
    return NULL;
}

static void reply(struct client *cl, const char *fmt, const char *arg)
{
    char line[4200];
    int n = snprintf(line, sizeof line, fmt, arg);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (cl->out_len + len > cl->out_cap) {
        cl->out_cap = (cl->out_len + len) * 2;
        cl->out = realloc(cl->out, cl->out_cap);
    }
    memcpy(cl->out + cl->out_len, line, len);
    cl->out_len += len;
}

/* Points the client at the leader's client port, or says there is none yet. */
static void redirect(struct clients *c, struct client *cl)
{
    raft_id id;
    const char *address;
    char client_address[160];
    raft_leader(&c->host->raft, &id, &address);
    if (id == 0 || address == NULL || address_client_of(address, client_address,
                                                        sizeof client_address) != 0) {
        reply(cl, "ERR %s\n", "no leader");
    } else {
        reply(cl, "REDIRECT %s\n", client_address);
    }
}

/* PUTs read in one poll round are submitted together (one RAFT_SUBMIT, one write). */
static void put(struct clients *c, struct client *cl, const char *key, const char *value)
{
    struct host *h = c->host;
    if (raft_state(&h->raft) != RAFT_LEADER) {
        redirect(c, cl);
        return;
    }
    if (c->n_pending + c->n_batch == MAX_PENDING || c->n_batch == MAX_BATCH) {
        reply(cl, "ERR %s\n", "busy");
        return;
    }
    c->batch[c->n_batch] = kv_encode_put(key, value);
    c->batch_serial[c->n_batch++] = cl->serial;
}

/* Submits the PUTs gathered in this round. */
static void submit_batch(struct clients *c)
{
    if (c->n_batch == 0) {
        return;
    }
    struct host *h = c->host;
    unsigned n = c->n_batch;
    c->n_batch = 0;
    int error;
    raft_term term = raft_current_term(&h->raft);
    raft_index first = host_submit(h, c->batch, n, &error);
    for (unsigned k = 0; k < n; k++) {
        struct client *cl = by_serial(c, c->batch_serial[k]);
        if (first != 0) {
            c->pending[c->n_pending++] = (struct pending){first + k, term, c->batch_serial[k]};
        } else if (cl == NULL) {
            continue;
        } else if (error == RAFT_NOTLEADER) {
            redirect(c, cl);
        } else {
            reply(cl, "ERR %s\n", raft_strerror(error));
        }
    }
}

static void answer_get(struct clients *c, struct client *cl, const char *key)
{
    const char *v = kv_get(c->host->kv, key);
    reply(cl, v ? "VALUE %s\n" : "NOTFOUND%s\n", v ? v : "");
    c->reads_served++;
}

/* GET: at once on the leader in stale mode; otherwise once the library confirmed the read and
 * the state machine applied up to its index. A follower forwards the read to its leader
 * (RAFT_READ_INDEX) when that leader answers reads; otherwise it redirects the client. */
static void get(struct clients *c, struct client *cl, const char *key)
{
    struct host *h = c->host;
    bool leader = raft_state(&h->raft) == RAFT_LEADER;
    if (h->read_mode == READ_STALE) {
        if (leader) {
            answer_get(c, cl, key);
        } else {
            redirect(c, cl);
        }
        return;
    }
    if (c->n_reads == MAX_PENDING) {
        reply(cl, "ERR %s\n", "busy");
        return;
    }
    struct pending_read *r = &c->reads[c->n_reads];
    *r = (struct pending_read){++c->next_read, cl->serial, strdup(key), 0, false};
    if (r->key == NULL) {
        reply(cl, "ERR %s\n", "out of memory");
        return;
    }
    c->n_reads++;
    /* The outcome may arrive within this very step (a sole voter, a lease). */
    int rv = host_read(h, r->id);
    if (rv != 0) {
        for (unsigned i = 0; i < c->n_reads; i++) {
            if (c->reads[i].id == c->next_read) {
                free(c->reads[i].key);
                c->reads[i] = c->reads[--c->n_reads];
                break;
            }
        }
        if (rv == RAFT_NOTLEADER) {
            redirect(c, cl);
        } else {
            reply(cl, "ERR %s\n", raft_strerror(rv));
        }
    }
}

/* Answers the confirmed reads whose index the state machine has reached. */
static void serve_ready_reads(struct clients *c)
{
    for (unsigned i = 0; i < c->n_reads;) {
        struct pending_read *r = &c->reads[i];
        if (!r->ready || r->index > c->host->last_applied) {
            i++;
            continue;
        }
        struct client *cl = by_serial(c, r->serial);
        if (cl != NULL) {
            answer_get(c, cl, r->key);
        }
        free(r->key);
        c->reads[i] = c->reads[--c->n_reads];
    }
}

void clients_reads(struct clients *c, const struct raft_read_result *reads, unsigned n)
{
    if (c == NULL) {
        return;
    }
    for (unsigned k = 0; k < n; k++) {
        for (unsigned i = 0; i < c->n_reads; i++) {
            struct pending_read *r = &c->reads[i];
            if (r->id != reads[k].id) {
                continue;
            }
            if (reads[k].status == 0) {
                r->index = reads[k].index;
                r->ready = true;
            } else {
                struct client *cl = by_serial(c, r->serial);
                if (cl != NULL) {
                    reply(cl, "ERR %s\n", "leadership lost");
                }
                free(r->key);
                c->reads[i] = c->reads[--c->n_reads];
            }
            break;
        }
    }
    serve_ready_reads(c);
}

static void status(struct clients *c, struct client *cl)
{
    struct host *h = c->host;
    raft_id leader;
    const char *address;
    raft_leader(&h->raft, &leader, &address);
    char line[400];
    snprintf(line, sizeof line,
             "STATUS id=%llu state=%s term=%llu commit=%llu applied=%llu leader=%llu keys=%zu "
             "last=%llu read=%s reads=%llu",
             h->id, raft_state_name(raft_state(&h->raft)), raft_current_term(&h->raft),
             raft_commit_index(&h->raft), h->last_applied, leader, kv_count(h->kv),
             raft_last_index(&h->raft), read_mode_name(h->read_mode), c->reads_served);
    reply(cl, "%s\n", line);
}

static void execute(struct clients *c, struct client *cl, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " \r", &save);
    char *key = strtok_r(NULL, " \r", &save);
    char *value = strtok_r(NULL, "\r", &save);
    struct host *h = c->host;
    if (verb == NULL) {
        return;
    }
    if (strcmp(verb, "PUT") == 0 && key != NULL && value != NULL) {
        put(c, cl, key, value);
    } else if (strcmp(verb, "GET") == 0 && key != NULL) {
        get(c, cl, key);
    } else if (strcmp(verb, "TRANSFER") == 0 && key != NULL) {
        if (raft_state(&h->raft) != RAFT_LEADER) {
            redirect(c, cl);
        } else {
            int rv = host_transfer(h, strtoull(key, NULL, 10));
            reply(cl, rv == 0 ? "OK%s\n" : "ERR %s\n", rv == 0 ? "" : raft_strerror(rv));
        }
    } else if (strcmp(verb, "STATUS") == 0) {
        status(c, cl);
    } else if (strcmp(verb, "HASH") == 0) {
        char line[128];
        snprintf(line, sizeof line, "%016llx %llu %zu", (unsigned long long)kv_digest(h->kv),
                 h->last_applied, kv_count(h->kv));
        reply(cl, "HASH %s\n", line);
    } else {
        reply(cl, "ERR %s\n", "unknown request");
    }
}

/* Reads requests; returns false when the client is gone. */
static bool read_requests(struct clients *c, struct client *cl)
{
    ssize_t n = read(cl->fd, cl->in + cl->in_len, sizeof cl->in - cl->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    cl->in_len += (size_t)n;
    char *nl;
    while ((nl = memchr(cl->in, '\n', cl->in_len)) != NULL) {
        *nl = '\0';
        execute(c, cl, cl->in);
        size_t used = (size_t)(nl - cl->in) + 1;
        memmove(cl->in, cl->in + used, cl->in_len - used);
        cl->in_len -= used;
    }
    return cl->in_len < sizeof cl->in; /* a line that long is not a request */
}

static bool write_replies(struct client *cl)
{
    while (cl->out_len > 0) {
        ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
        cl->out_len -= (size_t)n;
    }
    return true;
}

int clients_fill_pollfds(struct clients *c, void *pfds_, int max)
{
    struct pollfd *pfds = pfds_;
    int n = 0;
    if (max > 0) {
        pfds[n] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
        c->slot_of[n++] = -1;
    }
    for (unsigned i = 0; i < c->n && n < max; i++) {
        short events = POLLIN | (c->c[i].out_len > 0 ? POLLOUT : 0);
        pfds[n] = (struct pollfd){.fd = c->c[i].fd, .events = events};
        c->slot_of[n++] = (int)i;
    }
    return n;
}

void clients_handle(struct clients *c, void *pfds_, int n)
{
    struct pollfd *pfds = pfds_;
    for (int k = n - 1; k >= 0; k--) {
        if (pfds[k].revents == 0) {
            continue;
        }
        if (c->slot_of[k] < 0) {
            int fd;
            while (c->n < MAX_CLIENTS &&
                   (fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                c->c[c->n++] = (struct client){.fd = fd, .serial = ++c->next_serial};
            }
            continue;
        }
        struct client *cl = &c->c[c->slot_of[k]];
        bool alive = (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)) ? read_requests(c, cl) : true;
        if (!alive || !write_replies(cl)) {
            drop_client(c, (unsigned)c->slot_of[k]);
        }
    }
    submit_batch(c);
    /* Replies produced while handling other events (commits) go out here too. */
    for (unsigned i = 0; i < c->n; i++) {
        write_replies(&c->c[i]);
    }
}

void clients_applied(struct clients *c, raft_index index, raft_term term)
{
    if (c == NULL) {
        return;
    }
    for (unsigned i = 0; i < c->n_pending;) {
        struct pending *p = &c->pending[i];
        if (p->index > index) {
            i++;
            continue;
        }
        struct client *cl = by_serial(c, p->serial);
        if (cl != NULL) {
            /* Same index and term: it is the entry this client submitted. */
            reply(cl, p->index == index && p->term == term ? "OK%s\n" : "ERR %s\n",
                  p->index == index && p->term == term ? "" : "overwritten");
        }
        c->pending[i] = c->pending[--c->n_pending];
    }
    serve_ready_reads(c);
}

void clients_fail_pending(struct clients *c, const char *why)
{
    if (c == NULL) {
        return;
    }
    for (unsigned i = 0; i < c->n_pending; i++) {
        struct client *cl = by_serial(c, c->pending[i].serial);
        if (cl != NULL) {
            reply(cl, "ERR %s\n", why);
        }
    }
    c->n_pending = 0;
}
