/* Log replication and the commit rule in the simulated cluster (Raft paper, sections 5.3 and
 * 5.4), and leaders losing their majority. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/sim.h"

static struct sim *cluster_with(unsigned n, unsigned seed, bool pre_vote, unsigned inflight)
{
    struct sim_options o;
    sim_options_default(&o, n, seed);
    o.pre_vote = pre_vote;
    o.max_inflight_entries = inflight;
    struct sim *s = sim_create(&o);
    assert_non_null(s);
    return s;
}

/* Lets a majority that lost its leader notice (an election timeout at most) and elect another. */
static unsigned elect_after_isolation(struct sim *s)
{
    sim_run_until(s, sim_now(s) + 500);
    int leader = sim_run_until_leader(s, 10000);
    assert_true(leader >= 0);
    return (unsigned)leader;
}

static unsigned elect(struct sim *s)
{
    int leader = sim_run_until_leader(s, 10000);
    assert_true(leader >= 0);
    return (unsigned)leader;
}

static raft_index last_index(struct sim *s, unsigned i)
{
    return raft_last_index(sim_raft(s, i));
}

static void old_leader_rejoins_and_its_uncommitted_suffix_is_replaced(void **state)
{
    (void)state;
    struct sim *s = cluster_with(3, 11, false, 0);
    unsigned old = elect(s);
    assert_int_equal(sim_submit(s, old, 2), 0);
    assert_true(sim_run_until_applied(s, last_index(s, old), 5000));
    raft_index committed = last_index(s, old);

    /* Cut off, the old leader accepts entries it can never commit. */
    sim_isolate(s, old, true);
    assert_int_equal(sim_submit(s, old, 5), 0);
    assert_true(last_index(s, old) == committed + 5);
    raft_term stale_term = sim_term_at(s, old, committed + 1);

    unsigned next = elect_after_isolation(s);
    assert_int_not_equal(next, old);
    assert_int_equal(sim_submit(s, next, 3), 0);
    raft_index target = last_index(s, next);
    sim_isolate(s, old, false);
    assert_true(sim_run_until_applied(s, target, 10000));
    for (raft_index k = committed + 1; k <= target; k++) {
        assert_true(sim_term_at(s, old, k) == sim_term_at(s, next, k));
        assert_true(sim_term_at(s, old, k) != stale_term);
    }
    assert_int_equal(raft_state(sim_raft(s, old)), RAFT_FOLLOWER);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void leader_cut_off_in_a_minority_steps_down(void **state)
{
    (void)state;
    struct sim *s = cluster_with(5, 5, false, 0);
    unsigned leader = elect(s);
    sim_isolate(s, leader, true);
    /* Check-quorum: within about two election timeouts it no longer claims leadership. */
    sim_run_until(s, sim_now(s) + 400);
    assert_int_not_equal(raft_state(sim_raft(s, leader)), RAFT_LEADER);
    raft_id known = 99;
    raft_leader(sim_raft(s, leader), &known, NULL);
    assert_true(known != (raft_id)leader + 1);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void pre_vote_keeps_a_rejoining_server_from_inflating_the_term(void **state)
{
    (void)state;
    struct sim *s = cluster_with(3, 21, true, 0);
    unsigned leader = elect(s);
    unsigned follower = (leader + 1) % 3;
    raft_term term = raft_current_term(sim_raft(s, leader));
    sim_isolate(s, follower, true);
    sim_run_until(s, sim_now(s) + 3000); /* many election timeouts */
    assert_true(raft_current_term(sim_raft(s, follower)) == term);
    sim_isolate(s, follower, false);
    sim_run_until(s, sim_now(s) + 1000);
    assert_int_equal(raft_state(sim_raft(s, leader)), RAFT_LEADER);
    assert_true(raft_current_term(sim_raft(s, leader)) == term);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void without_pre_vote_a_rejoining_server_disrupts(void **state)
{
    (void)state;
    struct sim *s = cluster_with(3, 21, false, 0);
    unsigned leader = elect(s);
    unsigned follower = (leader + 1) % 3;
    raft_term term = raft_current_term(sim_raft(s, leader));
    sim_isolate(s, follower, true);
    sim_run_until(s, sim_now(s) + 3000);
    assert_true(raft_current_term(sim_raft(s, follower)) > term);
    sim_isolate(s, follower, false);
    assert_true(elect(s) < 3);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void split_votes_resolve(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 10; seed++) {
        struct sim *s = cluster_with(5, seed, false, 0);
        /* Everyone alone: every server becomes a candidate and votes only for itself. */
        for (unsigned i = 0; i < 5; i++) {
            sim_isolate(s, i, true);
        }
        sim_run_until(s, sim_now(s) + 500);
        unsigned candidates = 0;
        for (unsigned i = 0; i < 5; i++) {
            candidates += raft_state(sim_raft(s, i)) == RAFT_CANDIDATE;
        }
        assert_int_equal(candidates, 5);
        sim_heal(s);
        elect(s);
        assert_false(sim_failed(s));
        sim_destroy(s);
    }
}

static void divergent_logs_are_repaired(void **state)
{
    (void)state;
    struct sim *s = cluster_with(5, 31, false, 0);
    unsigned a = elect(s);
    /* Two successive leaders each append entries only they have. */
    sim_isolate(s, a, true);
    assert_int_equal(sim_submit(s, a, 4), 0);
    unsigned b = elect_after_isolation(s);
    assert_int_not_equal(b, a);
    sim_isolate(s, b, true);
    assert_int_equal(sim_submit(s, b, 6), 0);
    unsigned c = elect_after_isolation(s);
    assert_int_not_equal(c, a);
    assert_int_not_equal(c, b);
    assert_int_equal(sim_submit(s, c, 3), 0);
    sim_heal(s);
    raft_index target = last_index(s, c);
    assert_true(sim_run_until_applied(s, target, 10000));
    for (unsigned i = 0; i < 5; i++) {
        for (raft_index k = 1; k <= target; k++) {
            assert_true(sim_term_at(s, i, k) == sim_term_at(s, c, k));
        }
    }
    assert_false(sim_failed(s));
    sim_destroy(s);
}

/* Figure 8 of the Raft paper: an entry of an earlier term stored on a majority is not
 * committed by counting replicas; it commits only once an entry of the leader's own term is. */
static void figure_8_old_entry_commits_only_with_a_current_term_entry(void **state)
{
    (void)state;
    struct sim *s = cluster_with(5, 8, false, 1);
    unsigned l = elect(s);
    assert_true(sim_run_until_applied(s, last_index(s, l), 5000));
    unsigned a = (l + 1) % 5, b = (l + 2) % 5;
    /* The leader reaches only `a`: the new entry is on 2 of 5. */
    for (unsigned j = 0; j < 5; j++) {
        if (j != l && j != a) {
            sim_set_link(s, l, j, false);
        }
    }
    assert_int_equal(sim_submit(s, l, 1), 0);
    raft_index x = last_index(s, l);
    raft_term x_term = raft_current_term(sim_raft(s, l));
    while (sim_durable_count(s, x, x_term) < 2) {
        assert_true(sim_step(s));
    }
    sim_crash(s, l);
    sim_crash(s, b);
    sim_heal(s);
    /* Only `a` can now win (its log is the most up to date of the three left). */
    unsigned leader = elect(s);
    assert_int_equal(leader, a);
    raft_term term = raft_current_term(sim_raft(s, a));
    assert_true(term > x_term);
    /* With one entry in flight per follower, x travels alone and reaches a majority before
     * any entry of the new term: it must not be committed until one is. */
    bool saw_majority_without_commit = false;
    while (raft_commit_index(sim_raft(s, a)) < x) {
        assert_true(sim_step(s));
        if (sim_durable_count(s, x, x_term) >= 3) {
            saw_majority_without_commit |= raft_commit_index(sim_raft(s, a)) < x;
        }
    }
    assert_true(saw_majority_without_commit);
    /* When x commits, an entry of the current term after it is on a majority too. */
    unsigned current = 0;
    for (raft_index k = x + 1; k <= last_index(s, a); k++) {
        if (sim_term_at(s, a, k) == term && sim_durable_count(s, k, term) >= 3) {
            current++;
        }
    }
    assert_true(current > 0);
    assert_false(sim_failed(s));
    sim_destroy(s);
}

static void hundreds_of_entries_in_flight(void **state)
{
    (void)state;
    struct sim *s = cluster_with(3, 41, false, 4096);
    unsigned l = elect(s);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(sim_submit(s, l, 64), 0);
    }
    raft_index target = last_index(s, l);
    assert_true(target >= 640);
    assert_true(sim_run_until_applied(s, target, 10000));
    assert_false(sim_failed(s));
    sim_destroy(s);
}

/* Payload lengths that C-Raft's wire and disk formats could not carry unpadded. */
static const size_t odd_lengths[] = {0, 1, 7, 9, 13, 4099};
#define N_ODD (sizeof odd_lengths / sizeof *odd_lengths)

/* Checks that server i holds, at first.., exactly the payloads in `expected`. */
static void assert_payloads(struct sim *s, unsigned i, raft_index first, void *const *expected,
                            const size_t *lengths, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const void *data = sim_payload_at(s, i, first + k, &len);
        assert_non_null(data);
        assert_int_equal(len, lengths[k]);
        if (len > 0) { /* an empty payload has no bytes to compare */
            assert_memory_equal(data, expected[k], len);
        }
    }
}

/* Raft paper §5.3: the leader appends a client's command as a new entry whatever it holds. Like
 * C-Raft's raft_step, ours takes commands of any length, 0 included; the 8-byte rule belongs to
 * C-Raft's wire and disk formats only. The commands are replicated, committed, and read back
 * exactly from every server's persisted log after the whole cluster restarts. */
static void commands_of_any_length_replicate_commit_and_survive_a_restart(void **state)
{
    (void)state;
    size_t lengths[N_ODD + 3];
    size_t n = 0;
    struct sim *s = cluster_with(3, 19, false, 0);
    unsigned l = elect(s);
    raft_index first = last_index(s, l) + 1;
    for (size_t k = 0; k < N_ODD; k++) {
        assert_int_equal(sim_submit_sized(s, l, 1, odd_lengths[k]), 0);
        lengths[n++] = odd_lengths[k];
    }
    /* Three 13-byte commands sharing one batch, at unaligned offsets in it. */
    assert_int_equal(sim_submit_sized(s, l, 3, 13), 0);
    for (int k = 0; k < 3; k++) {
        lengths[n++] = 13;
    }
    raft_index last = first + n - 1;
    assert_int_equal(last_index(s, l), last);
    assert_true(sim_run_until_applied(s, last, 10000));

    void *expected[N_ODD + 3];
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const void *data = sim_payload_at(s, l, first + k, &len);
        assert_non_null(data);
        expected[k] = malloc(len + 1);
        memcpy(expected[k], data, len);
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_payloads(s, i, first, expected, lengths, n);
    }

    for (unsigned i = 0; i < 3; i++) {
        sim_crash(s, i);
    }
    for (unsigned i = 0; i < 3; i++) {
        sim_restart(s, i);
        assert_int_equal(last_index(s, i), last);
    }
    l = elect(s);
    assert_true(sim_run_until_applied(s, last, 10000));
    for (unsigned i = 0; i < 3; i++) {
        assert_payloads(s, i, first, expected, lengths, n);
    }
    for (size_t k = 0; k < n; k++) {
        free(expected[k]);
    }
    assert_false(sim_failed(s));
    sim_destroy(s);
}

