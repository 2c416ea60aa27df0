/* Bad input and misuse through raft_step (docs/contract.md#bad-input): every case gets an error code and a
 * message, changes nothing observable, and leaves ownership with the host. Also the defaults
 * (docs/contract.md#defaults) and the fixes of C-Raft quirks that a single instance can show. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"
#include "support/host.h"

#define NOW 1000

struct fixture {
    struct raft r;
    struct raft_update u;
    void *bootstrap;
    size_t bootstrap_len;
};

static void encode_voters(struct fixture *f, unsigned n)
{
    struct raft_buffer buf = host_configuration(n, 0);
    f->bootstrap = buf.base;
    f->bootstrap_len = buf.len;
}

static int step(struct fixture *f, struct raft_event *ev)
{
    if (ev->time == 0) {
        ev->time = NOW;
    }
    return raft_step(&f->r, ev, &f->u);
}

static void release_update(struct fixture *f)
{
    host_release_update(&f->u);
}

/* Server `id` of a bootstrapped cluster of `voters` voters, started and processed. */
static struct fixture *start(unsigned id, unsigned voters, unsigned seed)
{
    struct fixture *f = calloc(1, sizeof *f);
    char address[16];
    snprintf(address, sizeof address, "s%u", id);
    assert_int_equal(raft_init(&f->r, NULL, NULL, id, address), 0);
    f->r.tracer = NULL;
    raft_seed(&f->r, seed);
    encode_voters(f, voters);
    struct raft_entry entry = {1, RAFT_CHANGE, {f->bootstrap, f->bootstrap_len}, f->bootstrap};
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 1;
    ev.start.start_index = 1;
    ev.start.entries = &entry;
    ev.start.n_entries = 1;
    assert_int_equal(step(f, &ev), 0);
    release_update(f);
    return f;
}

static void stop(struct fixture *f)
{
    raft_close(&f->r, NULL);
    free(f->bootstrap);
    free(f);
}

static int fixture_setup(void **state)
{
    *state = start(1, 3, 7);
    return 0;
}

static int fixture_teardown(void **state)
{
    stop(*state);
    return 0;
}

static void assert_unchanged(struct raft *r, const struct host_observed *before)
{
    struct host_observed now = host_observe(r);
    assert_memory_equal(&now, before, sizeof now);
    assert_true(strlen(raft_errmsg(r)) > 0);
}

static struct raft_message message_from(raft_id sender, int type)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = (enum raft_message_type)type;
    m.server_id = sender;
    m.server_address = sender == 2 ? "s2" : "s3";
    return m;
}

/* Receives `m`, expecting `code`; on failure the host still owns the payloads, which this
 * function then frees (sanitizers and valgrind catch a double free or a leak). */
static void receive_expect(struct fixture *f, struct raft_message *m, int code)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = m;
    struct host_observed before = host_observe(&f->r);
    int rv = step(f, &ev);
    assert_int_equal(rv, code);
    if (rv != 0) {
        assert_unchanged(&f->r, &before);
        if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
            for (unsigned k = 0; k < m->append_entries.n_entries; k++) {
                bool seen = false;
                for (unsigned j = 0; j < k; j++) {
                    seen |= m->append_entries.entries[j].batch == m->append_entries.entries[k].batch;
                }
                if (!seen) {
                    raft_free(m->append_entries.entries[k].batch);
                }
            }
        }
        if (m->type == RAFT_INSTALL_SNAPSHOT) {
            raft_free(m->install_snapshot.data.base);
        }
    } else {
        release_update(f);
    }
}

/* --- Item 1: malformed messages ---------------------------------------------------------- */

static void message_with_sender_zero_or_no_address_is_malformed(void **state)
{
    struct fixture *f = *state;
    struct raft_message m = message_from(2, RAFT_REQUEST_VOTE);
    m.request_vote.term = 5;
    m.request_vote.candidate_id = 2;
    m.server_id = 0;
    receive_expect(f, &m, RAFT_MALFORMED);
    m.server_id = 2;
    m.server_address = NULL;
    receive_expect(f, &m, RAFT_MALFORMED);
}

