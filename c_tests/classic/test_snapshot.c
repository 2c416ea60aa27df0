/* Snapshots of the classic API: raft_set_snapshot_threshold / trailing, log compaction,
 * InstallSnapshot to a lagging follower, restart from a snapshot plus entries. */
#include "testing.h"

static void set_snapshot_policy(struct cluster *c, unsigned threshold, unsigned trailing)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        raft_set_snapshot_threshold(cluster_raft(c, i), threshold);
        raft_set_snapshot_trailing(cluster_raft(c, i), trailing);
    }
}

static struct cluster *started_cluster_with_policy(unsigned n, unsigned threshold,
                                                   unsigned trailing)
{
    struct cluster *c = cluster_new(n);
    set_snapshot_policy(c, threshold, trailing);
    assert_int_equal(cluster_bootstrap(c, n), 0);
    assert_int_equal(cluster_start(c), 0);
    assert_true(cluster_wait_leader(c) >= 0);
    return c;
}

/* Once `threshold` entries are applied, every server snapshots its FSM and its storage keeps
 * no more than `trailing` entries up to the snapshot's index; restarted, every server
 * restores the snapshot, replays the entries after it, and works on. */
static void check_snapshot_by_threshold(unsigned n)
{
    const unsigned threshold = 5, trailing = 2;
    struct cluster *c = started_cluster_with_policy(n, threshold, trailing);
    unsigned l = (unsigned)cluster_leader(c);
    uint64_t values[13];
    struct counter expected;
    unsigned i;

    for (i = 0; i < 12; i++) {
        values[i] = 1000 + i;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    counter_expect(&expected, values, 12);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_step_for(c, 500);
    for (i = 0; i < n; i++) {
        const struct memio_store *s = &c->servers[i].store;
        assert_true(c->servers[i].counter.n_snapshots >= 1);
        assert_non_null(s->snapshot);
        assert_true(s->snapshot->index >= threshold);
        assert_true(s->start > 1);
        assert_true(s->snapshot->index + 1 - s->start <= trailing);
        assert_true(memio_store_last_index(s) >= s->snapshot->index);
    }

    for (i = 0; i < n; i++) {
        cluster_kill(c, i);
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(cluster_restart(c, i), 0);
        assert_int_equal(c->servers[i].counter.n_restores, 1);
    }
    l = (unsigned)cluster_wait_leader(c);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    values[12] = 7;
    assert_int_equal(apply_and_wait(c, l, values[12]), 0);
    counter_expect(&expected, values, 13);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_free(c);
}

static void snapshot_by_threshold_1(void **state)
{
    (void)state;
    check_snapshot_by_threshold(1);
}

static void snapshot_by_threshold_3(void **state)
{
    (void)state;
    check_snapshot_by_threshold(3);
}

static void snapshot_by_threshold_5(void **state)
{
    (void)state;
    check_snapshot_by_threshold(5);
}

/* Below the threshold nothing is snapshotted and the log is kept whole. */
static void no_snapshot_below_threshold(void **state)
{
    struct cluster *c = started_cluster_with_policy(3, 100, 10);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned i;
    (void)state;

    for (i = 0; i < 12; i++) {
        assert_int_equal(apply_and_wait(c, l, i), 0);
    }
    cluster_step_for(c, 500);
    for (i = 0; i < 3; i++) {
        assert_null(c->servers[i].store.snapshot);
        assert_int_equal(c->servers[i].counter.n_snapshots, 0);
        assert_int_equal(c->servers[i].store.start, 1);
    }
    cluster_free(c);
}

/* The threshold can change after start: lowering it makes the next applied entry trigger a
 * snapshot. */
static void threshold_lowered_after_start(void **state)
{
    struct cluster *c = started_cluster_with_policy(1, 100, 1);
    unsigned i;
    (void)state;

    for (i = 0; i < 6; i++) {
        assert_int_equal(apply_and_wait(c, 0, i), 0);
    }
    cluster_step_for(c, 100);
    assert_null(c->servers[0].store.snapshot);
    raft_set_snapshot_threshold(cluster_raft(c, 0), 3);
    assert_int_equal(apply_and_wait(c, 0, 6), 0);
    cluster_step_for(c, 100);
    assert_non_null(c->servers[0].store.snapshot);
    assert_int_equal(c->servers[0].counter.n_snapshots, 1);
    cluster_free(c);
}

/* A follower cut off while the leader compacts its log past the follower's last entry gets
 * an InstallSnapshot once reconnected, restores it, and ends with the same state. */
static void check_lagging_follower_gets_snapshot(unsigned n)
{
    struct cluster *c = started_cluster_with_policy(n, 4, 1);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned f = (l + 1) % n;
    uint64_t values[16];
    struct counter expected;
    unsigned i;

    values[0] = 1;
    assert_int_equal(apply_and_wait(c, l, values[0]), 0);
    cluster_isolate(c, f, true);
    for (i = 1; i < 15; i++) {
        values[i] = i * i;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    assert_non_null(c->servers[l].store.snapshot);
    assert_true(c->servers[l].store.start > memio_store_last_index(&c->servers[f].store) + 1);

    cluster_isolate(c, f, false);
    counter_expect(&expected, values, 15);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    assert_true(c->servers[f].counter.n_restores >= 1);
    assert_true(c->net.n_delivered[MEMIO_INSTALL_SNAPSHOT] >= 1);
    assert_non_null(c->servers[f].store.snapshot);

    values[15] = 99;
    assert_int_equal(apply_and_wait(c, l, values[15]), 0);
    counter_expect(&expected, values, 16);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));

    /* The follower restarts from the installed snapshot. */
    cluster_kill(c, f);
    assert_int_equal(cluster_restart(c, f), 0);
    assert_int_equal(c->servers[f].counter.n_restores, 1);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_free(c);
}

