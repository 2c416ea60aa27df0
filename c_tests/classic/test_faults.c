/* I/O faults injected through memio: failed appends, sends and snapshot writes, lost
 * messages. After each, the cluster must stay consistent: every server ends with the same
 * FSM state, made only of commands whose callbacks reported success. */
#include "testing.h"

/* A follower whose disk fails (memio keeps it failing until restart): the others commit
 * every command; restarted from what it had stored, the follower catches up. (C-Raft 0.15's
 * follower keeps the unwritten entries in memory and never writes them again, so it lags
 * until restarted; our library may catch up sooner, which this test allows.) */
static void check_follower_append_failure(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned f = (l + 1) % n;
    uint64_t values[5] = {2, 4, 6, 8, 10};
    struct counter expected;
    unsigned i;

    memio_fail_append(&c->servers[f].io, 1);
    for (i = 0; i < 5; i++) {
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    counter_expect(&expected, values, 5);
    cluster_step_for(c, 1000);
    for (i = 0; i < n; i++) {
        if (i != f) {
            assert_true(counter_equal(&c->servers[i].counter, &expected));
        }
    }
    cluster_kill(c, f);
    assert_int_equal(cluster_restart(c, f), 0);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    cluster_free(c);
}

static void follower_append_failure_3(void **state)
{
    (void)state;
    check_follower_append_failure(3);
}

static void follower_append_failure_5(void **state)
{
    (void)state;
    check_follower_append_failure(5);
}

/* A sole leader whose disk write fails reports RAFT_IOERR for that command, which is never
 * applied, not even after a restart; restarted on a working disk, the server takes commands
 * again. */
static void leader_append_failure_alone(void **state)
{
    struct cluster *c = started_cluster(1);
    uint64_t kept = 5;
    struct counter expected;
    (void)state;

    cluster_step_for(c, 500); /* idle: nothing of its own left to write */
    memio_fail_append(&c->servers[0].io, 1);
    assert_int_equal(apply_and_wait(c, 0, 1000), RAFT_IOERR);
    cluster_step_for(c, 500);
    assert_int_equal(c->servers[0].counter.count, 0);

    cluster_kill(c, 0);
    assert_int_equal(cluster_restart(c, 0), 0);
    assert_int_equal(cluster_wait_leader(c), 0);
    cluster_step_for(c, 500);
    assert_int_equal(c->servers[0].counter.count, 0);
    assert_int_equal(apply_and_wait(c, 0, kept), 0);
    counter_expect(&expected, &kept, 1);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 1000));
    cluster_kill(c, 0);
    assert_int_equal(cluster_restart(c, 0), 0);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_free(c);
}

/* A failed snapshot write leaves the log whole; the next applied entry tries again, which
 * succeeds, and restarts use it. */
static void check_snapshot_put_failure(unsigned n)
{
    struct cluster *c = cluster_new(n);
    uint64_t values[8];
    struct counter expected;
    unsigned l, i;

    for (i = 0; i < n; i++) {
        raft_set_snapshot_threshold(cluster_raft(c, i), 3);
        raft_set_snapshot_trailing(cluster_raft(c, i), 1);
    }
    assert_int_equal(cluster_bootstrap(c, n), 0);
    assert_int_equal(cluster_start(c), 0);
    l = (unsigned)cluster_wait_leader(c);
    memio_fail_snapshot_put(&c->servers[l].io, 1);

    for (i = 0; i < 3; i++) {
        values[i] = i + 1;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    cluster_step_for(c, 200);
    assert_true(c->servers[l].counter.n_snapshots >= 1);
    if (c->servers[l].counter.n_snapshots == 1) {
        /* The only attempt so far was the failed one. */
        assert_null(c->servers[l].store.snapshot);
        assert_int_equal(c->servers[l].store.start, 1);
    }
    for (i = 3; i < 8; i++) {
        values[i] = i + 1;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    cluster_step_for(c, 200);
    assert_non_null(c->servers[l].store.snapshot);
    assert_true(c->servers[l].store.start > 1);
    counter_expect(&expected, values, 8);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));

    for (i = 0; i < n; i++) {
        cluster_kill(c, i);
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(cluster_restart(c, i), 0);
    }
    assert_true(cluster_wait_leader(c) >= 0);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    cluster_free(c);
}

static void snapshot_put_failure_1(void **state)
{
    (void)state;
    check_snapshot_put_failure(1);
}

static void snapshot_put_failure_3(void **state)
{
    (void)state;
    check_snapshot_put_failure(3);
}

/* A lagging follower that fails to store the InstallSnapshot it receives ends with the
 * cluster's state, at the latest once restarted. (C-Raft 0.15 keeps the failed snapshot's
 * index in memory and acknowledges the leader's retry without installing it, so there the
 * follower catches up only after a restart; our library may do so sooner.) */
