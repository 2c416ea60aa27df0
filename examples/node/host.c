/* raft_step and what the host does with each update, in the order of docs/contract.md#update-order:
 * term and vote, snapshot, entries, messages, state, commit index; events an update causes
 * (RAFT_PERSISTED_*, RAFT_CONFIGURATION, RAFT_SNAPSHOT) are queued and stepped after it.
 * Entries are written at once but made durable once per poll round (host_flush: one
 * fdatasync for every append of the round, then RAFT_PERSISTED_ENTRIES), so a leader's
 * AppendEntries leave before its own fsync and a follower acknowledges a whole round at once.
 * Term, vote and snapshots are written synchronously. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static void enqueue(struct host *h, int type, raft_index index)
{
    if (h->n_queued == MAX_QUEUED_EVENTS) {
        fprintf(stderr, "host: event queue full\n");
        h->failed = true;
        return;
    }
    h->queue[h->n_queued++] = (struct queued_event){type, index, false, 0, 0};
}

/* Tells the library the length of our snapshot, so that it can stream it. */
static void announce_snapshot_length(struct host *h)
{
    if (h->chunk_size > 0 && h->snap.present) {
        raft_set_snapshot_length(&h->raft, h->snap.index, h->snap.data.len);
    }
}

static void fail_storage(struct host *h)
{
    fprintf(stderr, "host: storage failed; stopping rather than acknowledging lost writes\n");
    h->failed = true;
}

static void persist_term_vote(struct host *h)
{
    if (storage_set_term_vote(h->storage, raft_current_term(&h->raft),
                              raft_voted_for(&h->raft)) != 0) {
        fail_storage(h);
    }
}

static void set_applied_conf(struct host *h, const void *data, size_t len, raft_index index)
{
    raft_free(h->applied_conf.base);
    h->applied_conf.base = raft_malloc(len);
    memcpy(h->applied_conf.base, data, len);
    h->applied_conf.len = len;
    h->applied_conf_index = index;
}

/* Replaces the node's state with a snapshot (received, or loaded at start). */
static void restore(struct host *h)
{
    if (kv_restore(h->kv, h->snap.data.base, h->snap.data.len) != 0) {
        fprintf(stderr, "host: snapshot %llu does not decode\n", h->snap.index);
        h->failed = true;
    }
    h->last_applied = h->snap.index;
    struct raft_buffer conf;
    if (raft_configuration_encode(&h->snap.conf, &conf) == 0) {
        set_applied_conf(h, conf.base, conf.len, h->snap.conf_index);
        raft_free(conf.base);
    }
}

/* Makes `h->snap` the snapshot of `m`, whose data is `data` (ours), and restores from it.
 * `stored`: it is in the data directory already (the last chunk of a stream stored it). */
static void install_snapshot(struct host *h, struct raft_snapshot_metadata *m,
                             struct raft_buffer data, bool stored)
{
    if (h->snap.present) {
        raft_configuration_close(&h->snap.conf);
        raft_free(h->snap.data.base);
    }
    /* The library handed us the configuration. */
    h->snap = (struct snapshot){true, m->index, m->term, m->configuration_index,
                                m->configuration, data};
    memlog_reset(&h->log, m->index + 1);
    h->persist_pending = 0; /* the log those writes belonged to is gone */
    if ((!stored && storage_put_snapshot(h->storage, &h->snap) != 0) ||
        storage_drop_log(h->storage, m->index + 1) != 0) {
        fail_storage(h);
        return;
    }
    restore(h);
    if (h->staged_chunks > 0) {
        fprintf(stderr, "host: installed snapshot %llu from the leader (%zu keys), streamed in %u "
                "chunks\n", m->index, kv_count(h->kv), h->staged_chunks + 1);
    } else {
        fprintf(stderr, "host: installed snapshot %llu from the leader (%zu keys)\n", m->index,
                kv_count(h->kv));
    }
    h->staged_chunks = 0;
    enqueue(h, RAFT_PERSISTED_SNAPSHOT, m->index);
}

