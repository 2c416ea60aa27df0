/* raft_read (libraft-rs extension, docs/reads.md) over memio clusters: the callback fires once,
 * after the FSM applied every write acknowledged before the read, on leaders and followers; a leader
 * cut off fails its read; closing fails pending reads with RAFT_SHUTDOWN. Only our library has
 * raft_read: against C-Raft this file is an empty suite. Followers forward reads to their leader
 * (RAFT_READ_INDEX). */
#include "testing.h"

/* raft_read is in our header only (RAFT_UPDATE_READS marks it): compiled against C-Raft's
 * header (make test-craft runs the classic suite that way on our library), this is empty too. */
#if defined(ON_LIBRAFT_RS) && defined(RAFT_UPDATE_READS)

struct read_record
{
    struct cb_record rec;
    struct counter *fsm;
    uint64_t total_seen; /* the FSM's total when the callback fired */
    raft_index applied_seen;
    struct raft *r;
};

static void record_read_cb(struct raft_read *req, int status)
{
    struct read_record *rr = req->data;
    rr->total_seen = rr->fsm->total;
    rr->applied_seen = raft_last_applied(rr->r);
    cb_clock += 1;
    rr->rec.calls += 1;
    rr->rec.status = status;
    rr->rec.order = cb_clock;
}

static void read_sees_every_acknowledged_write(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    uint64_t values[3] = {5, 7, 11};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    struct raft_read req;
    struct read_record rr = {{0}, &c->servers[l].counter, 0, 0, cluster_raft(c, l)};
    req.data = &rr;
    assert_int_equal(raft_read(cluster_raft(c, l), &req, record_read_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rr.rec, 10000));
    assert_int_equal(rr.rec.status, 0);
    assert_int_equal(rr.total_seen, 5 + 7 + 11);
    assert_true(rr.applied_seen >= req.index);
    cluster_step_for(c, 500);
    assert_int_equal(rr.rec.calls, 1);
    cluster_free(c);
}

static void read_sees_every_acknowledged_write_1(void **state)
{
    (void)state;
    read_sees_every_acknowledged_write(1);
}

static void read_sees_every_acknowledged_write_3(void **state)
{
    (void)state;
    read_sees_every_acknowledged_write(3);
}

/* A follower forwards the read to its leader and completes it once it applied up to the
 * leader's read index: it sees every acknowledged write too. */
static void read_on_follower_sees_every_acknowledged_write(void **state)
{
    (void)state;
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned f = (l + 1) % 3;
    assert_int_equal(apply_and_wait(c, l, 17), 0);
    assert_int_equal(apply_and_wait(c, l, 19), 0);
    struct raft_read req;
    struct read_record rr = {{0}, &c->servers[f].counter, 0, 0, cluster_raft(c, f)};
    req.data = &rr;
    assert_int_equal(raft_read(cluster_raft(c, f), &req, record_read_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rr.rec, 10000));
    assert_int_equal(rr.rec.status, 0);
    assert_int_equal(rr.total_seen, 17 + 19);
    cluster_free(c);
}

static void read_with_null_request_or_instance_is_invalid(void **state)
{
    (void)state;
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    struct raft_read req;
    assert_int_equal(raft_read(cluster_raft(c, l), NULL, record_read_cb), RAFT_INVALID);
    assert_int_equal(raft_read(NULL, &req, record_read_cb), RAFT_INVALID);
    cluster_free(c);
}

/* A leader cut off from the others cannot confirm its read (dissertation 6.4); it fails with
 * RAFT_LEADERSHIPLOST once it steps down, never answered from its stale state. */
static void read_on_isolated_leader_fails(void **state)
{
    (void)state;
    struct cluster *c = started_cluster(3);
    unsigned old = (unsigned)cluster_leader(c);
    assert_int_equal(apply_and_wait(c, old, 3), 0);
    cluster_isolate(c, old, true);
    struct raft_read req;
    struct read_record rr = {{0}, &c->servers[old].counter, 0, 0, cluster_raft(c, old)};
    req.data = &rr;
    assert_int_equal(raft_read(cluster_raft(c, old), &req, record_read_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rr.rec, 10000));
    assert_int_equal(rr.rec.status, RAFT_LEADERSHIPLOST);
    assert_int_equal(rr.rec.calls, 1);
    cluster_free(c);
}

/* raft_close completes a read still waiting for its round with RAFT_SHUTDOWN, once. */
static void close_fails_pending_reads(void **state)
{
    (void)state;
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    cluster_isolate(c, l, true);
    struct raft_read req;
    struct read_record rr = {{0}, &c->servers[l].counter, 0, 0, cluster_raft(c, l)};
    req.data = &rr;
    assert_int_equal(raft_read(cluster_raft(c, l), &req, record_read_cb), 0);
    cluster_free(c);
    assert_int_equal(rr.rec.calls, 1);
    assert_int_equal(rr.rec.status, RAFT_SHUTDOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_fails_pending_reads),
        cmocka_unit_test(read_sees_every_acknowledged_write_1),
        cmocka_unit_test(read_sees_every_acknowledged_write_3),
        cmocka_unit_test(read_on_follower_sees_every_acknowledged_write),
        cmocka_unit_test(read_with_null_request_or_instance_is_invalid),
        cmocka_unit_test(read_on_isolated_leader_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void)
{
    return 0;
}

#endif