static void unknown_message_type_is_malformed(void **state)
{
    struct fixture *f = *state;
    struct raft_message m = message_from(2, 7);
    receive_expect(f, &m, RAFT_MALFORMED);
    m.type = (enum raft_message_type)0;
    receive_expect(f, &m, RAFT_MALFORMED);
}

static void append_entries_with_inconsistent_anchor_is_malformed(void **state)
{
    struct fixture *f = *state;
    struct raft_message m = message_from(2, RAFT_APPEND_ENTRIES);
    m.append_entries.term = 5; /* higher: must not be adopted on error */
    m.append_entries.prev_log_index = 0;
    m.append_entries.prev_log_term = 3;
    receive_expect(f, &m, RAFT_MALFORMED);
    m.append_entries.prev_log_index = 1;
    m.append_entries.prev_log_term = 0;
    receive_expect(f, &m, RAFT_MALFORMED);
}

static void bad_received_entries_are_malformed(void **state)
{
    struct fixture *f = *state;
    struct raft_entry entries[2];
    struct raft_message m = message_from(2, RAFT_APPEND_ENTRIES);
    m.append_entries.term = 5;
    m.append_entries.prev_log_index = 1;
    m.append_entries.prev_log_term = 1;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = 2;

    /* Term 0. */
    void *batch = raft_malloc(16);
    entries[0] = (struct raft_entry){5, RAFT_COMMAND, {batch, 8}, batch};
    entries[1] = (struct raft_entry){0, RAFT_COMMAND, {(char *)batch + 8, 8}, batch};
    receive_expect(f, &m, RAFT_MALFORMED);
    /* Decreasing terms. */
    batch = raft_malloc(16);
    entries[0] = (struct raft_entry){5, RAFT_COMMAND, {batch, 8}, batch};
    entries[1] = (struct raft_entry){4, RAFT_COMMAND, {(char *)batch + 8, 8}, batch};
    receive_expect(f, &m, RAFT_MALFORMED);
    /* Unknown entry type. */
    batch = raft_malloc(16);
    entries[0] = (struct raft_entry){5, RAFT_COMMAND, {batch, 8}, batch};
    entries[1] = (struct raft_entry){5, (enum raft_entry_type)9, {(char *)batch + 8, 8}, batch};
    receive_expect(f, &m, RAFT_MALFORMED);
    /* Two batches. */
    void *other = raft_malloc(8);
    batch = raft_malloc(8);
    entries[0] = (struct raft_entry){5, RAFT_COMMAND, {batch, 8}, batch};
    entries[1] = (struct raft_entry){5, RAFT_COMMAND, {other, 8}, other};
    receive_expect(f, &m, RAFT_MALFORMED);
    /* NULL batch. */
    static char payload[8];
    entries[0] = (struct raft_entry){5, RAFT_COMMAND, {payload, 8}, NULL};
    m.append_entries.n_entries = 1;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &m;
    assert_int_equal(step(f, &ev), RAFT_MALFORMED);
    /* Undecodable configuration entry. */
    batch = raft_malloc(8);
    memset(batch, 0xEE, 8);
    entries[0] = (struct raft_entry){5, RAFT_CHANGE, {batch, 8}, batch};
    receive_expect(f, &m, RAFT_MALFORMED);
}

static void install_snapshot_without_position_is_malformed(void **state)
{
    struct fixture *f = *state;
    struct raft_message m = message_from(2, RAFT_INSTALL_SNAPSHOT);
    m.install_snapshot.term = 5;
    m.install_snapshot.last_index = 0;
    m.install_snapshot.last_term = 1;
    m.install_snapshot.data.base = raft_malloc(16);
    m.install_snapshot.data.len = 16;
    receive_expect(f, &m, RAFT_MALFORMED);
    m.install_snapshot.last_index = 10;
    m.install_snapshot.last_term = 0;
    m.install_snapshot.data.base = raft_malloc(16);
    receive_expect(f, &m, RAFT_MALFORMED);
}

static void append_entries_of_the_leaders_own_term_is_malformed(void **state)
{
    (void)state;
    struct fixture *f = start(1, 1, 3); /* a single voter leads at once */
    assert_int_equal(raft_state(&f->r), RAFT_LEADER);
    struct raft_message m = message_from(2, RAFT_APPEND_ENTRIES);
    m.append_entries.term = raft_current_term(&f->r);
    m.append_entries.prev_log_index = 1;
    m.append_entries.prev_log_term = 1;
    receive_expect(f, &m, RAFT_MALFORMED);
    stop(f);
}