/* A chunk of a streamed snapshot (docs/snapshots.md): written to the data directory where it
 * goes (storage_stream.c); the last one makes the stream the snapshot, which is then read
 * back to restore the state machine. */
static void store_chunk(struct host *h, struct raft_update *u)
{
    struct raft_snapshot_metadata *m = &u->snapshot.metadata;
    struct raft_buffer c = u->snapshot.chunk;
    if (u->snapshot.offset == 0) {
        h->staged_chunks = 0;
    }
    int rv = storage_put_snapshot_chunk(h->storage, m->term, m->index, u->snapshot.offset, &c);
    raft_free(c.base);
    if (rv != 0) {
        fail_storage(h);
        return;
    }
    if (!u->snapshot.last) {
        h->staged_chunks++;
        if (h->n_queued == MAX_QUEUED_EVENTS) {
            h->failed = true;
            return;
        }
        h->queue[h->n_queued++] =
            (struct queued_event){RAFT_PERSISTED_SNAPSHOT, m->index, true, m->term,
                                  u->snapshot.offset};
        return;
    }
    struct snapshot stored = {true, m->index, m->term, m->configuration_index, m->configuration,
                              {NULL, 0}};
    if (storage_finish_snapshot_stream(h->storage, &stored) != 0) {
        raft_configuration_close(&m->configuration);
        fail_storage(h);
        return;
    }
    h->installing = true;
    install_snapshot(h, m, stored.data, true);
}

static void free_batches(struct raft_entry *entries, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        bool seen = false;
        for (unsigned j = 0; j < k && !seen; j++) {
            seen = entries[j].batch == entries[k].batch;
        }
        if (!seen) {
            raft_free(entries[k].batch);
        }
    }
}

/* The new entries in the in-memory log, which messages attach entries from. */
static void log_entries(struct host *h, struct raft_update *u)
{
    memlog_truncate(&h->log, u->entries.index);
    for (unsigned k = 0; k < u->entries.n; k++) {
        struct raft_entry *e = &u->entries.batch[k];
        memlog_append(&h->log, e->term, e->type, e->buf.base, e->buf.len);
    }
}

/* The new entries on disk. Done after the update's messages went out: a leader's
 * AppendEntries need not wait for its own write, and a follower acknowledges nothing before
 * RAFT_PERSISTED_ENTRIES. */
static void store_entries(struct host *h, struct raft_update *u)
{
    raft_index index = u->entries.index;
    if (storage_append(h->storage, index, u->entries.batch, u->entries.n) != 0) {
        fail_storage(h);
    } else {
        /* Reported once durable, by host_flush() at the end of the poll round. */
        h->persist_pending = index + u->entries.n - 1;
    }
    free_batches(u->entries.batch, u->entries.n);
    raft_free(u->entries.batch);
}