/* The acceptance run of the consensus core: 100,000 entries through a 3-server cluster with
 * every invariant checked after every step. */
static void three_servers_commit_100000_entries(void **state)
{
    (void)state;
    unsigned total = getenv("RAFT_TEST_QUICK") ? 5000 : 100000;
    struct sim *s = cluster_with(3, 51, false, 256);
    unsigned l = elect(s);
    raft_index first = last_index(s, l) + 1;
    unsigned submitted = 0;
    while (submitted < total) {
        unsigned n = total - submitted < 100 ? total - submitted : 100;
        if (sim_submit(s, l, n) == 0) {
            submitted += n;
        } else {
            l = elect(s);
        }
        sim_run_until(s, sim_now(s) + 2);
        assert_false(sim_failed(s));
    }
    assert_true(sim_run_until_applied(s, first + total - 1, 60000));
    for (unsigned i = 0; i < 3; i++) {
        assert_true(sim_applied(s, i) >= first + total - 1);
    }
    printf("committed %u entries, max commit index %llu\n", total, sim_max_commit(s));
    assert_false(sim_failed(s));
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_leader_rejoins_and_its_uncommitted_suffix_is_replaced),
        cmocka_unit_test(leader_cut_off_in_a_minority_steps_down),
        cmocka_unit_test(pre_vote_keeps_a_rejoining_server_from_inflating_the_term),
        cmocka_unit_test(without_pre_vote_a_rejoining_server_disrupts),
        cmocka_unit_test(split_votes_resolve),
        cmocka_unit_test(divergent_logs_are_repaired),
        cmocka_unit_test(figure_8_old_entry_commits_only_with_a_current_term_entry),
        cmocka_unit_test(hundreds_of_entries_in_flight),
        cmocka_unit_test(commands_of_any_length_replicate_commit_and_survive_a_restart),
        cmocka_unit_test(three_servers_commit_100000_entries),
    };
    return cmocka_run_group_tests_name("replication", tests, NULL, NULL);
}
