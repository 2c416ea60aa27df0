/* C-Raft's TCP transport (docs/formats.md#wire): a node sends on connections it opens, one per
 * peer, each starting with its handshake, and receives on the connections peers open to it.
 * Every socket is non-blocking and every outbound connection has its own bounded queue: a
 * peer that is down or slow loses messages (Raft retries) but never delays the others. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node.h"

#define QUEUE_MAX (32u << 20)
#define RECONNECT_DELAY_MS 200
#define MAX_INBOUND 64

struct outbound {
    raft_id id;
    char address[128];
    int fd; /* -1: not connected */
    bool connecting;
    raft_time retry_at;
    char *queue;
    size_t len, cap, sent;
};

struct inbound {
    int fd;
    struct raft_decoder *decoder;
};

enum slot_kind { SLOT_LISTEN, SLOT_OUT, SLOT_IN };

struct transport {
    raft_id self;
    char address[128];
    int listen_fd;
    struct outbound out[MAX_SERVERS];
    unsigned n_out;
    struct inbound in[MAX_INBOUND];
    unsigned n_in;
    receive_fn on_receive;
    void *ctx;
    struct {
        enum slot_kind kind;
        unsigned index;
    } slots[1 + MAX_SERVERS + MAX_INBOUND];
};

/* Resolves "host:port". */
static int resolve(const char *address, struct addrinfo **out, bool passive)
{
    char host[128];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    return getaddrinfo(host, colon + 1, &hints, out) == 0 ? 0 : -1;
}

static int listen_on(const char *address)
{
    struct addrinfo *ai;
    if (resolve(address, &ai, true) != 0) {
        fprintf(stderr, "transport: cannot resolve %s\n", address);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "transport: cannot listen on %s: %s\n", address, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

struct transport *transport_new(raft_id self, const char *address, const char *listen_address,
                                receive_fn on_receive, void *ctx)
{
    struct transport *t = calloc(1, sizeof *t);
    t->self = self;
    snprintf(t->address, sizeof t->address, "%s", address);
    t->on_receive = on_receive;
    t->ctx = ctx;
    t->listen_fd = listen_on(listen_address);
    if (t->listen_fd < 0) {
        free(t);
        return NULL;
    }
    return t;
}

static void drop_outbound(struct outbound *o)
{
    if (o->fd >= 0) {
        close(o->fd);
    }
    o->fd = -1;
    o->connecting = false;
    o->len = o->sent = 0;
    o->retry_at = now_ms() + RECONNECT_DELAY_MS;
}

static void drop_inbound(struct transport *t, unsigned i)
{
    close(t->in[i].fd);
    raft_decoder_free(t->in[i].decoder);
    t->in[i] = t->in[--t->n_in];
}

void transport_free(struct transport *t)
{
    if (t == NULL) {
        return;
    }
    for (unsigned i = 0; i < t->n_out; i++) {
        drop_outbound(&t->out[i]);
        free(t->out[i].queue);
    }
    while (t->n_in > 0) {
        drop_inbound(t, 0);
    }
    close(t->listen_fd);
    free(t);
}

static bool enqueue(struct outbound *o, const void *data, size_t len)
{
    if (o->len + len > QUEUE_MAX) {
        return false; /* slow peer: drop, the library will retry */
    }
    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2;
        o->queue = realloc(o->queue, o->cap);
    }
    memcpy(o->queue + o->len, data, len);
    o->len += len;
    return true;
}

static struct outbound *peer(struct transport *t, raft_id id, const char *address)
{
    for (unsigned i = 0; i < t->n_out; i++) {
        if (t->out[i].id == id) {
            if (strcmp(t->out[i].address, address) != 0) { /* the peer moved */
                drop_outbound(&t->out[i]);
                snprintf(t->out[i].address, sizeof t->out[i].address, "%s", address);
            }
            return &t->out[i];
        }
    }
    if (t->n_out == MAX_SERVERS) {
        return NULL;
    }
    struct outbound *o = &t->out[t->n_out++];
    memset(o, 0, sizeof *o);
    o->id = id;
    o->fd = -1;
    snprintf(o->address, sizeof o->address, "%s", address);
    return o;
}

/* Starts a non-blocking connect, with the handshake first in the queue. */
static void connect_peer(struct transport *t, struct outbound *o)
{
    struct addrinfo *ai;
    if (resolve(o->address, &ai, false) != 0) {
        o->retry_at = now_ms() + RECONNECT_DELAY_MS;
        return;
    }
    o->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rv = connect(o->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rv != 0 && errno != EINPROGRESS) {
        drop_outbound(o);
        return;
    }
    o->connecting = rv != 0;
    struct raft_buffer hs;
    if (raft_encode_handshake(t->self, t->address, &hs, NULL) != 0) {
        drop_outbound(o);
        return;
    }
    enqueue(o, hs.base, hs.len);
    raft_free(hs.base);
}

static void flush(struct outbound *o);

void transport_send(struct transport *t, raft_id id, const char *address,
                    const struct raft_buffer *bytes)
{
    struct outbound *o = peer(t, id, address);
    if (o == NULL) {
        return;
    }
    if (o->fd < 0 && now_ms() >= o->retry_at) {
        connect_peer(t, o);
    }
    if (o->fd >= 0) {
        enqueue(o, bytes->base, bytes->len);
        if (!o->connecting && o->len - o->sent == bytes->len) {
            flush(o); /* nothing was waiting: on the wire now, not after the next poll */
        }
    }
}

int transport_fill_pollfds(struct transport *t, void *pfds_, int max)
{
    struct pollfd *pfds = pfds_;
    int n = 0;
    if (n < max) {
        pfds[n] = (struct pollfd){.fd = t->listen_fd, .events = POLLIN};
        t->slots[n].kind = SLOT_LISTEN;
        n++;
    }
    for (unsigned i = 0; i < t->n_out && n < max; i++) {
        struct outbound *o = &t->out[i];
        if (o->fd < 0) {
            continue;
        }
        short events = POLLIN; /* peers never write here: readable means closed */
        if (o->connecting || o->sent < o->len) {
            events |= POLLOUT;
        }
        pfds[n] = (struct pollfd){.fd = o->fd, .events = events};
        t->slots[n].kind = SLOT_OUT;
        t->slots[n].index = i;
        n++;
    }
    for (unsigned i = 0; i < t->n_in && n < max; i++) {
        pfds[n] = (struct pollfd){.fd = t->in[i].fd, .events = POLLIN};
        t->slots[n].kind = SLOT_IN;
        t->slots[n].index = i;
        n++;
    }
    return n;
}

static void accept_connections(struct transport *t)
{
    for (;;) {
        int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        if (t->n_in == MAX_INBOUND) {
            close(fd);
            continue;
        }
        struct inbound *in = &t->in[t->n_in];
        in->fd = fd;
        if (raft_decoder_new(&in->decoder, true) != 0) {
            close(fd);
            continue;
        }
        t->n_in++;
    }
}

static void flush(struct outbound *o)
{
    if (o->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            drop_outbound(o);
            return;
        }
        o->connecting = false;
    }
    while (o->sent < o->len) {
        ssize_t n = send(o->fd, o->queue + o->sent, o->len - o->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            drop_outbound(o);
            return;
        }
        o->sent += (size_t)n;
    }
    o->len = o->sent = 0;
}