/* --- Item 2: out-of-order events --------------------------------------------------------- */

static void start_twice_is_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
}

static void inconsistent_start_state_is_refused(void **state)
{
    (void)state;
    struct raft r;
    struct raft_update u;
    struct raft_event ev;
    static char payload[8];
    struct raft_entry command = {1, RAFT_COMMAND, {payload, 8}, payload};
    struct {
        raft_term term;
        raft_id vote;
        raft_index start_index;
        struct raft_entry *entries;
        unsigned n;
    } cases[] = {
        {0, 2, 1, NULL, 0},        /* a vote without a term */
        {0, 0, 1, &command, 1},    /* entries without a term */
        {1, 0, 1, &command, 1},    /* the first entry is not a configuration */
        {1, 0, 0, NULL, 0},        /* start index 0 */
        {1, 0, 5, NULL, 0},        /* start index beyond the (absent) snapshot */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_int_equal(raft_init(&r, NULL, NULL, 1, "s1"), 0);
        raft_seed(&r, 1);
        memset(&ev, 0, sizeof ev);
        ev.time = NOW;
        ev.type = RAFT_START;
        ev.start.term = cases[k].term;
        ev.start.voted_for = cases[k].vote;
        ev.start.start_index = cases[k].start_index;
        ev.start.entries = cases[k].entries;
        ev.start.n_entries = cases[k].n;
        assert_int_equal(raft_step(&r, &ev, &u), RAFT_INVALID);
        assert_true(strlen(raft_errmsg(&r)) > 0);
        assert_true(raft_current_term(&r) == 0);
        raft_close(&r, NULL);
    }
}

static void persisted_entries_beyond_the_log_is_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = 50;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
    ev.persisted_entries.index = 1; /* already durable at start */
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
}

static void persisted_snapshot_without_install_is_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_SNAPSHOT;
    ev.persisted_snapshot.metadata.index = 1;
    ev.persisted_snapshot.metadata.term = 1;
    ev.persisted_snapshot.last = true;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
}

static void snapshot_at_an_index_not_in_the_log_is_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_buffer buf = {f->bootstrap, f->bootstrap_len};
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    assert_int_equal(raft_configuration_decode(&buf, &ev.snapshot.metadata.configuration), 0);
    ev.snapshot.metadata.index = 9;
    ev.snapshot.metadata.term = 1;
    ev.snapshot.metadata.configuration_index = 1;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
    raft_configuration_close(&ev.snapshot.metadata.configuration);
}

static void time_going_backwards_is_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW - 1;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
}

static void catch_up_and_transfer_on_a_follower_are_refused(void **state)
{
    struct fixture *f = *state;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_CATCH_UP;
    ev.catch_up.server_id = 2;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_NOTLEADER);
    assert_unchanged(&f->r, &before);
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TRANSFER;
    ev.transfer.server_id = 2;
    assert_int_equal(step(f, &ev), RAFT_NOTLEADER);
    assert_unchanged(&f->r, &before);
}

/* A tracer that tries to re-enter the library. */
struct reentry {
    struct raft *r;
    int step_rv;
    raft_term term_seen;
    int calls;
};

static void reentrant_emit(struct raft_tracer *t, int type, const void *info)
{
    (void)type;
    (void)info;
    struct reentry *re = t->impl;
    struct raft_event ev;
    struct raft_update u;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW + 100000;
    re->step_rv = raft_step(re->r, &ev, &u);
    re->term_seen = raft_current_term(re->r) + 1;
    raft_close(re->r, NULL); /* ignored while a step runs */
    re->calls++;
}

