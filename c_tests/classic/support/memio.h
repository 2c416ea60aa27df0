/* An in-memory `struct raft_io` (version 2) for tests of the classic API.
 *
 * Written against the classic API alone, so that the same source builds against C-Raft 0.15's
 * raft.h and against ours (C-Raft 0.22.1's default variant).
 *
 * - Storage: one `struct memio_store` per server holds what a disk would (term, vote, the log
 *   with copies of the payloads, the latest snapshot). It is owned by the test, not by the
 *   raft_io, so that it survives a kill and a restart of its server.
 * - Network: one `struct memio_net` joins the raft_io objects of a cluster. Every message is
 *   deep-copied on send (entries, snapshot data and configuration), like a real transport, so
 *   no memory is shared between instances.
 * - Asynchrony: append, truncate, snapshot_put, snapshot_get and send complete only when the
 *   test's loop delivers them (`memio_net_step`), never inside the call. The disk of one server
 *   completes its requests in submission order.
 * - Time is simulated (`time` returns `net->now`); `random` is deterministic (memio_seed);
 *   ticks are events of the loop.
 * - Faults: the Nth append / send / snapshot_put completes with RAFT_IOERR (and stores or
 *   delivers nothing); io->init and io->load can be made to fail; a server can be isolated from
 *   the network; messages of a type can be dropped. A failed append breaks the disk until the
 *   server restarts (later appends and snapshot writes fail too, truncations are ignored), as
 *   C-Raft's libuv backend stops writing after an error: the stored log never has a gap, since
 *   io->append carries no index and each write goes after the last stored entry.
 * - close(io, cb) finishes every request still in flight (disk writes complete, sends and
 *   snapshot reads are canceled with RAFT_CANCELED), then calls cb: all of that happens in the
 *   loop, after close returned.
 */
#ifndef CLASSIC_MEMIO_H
#define CLASSIC_MEMIO_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message types: C-Raft 0.15 names them RAFT_IO_*, 0.22.1 RAFT_* (our header has both). */
#ifdef RAFT_VERSION_NUMBER
#define MEMIO_APPEND_ENTRIES RAFT_APPEND_ENTRIES
#define MEMIO_APPEND_ENTRIES_RESULT RAFT_APPEND_ENTRIES_RESULT
#define MEMIO_INSTALL_SNAPSHOT RAFT_INSTALL_SNAPSHOT
#else
#define MEMIO_APPEND_ENTRIES RAFT_IO_APPEND_ENTRIES
#define MEMIO_APPEND_ENTRIES_RESULT RAFT_IO_APPEND_ENTRIES_RESULT
#define MEMIO_INSTALL_SNAPSHOT RAFT_IO_INSTALL_SNAPSHOT
#endif

/* Server IDs a network accepts: 1 .. MEMIO_MAX_ID. */
#define MEMIO_MAX_ID 16

/* What one server's disk holds. Zero-initialise with memio_store_init. */
struct memio_store
{
    raft_term term;
    raft_id voted_for;
    struct raft_snapshot *snapshot; /* Latest stored snapshot (one buffer), or NULL. */
    raft_index start;               /* Index of entries[0]. */
    struct raft_entry *entries;     /* Stored entries; payloads owned by the store. */
    size_t n;                       /* Number of stored entries. */
    unsigned n_snapshots_stored;    /* Successful snapshot_put requests, for tests. */
};

void memio_store_init(struct memio_store *s);
void memio_store_close(struct memio_store *s);
/* Index of the last stored entry (the snapshot's index when the log is empty), or 0. */
raft_index memio_store_last_index(const struct memio_store *s);

struct memio_event;
struct memio;

/* The network and the event loop of one cluster. */
struct memio_net
{
    raft_time now;
    uint64_t seq;                          /* Orders events of the same time. */
    struct memio_event *events;            /* Pending events, sorted by (time, seq). */
    struct memio *live[MEMIO_MAX_ID + 1];  /* Open (not closing) raft_io of each server ID. */
    bool isolated[MEMIO_MAX_ID + 1];       /* Messages from or to this ID are lost. */
    bool drop[16];                         /* Messages of type i are lost (message type codes). */
    unsigned network_latency;              /* ms from send to delivery */
    unsigned disk_latency;                 /* ms per disk request */
    unsigned n_delivered[16];              /* Messages delivered, by type, for tests. */
};

void memio_net_init(struct memio_net *net);
/* Frees every event still pending. Every raft_io of the network must be closed first. */
void memio_net_close(struct memio_net *net);
/* Runs the earliest pending event, moving time to it. Returns false when there is none. */
bool memio_net_step(struct memio_net *net);
/* Time of the earliest pending event, or UINT64_MAX when there is none. */
raft_time memio_net_next_time(const struct memio_net *net);
void memio_net_isolate(struct memio_net *net, raft_id id, bool isolated);
void memio_net_drop(struct memio_net *net, int type, bool drop);

/* Sets up `io` (version 2) on `store`, joined to `net`. Free it with memio_destroy once its
 * close callback has fired (or if it was never handed to raft_init). */
int memio_init(struct raft_io *io, struct memio_net *net, struct memio_store *store);
void memio_destroy(struct raft_io *io);
/* Seeds `random` (the cluster uses the server ID, so servers draw different timeouts). */
void memio_seed(struct raft_io *io, uint64_t seed);

/* Fault injection. `nth` counts calls from now on: 1 is the next call. 0 disarms. */
void memio_fail_append(struct raft_io *io, unsigned nth);
void memio_fail_send(struct raft_io *io, unsigned nth);
void memio_fail_snapshot_put(struct raft_io *io, unsigned nth);
void memio_fail_init(struct raft_io *io, bool fail);
void memio_fail_load(struct raft_io *io, bool fail);

/* Whether the close callback of `io` has fired. */
bool memio_closed(const struct raft_io *io);
/* Requests of `io` still in flight (disk and send). */
unsigned memio_in_flight(const struct raft_io *io);

#endif
