/* The simulated network: messages in flight ordered by delivery time, with loss,
 * duplication, latency (hence reordering) and cut links. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"


/* --- Network ----------------------------------------------------------------------------- */

void net_init(struct sim *s)
{
    size_t n = 2;
    while (n <= s->o.latency_max) {
        n *= 2;
    }
    s->net = xmalloc(n * sizeof *s->net);
    memset(s->net, 0, n * sizeof *s->net);
    s->net_mask = n - 1;
    s->net_count = 0;
}

/* Every packet is due in [now, now + latency_max], so each bucket holds one due time and the
 * first non-empty bucket from net_next on holds the earliest. */
static void net_find_next(struct sim *s)
{
    if (s->net_count == 0) {
        return;
    }
    raft_time t = s->net_next;
    while (s->net[t & s->net_mask].n == 0) {
        t++;
    }
    s->net_next = t;
}

/* A new packet at the end of the bucket of `due`. Valid until the next push. */
static struct packet *net_push(struct sim *s, raft_time due)
{
    if (due < s->now || due > s->now + s->o.latency_max) {
        fprintf(stderr, "simulator: packet due at %llu outside the network queue\n", due);
        abort();
    }
    struct net_bucket *b = &s->net[due & s->net_mask];
    if (b->head + b->n == b->cap) {
        if (b->head > 0) {
            memmove(b->packets, b->packets + b->head, b->n * sizeof *b->packets);
            b->head = 0;
        }
        if (b->n == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 16;
            b->packets = realloc(b->packets, b->cap * sizeof *b->packets);
            if (b->packets == NULL) {
                abort();
            }
        }
    }
    struct packet *p = &b->packets[b->head + b->n++];
    memset(p, 0, sizeof *p);
    p->due = due;
    if (s->net_count++ == 0 || due < s->net_next) {
        s->net_next = due;
    }
    return p;
}

static struct sim_wire_entry *bucket_entries(struct net_bucket *b, size_t n)
{
    if (b->n_entries + n > b->cap_entries) {
        size_t cap = b->cap_entries ? b->cap_entries * 2 : 16;
        while (cap < b->n_entries + n) {
            cap *= 2;
        }
        b->entries = realloc(b->entries, cap * sizeof *b->entries);
        if (b->entries == NULL) {
            abort();
        }
        b->cap_entries = cap;
    }
    struct sim_wire_entry *e = &b->entries[b->n_entries];
    b->n_entries += n;
    return e;
}

struct packet *net_peek(struct sim *s)
{
    if (s->net_count == 0) {
        return NULL;
    }
    struct net_bucket *b = &s->net[s->net_next & s->net_mask];
    return &b->packets[b->head];
}

void net_pop(struct sim *s, struct packet *out)
{
    struct net_bucket *b = &s->net[s->net_next & s->net_mask];
    *out = b->packets[b->head];
    unsigned n = out->m.type == RAFT_APPEND_ENTRIES ? out->m.append_entries.n_entries : 0;
    if (n > 0) {
        if (s->rx_cap < n) {
            free(s->rx_entries);
            s->rx_cap = n > 64 ? n : 64;
            s->rx_entries = xmalloc(s->rx_cap * sizeof *s->rx_entries);
        }
        const struct sim_wire_entry *w = b->entries + out->entries_at;
        for (unsigned k = 0; k < n; k++, w++) {
            struct raft_entry *e = &s->rx_entries[k];
            e->term = w->term;
            e->type = (enum raft_entry_type)w->type;
            e->buf.base = (char *)sim_batch_data(w->batch) + w->offset;
            e->buf.len = w->len;
            e->batch = w->batch;
        }
        out->m.append_entries.entries = s->rx_entries;
    }
    b->head++;
    if (--b->n == 0) {
        b->head = 0;
        b->n_entries = 0;
    }
    s->net_count--;
    net_find_next(s);
}

/* Releases what a packet still in its bucket owns (when it is dropped). */
static void packet_discard(struct net_bucket *b, struct packet *p)
{
    if (p->m.type == RAFT_APPEND_ENTRIES) {
        for (unsigned k = 0; k < p->m.append_entries.n_entries; k++) {
            sim_batch_unref(b->entries[p->entries_at + k].batch);
        }
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_free(p->m.install_snapshot.data.base);
        raft_configuration_close(&p->m.install_snapshot.conf);
    }
}