static void reentrant_step_from_a_tracer_is_refused(void **state)
{
    struct fixture *f = *state;
    struct reentry re = {&f->r, 0, 0, 0};
    struct raft_tracer tracer = {&re, 2, reentrant_emit};
    f->r.tracer = &tracer;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW + 5000; /* the election timer expired: plenty to trace */
    assert_int_equal(step(f, &ev), 0);
    release_update(f);
    f->r.tracer = NULL;
    assert_true(re.calls > 0);
    assert_int_equal(re.step_rv, RAFT_BUSY);
    assert_true(re.term_seen == 1); /* accessors are neutral (0) during the step */
    assert_int_equal(raft_state(&f->r), RAFT_CANDIDATE); /* and the instance survived */
}

/* --- Item 8: submitted entries are checked ------------------------------------------------ */

static void bad_submissions_are_refused(void **state)
{
    (void)state;
    struct fixture *f = start(1, 1, 3);
    raft_term term = raft_current_term(&f->r);
    char *payload = raft_malloc(16);
    struct raft_entry e;
    struct raft_event ev;
    /* The sole voter commits its barrier once it is durable: it may then change the
     * configuration, so that a bad change is refused for its bytes, not for the wait. */
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = raft_last_index(&f->r);
    assert_int_equal(step(f, &ev), 0);
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = &e;
    ev.submit.n = 1;
    struct host_observed before = host_observe(&f->r);

    e = (struct raft_entry){term + 1, RAFT_COMMAND, {payload, 8}, payload};
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
    e = (struct raft_entry){term, (enum raft_entry_type)0, {payload, 8}, payload};
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
    e = (struct raft_entry){term, RAFT_COMMAND, {payload, 8}, NULL};
    assert_int_equal(step(f, &ev), RAFT_INVALID);
    assert_unchanged(&f->r, &before);
    memset(payload, 0xEE, 16);
    e = (struct raft_entry){term, RAFT_CHANGE, {payload, 16}, payload};
    assert_int_equal(step(f, &ev), RAFT_MALFORMED);
    assert_unchanged(&f->r, &before);

    /* A good one, of any length (13 bytes here, as C-Raft's raft_step takes), goes through
     * and comes back to the host. */
    e = (struct raft_entry){term, RAFT_COMMAND, {payload, 13}, payload};
    assert_int_equal(step(f, &ev), 0);
    assert_true(f->u.flags & RAFT_UPDATE_ENTRIES);
    assert_true(f->u.entries.index == before.last + 1);
    assert_ptr_equal(f->u.entries.batch[0].buf.base, payload);
    release_update(f);
    stop(f);
}

static void submission_on_a_follower_is_refused(void **state)
{
    struct fixture *f = *state;
    char *payload = raft_malloc(8);
    struct raft_entry e = {1, RAFT_COMMAND, {payload, 8}, payload};
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = &e;
    ev.submit.n = 1;
    struct host_observed before = host_observe(&f->r);
    assert_int_equal(step(f, &ev), RAFT_NOTLEADER);
    assert_unchanged(&f->r, &before);
    assert_string_equal(raft_errmsg(&f->r), "server is not the leader");
    raft_free(payload);
}

/* --- Items 5, 6, 16, 17 and the defaults -------------------------------------------------- */

static void election_timeout_defaults_to_1000_ms_randomised(void **state)
{
    (void)state;
    /* Start draws the timeout from the seeded generator in [1000, 2000]. */
    unsigned seed = 7;
    unsigned expected = raft_random(&seed, 1000, 2000);
    struct fixture *f = start(1, 3, 7);
    assert_true(raft_timeout(&f->r) == NOW + expected);
    stop(f);
}

static void election_timeout_of_zero_does_not_crash(void **state)
{
    struct fixture *f = *state;
    raft_set_election_timeout(&f->r, 0);
    assert_true(raft_timeout(&f->r) > 0);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW + 10;
    assert_int_equal(step(f, &ev), 0);
    release_update(f);
}

