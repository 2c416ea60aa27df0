/* Elections in the simulated cluster (Raft paper, section 5.2), and the safety of the results. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/sim.h"

static struct sim *cluster(unsigned n, unsigned seed)
{
    struct sim_options o;
    sim_options_default(&o, n, seed);
    struct sim *s = sim_create(&o);
    assert_non_null(s);
    return s;
}

/* Raft §5.2: a sole voter needs no other vote, but it still wins an election of its own, in a
 * new term (reusing its loaded term could make it a second leader of that term). */
static void single_voter_leads_at_start_in_a_new_term(void **state)
{
    (void)state;
    struct sim *s = cluster(1, 1);
    assert_int_equal(raft_state(sim_raft(s, 0)), RAFT_LEADER);
    assert_true(raft_current_term(sim_raft(s, 0)) == 2);
    assert_true(raft_voted_for(sim_raft(s, 0)) == 1);
    assert_true(raft_commit_index(sim_raft(s, 0)) == 1);
    assert_int_equal(sim_submit(s, 0, 3), 0);
    assert_true(sim_run_until_applied(s, 4, 1000));
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void three_servers_elect_one_leader(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 20; seed++) {
        struct sim *s = cluster(3, seed);
        int leader = sim_run_until_leader(s, 5000);
        assert_true(leader >= 0);
        raft_term term = raft_current_term(sim_raft(s, (unsigned)leader));
        assert_true(term >= 2);
        for (unsigned i = 0; i < 3; i++) {
            raft_id id = 0;
            raft_leader(sim_raft(s, i), &id, NULL);
            if (id != 0) {
                assert_true(id == (raft_id)leader + 1);
            }
        }
        assert_false(sim_failed(s));
        sim_destroy(s);
    }
}

static void five_servers_elect_and_commit(void **state)
{
    (void)state;
    struct sim *s = cluster(5, 7);
    int leader = sim_run_until_leader(s, 5000);
    assert_true(leader >= 0);
    raft_index first = raft_last_index(sim_raft(s, (unsigned)leader)) + 1;
    assert_int_equal(sim_submit(s, (unsigned)leader, 10), 0);
    assert_true(sim_run_until_applied(s, first + 9, 5000));
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void leader_crash_leads_to_reelection(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 3);
    int leader = sim_run_until_leader(s, 5000);
    assert_true(leader >= 0);
    raft_term term = raft_current_term(sim_raft(s, (unsigned)leader));
    sim_crash(s, (unsigned)leader);
    int next = sim_run_until_leader(s, 5000);
    assert_true(next >= 0);
    assert_int_not_equal(next, leader);
    assert_true(raft_current_term(sim_raft(s, (unsigned)next)) > term);
    sim_restart(s, (unsigned)leader);
    sim_run_until(s, sim_now(s) + 1000);
    assert_int_equal(raft_state(sim_raft(s, (unsigned)leader)), RAFT_FOLLOWER);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_voter_leads_at_start_in_a_new_term),
        cmocka_unit_test(three_servers_elect_one_leader),
        cmocka_unit_test(five_servers_elect_and_commit),
        cmocka_unit_test(leader_crash_leads_to_reelection),
    };
    return cmocka_run_group_tests_name("election", tests, NULL, NULL);
}