/* Reads what arrived and steps each whole message. Returns false when the connection ends. */
static bool receive(struct transport *t, struct inbound *in)
{
    static char buf[64 * 1024];
    ssize_t n = read(in->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    if (n <= 0 || raft_decoder_feed(in->decoder, buf, (size_t)n, NULL) != 0) {
        return false;
    }
    for (;;) {
        int frame;
        struct raft_message m;
        char errmsg[RAFT_ERRMSG_BUF_SIZE];
        if (raft_decoder_next(in->decoder, &frame, &m, errmsg) != 0) {
            fprintf(stderr, "transport: closing a connection: %s\n", errmsg);
            return false;
        }
        if (frame == RAFT_FRAME_NONE) {
            return true;
        }
        if (frame == RAFT_FRAME_MESSAGE) {
            raft_decoder_peer(in->decoder, &m.server_id, &m.server_address);
            t->on_receive(t->ctx, &m); /* takes care of releasing m */
        }
    }
}

void transport_handle(struct transport *t, void *pfds_, int n, raft_time now)
{
    (void)now;
    struct pollfd *pfds = pfds_;
    /* Inbound connections are dropped in reverse order, so indexes stay valid. */
    for (int k = n - 1; k >= 0; k--) {
        if (pfds[k].revents == 0) {
            continue;
        }
        unsigned i = t->slots[k].index;
        switch (t->slots[k].kind) {
        case SLOT_LISTEN:
            accept_connections(t);
            break;
        case SLOT_OUT:
            if (pfds[k].revents & (POLLIN | POLLERR | POLLHUP)) {
                drop_outbound(&t->out[i]);
            } else {
                flush(&t->out[i]);
            }
            break;
        case SLOT_IN:
            if (!receive(t, &t->in[i])) {
                drop_inbound(t, i);
            }
            break;
        }
    }
}
