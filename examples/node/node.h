/* The example node: a replicated key-value store on libraft-rs, built on include/raft.h only.
 *
 *   timers.c    the clock and the poll timeout
 *   memlog.c    the in-memory log the node sends AppendEntries from
 *   storage.c   C-Raft's data directory: metadata, segments, snapshots (codec C API)
 *   storage_stream.c  snapshots received and sent in chunks, in the data directory
 *   transport.c C-Raft's TCP protocol: handshake, one outbound connection per peer
 *   kv.c        the state machine and its snapshots
 *   clients.c   the client line protocol (PUT/GET/STATUS/HASH, redirects)
 *   host.c      raft_step and the processing of updates (docs/contract.md#update-order)
 *   main.c      arguments, start-up, the poll(2) loop, SIGTERM
 */
#ifndef EXAMPLE_NODE_H
#define EXAMPLE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#include "kv.h"

#define MAX_SERVERS 8

/* ---- timers.c ---------------------------------------------------------------------------- */
raft_time now_ms(void);
/* Milliseconds until `deadline` for poll(2), clamped to [0, cap]. */
int poll_timeout(raft_time deadline, int cap);

/* ---- memlog.c ---------------------------------------------------------------------------- */
struct mem_entry {
    raft_term term;
    int type;
    void *data; /* malloc'ed copy, len bytes */
    size_t len;
};

/* Entries first .. first + n - 1. */
struct memlog {
    raft_index first;
    struct mem_entry *entries;
    size_t n, cap;
};

void memlog_init(struct memlog *l, raft_index first);
void memlog_close(struct memlog *l);
raft_index memlog_last(const struct memlog *l);
const struct mem_entry *memlog_get(const struct memlog *l, raft_index index);
void memlog_append(struct memlog *l, raft_term term, int type, const void *data, size_t len);
void memlog_truncate(struct memlog *l, raft_index from);      /* drops from..last */
void memlog_drop_prefix(struct memlog *l, raft_index before); /* drops first..before-1 */
void memlog_reset(struct memlog *l, raft_index first);

/* ---- storage.c --------------------------------------------------------------------------- */
struct snapshot {
    bool present;
    raft_index index;
    raft_term term;
    raft_index conf_index;
    struct raft_configuration conf;
    struct raft_buffer data; /* raw, raft_malloc'ed */
};

struct storage;

/* Opens (creating) the data directory and loads it: term, vote, latest snapshot and the log
 * entries after it, recovering torn open segments. Returns NULL after reporting an error. */
struct storage *storage_open(const char *dir, raft_term *term, raft_id *vote,
                             struct snapshot *snapshot, struct memlog *log);
void storage_close(struct storage *s);
/* With false, nothing is fsync'ed: writes are not durable (benchmarks only). Default true. */
void storage_set_fsync(bool on);
/* Whether nothing was ever stored (for bootstrapping). */
bool storage_is_empty(const struct memlog *log, raft_term term, const struct snapshot *snap);
/* Each returns 0, or -1 after reporting the error (disk full included) on stderr. */
int storage_bootstrap(struct storage *s, const struct raft_configuration *conf);
int storage_set_term_vote(struct storage *s, raft_term term, raft_id vote);
/* Writes entries (truncating the log at `index` first when needed); they are durable only
 * after the next storage_sync(), so that one fdatasync covers every append of a poll round. */
int storage_append(struct storage *s, raft_index index, const struct raft_entry *entries,
                   unsigned n);
int storage_sync(struct storage *s);
int storage_put_snapshot(struct storage *s, const struct snapshot *snap);
/* Deletes whole segments below `before` (after a snapshot). */
void storage_compact(struct storage *s, raft_index before);
/* Forgets the whole log (a snapshot from the leader replaced it). */
int storage_drop_log(struct storage *s, raft_index next_index);
/* Streamed snapshots (storage_stream.c): stores a received chunk at `offset` (0 starts a new
 * snapshot); the last chunk, stored with storage_put_snapshot_chunk, is followed by
 * storage_finish_snapshot_stream, which makes the stream `snap`'s snapshot (index, term,
 * conf and conf_index set by the caller) and reads its data into `snap->data`. */
int storage_put_snapshot_chunk(struct storage *s, raft_term term, raft_index index,
                               size_t offset, const struct raft_buffer *chunk);
int storage_finish_snapshot_stream(struct storage *s, struct snapshot *snap);
/* Reads `chunk->len` bytes at `offset` of the latest snapshot's data file into `chunk->base`;
 * -1 when that file cannot be read or is compressed. */
int storage_read_snapshot_chunk(struct storage *s, size_t offset, struct raft_buffer *chunk);

