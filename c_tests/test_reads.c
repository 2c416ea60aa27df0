/* Linearizable reads through raft_step (libraft-rs extension, docs/reads.md): RAFT_READ,
 * RAFT_UPDATE_READS and raft_update_reads, in the simulated cluster (Raft dissertation §6.4). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static unsigned elect(struct sim *s)
{
    int leader = sim_run_until_leader(s, 10000);
    assert_true(leader >= 0);
    /* The new leader's barrier commits: reads take their index only after that. */
    assert_true(sim_run_until_applied(s, raft_commit_index(sim_raft(s, (unsigned)leader)) + 1,
                                      5000));
    return (unsigned)leader;
}

/* Runs until read `id` on server i has an outcome; returns whether it did within `ms`. */
static bool run_until_read(struct sim *s, unsigned i, uint64_t id, unsigned ms, raft_index *index,
                           int *status)
{
    raft_time deadline = sim_now(s) + ms;
    while (!sim_read_result(s, i, id, index, status)) {
        if (sim_now(s) >= deadline || !sim_step(s)) {
            return false;
        }
    }
    return true;
}

static void leader_read_observes_every_write_committed_before_it(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 21);
    unsigned leader = elect(s);
    assert_int_equal(sim_submit(s, leader, 3), 0);
    raft_index written = raft_last_index(sim_raft(s, leader));
    assert_true(sim_run_until_applied(s, written, 5000));
    assert_int_equal(sim_read(s, leader, 42), 0);
    raft_index index = 0;
    int status = -1;
    assert_true(run_until_read(s, leader, 42, 1000, &index, &status));
    assert_int_equal(status, 0);
    assert_true(index >= written);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

/* A follower forwards the read to its leader (RAFT_READ_INDEX) and gets the leader's read index
 * back: it serves the read once it applied up to it. */
static void follower_read_is_confirmed_by_the_leader(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 22);
    unsigned leader = elect(s);
    assert_int_equal(sim_submit(s, leader, 2), 0);
    raft_index written = raft_last_index(sim_raft(s, leader));
    assert_true(sim_run_until_applied(s, written, 5000));
    unsigned follower = (leader + 1) % 3;
    assert_int_equal(sim_read(s, follower, 3), 0);
    raft_index index = 0;
    int status = -1;
    assert_true(run_until_read(s, follower, 3, 1000, &index, &status));
    assert_int_equal(status, 0);
    assert_true(index >= written);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

/* A server that knows no leader (a candidate, a follower cut off before hearing from one)
 * refuses, and nothing changes. */
static void servers_without_a_leader_refuse_reads_and_nothing_changes(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 27);
    unsigned leader = elect(s);
    unsigned follower = (leader + 1) % 3;
    sim_isolate(s, follower, true);
    sim_run_until(s, sim_now(s) + 1000); /* its election timer expires: it stands */
    struct raft *r = sim_raft(s, follower);
    assert_int_not_equal(raft_state(r), RAFT_LEADER);
    raft_term term = raft_current_term(r);
    assert_int_equal(sim_read(s, follower, 1), RAFT_NOTLEADER);
    assert_int_equal(raft_current_term(r), term);
    raft_index index;
    int status;
    assert_false(sim_read_result(s, follower, 1, &index, &status));
    sim_destroy(s);
}

/* §6.4: a leader cut off from the majority cannot confirm its read index, and once it steps
 * down the read fails rather than answer from a state a new leader may have overtaken. */
static void isolated_leader_never_confirms_and_fails_its_reads_on_stepping_down(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 23);
    unsigned old = elect(s);
    sim_isolate(s, old, true);
    assert_int_equal(sim_read(s, old, 7), 0);
    raft_index index = 0;
    int status = -1;
    assert_true(run_until_read(s, old, 7, 5000, &index, &status));
    assert_int_equal(status, RAFT_LEADERSHIPLOST);
    assert_int_not_equal(raft_state(sim_raft(s, old)), RAFT_LEADER);
    sim_destroy(s);
}

static void sole_voter_answers_in_the_same_step(void **state)
{
    (void)state;
    struct sim *s = cluster(1, 24);
    unsigned leader = elect(s);
    assert_int_equal(sim_read(s, leader, 9), 0);
    raft_index index = 0;
    int status = -1;
    assert_true(sim_read_result(s, leader, 9, &index, &status));
    assert_int_equal(status, 0);
    assert_int_equal(index, raft_commit_index(sim_raft(s, leader)));
    sim_destroy(s);
}

static void lease_answers_in_the_same_step_once_held(void **state)
{
    (void)state;
    struct sim *s = cluster(3, 25);
    unsigned leader = elect(s);
    raft_index index = 0;
    int status = -1;
    assert_int_equal(sim_read(s, leader, 4), 0);
    assert_false(sim_read_result(s, leader, 4, &index, &status)); /* without a lease: a round */
    raft_set_read_lease(sim_raft(s, leader), true, 10); /* election timeout 100 ms */
    /* A few heartbeats: each starts a round whose echoes extend the lease. */
    sim_run_until(s, sim_now(s) + 300);
    assert_int_equal(raft_state(sim_raft(s, leader)), RAFT_LEADER);
    assert_int_equal(sim_read(s, leader, 5), 0);
    assert_true(sim_read_result(s, leader, 5, &index, &status));
    assert_int_equal(status, 0);
    sim_destroy(s);
}

static void update_reads_checks_its_arguments(void **state)
{
    (void)state;
    struct sim *s = cluster(1, 26);
    const struct raft_read_result *reads = NULL;
    unsigned n = 0;
    assert_int_equal(raft_update_reads(NULL, &reads, &n), RAFT_INVALID);
    assert_int_equal(raft_update_reads(sim_raft(s, 0), NULL, &n), RAFT_INVALID);
    assert_int_equal(raft_update_reads(sim_raft(s, 0), &reads, NULL), RAFT_INVALID);
    assert_int_equal(raft_update_reads(sim_raft(s, 0), &reads, &n), 0);
    raft_set_read_lease(NULL, true, 0); /* no effect, no crash */
    sim_destroy(s);
}

/* The extension lives in what C-Raft leaves as padding: no struct changed size. */
static void messages_keep_their_size(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct raft_append_entries), 56);
    assert_int_equal(offsetof(struct raft_append_entries, read_round), 52);
    assert_int_equal(sizeof(struct raft_append_entries_result), 40);
    assert_int_equal(offsetof(struct raft_append_entries_result, read_echo), 36);
    assert_true(sizeof(struct raft_event_read) <= sizeof(struct raft_event_transfer));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leader_read_observes_every_write_committed_before_it),
        cmocka_unit_test(follower_read_is_confirmed_by_the_leader),
        cmocka_unit_test(servers_without_a_leader_refuse_reads_and_nothing_changes),
        cmocka_unit_test(isolated_leader_never_confirms_and_fails_its_reads_on_stepping_down),
        cmocka_unit_test(sole_voter_answers_in_the_same_step),
        cmocka_unit_test(lease_answers_in_the_same_step_once_held),
        cmocka_unit_test(update_reads_checks_its_arguments),
        cmocka_unit_test(messages_keep_their_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
