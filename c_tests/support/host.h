/* What every single-instance C test does as a host: free what an update hands over, and take
 * a snapshot of what an observer can see of an instance (to prove that a refused call changed
 * nothing). Header-only, for the tests that drive one instance by hand. */

#ifndef TEST_HOST_H
#define TEST_HOST_H

#include <string.h>

#include "raft.h"

/* Frees what a successful step handed to the host: the new entries' batches (each once) and
 * their array, a received snapshot's configuration and data. Clears the flags. */
static inline void host_release_update(struct raft_update *u)
{
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        void *last = NULL;
        for (unsigned k = 0; k < u->entries.n; k++) {
            if (u->entries.batch[k].batch != last) {
                last = u->entries.batch[k].batch;
                raft_free(last);
            }
        }
        raft_free(u->entries.batch);
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        raft_configuration_close(&u->snapshot.metadata.configuration);
        raft_free(u->snapshot.chunk.base);
    }
    u->flags = 0;
}

/* What an observer can see of an instance through the accessors. */
struct host_observed {
    raft_term term;
    raft_id vote;
    raft_index commit, last;
    raft_time timeout;
    enum raft_state state;
    raft_id leader;
    int role;
};

static inline struct host_observed host_observe(struct raft *r)
{
    struct host_observed o;
    memset(&o, 0, sizeof o);
    o.term = raft_current_term(r);
    o.vote = raft_voted_for(r);
    o.commit = raft_commit_index(r);
    o.last = raft_last_index(r);
    o.timeout = raft_timeout(r);
    o.state = raft_state(r);
    raft_leader(r, &o.leader, NULL);
    o.role = raft_role(r);
    return o;
}

#endif
