/* A deterministic in-process cluster simulator for hosts of raft.h, usable as a test utility.
 *
 * It plays the host for N servers: a simulated clock, a network with latency, loss,
 * duplication, reordering and partitions, disks whose writes complete after a delay and are
 * lost on a crash, restarts from the persisted state, a small state machine, snapshots, and
 * membership changes. Everything is driven by one seed, so a run replays exactly.
 *
 * After every step it checks the safety properties of Raft and stops at the first violation,
 * printing the seed and the recent history:
 *   - election safety: at most one leader per term;
 *   - log matching: two persisted entries with the same index and term have the same content
 *     and the same predecessor (hence identical prefixes);
 *   - leader completeness and state machine safety: an entry once committed never changes, is
 *     applied identically everywhere, and is in the log of every later leader;
 *   - commit indexes never decrease (within one incarnation of a server);
 *   - a committed configuration is never lost.
 *
 * Typical use:
 *
 *     struct sim_options o;
 *     sim_options_default(&o, 3, seed);
 *     struct sim *s = sim_create(&o);
 *     sim_run_until_leader(s, 10000);
 *     sim_submit(s, sim_leader(s), 10);
 *     sim_run_until_applied(s, 11, 10000);
 *     sim_destroy(s);
 *
 * Servers are numbered 0..n-1 and have raft IDs 1..n. Times are simulated milliseconds.
 */

#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define SIM_MAX_SERVERS 9

struct sim_options {
    unsigned n_servers;      /* servers created; the first n_voters are bootstrapped voters */
    unsigned n_voters;       /* 0 means all */
    unsigned seed;           /* drives every random choice of the run */
    unsigned latency_min;    /* one-way network delay, ms */
    unsigned latency_max;
    unsigned disk_min;       /* time for an entries or snapshot write to become durable, ms */
    unsigned disk_max;
    unsigned loss_percent;   /* chance that a message is dropped */
    unsigned dup_percent;    /* chance that a message is delivered twice */
    bool pre_vote;
    unsigned election_timeout;
    unsigned heartbeat_timeout;
    unsigned install_snapshot_timeout;
    unsigned max_inflight_entries; /* 0 keeps the library's default */
    unsigned snapshot_threshold;   /* take a snapshot every N applied entries (0: never) */
    unsigned snapshot_trailing;    /* entries kept before a snapshot */
    /* Timeouts at every point (0: off). After any step, the chance in percent that the host
     * also steps a RAFT_TIMEOUT at once, due or not (the contract makes an early one
     * harmless). After a step that appended a configuration entry, the chance that the
     * server is cut off from everyone right then, so that its next event is the RAFT_TIMEOUT
     * of its election deadline under the configuration just landed (the network heals with
     * sim_heal or sim_isolate). */
    unsigned early_timeout_percent;
    unsigned isolate_after_change_percent;
    bool trace;                    /* print the library's diagnostics to stderr */
    /* Benchmarks: skip the safety checks and hash only the first bytes of each payload, so
     * that the host's own work stays small next to the library's. */
    bool unchecked;
    /* Called right before (entering) and right after (!entering) every raft_step call, for
     * measurements. NULL: none. */
    void (*step_hook)(void *arg, bool entering);
    void *step_hook_arg;
};

struct sim;

/* Defaults: 5-15 ms latency, 1-10 ms disk, no faults, election timeout 100 ms, heartbeat 20. */
void sim_options_default(struct sim_options *o, unsigned n_servers, unsigned seed);

struct sim *sim_create(const struct sim_options *o);
void sim_destroy(struct sim *s);

/* Runs the next event (a timer, a delivery or a disk completion). False once a safety check
 * failed (the failure has been printed); sim_failed() tells the same. */
bool sim_step(struct sim *s);
bool sim_failed(const struct sim *s);
raft_time sim_now(const struct sim *s);

/* Runs until the simulated clock reaches `deadline` (absolute ms). */
bool sim_run_until(struct sim *s, raft_time deadline);
/* Runs for at most `ms` until exactly one live server believes it is leader and a majority of
 * live servers follow it; returns its number or -1. */
