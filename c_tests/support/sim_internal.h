/* Internals of the simulator shared by its source files. Not part of the utility's API. */

#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include "sim.h"

/* An immutable payload buffer shared by reference counting, as an efficient host shares the
 * buffers it received or submitted: its in-memory log, its pending disk writes, its durable log
 * and the messages in flight all point into it instead of keeping copies. One raft_malloc
 * allocation: this header, then the payload bytes. While it is lent to the library (submitted,
 * or attached to a received AppendEntries) `refs` is 1 and the library may raft_free it as
 * the contract allows; the host adopts it when it comes back in RAFT_UPDATE_ENTRIES. */
struct sim_batch {
    size_t refs;
    size_t len;
};

struct sim_batch *sim_batch_new(size_t len); /* refs = 1 */
static inline void *sim_batch_data(struct sim_batch *b)
{
    return (char *)b + sizeof *b;
}
static inline void sim_batch_ref(struct sim_batch *b)
{
    b->refs++;
}
void sim_batch_unref(struct sim_batch *b);

/* One log entry as the simulated host keeps it: a reference to the shared payload. 32 bytes,
 * two to a cache line: with thousands of entries in flight the host's arrays of entries are a
 * large part of its working set. */
struct sim_entry {
    raft_term term;
    uint64_t hash;           /* of type and payload */
    struct sim_batch *batch; /* one reference */
    uint32_t offset;         /* of the payload in the batch */
    uint32_t len : 29;
    uint32_t type : 3;
};

#define SIM_ENTRY_MAX_LEN ((1u << 29) - 1)

static inline const void *sim_entry_data(const struct sim_entry *e)
{
    return (const char *)sim_batch_data(e->batch) + e->offset;
}

/* Entries first .. first + n - 1, in a ring (capacity a power of two, oldest at head), so that
 * dropping a prefix after a snapshot moves nothing. */
struct sim_log {
    raft_index first;
    struct sim_entry *entries;
    size_t head, n, cap;
};

/* The k-th entry (0 <= k < n). */
static inline struct sim_entry *sim_log_at(const struct sim_log *l, size_t k)
{
    return &l->entries[(l->head + k) & (l->cap - 1)];
}

uint64_t sim_hash(int type, const void *data, size_t len);
/* A cheap stand-in for sim_hash in unchecked runs: type, length and the first 8 bytes. */
uint64_t sim_quick_hash(int type, const void *data, size_t len);
void sim_log_init(struct sim_log *l, raft_index first);
/* Releases the entries and the array. */
void sim_log_clear(struct sim_log *l, raft_index first);
/* Releases the entries, keeps the array for reuse. */
void sim_log_reset(struct sim_log *l, raft_index first);
void sim_log_reserve(struct sim_log *l, size_t n);
raft_index sim_log_last(const struct sim_log *l);
struct sim_entry *sim_log_get(const struct sim_log *l, raft_index index);
void sim_log_truncate(struct sim_log *l, raft_index from);
/* Appends a private copy of the payload (in a new batch). */
void sim_log_append(struct sim_log *l, raft_term term, int type, const void *data, size_t len);
/* Appends a reference to `data` inside `batch`. */
void sim_log_append_shared(struct sim_log *l, raft_term term, int type, const void *data,
                           size_t len, struct sim_batch *batch, uint64_t hash);
void sim_log_append_entry(struct sim_log *l, const struct sim_entry *e);
void sim_log_drop_prefix(struct sim_log *l, raft_index upto);
void sim_log_copy(struct sim_log *dst, const struct sim_log *src);

/* A stored snapshot: metadata, the encoded configuration and the state machine image. */
struct sim_snapshot {
    bool present;
    raft_index index;
    raft_term term;
    raft_index conf_index;
    void *conf; /* encoded configuration (malloc) */
    size_t conf_len;
    uint64_t sm_hash;
    uint64_t sm_count;
};

void sim_snapshot_clear(struct sim_snapshot *snap);
void sim_snapshot_copy(struct sim_snapshot *dst, const struct sim_snapshot *src);

/* Facts every server must agree on, for the safety checks. */
struct sim_record {
    /* Log matching: content of every persisted (index, term) pair. */
    struct sim_pair *pairs;
    size_t n_pairs, cap_pairs;
    /* Committed entries: committed[i] for 1 <= i <= max_commit. */
    struct sim_committed *committed;
    size_t cap_committed;
    raft_index max_commit;
    /* Election safety: leader of each term. */
    raft_id *leaders;
    size_t cap_leaders;
};

struct sim_pair {
    raft_index index;
    raft_term term;
    uint64_t hash;
    raft_term prev_term;
    bool used;
};