static void lagging_follower_gets_snapshot_3(void **state)
{
    (void)state;
    check_lagging_follower_gets_snapshot(3);
}

static void lagging_follower_gets_snapshot_5(void **state)
{
    (void)state;
    check_lagging_follower_gets_snapshot(5);
}

/* A newcomer added after compaction is caught up through a snapshot too. */
static void newcomer_gets_snapshot(void **state)
{
    struct cluster *c = cluster_new(4);
    unsigned l;
    uint64_t values[10];
    struct counter expected;
    struct raft_change req;
    struct cb_record rec = {0};
    unsigned i;
    (void)state;

    set_snapshot_policy(c, 4, 1);
    assert_int_equal(cluster_bootstrap(c, 3), 0);
    assert_int_equal(cluster_start(c), 0);
    l = (unsigned)cluster_wait_leader(c);
    for (i = 0; i < 10; i++) {
        values[i] = 50 + i;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    req.data = &rec;
    assert_int_equal(raft_add(cluster_raft(c, l), &req, 4, "server-4", record_change_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    assert_int_equal(rec.status, 0);
    rec.calls = 0;
    assert_int_equal(raft_assign(cluster_raft(c, l), &req, 4, RAFT_VOTER, record_change_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 20000));
    assert_int_equal(rec.status, 0);
    counter_expect(&expected, values, 10);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    assert_int_equal(c->servers[3].counter.n_restores, 1);
    cluster_free(c);
}

#if defined(ON_LIBRAFT_RS) && defined(RAFT_UPDATE_READS)
/* Streamed snapshots (libraft-rs extension, docs/snapshots.md) need a raft_io that takes chunks:
 * over any raft_io but libraft-rs's raft_uv (here the test's in-memory one) a classic-mode
 * instance refuses them and keeps working. */
static void classic_instance_refuses_streamed_snapshots(void **state)
{
    (void)state;
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    assert_int_equal(raft_set_snapshot_chunks(cluster_raft(c, l), 1024, 4), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(cluster_raft(c, l)), "raft_uv"));
    assert_int_equal(apply_and_wait(c, l, 3), 0);
    cluster_free(c);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#if defined(ON_LIBRAFT_RS) && defined(RAFT_UPDATE_READS)
        cmocka_unit_test(classic_instance_refuses_streamed_snapshots),
#endif
        cmocka_unit_test(snapshot_by_threshold_1),
        cmocka_unit_test(snapshot_by_threshold_3),
        cmocka_unit_test(snapshot_by_threshold_5),
        cmocka_unit_test(no_snapshot_below_threshold),
        cmocka_unit_test(threshold_lowered_after_start),
        cmocka_unit_test(lagging_follower_gets_snapshot_3),
        cmocka_unit_test(lagging_follower_gets_snapshot_5),
        cmocka_unit_test(newcomer_gets_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
