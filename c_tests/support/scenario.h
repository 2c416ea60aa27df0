/* Small helpers shared by the scenario tests on top of the simulator. */

#ifndef SCENARIO_H
#define SCENARIO_H

#include <string.h>

#include "sim.h"

static inline struct sim *scenario_cluster(unsigned n, unsigned voters, unsigned seed)
{
    struct sim_options o;
    sim_options_default(&o, n, seed);
    o.n_voters = voters;
    return sim_create(&o);
}

static inline raft_index scenario_last(struct sim *s, unsigned i)
{
    return raft_last_index(sim_raft(s, i));
}

/* Lets a majority notice a lost leader (an election timeout at most), then waits for one and
 * for the barrier it appends to be applied everywhere: until then it accepts no configuration
 * change. Returns the leader, or -1. */
static inline int scenario_elect(struct sim *s)
{
    int leader = sim_run_until_leader(s, 10000);
    if (leader < 0 || !sim_run_until_applied(s, scenario_last(s, (unsigned)leader), 10000)) {
        return -1;
    }
    return sim_leader(s);
}

/* Submits n commands through the leader and waits until every follower applied them. */
static inline bool scenario_commit(struct sim *s, unsigned leader, unsigned n)
{
    if (sim_submit(s, leader, n) != 0) {
        return false;
    }
    return sim_run_until_applied(s, scenario_last(s, leader), 10000);
}

static inline int scenario_step(struct sim *s, unsigned i, int type, raft_id server_id)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (enum raft_event_type)type;
    if (type == RAFT_CATCH_UP) {
        ev.catch_up.server_id = server_id;
    } else {
        ev.transfer.server_id = server_id;
    }
    return sim_step_event(s, i, &ev);
}

/* Runs until the change submitted last is committed everywhere it should be. */
static inline bool scenario_change(struct sim *s, unsigned leader, unsigned target, int role)
{
    if (sim_change(s, leader, target, role) != 0) {
        return false;
    }
    return sim_run_until_applied(s, scenario_last(s, leader), 10000);
}

#endif
