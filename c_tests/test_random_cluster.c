/* Randomized runs: clusters of 3 and 5 servers under every fault the simulator has (loss,
 * duplication, reordering through variable latency, partitions, crashes that lose unpersisted
 * writes, restarts), with clients submitting throughout, snapshots at random points and
 * membership changes. The simulator checks election safety, log matching, leader completeness,
 * state machine safety and commit monotonicity after every step. At the end the faults stop and
 * the cluster must converge: one leader, every server applying the same entries.
 *
 * RAFT_SEEDS=N runs N seeds (default 1000; RAFT_TEST_QUICK=1 runs 40), RAFT_SEED=S replays one,
 * RAFT_SIM_TRACE=1 prints the library's diagnostics. A failure prints its seed. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/sim.h"

struct run_totals {
    unsigned runs;
    unsigned long long committed, steps, crashes, elections, snapshots, installs, dropped;
};

static unsigned env_unsigned(const char *name, unsigned fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : fallback;
}

/* Submits a random role change for `who` through the leader, keeping at least two voters so
 * that the cluster can always recover once every server is back. */
static void change_membership(struct sim *s, unsigned *rng, unsigned n, unsigned who)
{
    int leader = sim_leader(s);
    if (leader < 0) {
        return;
    }
    static const int roles[] = {RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE, -1};
    int role = roles[raft_random(rng, 0, 3)];
    if (role != RAFT_VOTER && sim_role_in(s, (unsigned)leader, who) == RAFT_VOTER) {
        unsigned voters = 0;
        for (unsigned i = 0; i < n; i++) {
            voters += i != who && sim_role_in(s, (unsigned)leader, i) == RAFT_VOTER;
        }
        if (voters < 2) {
            return;
        }
    }
    sim_change(s, (unsigned)leader, who, role);
}