void net_destroy(struct sim *s)
{
    for (size_t i = 0; i <= s->net_mask; i++) {
        struct net_bucket *b = &s->net[i];
        for (size_t k = b->head; k < b->head + b->n; k++) {
            packet_discard(b, &b->packets[k]);
        }
        free(b->packets);
        free(b->entries);
    }
    free(s->net);
    s->net = NULL;
    s->net_count = 0;
    free(s->rx_entries);
}

/* `m` as the receiver will see it, in packet `p` of bucket `b`, with references to the
 * entries of the sender's storage or a copy of its snapshot attached, like a host serialising
 * the message. False if the sender cannot (a simulation failure). */
static bool packet_build(struct sim *s, struct server *from, const struct raft_message *m,
                         struct net_bucket *b, struct packet *p)
{
    p->m = *m;
    p->from = from->i;
    p->to = (unsigned)(m->server_id - 1);
    p->m.server_id = from->id;
    p->m.server_address = from->address;
    if (m->type == RAFT_APPEND_ENTRIES) {
        unsigned n = m->append_entries.n_entries;
        p->m.append_entries.entries = NULL;
        if (n > 0) {
            raft_index first = m->append_entries.prev_log_index + 1;
            if (sim_log_get(&from->mem, first) == NULL ||
                sim_log_get(&from->mem, first + n - 1) == NULL) {
                fail(s, "server %u asked to send entries %llu..%llu it does not have (log %llu..%llu)",
                     from->i, first, first + n - 1, from->mem.first, sim_log_last(&from->mem));
                p->m.append_entries.n_entries = 0;
                return false;
            }
            p->entries_at = b->n_entries;
            struct sim_wire_entry *entries = bucket_entries(b, n);
            size_t at = (size_t)(first - from->mem.first);
            for (unsigned k = 0; k < n; k++) {
                const struct sim_entry *e = sim_log_at(&from->mem, at + k);
                entries[k].term = e->term;
                entries[k].type = e->type;
                entries[k].batch = e->batch;
                entries[k].offset = e->offset;
                entries[k].len = e->len;
                sim_batch_ref(e->batch);
            }
        }
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT) {
        struct sim_snapshot *snap = &from->snap;
        p->m.install_snapshot.data.base = NULL;
        raft_configuration_init(&p->m.install_snapshot.conf);
        if (!snap->present || snap->index != m->install_snapshot.last_index ||
            snap->term != m->install_snapshot.last_term) {
            fail(s, "server %u asked to send snapshot %llu/%llu but holds %llu/%llu", from->i,
                 m->install_snapshot.last_index, m->install_snapshot.last_term, snap->index,
                 snap->term);
            return false;
        }
        if (decode_conf(snap->conf, snap->conf_len, &p->m.install_snapshot.conf) != 0) {
            fail(s, "server %u holds an undecodable snapshot configuration", from->i);
            return false;
        }
        uint64_t *data = raft_malloc(16);
        data[0] = snap->sm_hash;
        data[1] = snap->sm_count;
        p->m.install_snapshot.data.base = data;
        p->m.install_snapshot.data.len = 16;
    }
    return true;
}

/* The receiver's copy of an AppendEntries' payloads: one new batch, the references to the
 * sender's batches released. */
static struct sim_batch *packet_receive(struct packet *p)
{
    struct raft_entry *entries = p->m.append_entries.entries;
    unsigned n = p->m.append_entries.n_entries;
    size_t total = 0;
    for (unsigned k = 0; k < n; k++) {
        total += entries[k].buf.len;
    }
    struct sim_batch *b = sim_batch_new(total);
    char *data = sim_batch_data(b);
    for (unsigned k = 0; k < n; k++) {
        memcpy(data, entries[k].buf.base, entries[k].buf.len);
        sim_batch_unref(entries[k].batch);
        entries[k].buf.base = data;
        entries[k].batch = b;
        data += entries[k].buf.len;
    }
    return b;
}

bool link_up(struct sim *s, unsigned a, unsigned b)
{
    return !s->link_down[a][b] && s->servers[a].alive && s->servers[b].alive;
}