/* Attaches entries or the snapshot (§9), encodes and queues the message. */
static void send_message(struct host *h, struct raft_message *m)
{
    struct raft_entry *attached = NULL;
    struct raft_buffer chunk = {NULL, 0};
    if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
        unsigned n = m->append_entries.n_entries;
        attached = calloc(n, sizeof *attached);
        for (unsigned k = 0; k < n; k++) {
            const struct mem_entry *e = memlog_get(&h->log, m->append_entries.prev_log_index + 1 + k);
            if (e == NULL) {
                free(attached);
                return; /* compacted meanwhile: the library will send a snapshot */
            }
            attached[k] = (struct raft_entry){e->term, e->type, {e->data, e->len}, e->data};
        }
        m->append_entries.entries = attached;
    } else if (m->type == RAFT_INSTALL_SNAPSHOT) {
        if (!h->snap.present) {
            return;
        }
        m->install_snapshot.conf = h->snap.conf;
        m->install_snapshot.data = h->snap.data;
    } else if (m->type == RAFT_INSTALL_SNAPSHOT_CHUNK) {
        struct raft_install_snapshot_chunk *c = &m->install_snapshot_chunk;
        size_t offset = (size_t)c->chunk * h->chunk_size;
        if (!h->snap.present || h->snap.index != c->last_index ||
            offset + c->data.len > h->snap.data.len) {
            return; /* not the snapshot we hold: the library streams it anew */
        }
        /* Read from the snapshot's file where it goes; a C-Raft LZ4 file cannot be read at
         * an offset: its chunks come from the decompressed copy in memory. */
        chunk = (struct raft_buffer){malloc(c->data.len + 1), c->data.len};
        if (chunk.base == NULL) {
            return;
        }
        if (storage_read_snapshot_chunk(h->storage, offset, &chunk) != 0) {
            memcpy(chunk.base, (char *)h->snap.data.base + offset, c->data.len);
        }
        c->data.base = chunk.base;
        if (c->last) {
            c->conf = h->snap.conf;
        }
    }
    struct raft_buffer bytes;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_message(m, &bytes, errmsg) == 0) {
        transport_send(h->transport, m->server_id, m->server_address, &bytes);
        raft_free(bytes.base);
    } else {
        fprintf(stderr, "host: cannot encode a message: %s\n", errmsg);
    }
    free(attached);
    free(chunk.base);
}

/* Applies committed entries, queueing RAFT_CONFIGURATION for changes and a snapshot every
 * snapshot_threshold entries. */
static void apply_committed(struct host *h)
{
    raft_index commit = raft_commit_index(&h->raft);
    while (h->last_applied < commit) {
        raft_index k = h->last_applied + 1;
        const struct mem_entry *e = memlog_get(&h->log, k);
        if (e == NULL) {
            break; /* covered by a snapshot being installed */
        }
        if (e->type == RAFT_COMMAND && kv_apply(h->kv, e->data, e->len) != 0) {
            fprintf(stderr, "host: entry %llu is not a command of this store\n", k);
        } else if (e->type == RAFT_CHANGE) {
            set_applied_conf(h, e->data, e->len, k);
            enqueue(h, RAFT_CONFIGURATION, k);
        }
        h->last_applied = k;
        clients_applied(h->clients, k, e->term);
    }
    raft_index since = h->snap.present ? h->snap.index : 0;
    if (h->snapshot_threshold > 0 && !h->installing &&
        h->last_applied >= since + h->snapshot_threshold) {
        enqueue(h, RAFT_SNAPSHOT, h->last_applied);
    }
}

static void handle_update(struct host *h, struct raft_update *u)
{
    if (u->flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR)) {
        persist_term_vote(h);
    }
    if (h->failed) {
        return; /* nothing may leave a node whose term or vote is not durable */
    }
    if ((u->flags & RAFT_UPDATE_SNAPSHOT) && h->chunk_size > 0) {
        store_chunk(h, u);
    } else if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        h->installing = true;
        install_snapshot(h, &u->snapshot.metadata, u->snapshot.chunk, false);
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        log_entries(h, u);
    }
    if (u->flags & RAFT_UPDATE_MESSAGES) {
        for (unsigned i = 0; i < u->messages.n; i++) {
            send_message(h, &u->messages.batch[i]);
        }
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        store_entries(h, u);
    }
    if ((u->flags & RAFT_UPDATE_STATE) && raft_state(&h->raft) != RAFT_LEADER) {
        clients_fail_pending(h->clients, "leadership lost");
    }
    if (u->flags & RAFT_UPDATE_STATE) {
        fprintf(stderr, "host: now %s in term %llu\n", raft_state_name(raft_state(&h->raft)),
                raft_current_term(&h->raft));
    }
    if (u->flags & RAFT_UPDATE_COMMIT_INDEX) {
        apply_committed(h);
    }
    if (u->flags & RAFT_UPDATE_READS) {
        const struct raft_read_result *reads;
        unsigned n;
        if (raft_update_reads(&h->raft, &reads, &n) == 0) {
            clients_reads(h->clients, reads, n);
        }
    }
}