/* One randomized run; returns false on a safety or liveness failure (already printed). */
static bool run_seed(unsigned seed, struct run_totals *totals)
{
    unsigned rng = seed * 2654435761u + 1;
    unsigned n = raft_random(&rng, 0, 1) ? 5 : 3;
    struct sim_options o;
    sim_options_default(&o, n, seed);
    /* A third of the 5-server runs start with 3 voters, the others waiting to be added. */
    bool membership = n == 5 && raft_random(&rng, 0, 2) == 0;
    o.n_voters = membership ? 3 : n;
    /* Half of the runs take snapshots every few entries, keeping few trailing entries, so that
     * followers that fall behind need InstallSnapshot. */
    if (raft_random(&rng, 0, 1)) {
        o.snapshot_threshold = raft_random(&rng, 4, 40);
        o.snapshot_trailing = raft_random(&rng, 0, 8);
    }
    o.pre_vote = raft_random(&rng, 0, 1);
    o.latency_min = 1 + raft_random(&rng, 0, 5);
    o.latency_max = o.latency_min + raft_random(&rng, 0, 30);
    o.disk_max = 1 + raft_random(&rng, 0, 20);
    o.max_inflight_entries = raft_random(&rng, 1, 64);
    o.trace = getenv("RAFT_SIM_TRACE") != NULL;
    struct sim *s = sim_create(&o);
    if (s == NULL) {
        return false;
    }

    raft_time end = sim_now(s) + 6000 + raft_random(&rng, 0, 6000);
    while (!sim_failed(s) && sim_now(s) < end) {
        sim_run_until(s, sim_now(s) + raft_random(&rng, 5, 120));
        unsigned action = raft_random(&rng, 0, 99);
        unsigned who = raft_random(&rng, 0, n - 1);
        if (action < 45) {
            int leader = sim_leader(s);
            if (leader >= 0) {
                sim_submit(s, (unsigned)leader, raft_random(&rng, 1, 8));
            }
        } else if (action < 52) {
            sim_crash(s, who);
        } else if (action < 62) {
            sim_restart(s, who);
        } else if (action < 67) {
            sim_isolate(s, who, true);
        } else if (action < 72) {
            sim_set_link(s, who, raft_random(&rng, 0, n - 1), false);
        } else if (action < 80) {
            sim_heal(s);
        } else if (action < 85) {
            sim_set_faults(s, raft_random(&rng, 0, 20), raft_random(&rng, 0, 10));
        } else if (action < 88) {
            sim_set_faults(s, 0, 0);
        } else if (action < 91) {
            sim_snapshot(s, who, raft_random(&rng, 0, 5));
        } else if (action < 96 && (membership || raft_random(&rng, 0, 3) == 0)) {
            change_membership(s, &rng, n, who);
        } else {
            /* quiet period */
        }
    }

    /* Faults stop: every server up, network healed. The cluster must converge. */
    sim_set_faults(s, 0, 0);
    sim_heal(s);
    for (unsigned i = 0; i < n; i++) {
        sim_restart(s, i);
    }
    bool ok = !sim_failed(s);
    int leader = ok ? sim_run_until_leader(s, 20000) : -1;
    if (ok && leader < 0) {
        fprintf(stderr, "seed %u: no leader after the faults stopped\n", seed);
        sim_dump(s);
        ok = false;
    }
    if (ok) {
        /* A new entry proves the leader can commit; every server must then apply it. An entry
         * submitted just before a leader loses its post may be lost (it was never committed):
         * then submit again through the next leader, until the deadline. The budget is generous:
         * with one entry in flight per follower, reordering and slow disks, a follower that fell
         * far behind catches up one round trip and one write per entry. */
        raft_time deadline = sim_now(s) + 120000;
        raft_index target = 0;
        while (!sim_failed(s) && sim_now(s) < deadline) {
            leader = sim_run_until_leader(s, 20000);
            if (leader < 0) {
                break;
            }
            raft_term term = raft_current_term(sim_raft(s, (unsigned)leader));
            if (sim_submit(s, (unsigned)leader, 1) != 0) {
                continue;
            }
            target = raft_last_index(sim_raft(s, (unsigned)leader));
            if (sim_run_until_applied(s, target, 30000)) {
                break;
            }
            if (sim_leader(s) == leader && raft_current_term(sim_raft(s, (unsigned)leader)) == term) {
                target = 0; /* same leader, still not applied: a real liveness failure */
                break;
            }
            target = 0;
        }
        if (target == 0) {
            fprintf(stderr, "seed %u: cluster did not converge after the faults stopped\n", seed);
            sim_dump(s);
            ok = false;
        }
    }
    ok = ok && !sim_failed(s);
    struct sim_stats st;
    sim_stats(s, &st);
    totals->runs++;
    totals->committed += sim_max_commit(s);
    totals->steps += st.steps;
    totals->crashes += st.crashes;
    totals->elections += st.elections_won;
    totals->snapshots += st.snapshots_taken;
    totals->installs += st.snapshots_installed;
    totals->dropped += st.messages_dropped;
    sim_destroy(s);
    return ok;
}

static void random_clusters_stay_safe_and_converge(void **state)
{
    (void)state;
    struct run_totals totals = {0};
    unsigned only = env_unsigned("RAFT_SEED", 0);
    unsigned seeds = env_unsigned("RAFT_SEEDS", getenv("RAFT_TEST_QUICK") ? 40 : 1000);
    unsigned first = only ? only : 1, last = only ? only : seeds;
    unsigned failures = 0;
    for (unsigned seed = first; seed <= last; seed++) {
        if (!run_seed(seed, &totals)) {
            fprintf(stderr, "FAILED seed %u (replay: RAFT_SEED=%u)\n", seed, seed);
            failures++;
            if (failures >= 5) {
                break;
            }
        }
    }
    printf("randomized: %u runs, %llu entries committed, %llu steps, %llu elections, "
           "%llu crashes, %llu snapshots taken, %llu installed, %llu messages dropped\n",
           totals.runs, totals.committed, totals.steps, totals.elections, totals.crashes,
           totals.snapshots, totals.installs, totals.dropped);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_clusters_stay_safe_and_converge),
    };
    return cmocka_run_group_tests_name("random_cluster", tests, NULL, NULL);
}
