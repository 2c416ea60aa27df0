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

static void net_push(struct sim *s, struct packet *p)
{
    if (p->due < s->now || p->due > s->now + s->o.latency_max) {
        fprintf(stderr, "simulator: packet due at %llu outside the network queue\n", p->due);
        abort();
    }
    struct net_bucket *b = &s->net[p->due & s->net_mask];
    p->next = NULL;
    if (b->tail != NULL) {
        b->tail->next = p;
    } else {
        b->head = p;
    }
    b->tail = p;
    if (s->net_count++ == 0 || p->due < s->net_next) {
        s->net_next = p->due;
    }
}

/* Every packet is due in [now, now + latency_max], so each bucket holds one due time and the
 * first non-empty bucket from net_next on holds the earliest. */
static void net_find_next(struct sim *s)
{
    if (s->net_count == 0) {
        return;
    }
    raft_time t = s->net_next;
    while (s->net[t & s->net_mask].head == NULL) {
        t++;
    }
    s->net_next = t;
}

struct packet *net_peek(struct sim *s)
{
    return s->net_count > 0 ? s->net[s->net_next & s->net_mask].head : NULL;
}

struct packet *net_pop(struct sim *s)
{
    struct net_bucket *b = &s->net[s->net_next & s->net_mask];
    struct packet *p = b->head;
    b->head = p->next;
    if (b->head == NULL) {
        b->tail = NULL;
    }
    p->next = NULL;
    s->net_count--;
    net_find_next(s);
    return p;
}

void net_destroy(struct sim *s)
{
    while (s->net_count > 0) {
        struct packet *p = net_pop(s);
        packet_release_payloads(p);
        packet_free(s, p);
    }
    while (s->free_packets != NULL) {
        struct packet *p = s->free_packets;
        s->free_packets = p->next;
        free(p->entries);
        free(p);
    }
    free(s->net);
    s->net = NULL;
}

/* Frees what a packet owns (when it is dropped, or after a failed delivery). */
void packet_release_payloads(struct packet *p)
{
    if (p->m.type == RAFT_APPEND_ENTRIES) {
        for (unsigned k = 0; k < p->m.append_entries.n_entries; k++) {
            sim_batch_unref(p->m.append_entries.entries[k].batch);
        }
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_free(p->m.install_snapshot.data.base);
    }
}

void packet_free(struct sim *s, struct packet *p)
{
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_configuration_close(&p->m.install_snapshot.conf);
    }
    p->next = s->free_packets;
    s->free_packets = p;
}

static struct packet *packet_new(struct sim *s)
{
    struct packet *p = s->free_packets;
    if (p != NULL) {
        s->free_packets = p->next;
    } else {
        p = xmalloc(sizeof *p);
        p->entries = NULL;
        p->n_entries_cap = 0;
    }
    struct raft_entry *entries = p->entries;
    unsigned cap = p->n_entries_cap;
    memset(p, 0, sizeof *p);
    p->entries = entries;
    p->n_entries_cap = cap;
    return p;
}

/* `m` as the receiver will see it, with references to the entries of the sender's storage or
 * a copy of its snapshot attached, like a host serialising the message. */
static struct packet *packet_build(struct sim *s, struct server *from, const struct raft_message *m)
{
    struct packet *p = packet_new(s);
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
                p->m.type = RAFT_REQUEST_VOTE; /* owns nothing */
                packet_free(s, p);
                return NULL;
            }
            if (p->n_entries_cap < n) {
                free(p->entries);
                p->n_entries_cap = n > 16 ? n : 16;
                p->entries = xmalloc(p->n_entries_cap * sizeof *p->entries);
            }
            const struct sim_entry *e = sim_log_get(&from->mem, first);
            for (unsigned k = 0; k < n; k++, e++) {
                p->entries[k].term = e->term;
                p->entries[k].type = (enum raft_entry_type)e->type;
                p->entries[k].buf.base = (void *)e->data;
                p->entries[k].buf.len = e->len;
                p->entries[k].batch = e->batch;
                sim_batch_ref(e->batch);
            }
            p->m.append_entries.entries = p->entries;
        }
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT) {
        struct sim_snapshot *snap = &from->snap;
        if (!snap->present || snap->index != m->install_snapshot.last_index ||
            snap->term != m->install_snapshot.last_term) {
            fail(s, "server %u asked to send snapshot %llu/%llu but holds %llu/%llu", from->i,
                 m->install_snapshot.last_index, m->install_snapshot.last_term, snap->index,
                 snap->term);
            p->m.type = RAFT_REQUEST_VOTE;
            packet_free(s, p);
            return NULL;
        }
        if (decode_conf(snap->conf, snap->conf_len, &p->m.install_snapshot.conf) != 0) {
            fail(s, "server %u holds an undecodable snapshot configuration", from->i);
            p->m.type = RAFT_REQUEST_VOTE;
            packet_free(s, p);
            return NULL;
        }
        uint64_t *data = raft_malloc(16);
        data[0] = snap->sm_hash;
        data[1] = snap->sm_count;
        p->m.install_snapshot.data.base = data;
        p->m.install_snapshot.data.len = 16;
    }
    return p;
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
        struct packet *p = packet_build(s, from, m);
        if (p == NULL) {
            return;
        }
        p->due = s->now + draw(s, s->o.latency_min, s->o.latency_max);
        p->seq = s->seq++;
        net_push(s, p);
    }
}

void purge_packets(struct sim *s, unsigned i)
{
    for (size_t b = 0; b <= s->net_mask; b++) {
        struct packet *p = s->net[b].head, *kept = NULL, *tail = NULL;
        while (p != NULL) {
            struct packet *next = p->next;
            if (p->from == i || p->to == i) {
                packet_release_payloads(p);
                packet_free(s, p);
                s->stats.messages_dropped++;
                s->net_count--;
            } else {
                p->next = NULL;
                if (tail != NULL) {
                    tail->next = p;
                } else {
                    kept = p;
                }
                tail = p;
            }
            p = next;
        }
        s->net[b].head = kept;
        s->net[b].tail = tail;
    }
    /* The earliest packet may be gone: look from the current time on. */
    s->net_next = s->now;
    net_find_next(s);
}

void deliver(struct sim *s, struct packet *p)
{
    struct server *to = &s->servers[p->to];
    if (!link_up(s, p->from, p->to)) {
        s->stats.messages_dropped++;
        packet_release_payloads(p);
        packet_free(s, p);
        return;
    }
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
        /* On error the host still owns the payloads. */
        if (lent != NULL) {
            sim_batch_unref(lent);
        }
        if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
            raft_free(p->m.install_snapshot.data.base);
        }
        fail(s, "server %u: receiving type %d from %u failed: %s (%s)", p->to, p->m.type,
             p->from, raft_strerror(rv), raft_errmsg(&to->raft));
    }
    packet_free(s, p);
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

void sim_drop_next(struct sim *s, unsigned i, unsigned j, int type, unsigned count)
{
    s->drop_from = i;
    s->drop_to = j;
    s->drop_type = type;
    s->drop_count = count;
}
