/* The simulated network: messages in flight ordered by delivery time, with loss,
 * duplication, latency (hence reordering) and cut links. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"


/* --- Network ----------------------------------------------------------------------------- */

static bool packet_before(const struct packet *a, const struct packet *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct packet *p)
{
    if (s->n_heap == s->cap_heap) {
        s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
        s->heap = realloc(s->heap, s->cap_heap * sizeof *s->heap);
    }
    size_t k = s->n_heap++;
    while (k > 0 && packet_before(p, s->heap[(k - 1) / 2])) {
        s->heap[k] = s->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    s->heap[k] = p;
}

struct packet *heap_pop(struct sim *s)
{
    struct packet *top = s->heap[0];
    struct packet *last = s->heap[--s->n_heap];
    size_t k = 0;
    for (;;) {
        size_t child = 2 * k + 1;
        if (child >= s->n_heap) {
            break;
        }
        if (child + 1 < s->n_heap && packet_before(s->heap[child + 1], s->heap[child])) {
            child++;
        }
        if (!packet_before(s->heap[child], last)) {
            break;
        }
        s->heap[k] = s->heap[child];
        k = child;
    }
    if (s->n_heap > 0) {
        s->heap[k] = last;
    }
    return top;
}

/* Frees what a packet owns (when it is dropped, or after a failed delivery). */
void packet_release_payloads(struct packet *p)
{
    if (p->m.type == RAFT_APPEND_ENTRIES && p->m.append_entries.n_entries > 0) {
        raft_free(p->m.append_entries.entries[0].batch);
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_free(p->m.install_snapshot.data.base);
    }
}

void packet_free(struct packet *p)
{
    if (p->m.type == RAFT_APPEND_ENTRIES) {
        free(p->m.append_entries.entries);
    }
    if (p->m.type == RAFT_INSTALL_SNAPSHOT) {
        raft_configuration_close(&p->m.install_snapshot.conf);
    }
    free(p);
}

/* A deep copy of `m` as the receiver will see it, with the entries or snapshot attached from
 * the sender's storage, like a host serialising the message. */
static struct packet *packet_build(struct sim *s, struct server *from, const struct raft_message *m)
{
    struct packet *p = xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->m = *m;
    p->from = from->i;
    p->to = (unsigned)(m->server_id - 1);
    p->m.server_id = from->id;
    p->m.server_address = from->address;
    if (m->type == RAFT_APPEND_ENTRIES) {
        unsigned n = m->append_entries.n_entries;
        p->m.append_entries.entries = NULL;
        if (n > 0) {
            size_t total = 0;
            for (unsigned k = 0; k < n; k++) {
                struct sim_entry *e = sim_log_get(&from->mem, m->append_entries.prev_log_index + 1 + k);
                if (e == NULL) {
                    fail(s, "server %u asked to send entry %llu it does not have (log %llu..%llu)",
                         from->i, m->append_entries.prev_log_index + 1 + k, from->mem.first,
                         sim_log_last(&from->mem));
                    free(p);
                    return NULL;
                }
                total += e->len;
            }
            char *batch = raft_malloc(total ? total : 8);
            struct raft_entry *entries = xmalloc(n * sizeof *entries);
            size_t offset = 0;
            for (unsigned k = 0; k < n; k++) {
                struct sim_entry *e = sim_log_get(&from->mem, m->append_entries.prev_log_index + 1 + k);
                memcpy(batch + offset, e->data, e->len);
                entries[k].term = e->term;
                entries[k].type = (enum raft_entry_type)e->type;
                entries[k].buf.base = batch + offset;
                entries[k].buf.len = e->len;
                entries[k].batch = batch;
                offset += e->len;
            }
            p->m.append_entries.entries = entries;
        }
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT) {
        struct sim_snapshot *snap = &from->snap;
        if (!snap->present || snap->index != m->install_snapshot.last_index ||
            snap->term != m->install_snapshot.last_term) {
            fail(s, "server %u asked to send snapshot %llu/%llu but holds %llu/%llu", from->i,
                 m->install_snapshot.last_index, m->install_snapshot.last_term, snap->index,
                 snap->term);
            free(p);
            return NULL;
        }
        if (decode_conf(snap->conf, snap->conf_len, &p->m.install_snapshot.conf) != 0) {
            fail(s, "server %u holds an undecodable snapshot configuration", from->i);
            free(p);
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
        heap_push(s, p);
    }
}

void purge_packets(struct sim *s, unsigned i)
{
    size_t kept = 0;
    for (size_t k = 0; k < s->n_heap; k++) {
        struct packet *p = s->heap[k];
        if (p->from == i || p->to == i) {
            packet_release_payloads(p);
            packet_free(p);
            s->stats.messages_dropped++;
        } else {
            s->heap[kept++] = p;
        }
    }
    s->n_heap = kept;
    /* Restore the heap order. */
    struct packet **all = s->heap;
    size_t n = s->n_heap;
    s->heap = NULL;
    s->n_heap = s->cap_heap = 0;
    for (size_t k = 0; k < n; k++) {
        heap_push(s, all[k]);
    }
    free(all);
}

void deliver(struct sim *s, struct packet *p)
{
    struct server *to = &s->servers[p->to];
    if (!link_up(s, p->from, p->to)) {
        s->stats.messages_dropped++;
        packet_release_payloads(p);
        packet_free(p);
        return;
    }
    s->stats.messages_delivered++;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &p->m;
    int rv = sim_step_event(s, p->to, &ev);
    if (rv != 0) {
        packet_release_payloads(p); /* on error the host still owns them */
        fail(s, "server %u: receiving type %d from %u failed: %s (%s)", p->to, p->m.type,
             p->from, raft_strerror(rv), raft_errmsg(&to->raft));
    }
    packet_free(p);
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
