/* Shared by the classic-API tests: cmocka, the cluster, and the few places where the two
 * libraries differ on purpose. */
#ifndef CLASSIC_TESTING_H
#define CLASSIC_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka needs the headers above first. */
#include <cmocka.h>

#include "cluster.h"

/* Status of a request still pending when raft_close is called. C-Raft (0.15 and 0.22.1 alike)
 * fails them with RAFT_LEADERSHIPLOST; our library reports RAFT_SHUTDOWN, which says what
 * happened (issue 13, docs/contract.md#differences-from-c-raft). */
#ifdef ON_LIBRAFT_RS
#define CLOSED_PENDING_STATUS RAFT_SHUTDOWN
#else
#define CLOSED_PENDING_STATUS RAFT_LEADERSHIPLOST
#endif

/* A bootstrapped, started cluster of n voters with a stable leader. */
static inline struct cluster *started_cluster(unsigned n)
{
    struct cluster *c = cluster_new(n);
    assert_int_equal(cluster_bootstrap(c, n), 0);
    assert_int_equal(cluster_start(c), 0);
    assert_true(cluster_wait_leader(c) >= 0);
    return c;
}

/* Submits one value on server i and runs until its callback fired; returns the status. */
static inline int apply_and_wait(struct cluster *c, unsigned i, uint64_t value)
{
    struct raft_apply req;
    struct cb_record rec = {0};
    req.data = &rec;
    assert_int_equal(cluster_apply(c, i, &req, value, record_apply_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    assert_int_equal(rec.calls, 1);
    return rec.status;
}

/* A barrier on the leader, waited for: after it, the leader has committed an entry of its
 * term, which our library requires before a configuration change (RAFT_CANTCHANGE before;
 * docs/contract.md#differences-from-c-raft). */
static inline void barrier_and_wait(struct cluster *c, unsigned leader)
{
    struct raft_barrier req;
    struct cb_record rec = {0};
    req.data = &rec;
    assert_int_equal(raft_barrier(cluster_raft(c, leader), &req, record_barrier_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, 0);
}

static inline raft_id leader_id_seen_by(struct cluster *c, unsigned i)
{
    raft_id id = 0;
    const char *address = NULL;
    raft_leader(cluster_raft(c, i), &id, &address);
    return id;
}

#endif