static void emitted_messages_carry_no_uninitialised_pointers(void **state)
{
    (void)state;
    struct fixture *f = start(1, 3, 5);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW + 5000;
    assert_int_equal(step(f, &ev), 0); /* candidate: RequestVote to 2 and 3 */
    release_update(f);
    struct raft_message vote = message_from(2, RAFT_REQUEST_VOTE_RESULT);
    vote.request_vote_result.version = 2;
    vote.request_vote_result.term = raft_current_term(&f->r);
    vote.request_vote_result.vote_granted = true;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.time = NOW + 5001;
    ev.receive.message = &vote;
    assert_int_equal(step(f, &ev), 0);
    assert_int_equal(raft_state(&f->r), RAFT_LEADER);
    assert_true(f->u.flags & RAFT_UPDATE_MESSAGES);
    for (unsigned k = 0; k < f->u.messages.n; k++) {
        struct raft_message *m = &f->u.messages.batch[k];
        assert_int_equal(m->type, RAFT_APPEND_ENTRIES);
        assert_null(m->append_entries.entries);
        assert_non_null(m->server_address);
    }
    release_update(f);
    stop(f);
}

static void follower_commit_index_never_decreases(void **state)
{
    struct fixture *f = *state;
    /* Leader 2 (term 2) sends entries 2..4 and commits them. */
    char *batch = raft_malloc(24);
    struct raft_entry entries[3];
    for (int k = 0; k < 3; k++) {
        entries[k] = (struct raft_entry){2, RAFT_COMMAND, {batch + 8 * k, 8}, batch};
    }
    struct raft_message m = message_from(2, RAFT_APPEND_ENTRIES);
    m.append_entries.term = 2;
    m.append_entries.prev_log_index = 1;
    m.append_entries.prev_log_term = 1;
    m.append_entries.leader_commit = 4;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = 3;
    receive_expect(f, &m, 0);
    assert_true(raft_commit_index(&f->r) == 4);
    /* A heartbeat anchored at 2 with leader_commit 6 must not lower it to 2 (C-Raft does). */
    struct raft_message hb = message_from(2, RAFT_APPEND_ENTRIES);
    hb.append_entries.term = 2;
    hb.append_entries.prev_log_index = 2;
    hb.append_entries.prev_log_term = 2;
    hb.append_entries.leader_commit = 6;
    receive_expect(f, &hb, 0);
    assert_true(raft_commit_index(&f->r) >= 4);
}

static void received_messages_are_not_written(void **state)
{
    (void)state;
    struct fixture *f = start(1, 1, 3);
    /* Add nothing; just feed a result with an inconsistent hint to a leader. */
    struct raft_message m = message_from(2, RAFT_APPEND_ENTRIES_RESULT);
    m.append_entries_result.version = 2;
    m.append_entries_result.term = raft_current_term(&f->r);
    m.append_entries_result.rejected = 3;
    m.append_entries_result.last_log_index = 7; /* not below rejected */
    struct raft_message copy = m;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.time = NOW;
    ev.receive.message = &m;
    struct raft_event ev_copy = ev;
    int rv = step(f, &ev);
    assert_true(rv == 0 || rv == RAFT_MALFORMED);
    if (rv == 0) {
        release_update(f);
    }
    assert_memory_equal(&m, &copy, sizeof m);
    assert_memory_equal(&ev, &ev_copy, sizeof ev);
    stop(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(message_with_sender_zero_or_no_address_is_malformed),
        T(unknown_message_type_is_malformed),
        T(append_entries_with_inconsistent_anchor_is_malformed),
        T(bad_received_entries_are_malformed),
        T(install_snapshot_without_position_is_malformed),
        cmocka_unit_test(append_entries_of_the_leaders_own_term_is_malformed),
        T(start_twice_is_refused),
        cmocka_unit_test(inconsistent_start_state_is_refused),
        T(persisted_entries_beyond_the_log_is_refused),
        T(persisted_snapshot_without_install_is_refused),
        T(snapshot_at_an_index_not_in_the_log_is_refused),
        T(time_going_backwards_is_refused),
        T(catch_up_and_transfer_on_a_follower_are_refused),
        T(reentrant_step_from_a_tracer_is_refused),
        cmocka_unit_test(bad_submissions_are_refused),
        T(submission_on_a_follower_is_refused),
        cmocka_unit_test(election_timeout_defaults_to_1000_ms_randomised),
        T(election_timeout_of_zero_does_not_crash),
        cmocka_unit_test(emitted_messages_carry_no_uninitialised_pointers),
        T(follower_commit_index_never_decreases),
        cmocka_unit_test(received_messages_are_not_written),
    };
    return cmocka_run_group_tests_name("input", tests, NULL, NULL);
}