struct sim_committed {
    bool known;
    raft_term term; /* the entry's */
    uint64_t hash;
    /* The lowest current term of a server when it saw the entry committed. A server learns
     * of a commit from the leader that made it, or later, so this bounds from above the term
     * of that leader: the term in which the entry was committed. */
    raft_term committed_in;
};

void sim_record_init(struct sim_record *r);
void sim_record_free(struct sim_record *r);
/* Returns false (and fills why) when (index, term) was persisted before with other content. */
bool sim_record_persisted(struct sim_record *r, raft_index index, raft_term term, uint64_t hash,
                          raft_term prev_term, char *why, size_t why_len);
/* Server of current term `observer_term` saw entry `index` (of `term`) committed. */
bool sim_record_committed(struct sim_record *r, raft_index index, raft_term term, uint64_t hash,
                          raft_term observer_term, char *why, size_t why_len);
const struct sim_committed *sim_record_get_committed(const struct sim_record *r,
                                                     raft_index index);
bool sim_record_leader(struct sim_record *r, raft_term term, raft_id id, char *why,
                       size_t why_len);

/* --- The simulator's state ---------------------------------------------------------------- */

#define TRACE_LINES 400
#define TRACE_WIDTH 200
#define MAX_QUEUED_EVENTS 64

/* A write to a simulated disk, durable at `due`. Writes of one server complete in order. An
 * entries write copies nothing while its entries are in the in-memory log (entries first ..
 * first + n - 1 of it, as a host's pending write points into its log's buffers); only when the
 * host removes them from that log before the write completes (a truncation, a snapshot) does
 * the write take its own references to them (`copy`), which happens on leader changes and
 * snapshot installs, not in the steady state. */
struct write {
    bool snapshot;
    bool dropped;            /* issued before a snapshot install: never reported */
    raft_time due;
    raft_index first;        /* entries write: index of its first entry */
    size_t n;                /* its number of entries */
    struct sim_entry *copy;  /* its entries once they left the in-memory log (malloc), or NULL */
    raft_index report_end;   /* last index still current (later writes may replace a suffix) */
    struct sim_snapshot *snap; /* snapshot write (malloc) */
};

/* A server's pending writes, oldest first, by value in one ring: however many writes are
 * pending the queue is one sequential array and costs no allocation per write. */
struct disk {
    struct write *writes; /* ring of capacity cap (a power of two), oldest at head */
    size_t head, n, cap;
};

/* An entry of a message in flight: a reference to the sender's payload (24 bytes; the
 * receiver's struct raft_entry is built on delivery). */
struct sim_wire_entry {
    raft_term term;
    struct sim_batch *batch; /* one reference */
    uint32_t offset;         /* of the payload in the batch */
    uint32_t len : 29;
    uint32_t type : 3;
};

/* A message in flight, owned by the simulator until delivery. An AppendEntries holds one
 * reference per entry to the sender's batch until it is delivered (its entries, whose batch is
 * a struct sim_batch, sit in its bucket's entry array from entries_at on); the receiver then
 * gets its own copy of the payloads in one batch, as a host reading the message from a socket
 * would. */
struct packet {
    raft_time due;
    unsigned long long seq;
    unsigned from, to;
    struct raft_message m;
    size_t entries_at;
};

/* The network queue: packets by delivery time, in one bucket per millisecond of a ring that
 * covers the longest latency (every packet is due within [now, now + latency_max]), each
 * bucket an array of packets in sending order (by value, with their entries in a second array:
 * sequential memory, no allocation per message). Same order as sorting by (due, seq); O(1)
 * per packet. */
struct net_bucket {
    struct packet *packets; /* live: head .. head + n - 1 */
    size_t head, n, cap;
    struct sim_wire_entry *entries;
    size_t n_entries, cap_entries;
};

/* A server's persisted log (its disk's content): entries first .. shared_last are those of its
 * in-memory log, shared rather than copied (persisting an entry the log holds costs the model
 * nothing per entry, as a real host's disk costs it no RAM); the entries after them are its own
 * (priv, priv.first == shared_last + 1): entries the in-memory log no longer holds as they were
 * persisted (after a truncation, a snapshot install or a crash), or that a write copied. The
 * host moves shared entries into priv before it removes them from the in-memory log. */
struct durable_log {
    raft_index first;
    raft_index shared_last;
    struct sim_log priv;
};

/* An event the host queued while processing an update, stepped once the update is done. */
struct queued_event {
    int type; /* RAFT_CONFIGURATION or RAFT_SNAPSHOT */
    raft_index index;
    unsigned trailing;
};

/* How many read outcomes a server keeps for the tests to look up (the oldest are dropped). */
#define SIM_READS 64