int sim_run_until_leader(struct sim *s, unsigned ms);
/* Runs for at most `ms` until every live voter and stand-by of the leader's configuration (of
 * each server's own when there is no leader) applied `index`. */
bool sim_run_until_applied(struct sim *s, raft_index index, unsigned ms);

/* The live server that is leader with the highest term, or -1. */
int sim_leader(const struct sim *s);
struct raft *sim_raft(struct sim *s, unsigned i);
bool sim_alive(const struct sim *s, unsigned i);
raft_index sim_applied(const struct sim *s, unsigned i);
raft_index sim_durable_last_index(const struct sim *s, unsigned i);
/* Term of the entry at `index` in server i's log (its in-memory log, as the host keeps it),
 * 0 if it has none there. */
raft_term sim_term_at(const struct sim *s, unsigned i, raft_index index);
/* Payload of the entry at `index` in server i's in-memory log, with its length in *len; NULL
 * (and *len 0) if it has none there. Valid until the server next steps or crashes. */
const void *sim_payload_at(const struct sim *s, unsigned i, raft_index index, size_t *len);
/* Number of servers whose persisted log holds `index` with term `term`. */
unsigned sim_durable_count(const struct sim *s, raft_index index, raft_term term);
/* Role of server `target` in the latest configuration of server i's log (-1: not in it). */
int sim_role_in(struct sim *s, unsigned i, unsigned target);
/* Highest index any server ever saw committed. */
raft_index sim_max_commit(const struct sim *s);

/* Submits n 8-byte commands to server i. Returns raft_step's code (RAFT_NOTLEADER ...). */
int sim_submit(struct sim *s, unsigned i, unsigned n);
/* Submits n commands of `len` bytes each (any length, 0 included) in one batch. */
int sim_submit_sized(struct sim *s, unsigned i, unsigned n, size_t len);
/* Submits a RAFT_CHANGE entry that gives server `target` the role `role` (adding it if it is
 * not in the leader's current configuration, or removing it when role is -1). */
int sim_change(struct sim *s, unsigned leader, unsigned target, int role);
/* Steps any event on server i, processing its update like the host does. */
int sim_step_event(struct sim *s, unsigned i, struct raft_event *event);

/* Faults. A crash loses writes that were not yet durable and all in-flight messages to and
 * from the server; a restart loads the persisted state. */
/* Asks server i for linearizable read `id` (RAFT_READ); returns raft_step's code. */
int sim_read(struct sim *s, unsigned i, uint64_t id);
/* The outcome of read `id` on server i, if it has one yet. */
bool sim_read_result(const struct sim *s, unsigned i, uint64_t id, raft_index *index, int *status);

void sim_crash(struct sim *s, unsigned i);
void sim_restart(struct sim *s, unsigned i);
/* Cuts (or restores) the link between i and j, both ways. */
void sim_set_link(struct sim *s, unsigned i, unsigned j, bool up);
/* Isolates server i from everyone, or joins it back. */
void sim_isolate(struct sim *s, unsigned i, bool isolated);
void sim_heal(struct sim *s);
void sim_set_faults(struct sim *s, unsigned loss_percent, unsigned dup_percent);
/* Changes isolate_after_change_percent (sim_options). */
void sim_set_isolate_after_change(struct sim *s, unsigned percent);
/* Drops the next `count` messages of `type` from server i to server j. */
void sim_drop_next(struct sim *s, unsigned i, unsigned j, int type, unsigned count);
/* The disk capacity server i reports in its events from now on (docs/contract.md#common-fields). */
void sim_set_capacity(struct sim *s, unsigned i, unsigned short capacity);
/* Takes a snapshot on server i now (at its last applied index). */
int sim_snapshot(struct sim *s, unsigned i, unsigned trailing);

/* Prints one line per server (state, term, indexes, role) to stderr, for failure reports. */
void sim_dump(struct sim *s);

/* Counters for reports. */
struct sim_stats {
    unsigned long long steps, messages_sent, messages_delivered, messages_dropped;
    unsigned long long elections_won, snapshots_taken, snapshots_installed, crashes;
    unsigned long long deliberate_drops;
};
void sim_stats(const struct sim *s, struct sim_stats *out);

#endif