static void installed_snapshot_put_failure(void **state)
{
    struct cluster *c = cluster_new(3);
    uint64_t values[12];
    struct counter expected;
    unsigned l, f, i;
    (void)state;

    for (i = 0; i < 3; i++) {
        raft_set_snapshot_threshold(cluster_raft(c, i), 4);
        raft_set_snapshot_trailing(cluster_raft(c, i), 1);
    }
    assert_int_equal(cluster_bootstrap(c, 3), 0);
    assert_int_equal(cluster_start(c), 0);
    l = (unsigned)cluster_wait_leader(c);
    f = (l + 1) % 3;
    cluster_isolate(c, f, true);
    for (i = 0; i < 12; i++) {
        values[i] = 3 * i + 2;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    memio_fail_snapshot_put(&c->servers[f].io, 1);
    cluster_isolate(c, f, false);
    cluster_step_for(c, 3000);
    assert_true(c->net.n_delivered[MEMIO_INSTALL_SNAPSHOT] >= 1);
    cluster_kill(c, f);
    assert_int_equal(cluster_restart(c, f), 0);
    counter_expect(&expected, values, 12);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 20000));
    assert_true(c->net.n_delivered[MEMIO_INSTALL_SNAPSHOT] >= 2);
    assert_non_null(c->servers[f].store.snapshot);
    assert_int_equal(c->servers[f].counter.n_restores, 1);
    cluster_free(c);
}

/* Failed sends are retried by replication: every command still commits everywhere. */
static void check_send_failures(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    uint64_t values[4] = {9, 8, 7, 6};
    struct counter expected;
    unsigned i;

    for (i = 0; i < 4; i++) {
        memio_fail_send(&c->servers[l].io, 1);
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    counter_expect(&expected, values, 4);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    cluster_free(c);
}

static void send_failures_3(void **state)
{
    (void)state;
    check_send_failures(3);
}

static void send_failures_5(void **state)
{
    (void)state;
    check_send_failures(5);
}

/* Replies lost for a while (every AppendEntries result dropped): commands wait, then commit
 * once replies flow again. */
static void dropped_replies(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    struct raft_apply req;
    struct cb_record rec = {0};
    uint64_t value = 31;
    struct counter expected;
    (void)state;

    memio_net_drop(&c->net, MEMIO_APPEND_ENTRIES_RESULT, true);
    req.data = &rec;
    assert_int_equal(cluster_apply(c, l, &req, value, record_apply_cb), 0);
    cluster_step_for(c, 300);
    assert_int_equal(rec.calls, 0);
    memio_net_drop(&c->net, MEMIO_APPEND_ENTRIES_RESULT, false);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    /* The leader may have stepped down meanwhile (no replies for an election timeout). */
    if (rec.status == 0) {
        counter_expect(&expected, &value, 1);
        assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    } else {
        assert_int_equal(rec.status, RAFT_LEADERSHIPLOST);
    }
    assert_int_equal(rec.calls, 1);
    cluster_free(c);
}

/* A partition of the leader with a minority: the majority elects a leader and commits; the
 * old leader's command is lost (RAFT_LEADERSHIPLOST) and, healed, everyone agrees. */
static void minority_partition_5(void **state)
{
    struct cluster *c = started_cluster(5);
    unsigned old = (unsigned)cluster_leader(c);
    unsigned buddy = (old + 1) % 5;
    struct raft_apply req;
    struct cb_record rec = {0};
    uint64_t values[2] = {1, 2};
    struct counter expected;
    unsigned i;
    int l;
    (void)state;

    assert_int_equal(apply_and_wait(c, old, values[0]), 0);
    /* Isolating old and buddy from everyone isolates them from each other too: a minority. */
    cluster_isolate(c, old, true);
    cluster_isolate(c, buddy, true);
    req.data = &rec;
    assert_int_equal(cluster_apply(c, old, &req, 500, record_apply_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    assert_int_equal(rec.status, RAFT_LEADERSHIPLOST);
    l = cluster_wait_leader(c);
    assert_true(l >= 0 && l != (int)old && l != (int)buddy);
    assert_int_equal(apply_and_wait(c, (unsigned)l, values[1]), 0);
    for (i = 0; i < 5; i++) {
        cluster_isolate(c, i, false);
    }
    counter_expect(&expected, values, 2);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    assert_int_equal(rec.calls, 1);
    cluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_append_failure_3),
        cmocka_unit_test(follower_append_failure_5),
        cmocka_unit_test(leader_append_failure_alone),
        cmocka_unit_test(snapshot_put_failure_1),
        cmocka_unit_test(snapshot_put_failure_3),
        cmocka_unit_test(installed_snapshot_put_failure),
        cmocka_unit_test(send_failures_3),
        cmocka_unit_test(send_failures_5),
        cmocka_unit_test(dropped_replies),
        cmocka_unit_test(minority_partition_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
