/* Snapshots (Raft paper, section 7): compaction, InstallSnapshot to followers that fell behind,
 * restarts from a snapshot, and retries of a lost install. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "support/scenario.h"

static void follower_far_behind_a_compacted_leader_gets_the_snapshot(void **state)
{
    (void)state;
    struct sim *s = scenario_cluster(3, 3, 61);
    int l = scenario_elect(s);
    assert_true(l >= 0);
    unsigned leader = (unsigned)l, lagging = (leader + 1) % 3;
    sim_crash(s, lagging);
    for (int k = 0; k < 5; k++) {
        assert_true(scenario_commit(s, leader, 40));
    }
    assert_int_equal(sim_snapshot(s, leader, 5), 0);
    assert_int_equal(sim_snapshot(s, (leader + 2) % 3, 5), 0);
    raft_index compacted = sim_applied(s, leader);
    struct sim_stats before;
    sim_stats(s, &before);
    sim_restart(s, lagging);
    /* Entries after the snapshot follow the install. */
    assert_int_equal(sim_submit(s, leader, 10), 0);
    raft_index target = scenario_last(s, leader);
    assert_true(sim_run_until_applied(s, target, 10000));
    struct sim_stats after;
    sim_stats(s, &after);
    assert_true(after.snapshots_installed > before.snapshots_installed);
    assert_true(sim_applied(s, lagging) == target);
    assert_true(target > compacted);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void server_restarts_from_its_snapshot(void **state)
{
    (void)state;
    struct sim *s = scenario_cluster(3, 3, 62);
    unsigned leader = (unsigned)scenario_elect(s);
    assert_true(scenario_commit(s, leader, 50));
    unsigned f = (leader + 1) % 3;
    assert_int_equal(sim_snapshot(s, f, 3), 0);
    raft_index snap = sim_applied(s, f);
    sim_crash(s, f);
    sim_restart(s, f);
    /* The state machine is restored from the snapshot at start, before any message. */
    assert_true(sim_applied(s, f) == snap);
    assert_true(raft_commit_index(sim_raft(s, f)) >= snap);
    assert_true(scenario_commit(s, leader, 5));
    assert_true(sim_applied(s, f) == scenario_last(s, leader));
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void lost_install_is_retried(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_default(&o, 3, 63);
    o.install_snapshot_timeout = 150;
    struct sim *s = sim_create(&o);
    unsigned leader = (unsigned)scenario_elect(s);
    unsigned lagging = (leader + 1) % 3;
    sim_crash(s, lagging);
    assert_true(scenario_commit(s, leader, 60));
    assert_int_equal(sim_snapshot(s, leader, 0), 0);
    sim_drop_next(s, leader, lagging, RAFT_INSTALL_SNAPSHOT, 1);
    sim_restart(s, lagging);
    raft_index target = scenario_last(s, leader);
    assert_true(sim_run_until_applied(s, target, 10000));
    struct sim_stats st;
    sim_stats(s, &st);
    assert_true(st.deliberate_drops == 1);
    assert_true(st.snapshots_installed >= 1);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void snapshots_every_few_entries_under_load(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_default(&o, 5, 64);
    o.snapshot_threshold = 16;
    o.snapshot_trailing = 2;
    struct sim *s = sim_create(&o);
    unsigned leader = (unsigned)scenario_elect(s);
    unsigned down = (leader + 1) % 5;
    sim_crash(s, down);
    for (int k = 0; k < 20; k++) {
        assert_int_equal(sim_submit(s, leader, 8), 0);
        sim_run_until(s, sim_now(s) + 10);
    }
    sim_restart(s, down);
    assert_true(sim_run_until_applied(s, scenario_last(s, leader), 10000));
    struct sim_stats st;
    sim_stats(s, &st);
    assert_true(st.snapshots_taken > 10);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_far_behind_a_compacted_leader_gets_the_snapshot),
        cmocka_unit_test(server_restarts_from_its_snapshot),
        cmocka_unit_test(lost_install_is_retried),
        cmocka_unit_test(snapshots_every_few_entries_under_load),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