static int step(struct host *h, struct raft_event *ev)
{
    struct raft_update update;
    ev->time = now_ms();
    int rv = raft_step(&h->raft, ev, &update);
    if (rv != 0) {
        fprintf(stderr, "host: step %d failed: %s (%s)\n", ev->type, raft_strerror(rv),
                raft_errmsg(&h->raft));
        return rv;
    }
    handle_update(h, &update);
    return 0;
}

/* Takes a snapshot of the store at last_applied and tells the library (docs/contract.md#raft_snapshot). */
static void take_snapshot(struct host *h)
{
    const struct mem_entry *e = memlog_get(&h->log, h->last_applied);
    if (e == NULL || h->installing || h->applied_conf.base == NULL ||
        (h->snap.present && h->snap.index >= h->last_applied)) {
        return; /* nothing new since the last one, or a snapshot is being installed */
    }
    struct snapshot snap = {true, h->last_applied, e->term, h->applied_conf_index, {NULL, 0},
                            kv_snapshot(h->kv)};
    if (raft_configuration_decode(&h->applied_conf, &snap.conf) != 0 ||
        storage_put_snapshot(h->storage, &snap) != 0) {
        raft_configuration_close(&snap.conf);
        raft_free(snap.data.base);
        fail_storage(h);
        return;
    }
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    ev.snapshot.metadata = (struct raft_snapshot_metadata){snap.index, snap.term, snap.conf,
                                                           snap.conf_index};
    ev.snapshot.trailing = h->snapshot_trailing;
    if (h->snap.present) {
        raft_configuration_close(&h->snap.conf);
        raft_free(h->snap.data.base);
    }
    h->snap = snap;
    int rv = step(h, &ev);
    if (rv == 0) {
        announce_snapshot_length(h);
    }
    if (rv == 0 && snap.index > h->snapshot_trailing) {
        raft_index keep_from = snap.index - h->snapshot_trailing;
        memlog_drop_prefix(&h->log, keep_from);
        storage_compact(h->storage, keep_from);
    }
}

/* Steps one queued event. */
static void step_queued(struct host *h, struct queued_event q)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = q.type;
    if (q.type == RAFT_PERSISTED_ENTRIES) {
        ev.persisted_entries.index = q.index;
        step(h, &ev);
    } else if (q.type == RAFT_PERSISTED_SNAPSHOT && q.chunk) {
        /* Gathered in memory: as durable as this node's received snapshots get before the
         * last chunk, which is stored with the whole snapshot. */
        ev.persisted_snapshot.metadata.index = q.index;
        ev.persisted_snapshot.metadata.term = q.term;
        ev.persisted_snapshot.offset = q.offset;
        ev.persisted_snapshot.last = false;
        step(h, &ev);
    } else if (q.type == RAFT_PERSISTED_SNAPSHOT) {
        ev.persisted_snapshot.metadata = (struct raft_snapshot_metadata){
            h->snap.index, h->snap.term, h->snap.conf, h->snap.conf_index};
        ev.persisted_snapshot.last = true;
        h->installing = false;
        step(h, &ev);
    } else if (q.type == RAFT_CONFIGURATION) {
        const struct mem_entry *e = memlog_get(&h->log, q.index);
        struct raft_buffer buf = {e ? e->data : NULL, e ? e->len : 0};
        if (e != NULL && raft_configuration_decode(&buf, &ev.configuration.conf) == 0) {
            ev.configuration.index = q.index;
            step(h, &ev);
            raft_configuration_close(&ev.configuration.conf);
        }
    } else if (q.type == RAFT_SNAPSHOT) {
        take_snapshot(h);
    }
}

