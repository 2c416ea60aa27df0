/* What every single-instance C test does as a host: encode a bootstrap configuration and
 * build the RAFT_START event that loads it, free what an update hands over, and take a
 * snapshot of what an observer can see of an instance (to prove that a refused call changed
 * nothing). Header-only, for the cmocka tests that drive one instance by hand. */

#ifndef TEST_HOST_H
#define TEST_HOST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

/* Servers 1..voters as voters at addresses "s1", "s2", ..., plus server `standby` as a
 * stand-by when non-zero, encoded into a raft-heap buffer the caller frees. */
static inline struct raft_buffer host_configuration(unsigned voters, raft_id standby)
{
    struct raft_configuration c;
    struct raft_buffer buf;
    char address[24];
    raft_configuration_init(&c);
    for (unsigned i = 1; i <= voters; i++) {
        snprintf(address, sizeof address, "s%u", i);
        assert_int_equal(raft_configuration_add(&c, i, address, RAFT_VOTER), 0);
    }
    if (standby != 0) {
        snprintf(address, sizeof address, "s%llu", (unsigned long long)standby);
        assert_int_equal(raft_configuration_add(&c, standby, address, RAFT_STANDBY), 0);
    }
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    raft_configuration_close(&c);
    return buf;
}

/* A RAFT_START event loading term 1 and one configuration entry (`conf`) at index 1; `entry`
 * must outlive the event. */
static inline void host_bootstrap_start(struct raft_event *ev, struct raft_entry *entry,
                                        struct raft_buffer conf)
{
    *entry = (struct raft_entry){1, RAFT_CHANGE, conf, conf.base};
    memset(ev, 0, sizeof *ev);
    ev->type = RAFT_START;
    ev->start.term = 1;
    ev->start.start_index = 1;
    ev->start.entries = entry;
    ev->start.n_entries = 1;
}

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
