/* struct raft's public members, as C-Raft programs read them directly (r->current_term,
 * r->configuration.servers[i], r->state, r->follower_state.current_leader.id, ...): in the
 * raft_step mode they must match the accessors after every step. The classic mode is covered
 * by test_classic_smoke.c. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/scenario.h"

/* Every published member agrees with the library's accessors. */
static void assert_published(struct raft *r)
{
    assert_int_equal(r->current_term, raft_current_term(r));
    assert_int_equal(r->voted_for, raft_voted_for(r));
    assert_int_equal(r->commit_index, raft_commit_index(r));
    assert_int_equal(r->state, raft_state(r));
    assert_true(r->last_stored <= raft_last_index(r));
    raft_id leader_id;
    const char *leader_address;
    raft_leader(r, &leader_id, &leader_address);
    if (r->state == RAFT_FOLLOWER) {
        assert_int_equal(r->follower_state.current_leader.id, leader_id);
        if (leader_id != 0) {
            assert_string_equal(r->follower_state.current_leader.address, leader_address);
        }
    }
    if (r->state == RAFT_LEADER) {
        assert_int_equal(r->leader_state.transferee, raft_transferee(r));
    }
    /* The configuration in effect: this server's role in it is raft_role's answer. */
    int role = -1;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        assert_non_null(r->configuration.servers[i].address);
        if (r->configuration.servers[i].id == r->id) {
            role = r->configuration.servers[i].role;
        }
    }
    assert_int_equal(role, raft_role(r));
    assert_true(r->configuration_committed_index <= r->commit_index);
    assert_true(r->configuration_uncommitted_index == 0 ||
                r->configuration_uncommitted_index > r->configuration_committed_index);
}

static void members_follow_every_step_of_a_cluster(void **state)
{
    (void)state;
    struct sim *s = scenario_cluster(4, 3, 7);
    int leader = scenario_elect(s);
    assert_true(leader >= 0);
    for (unsigned i = 0; i < 4; i++) {
        assert_published(sim_raft(s, i));
    }
    struct raft *l = sim_raft(s, (unsigned)leader);
    assert_int_equal(l->state, RAFT_LEADER);
    assert_int_equal(l->configuration.n, 3);
    assert_true(scenario_commit(s, (unsigned)leader, 5));
    /* Adding the fourth server shows in the leader's configuration at once (uncommitted), then
     * committed. */
    assert_int_equal(sim_change(s, (unsigned)leader, 3, RAFT_SPARE), 0);
    assert_int_equal(l->configuration.n, 4);
    assert_true(l->configuration_uncommitted_index > 0);
    assert_true(sim_run_until_applied(s, scenario_last(s, (unsigned)leader), 10000));
    assert_int_equal(l->configuration_uncommitted_index, 0);
    assert_int_equal(l->configuration_committed.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_published(sim_raft(s, i));
    }
    sim_destroy(s);
}

static void settings_show_in_the_struct(void **state)
{
    (void)state;
    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    assert_int_equal(r.election_timeout, 1000);
    assert_int_equal(r.heartbeat_timeout, 100);
    assert_int_equal(r.install_snapshot_timeout, 30000);
    assert_int_equal(r.state, RAFT_FOLLOWER);
    assert_int_equal(r.current_term, 0);
    raft_set_election_timeout(&r, 3000);
    raft_set_heartbeat_timeout(&r, 300);
    raft_set_pre_vote(&r, true);
    raft_set_max_catch_up_rounds(&r, 4);
    assert_int_equal(r.election_timeout, 3000);
    assert_int_equal(r.heartbeat_timeout, 300);
    assert_true(r.pre_vote);
    assert_int_equal(r.max_catch_up_rounds, 4);
    raft_close(&r, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_follow_every_step_of_a_cluster),
        cmocka_unit_test(settings_show_in_the_struct),
    };
    return cmocka_run_group_tests_name("published members", tests, NULL, NULL);
}