void send_message(struct sim *s, struct server *from, const struct raft_message *m)
{
    s->stats.messages_sent++;
    if (m->server_id < 1 || m->server_id > s->o.n_servers) {
        fail(s, "server %u sent a message to unknown server %llu", from->i, m->server_id);
        return;
    }
    unsigned to = (unsigned)(m->server_id - 1);
    if (m->server_address == NULL || strcmp(m->server_address, s->servers[to].address) != 0) {
        fail(s, "server %u sent to %llu at address %s", from->i, m->server_id,
             m->server_address ? m->server_address : "(null)");
        return;
    }
    unsigned copies = 1;
    if (s->drop_count > 0 && s->drop_from == from->i && s->drop_to == to &&
        s->drop_type == (int)m->type) {
        s->drop_count--;
        s->stats.deliberate_drops++;
        s->stats.messages_dropped++;
        note(s, "s%u: message type %d to s%u dropped on purpose", from->i, m->type, to);
        return;
    }
    if (!link_up(s, from->i, to) || draw(s, 1, 100) <= s->o.loss_percent) {
        copies = 0;
        s->stats.messages_dropped++;
    } else if (draw(s, 1, 100) <= s->o.dup_percent) {
        copies = 2;
    }
    for (unsigned c = 0; c < copies; c++) {
        raft_time due = s->now + draw(s, s->o.latency_min, s->o.latency_max);
        struct net_bucket *b = &s->net[due & s->net_mask];
        struct packet *p = net_push(s, due);
        p->seq = s->seq++;
        if (!packet_build(s, from, m, b, p)) {
            return; /* the simulation failed; the packet stays, owning nothing more */
        }
    }
}

void purge_packets(struct sim *s, unsigned i)
{
    for (size_t k = 0; k <= s->net_mask; k++) {
        struct net_bucket *b = &s->net[k];
        size_t kept = b->head;
        for (size_t j = b->head; j < b->head + b->n; j++) {
            struct packet *p = &b->packets[j];
            if (p->from == i || p->to == i) {
                packet_discard(b, p);
                s->stats.messages_dropped++;
                s->net_count--;
            } else {
                b->packets[kept++] = *p;
            }
        }
        b->n = kept - b->head;
        if (b->n == 0) {
            b->head = 0;
            b->n_entries = 0;
        }
    }
    /* The earliest packet may be gone: look from the current time on. */
    s->net_next = s->now;
    net_find_next(s);
}

/* Releases what a packet moved out of the queue owns (dropped, or a failed delivery). */
static void packet_release(struct packet *p, struct sim_batch *received)
{
    if (received != NULL) {
        sim_batch_unref(received);
    } else if (p->m.type == RAFT_APPEND_ENTRIES) {
        for (unsigned k = 0; k < p->m.append_entries.n_entries; k++) {
            sim_batch_unref(p->m.append_entries.entries[k].batch);
        }
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_free(p->m.install_snapshot.data.base);
    }
}

void deliver(struct sim *s, struct packet *p)
{
    struct server *to = &s->servers[p->to];
    if (!link_up(s, p->from, p->to)) {
        s->stats.messages_dropped++;
        packet_release(p, NULL);
    } else {
        s->stats.messages_delivered++;
        struct sim_batch *lent = NULL;
        if (p->m.type == RAFT_APPEND_ENTRIES && p->m.append_entries.n_entries > 0) {
            lent = packet_receive(p);
        }
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_RECEIVE;
        ev.receive.message = &p->m;
        to->lent = lent;
        int rv = sim_step_event(s, p->to, &ev);
        if (rv != 0) {
            packet_release(p, lent); /* on error the host still owns the payloads */
            fail(s, "server %u: receiving type %d from %u failed: %s (%s)", p->to, p->m.type,
                 p->from, raft_strerror(rv), raft_errmsg(&to->raft));
        }
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_configuration_close(&p->m.install_snapshot.conf);
    }
}

void sim_set_link(struct sim *s, unsigned i, unsigned j, bool up)
{
    s->link_down[i][j] = !up;
    s->link_down[j][i] = !up;
    note(s, "link s%u-s%u %s", i, j, up ? "up" : "down");
}

void sim_isolate(struct sim *s, unsigned i, bool isolated)
{
    for (unsigned j = 0; j < s->o.n_servers; j++) {
        if (j != i) {
            s->link_down[i][j] = isolated;
            s->link_down[j][i] = isolated;
        }
    }
    note(s, "s%u %s", i, isolated ? "isolated" : "rejoined");
}

void sim_heal(struct sim *s)
{
    memset(s->link_down, 0, sizeof s->link_down);
    note(s, "network healed");
}

void sim_set_faults(struct sim *s, unsigned loss_percent, unsigned dup_percent)
{
    s->o.loss_percent = loss_percent;
    s->o.dup_percent = dup_percent;
}

void sim_set_isolate_after_change(struct sim *s, unsigned percent)
{
    s->o.isolate_after_change_percent = percent;
}

void sim_drop_next(struct sim *s, unsigned i, unsigned j, int type, unsigned count)
{
    s->drop_from = i;
    s->drop_to = j;
    s->drop_type = type;
    s->drop_count = count;
}