struct server {
    unsigned i;
    raft_id id;
    /* Outcomes of reads (RAFT_UPDATE_READS), oldest first. */
    struct raft_read_result reads[SIM_READS];
    unsigned n_reads;
    char address[32];
    bool alive;
    unsigned incarnation;
    struct raft raft;
    struct raft_tracer tracer;
    struct sim *sim;
    /* Durable state. */
    raft_term term;
    raft_id vote;
    struct durable_log durable;
    struct sim_snapshot durable_snap;
    /* The host's memory. */
    struct sim_log mem;
    struct sim_snapshot snap; /* latest snapshot, attached to InstallSnapshot */
    struct disk disk;
    raft_index last_applied;
    uint64_t sm_hash, sm_count;
    raft_index sm_conf_index; /* latest applied configuration */
    void *sm_conf;
    size_t sm_conf_len;
    raft_index commit; /* last commit index seen in this incarnation */
    unsigned short capacity;
    bool installing;
    bool change_landed;       /* the update being handled appended a configuration entry */
    bool in_extra_timeout;    /* stepping the extra RAFT_TIMEOUT of early_timeout_percent */
    /* The simulator's batch in the event being stepped (submitted entries, a received
     * AppendEntries), adopted without a copy if the update hands it back. */
    struct sim_batch *lent;
    struct queued_event queue[MAX_QUEUED_EVENTS];
    unsigned n_queue;
};

struct sim {
    /* Deliberate drops: the next drop_count messages of drop_type from drop_from to drop_to. */
    unsigned drop_from, drop_to, drop_count;
    int drop_type;
    struct sim_options o;
    unsigned rng;
    raft_time now;
    struct server servers[SIM_MAX_SERVERS];
    bool link_down[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    struct net_bucket *net;
    size_t net_mask;         /* buckets - 1 (a power of two) */
    size_t net_count;        /* packets in flight */
    raft_time net_next;      /* earliest due time when net_count > 0 */
    struct raft_entry *rx_entries; /* the entries of the packet being delivered */
    size_t rx_cap;
    struct raft_entry *submit_entries; /* reused by sim_submit_sized */
    size_t submit_cap;
    unsigned long long seq;
    unsigned long long next_command;
    struct sim_record record;
    struct sim_stats stats;
    bool failed;
    unsigned same_time_events;
    char trace[TRACE_LINES][TRACE_WIDTH];
    unsigned trace_next;
};

/* --- Shared functions of sim.c, sim_net.c and sim_host.c ----------------------------------- */

void *xmalloc(size_t size);
void note(struct sim *s, const char *fmt, ...);
void fail(struct sim *s, const char *fmt, ...);
unsigned draw(struct sim *s, unsigned min, unsigned max);
void encode_conf(struct raft_configuration *c, void **out, size_t *len);
int decode_conf(const void *data, size_t len, struct raft_configuration *c);
void net_init(struct sim *s);
struct packet *net_peek(struct sim *s);
/* Moves the earliest packet to `out` (its entries, if any, in s->rx_entries). */
void net_pop(struct sim *s, struct packet *out);
void net_destroy(struct sim *s);
struct write *disk_head(struct server *srv);
/* Forgets every pending write (a crash), or also frees the ring (destroy). */
void disk_drop(struct server *srv, bool free_ring);
/* Gives the pending writes whose entries include any of lo..hi of the in-memory log their own
 * references to them; called before the host removes those entries from the log. */
void disk_preserve(struct server *srv, raft_index lo, raft_index hi);
bool link_up(struct sim *s, unsigned a, unsigned b);
void send_message(struct sim *s, struct server *from, const struct raft_message *m);
void purge_packets(struct sim *s, unsigned i);
void deliver(struct sim *s, struct packet *p); /* a packet net_pop() moved out */
void handle_update(struct sim *s, struct server *srv, struct raft_update *u);
void check_server(struct sim *s, struct server *srv);
void trace_emit(struct raft_tracer *t, int type, const void *data);
void step_or_fail(struct sim *s, unsigned i, struct raft_event *ev, const char *what);
void complete_write(struct sim *s, struct server *srv);
void durable_init(struct server *srv, raft_index first);
/* Empties it, to start at `first`. */
void durable_reset(struct server *srv, raft_index first);
raft_index durable_last(const struct server *srv);
struct sim_entry *durable_get(const struct server *srv, raft_index index);
/* Gives it its own references to the entries from `from` on that it shares with the in-memory
 * log; called before the host removes them from that log. */
void durable_unshare(struct server *srv, raft_index from);
/* Releases everything (destroy). */
void durable_clear(struct server *srv);

#endif
