/* A cluster of classic-API raft instances over memio, with a counter FSM, for the tests.
 *
 * Server i (0-based) has ID i + 1 and address "server-<id>". Only observable results are
 * exposed to the tests (states, leaders, applied values): the exact log indexes differ
 * between C-Raft and our library on purpose (docs/contract.md#differences-from-c-raft). */
#ifndef CLASSIC_CLUSTER_H
#define CLASSIC_CLUSTER_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "memio.h"

#define CLUSTER_MAX 6

/* The FSM: adds the 8-byte little-endian value of each command to a total. `hash` folds the
 * values in order, so two FSMs with equal (count, total, hash) applied the same sequence. */
struct counter
{
    uint64_t total;
    uint64_t count;
    uint64_t hash;
    unsigned n_snapshots; /* fsm->snapshot calls */
    unsigned n_restores;  /* successful fsm->restore calls */
};

void counter_fsm_init(struct raft_fsm *fsm, struct counter *counter);
/* The (total, count, hash) an FSM has after applying `values` in order from scratch. */
void counter_expect(struct counter *expected, const uint64_t *values, unsigned n);
bool counter_equal(const struct counter *a, const struct counter *b);

struct cluster_server
{
    raft_id id;
    char address[32];
    struct memio_store store; /* Survives kill/restart. */
    struct raft_io io;
    struct raft_fsm fsm;
    struct counter counter; /* Volatile, rebuilt from snapshot and log on restart. */
    struct raft raft;
    bool alive;      /* raft_init succeeded and raft_close was not called since */
    bool started;    /* raft_start succeeded */
    unsigned closes;           /* raft_close callbacks fired */
    unsigned close_order;      /* cb_clock when the last one fired */
    bool io_closed_at_close_cb; /* the raft_io had finished closing when it fired */
};

struct cluster
{
    struct memio_net net;
    unsigned n;
    struct cluster_server servers[CLUSTER_MAX];
};

/* Allocates a cluster of n servers, each with memio and raft_init done (not bootstrapped). */
struct cluster *cluster_new(unsigned n);
/* Closes every live server (waiting for the close callbacks) and frees everything. */
void cluster_free(struct cluster *c);

/* The configuration of servers 0..n_voters-1, all voters. */
void cluster_configuration(struct cluster *c, unsigned n_voters, struct raft_configuration *conf);
/* Bootstraps servers 0..n_voters-1 with that configuration; the others stay pristine. */
int cluster_bootstrap(struct cluster *c, unsigned n_voters);
/* raft_start on every live server that is not started. */
int cluster_start(struct cluster *c);

struct raft *cluster_raft(struct cluster *c, unsigned i);

typedef bool (*cluster_predicate)(struct cluster *c, void *arg);
/* Runs events until `pred` holds (checked before each event) or `max_ms` of simulated time
 * passed. Returns whether it holds. */
bool cluster_step_until(struct cluster *c, cluster_predicate pred, void *arg, unsigned max_ms);
void cluster_step_for(struct cluster *c, unsigned ms);

/* The server that leads with every started, reachable voter of its configuration agreeing,
 * or -1. */
int cluster_leader(struct cluster *c);
bool cluster_has_leader(struct cluster *c, void *arg);
/* Runs until there is a leader (at most 10 s of simulated time); returns it or -1. */
int cluster_wait_leader(struct cluster *c);
/* arg: const struct counter *: every started, reachable server's FSM equals it. */
bool cluster_all_fsms_equal(struct cluster *c, void *arg);

/* Runs until server i's raft_io finished closing; fails the test after 10 s. */
void cluster_wait_io_closed(struct cluster *c, unsigned i);
/* raft_close with a callback, run until it fired; the store is kept. */
void cluster_kill(struct cluster *c, unsigned i);
/* New memio over the kept store, fresh FSM, raft_init and raft_start. */
int cluster_restart(struct cluster *c, unsigned i);
/* raft_init only (no start), over the kept store. */
int cluster_reinit(struct cluster *c, unsigned i);
void cluster_isolate(struct cluster *c, unsigned i, bool isolated);

/* A raft_apply of one 8-byte value, whose buffer is freed here if the call fails. */
int cluster_apply(struct cluster *c, unsigned i, struct raft_apply *req, uint64_t value,
                  raft_apply_cb cb);

/* Records of callbacks, with a global order so tests can check which fired first. */
struct cb_record
{
    unsigned calls;
    int status;
    uint64_t result; /* apply: the FSM total the command produced */
    unsigned order;  /* value of cb_clock when it last fired */
};
extern unsigned cb_clock;
void record_apply_cb(struct raft_apply *req, int status, void *result);
void record_barrier_cb(struct raft_barrier *req, int status);
void record_change_cb(struct raft_change *req, int status);
void record_transfer_cb(struct raft_transfer *req);
/* arg: struct cb_record *: it fired at least once. */
bool cb_fired(struct cluster *c, void *arg);

#endif