int host_step(struct host *h, struct raft_event *event)
{
    int rv = step(h, event);
    while (h->n_queued > 0 && !h->failed) {
        struct queued_event q = h->queue[0];
        memmove(h->queue, h->queue + 1, --h->n_queued * sizeof *h->queue);
        step_queued(h, q);
    }
    return rv;
}

void host_receive(void *ctx, struct raft_message *m)
{
    struct host *h = ctx;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = m;
    int rv = host_step(h, &ev);
    raft_message_release(m, rv == 0);
}

/* This node stores and sends entries in C-Raft's disk and wire formats, which carry only
 * payloads whose length is a multiple of 8 (raft_step itself takes any length). A command of
 * another length is refused here, where its client can be told, rather than accepted and then
 * failing the node's storage. Returns 0 or RAFT_INVALID. */
static int check_craft_lengths(const struct raft_buffer *payloads, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        if (payloads[k].len % 8 != 0) {
            fprintf(stderr,
                    "host: command %u of the batch has %zu bytes, not a multiple of 8: C-Raft's "
                    "formats cannot carry it (pad it in the command encoding)\n",
                    k, payloads[k].len);
            return RAFT_INVALID;
        }
    }
    return 0;
}

raft_index host_submit(struct host *h, const struct raft_buffer *payloads, unsigned n,
                       int *error)
{
    struct raft_entry entries[1024];
    raft_index index = raft_last_index(&h->raft) + 1;
    *error = raft_state(&h->raft) != RAFT_LEADER ? RAFT_NOTLEADER
             : n > sizeof entries / sizeof *entries ? RAFT_TOOMANY
                                                    : check_craft_lengths(payloads, n);
    for (unsigned k = 0; k < n && *error == 0; k++) {
        entries[k] = (struct raft_entry){raft_current_term(&h->raft), RAFT_COMMAND, payloads[k],
                                         payloads[k].base};
    }
    if (*error == 0) {
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_SUBMIT;
        ev.submit.entries = entries;
        ev.submit.n = n;
        *error = host_step(h, &ev);
    }
    if (*error != 0) {
        for (unsigned k = 0; k < n; k++) {
            raft_free(payloads[k].base);
        }
        return 0;
    }
    return index;
}

void host_flush(struct host *h)
{
    while (h->persist_pending != 0 && !h->failed) {
        raft_index last = h->persist_pending;
        h->persist_pending = 0;
        if (storage_sync(h->storage) != 0) {
            fail_storage(h);
            return;
        }
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_ENTRIES;
        ev.persisted_entries.index = last;
        host_step(h, &ev);
    }
}

int host_transfer(struct host *h, raft_id id)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TRANSFER;
    ev.transfer.server_id = id;
    return host_step(h, &ev);
}

int host_read(struct host *h, uint64_t id)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_READ;
    ev.read.id = id;
    return host_step(h, &ev);
}

const char *read_mode_name(int mode)
{
    return mode == READ_LEASE ? "lease" : mode == READ_STALE ? "stale" : "index";
}

int host_start(struct host *h, raft_term term, raft_id vote)
{
    struct raft_entry *entries = calloc(h->log.n + 1, sizeof *entries);
    for (size_t k = 0; k < h->log.n; k++) {
        const struct mem_entry *e = &h->log.entries[k];
        entries[k] = (struct raft_entry){e->term, e->type, {e->data, e->len}, e->data};
    }
    struct raft_snapshot_metadata meta;
    if (h->snap.present) {
        meta = (struct raft_snapshot_metadata){h->snap.index, h->snap.term, h->snap.conf,
                                               h->snap.conf_index};
        restore(h);
    }
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = term;
    ev.start.voted_for = vote;
    ev.start.metadata = h->snap.present ? &meta : NULL;
    ev.start.start_index = h->log.first;
    ev.start.entries = entries;
    ev.start.n_entries = (unsigned)h->log.n;
    int rv = host_step(h, &ev);
    free(entries);
    if (rv == 0) {
        announce_snapshot_length(h);
    }
    return rv;
}