/* ---- kv.c: see kv.h ----------------------------------------------------------------- */

/* ---- transport.c ------------------------------------------------------------------------- */
struct transport;
typedef void (*receive_fn)(void *ctx, struct raft_message *message);
/* `address` is this node's address in the configuration (sent in handshakes); it listens on
 * `listen_address` (the same, unless something such as a test's proxy stands in between). */
struct transport *transport_new(raft_id self, const char *address, const char *listen_address,
                                receive_fn on_receive, void *ctx);
void transport_free(struct transport *t);
/* Queues encoded bytes for a peer, connecting if needed; drops them when its queue is full
 * (the library retries on its own schedule), so a slow peer never blocks the others. */
void transport_send(struct transport *t, raft_id id, const char *address,
                    const struct raft_buffer *bytes);
/* poll(2) integration: fills fds (at most max) and handles their events afterwards. */
int transport_fill_pollfds(struct transport *t, void *pfds, int max);
void transport_handle(struct transport *t, void *pfds, int n, raft_time now);

/* ---- host.c ------------------------------------------------------------------------------ */
#define MAX_QUEUED_EVENTS 64

/* An event an update caused, stepped once that update is fully processed. */
struct queued_event {
    int type;
    raft_index index;
    /* RAFT_PERSISTED_SNAPSHOT of a chunk before the last of a streamed snapshot. */
    bool chunk;
    raft_term term;
    size_t offset;
};

struct host {
    struct raft raft;
    raft_id id;
    struct storage *storage;
    struct transport *transport;
    struct memlog log;
    struct snapshot snap;
    struct kv *kv;
    raft_index last_applied;
    /* The configuration as of last_applied (encoded), for snapshots. */
    struct raft_buffer applied_conf;
    raft_index applied_conf_index;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    bool installing;
    /* Last index of the newest append not yet made durable (0: none): storage_sync() and
     * RAFT_PERSISTED_ENTRIES happen once per poll round, in host_flush(). */
    raft_index persist_pending;
    bool failed; /* a storage error: the node stops */
    struct queued_event queue[MAX_QUEUED_EVENTS];
    unsigned n_queued;
    /* Pending client writes, completed in clients.c. */
    struct clients *clients;
    /* How GET is served (--read): READ_INDEX (default), READ_LEASE or READ_STALE. */
    int read_mode;
    /* Streamed snapshots (--snapshot-chunk, docs/snapshots.md): the chunk size (0: off), and
     * how many chunks of the snapshot being received were stored (storage_stream.c writes
     * them to the data directory as they come). */
    uint64_t chunk_size;
    unsigned staged_chunks;
};

/* GET modes. READ_INDEX and READ_LEASE are linearizable (RAFT_READ, docs/reads.md): the leader
 * confirms its read index with a round of heartbeats, or within its lease; READ_STALE answers
 * from the leader's applied state at once, which a deposed leader may serve stale. */
enum { READ_INDEX, READ_LEASE, READ_STALE };
const char *read_mode_name(int mode);

int host_start(struct host *h, raft_term term, raft_id vote);
/* Steps one event and processes its update and the events it queues. */
int host_step(struct host *h, struct raft_event *event);
void host_receive(void *ctx, struct raft_message *message);
/* Leader only: submits n commands (at most 1024, each a multiple of 8 bytes long: RAFT_INVALID
 * otherwise, see kv.h) as one batch; returns the index of the first or 0 with *error set (the
 * payloads are freed either way: the library or the log owns them). */
raft_index host_submit(struct host *h, const struct raft_buffer *payloads, unsigned n,
                       int *error);
/* Makes the appends of this round durable and reports them (RAFT_PERSISTED_ENTRIES). */
void host_flush(struct host *h);
/* Leader only: starts a leadership transfer to `id` (0: the library chooses). */
int host_transfer(struct host *h, raft_id id);
/* Leader only: asks for linearizable read `id` (RAFT_READ); its outcome reaches
 * clients_reads(). Returns raft_step's code. */
int host_read(struct host *h, uint64_t id);

/* ---- clients.c --------------------------------------------------------------------------- */
struct clients;
struct clients *clients_new(struct host *h, const char *address);
void clients_free(struct clients *c);
int clients_fill_pollfds(struct clients *c, void *pfds, int max);
void clients_handle(struct clients *c, void *pfds, int n);
/* Called by host.c as entries are applied and when leadership is lost. */
void clients_applied(struct clients *c, raft_index index, raft_term term);
void clients_fail_pending(struct clients *c, const char *why);
/* Called by host.c with the reads a step confirmed or failed (RAFT_UPDATE_READS). */
void clients_reads(struct clients *c, const struct raft_read_result *reads, unsigned n);

#endif
