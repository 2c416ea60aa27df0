/* Protocol safety and values at the limits through raft_step (issue 11, items 4-8). `make`
 * links these tests against the debug library, whose integer arithmetic is checked: an
 * overflow panics, and a panic shows as RAFT_SHUTDOWN with "internal error" in raft_errmsg. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"
#include "support/host.h"

#define NOW 1000
#define LIMIT ((uint64_t)INT64_MAX) /* the highest term and index the header allows */

static const uint64_t values[] = {0, 1, LIMIT - 1, LIMIT, LIMIT + 1, UINT64_MAX - 1, UINT64_MAX};
#define N_VALUES (sizeof values / sizeof values[0])

struct node {
    struct raft r;
    struct raft_update u;
    raft_time now;
};

static void release_update(struct node *n)
{
    host_release_update(&n->u);
}

static int step_at(struct node *n, raft_time time, struct raft_event *ev)
{
    ev->time = time;
    int rv = raft_step(&n->r, ev, &n->u);
    if (rv == 0) {
        n->now = time;
        release_update(n);
    }
    return rv;
}

static void decode(struct raft_buffer buf, struct raft_configuration *c)
{
    assert_int_equal(raft_configuration_decode(&buf, c), 0);
}

static struct node *init(raft_id id)
{
    struct node *n = calloc(1, sizeof *n);
    char address[16];
    snprintf(address, sizeof address, "s%u", (unsigned)id);
    assert_int_equal(raft_init(&n->r, NULL, NULL, id, address), 0);
    n->r.tracer = NULL;
    raft_seed(&n->r, (unsigned)id);
    return n;
}

/* Server `id` started at NOW from a bootstrap log of `voters` voters. */
static struct node *started(raft_id id, unsigned voters)
{
    struct node *n = init(id);
    struct raft_buffer conf = host_configuration(voters, 0);
    struct raft_entry entry;
    struct raft_event ev;
    host_bootstrap_start(&ev, &entry, conf);
    assert_int_equal(step_at(n, NOW, &ev), 0);
    raft_free(conf.base);
    return n;
}

static void stop(struct node *n)
{
    raft_close(&n->r, NULL);
    free(n);
}

static struct raft_message message(raft_id from, int type)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = (enum raft_message_type)type;
    m.server_id = from;
    m.server_address = from == 1 ? "s1" : from == 2 ? "s2" : "s3";
    return m;
}

/* Steps the receipt of `m`; on failure the payloads stay the host's, and are freed here. */
static int receive_at(struct node *n, raft_time time, struct raft_message *m)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = m;
    int rv = step_at(n, time, &ev);
    if (rv != 0) {
        if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
            raft_free(m->append_entries.entries[0].batch);
        }
        if (m->type == RAFT_INSTALL_SNAPSHOT) {
            raft_free(m->install_snapshot.data.base);
        }
    }
    return rv;
}

/* Server 1 of three, elected leader of term 2 with server 2's vote. */
static struct node *leader_of_three(void)
{
    struct node *n = started(1, 3);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    assert_int_equal(step_at(n, raft_timeout(&n->r), &ev), 0);
    struct raft_message vote = message(2, RAFT_REQUEST_VOTE_RESULT);
    vote.request_vote_result.version = 2;
    vote.request_vote_result.term = raft_current_term(&n->r);
    vote.request_vote_result.vote_granted = true;
    assert_int_equal(receive_at(n, n->now, &vote), 0);
    assert_int_equal(raft_state(&n->r), RAFT_LEADER);
    return n;
}

/* --- Item 4: leadership only in a term of one's own --------------------------------------- */

/* Raft §5.2: server 1, the only voter of its persisted configuration, restarts in term 2 (which
 * another server may have led with its vote). It leads at once, in term 3, persisted first,
 * with a barrier of term 3 for the entry of term 2 it cannot commit by counting. */
static void sole_voter_restarts_as_leader_of_a_new_term(void **state)
{
    (void)state;
    struct node *n = init(1);
    struct raft_buffer conf = host_configuration(1, 2);
    static char payload[8];
    struct raft_entry log[2] = {{1, RAFT_CHANGE, conf, conf.base},
                                {2, RAFT_COMMAND, {payload, 8}, payload}};
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 2;
    ev.start.voted_for = 2;
    ev.start.start_index = 1;
    ev.start.entries = log;
    ev.start.n_entries = 2;
    ev.time = NOW;
    assert_int_equal(raft_step(&n->r, &ev, &n->u), 0);
    assert_int_equal(raft_state(&n->r), RAFT_LEADER);
    assert_true(raft_current_term(&n->r) == 3);
    assert_true(raft_voted_for(&n->r) == 1);
    unsigned persist = RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR | RAFT_UPDATE_ENTRIES;
    assert_int_equal(n->u.flags & persist, persist);
    assert_true(n->u.entries.index == 3);
    assert_int_equal(n->u.entries.n, 1);
    assert_int_equal(n->u.entries.batch[0].type, RAFT_BARRIER);
    assert_true(n->u.entries.batch[0].term == 3);
    release_update(n);
    raft_free(conf.base);
    stop(n);
}

/* A follower left as the only voter stands on its timer: a new term and a barrier. */
static void follower_left_as_sole_voter_stands_on_its_timer(void **state)
{
    (void)state;
    struct node *n = started(1, 2);
    struct raft_buffer conf = host_configuration(1, 2);
    struct raft_entry entry = {2, RAFT_CHANGE, conf, conf.base};
    struct raft_message ae = message(2, RAFT_APPEND_ENTRIES);
    ae.append_entries.term = 2;
    ae.append_entries.prev_log_index = 1;
    ae.append_entries.prev_log_term = 1;
    ae.append_entries.leader_commit = 1;
    ae.append_entries.entries = &entry;
    ae.append_entries.n_entries = 1;
    assert_int_equal(receive_at(n, NOW + 1, &ae), 0);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = 2;
    assert_int_equal(step_at(n, NOW + 1, &ev), 0);

    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = raft_timeout(&n->r);
    int rv = raft_step(&n->r, &ev, &n->u);
    if (rv != 0) {
        fail_msg("timeout of a sole voter: %d (%s)", rv, raft_errmsg(&n->r));
    }
    assert_int_equal(raft_state(&n->r), RAFT_LEADER);
    assert_true(raft_current_term(&n->r) == 3);
    assert_true(n->u.flags & RAFT_UPDATE_ENTRIES);
    assert_int_equal(n->u.entries.batch[0].type, RAFT_BARRIER);
    release_update(n);
    stop(n);
}

/* --- Item 5: no InstallSnapshot without a snapshot ---------------------------------------- */

static void rejection_beyond_the_last_index_sends_no_snapshot(void **state)
{
    (void)state;
    struct node *n = leader_of_three();
    raft_index last = raft_last_index(&n->r);
    struct raft_message result = message(2, RAFT_APPEND_ENTRIES_RESULT);
    result.append_entries_result.version = 2;
    result.append_entries_result.term = raft_current_term(&n->r);
    result.append_entries_result.last_log_index = last; /* pipeline mode from here */
    assert_int_equal(receive_at(n, n->now, &result), 0);
    result.append_entries_result.rejected = last + 100;
    result.append_entries_result.last_log_index = last + 99;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &result;
    ev.time = n->now;
    assert_int_equal(raft_step(&n->r, &ev, &n->u), 0);
    for (unsigned k = 0; k < n->u.messages.n; k++) {
        assert_int_not_equal(n->u.messages.batch[k].type, RAFT_INSTALL_SNAPSHOT);
    }
    release_update(n);
    stop(n);
}

/* --- Item 6: an anchor inside the snapshot is term-checked -------------------------------- */

/* Server 2 of three, restarted from a snapshot at index 10 of term 5. */
static struct node *follower_with_snapshot(void)
{
    struct node *n = init(2);
    struct raft_snapshot_metadata metadata;
    memset(&metadata, 0, sizeof metadata);
    struct raft_buffer conf = host_configuration(3, 0);
    decode(conf, &metadata.configuration);
    metadata.index = 10;
    metadata.term = 5;
    metadata.configuration_index = 1;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 5;
    ev.start.metadata = &metadata;
    ev.start.start_index = 11;
    assert_int_equal(step_at(n, NOW, &ev), 0);
    raft_configuration_close(&metadata.configuration);
    raft_free(conf.base);
    return n;
}

static void entries_below_the_snapshot_term_are_refused(void **state)
{
    (void)state;
    struct node *n = follower_with_snapshot();
    enum { N = 9 }; /* indexes 4..12, all of term 2, across the snapshot at 10 of term 5 */
    char *batch = raft_malloc(8 * N);
    struct raft_entry entries[N];
    for (int k = 0; k < N; k++) {
        entries[k] = (struct raft_entry){2, RAFT_COMMAND, {batch + 8 * k, 8}, batch};
    }
    struct raft_message ae = message(1, RAFT_APPEND_ENTRIES);
    ae.append_entries.term = 5;
    ae.append_entries.prev_log_index = 3;
    ae.append_entries.prev_log_term = 2;
    ae.append_entries.entries = entries;
    ae.append_entries.n_entries = N;
    assert_int_equal(receive_at(n, NOW + 1, &ae), RAFT_SHUTDOWN);
    assert_non_null(strstr(raft_errmsg(&n->r), "conflicts with a committed entry"));
    assert_true(raft_last_index(&n->r) == 10);
    stop(n);
}

/* --- Item 8: smaller contract gaps -------------------------------------------------------- */

static void no_timeout_is_due_before_start(void **state)
{
    (void)state;
    struct node *n = init(1);
    assert_true(raft_timeout(&n->r) == 0);
    raft_set_election_timeout(&n->r, 300);
    assert_true(raft_timeout(&n->r) == 0);
    stop(n);
}

/* RAFT_START refuses a snapshot whose configuration index is 0, so RAFT_SNAPSHOT does too. */
static void snapshot_with_configuration_index_zero_is_refused(void **state)
{
    (void)state;
    struct node *n = started(1, 1);
    struct raft_buffer conf = host_configuration(1, 0);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    decode(conf, &ev.snapshot.metadata.configuration);
    ev.snapshot.metadata.index = 1;
    ev.snapshot.metadata.term = 1;
    ev.snapshot.metadata.configuration_index = 0;
    assert_int_equal(step_at(n, NOW, &ev), RAFT_INVALID);
    assert_true(strlen(raft_errmsg(&n->r)) > 0);
    /* Nothing was taken: the same snapshot with a valid configuration index goes through
     * (a second snapshot at the same index would be refused). */
    ev.snapshot.metadata.configuration_index = 1;
    assert_int_equal(step_at(n, NOW, &ev), 0);
    assert_int_equal(step_at(n, NOW, &ev), RAFT_INVALID);
    raft_configuration_close(&ev.snapshot.metadata.configuration);
    raft_free(conf.base);
    stop(n);
}

static void message_from_the_receiver_itself_is_malformed(void **state)
{
    (void)state;
    struct node *n = started(1, 3);
    struct raft_message rv = message(1, RAFT_REQUEST_VOTE);
    rv.request_vote.version = 2;
    rv.request_vote.term = 5;
    rv.request_vote.candidate_id = 1;
    rv.request_vote.last_log_index = 1;
    rv.request_vote.last_log_term = 1;
    assert_int_equal(receive_at(n, NOW, &rv), RAFT_MALFORMED);
    assert_true(raft_current_term(&n->r) == 1);
    assert_true(raft_voted_for(&n->r) == 0);
    stop(n);
}

/* --- Item 7: values at the limits through every event kind -------------------------------- */

/* `rv` must be a known answer: success, or a refusal that says why; RAFT_SHUTDOWN only for a
 * message contradicting a committed entry, never a panic ("internal error"). A value beyond
 * the limits must get `refusal`. After a success the server keeps working up to the end of
 * time: a timeout at 2^64 - 1 succeeds and the next deadline does not wrap into the past. */
static void expect_known(struct node *n, int rv, bool beyond, int refusal, const char *what)
{
    const char *msg = raft_errmsg(&n->r);
    if (rv != 0 && (strlen(msg) == 0 || strstr(msg, "internal error") != NULL)) {
        fail_msg("%s: %d (%s)", what, rv, msg);
    }
    if (rv == RAFT_SHUTDOWN && strstr(msg, "conflicts with") == NULL) {
        fail_msg("%s: shut down (%s)", what, msg);
    }
    if (beyond && rv != refusal) {
        fail_msg("%s: %d instead of %d (%s)", what, rv, refusal, msg);
    }
    if (rv != 0) {
        return;
    }
    if (raft_current_term(&n->r) > LIMIT || raft_last_index(&n->r) > LIMIT) {
        fail_msg("%s: term or index beyond the limit", what);
    }
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    rv = step_at(n, UINT64_MAX, &ev);
    if (rv != 0 || raft_timeout(&n->r) != UINT64_MAX) {
        fail_msg("%s, then timeout at 2^64-1: %d (%s), next at %llu", what, rv,
                 raft_errmsg(&n->r), (unsigned long long)raft_timeout(&n->r));
    }
}

enum field { TERM, INDEX_A, TERM_B, INDEX_B, N_FIELDS };

/* A message of `type` from server 3 with one of its term or index fields set to `v`; returns
 * false when the type has no such field. */
static bool message_with(int type, enum field f, uint64_t v, struct raft_message *m,
                         struct raft_buffer conf)
{
    *m = message(3, type);
    uint64_t x[N_FIELDS] = {3, 3, 2, 3};
    x[f] = v;
    switch (type) {
        case RAFT_REQUEST_VOTE:
            m->request_vote = (struct raft_request_vote){2, x[TERM], 3, x[INDEX_A], x[TERM_B],
                                                         true, false};
            return f != INDEX_B;
        case RAFT_REQUEST_VOTE_RESULT:
            m->request_vote_result = (struct raft_request_vote_result){2, x[TERM], true, false,
                                                                       1, 9};
            return f == TERM;
        case RAFT_APPEND_ENTRIES:
            m->append_entries.term = x[TERM];
            m->append_entries.prev_log_index = x[INDEX_A];
            m->append_entries.prev_log_term = x[TERM_B];
            m->append_entries.leader_commit = x[INDEX_B];
            return true;
        case RAFT_APPEND_ENTRIES_RESULT:
            m->append_entries_result.version = 2;
            m->append_entries_result.term = f == TERM ? v : 2;
            m->append_entries_result.rejected = f == INDEX_A ? v : 0;
            m->append_entries_result.last_log_index = f == INDEX_B ? v : 1;
            return f != TERM_B;
        case RAFT_INSTALL_SNAPSHOT:
            m->install_snapshot.term = x[TERM];
            m->install_snapshot.last_index = f == INDEX_A ? v : 5;
            m->install_snapshot.last_term = x[TERM_B];
            m->install_snapshot.conf_index = f == INDEX_B ? v : 1;
            decode(conf, &m->install_snapshot.conf);
            m->install_snapshot.data.base = raft_malloc(8);
            m->install_snapshot.data.len = 8;
            return true;
        case RAFT_TIMEOUT_NOW:
            m->timeout_now = (struct raft_timeout_now){2, x[TERM], x[INDEX_A], x[TERM_B]};
            return f != INDEX_B;
    }
    return false;
}

static void received_values_at_the_limits(void **state)
{
    (void)state;
    static const int types[] = {RAFT_REQUEST_VOTE, RAFT_REQUEST_VOTE_RESULT,
                                RAFT_APPEND_ENTRIES, RAFT_APPEND_ENTRIES_RESULT,
                                RAFT_INSTALL_SNAPSHOT, RAFT_TIMEOUT_NOW};
    struct raft_buffer conf = host_configuration(3, 0);
    char what[128];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int f = 0; f < N_FIELDS; f++) {
            for (size_t k = 0; k < N_VALUES; k++) {
                for (int receiver = 0; receiver < 2; receiver++) {
                    struct raft_message m;
                    if (!message_with(types[t], (enum field)f, values[k], &m, conf)) {
                        continue;
                    }
                    struct node *n = receiver == 0 ? started(2, 3) : leader_of_three();
                    snprintf(what, sizeof what, "message %d field %d = %llu to %s", types[t], f,
                             (unsigned long long)values[k], receiver == 0 ? "follower" : "leader");
                    int rv = receive_at(n, n->now + 1, &m);
                    if (m.type == RAFT_INSTALL_SNAPSHOT) {
                        raft_configuration_close(&m.install_snapshot.conf);
                    }
                    expect_known(n, rv, values[k] > LIMIT, RAFT_MALFORMED, what);
                    stop(n);
                }
            }
        }
    }
    raft_free(conf.base);
}

/* An AppendEntries whose entries would pass the last index is malformed. */
static void received_entries_past_the_last_index_are_malformed(void **state)
{
    (void)state;
    const struct {
        raft_index prev;
        unsigned n;
        bool fits;
    } cases[] = {{LIMIT - 2, 2, true}, {LIMIT - 2, 3, false}, {LIMIT, 1, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct node *n = started(2, 3);
        char *batch = raft_malloc(8 * cases[c].n);
        struct raft_entry entries[3];
        for (unsigned k = 0; k < cases[c].n; k++) {
            entries[k] = (struct raft_entry){3, RAFT_COMMAND, {batch + 8 * k, 8}, batch};
        }
        struct raft_message ae = message(1, RAFT_APPEND_ENTRIES);
        ae.append_entries.term = 3;
        ae.append_entries.prev_log_index = cases[c].prev;
        ae.append_entries.prev_log_term = 2;
        ae.append_entries.entries = entries;
        ae.append_entries.n_entries = cases[c].n;
        int rv = receive_at(n, NOW + 1, &ae);
        expect_known(n, rv, !cases[c].fits, RAFT_MALFORMED, "entries near the last index");
        if (cases[c].fits) {
            assert_int_equal(rv, 0); /* a mismatch, answered */
        }
        stop(n);
    }
}

static void start_values_at_the_limits(void **state)
{
    (void)state;
    char what[128];
    for (unsigned voters = 1; voters <= 3; voters += 2) {
        struct raft_buffer conf = host_configuration(voters, 0);
        for (size_t k = 0; k < N_VALUES; k++) {
            uint64_t v = values[k];
            for (int f = 0; f < 6; f++) {
                struct node *n = init(1);
                struct raft_entry log[2] = {{1, RAFT_CHANGE, conf, conf.base},
                                            {1, RAFT_BARRIER, conf, conf.base}};
                struct raft_snapshot_metadata metadata;
                memset(&metadata, 0, sizeof metadata);
                decode(conf, &metadata.configuration);
                metadata.index = 5;
                metadata.term = 2;
                metadata.configuration_index = 1;
                struct raft_event ev;
                memset(&ev, 0, sizeof ev);
                ev.type = RAFT_START;
                ev.start.term = 3;
                ev.start.start_index = 1;
                ev.start.entries = log;
                ev.start.n_entries = 1;
                bool beyond = v > LIMIT;
                switch (f) {
                    case 0: ev.start.term = v; break;
                    case 1: ev.start.voted_for = v; beyond = false; break;
                    case 2: ev.start.start_index = v; break;
                    case 3: /* a snapshot at v, one entry of term 3 after it */
                        ev.start.metadata = &metadata;
                        metadata.index = v;
                        ev.start.start_index = v + 1;
                        log[0] = (struct raft_entry){3, RAFT_BARRIER, conf, conf.base};
                        beyond = v >= LIMIT;
                        break;
                    case 4: ev.start.metadata = &metadata; metadata.term = v; ev.start.term = v;
                            ev.start.n_entries = 0; ev.start.start_index = 6; break;
                    case 5: ev.start.metadata = &metadata; metadata.configuration_index = v;
                            ev.start.n_entries = 0; ev.start.start_index = 6;
                            beyond = beyond || v > 5; break;
                }
                snprintf(what, sizeof what, "start field %d = %llu, %u voters", f,
                         (unsigned long long)v, voters);
                int rv = step_at(n, v > NOW ? v : NOW, &ev);
                expect_known(n, rv, beyond, RAFT_INVALID, what);
                raft_configuration_close(&metadata.configuration);
                stop(n);
            }
        }
        raft_free(conf.base);
    }
}

static void host_event_values_at_the_limits(void **state)
{
    (void)state;
    struct raft_buffer conf = host_configuration(3, 0);
    char what[128];
    for (size_t k = 0; k < N_VALUES; k++) {
        uint64_t v = values[k];
        for (int kind = 0; kind < 10; kind++) {
            for (int who = 0; who < 2; who++) {
                struct node *n = who == 0 ? started(2, 3) : leader_of_three();
                struct raft_event ev;
                memset(&ev, 0, sizeof ev);
                struct raft_snapshot_metadata *meta = NULL;
                bool beyond = v > LIMIT;
                raft_time time = n->now;
                switch (kind) {
                    case 0: ev.type = RAFT_PERSISTED_ENTRIES; ev.persisted_entries.index = v; break;
                    case 1: ev.type = RAFT_PERSISTED_SNAPSHOT;
                            meta = &ev.persisted_snapshot.metadata;
                            meta->index = meta->term = meta->configuration_index = v;
                            ev.persisted_snapshot.offset = (size_t)v;
                            ev.persisted_snapshot.last = true; break;
                    case 2: ev.type = RAFT_CONFIGURATION; ev.configuration.index = v;
                            decode(conf, &ev.configuration.conf); beyond = false; break;
                    case 3: case 4: case 5: ev.type = RAFT_SNAPSHOT;
                            meta = &ev.snapshot.metadata;
                            meta->index = kind == 3 ? v : 1;
                            meta->term = kind == 4 ? v : 1;
                            meta->configuration_index = kind == 5 ? v : 1;
                            ev.snapshot.trailing = (unsigned)v; break;
                    case 6: ev.type = RAFT_TIMEOUT; time = v; beyond = false; break;
                    case 7: ev.type = RAFT_CATCH_UP; ev.catch_up.server_id = v; beyond = false; break;
                    case 8: ev.type = RAFT_TRANSFER; ev.transfer.server_id = v; beyond = false; break;
                    case 9: ev.type = RAFT_TIMEOUT; time = v > n->now ? v : n->now; beyond = false;
                            break;
                }
                if (meta != NULL) {
                    decode(conf, &meta->configuration);
                }
                snprintf(what, sizeof what, "event %d (case %d) = %llu on %s", ev.type, kind,
                         (unsigned long long)v, who == 0 ? "follower" : "leader");
                int rv = step_at(n, time, &ev);
                expect_known(n, rv, beyond, RAFT_INVALID, what);
                if (meta != NULL) {
                    raft_configuration_close(&meta->configuration);
                }
                if (ev.type == RAFT_CONFIGURATION) {
                    raft_configuration_close(&ev.configuration.conf);
                }
                stop(n);
            }
        }
    }
    raft_free(conf.base);
}

/* A leader whose log ends one short of the last index takes one more entry, then no more. */
static void submissions_stop_at_the_last_index(void **state)
{
    (void)state;
    struct node *n = init(1);
    struct raft_buffer conf = host_configuration(1, 0);
    struct raft_snapshot_metadata metadata;
    memset(&metadata, 0, sizeof metadata);
    decode(conf, &metadata.configuration);
    /* Two short of the limit: the sole voter's election appends a barrier. */
    metadata.index = LIMIT - 2;
    metadata.term = 1;
    metadata.configuration_index = 1;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 1;
    ev.start.metadata = &metadata;
    ev.start.start_index = LIMIT - 1;
    assert_int_equal(step_at(n, NOW, &ev), 0);
    raft_configuration_close(&metadata.configuration);
    raft_free(conf.base);
    assert_int_equal(raft_state(&n->r), RAFT_LEADER);

    char *batch = raft_malloc(16);
    raft_term term = raft_current_term(&n->r);
    struct raft_entry entries[2] = {{term, RAFT_COMMAND, {batch, 8}, batch},
                                    {term, RAFT_COMMAND, {batch + 8, 8}, batch}};
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = entries;
    ev.submit.n = 2;
    assert_int_equal(step_at(n, NOW, &ev), RAFT_INVALID);
    assert_true(raft_last_index(&n->r) == LIMIT - 1);
    ev.submit.n = 1;
    assert_int_equal(step_at(n, NOW, &ev), 0); /* the batch went back in the update */
    assert_true(raft_last_index(&n->r) == LIMIT);
    batch = raft_malloc(8);
    entries[0] = (struct raft_entry){term, RAFT_COMMAND, {batch, 8}, batch};
    assert_int_equal(step_at(n, NOW, &ev), RAFT_INVALID);
    raft_free(batch);
    expect_known(n, 0, false, 0, "a full log");
    stop(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sole_voter_restarts_as_leader_of_a_new_term),
        cmocka_unit_test(follower_left_as_sole_voter_stands_on_its_timer),
        cmocka_unit_test(rejection_beyond_the_last_index_sends_no_snapshot),
        cmocka_unit_test(entries_below_the_snapshot_term_are_refused),
        cmocka_unit_test(no_timeout_is_due_before_start),
        cmocka_unit_test(snapshot_with_configuration_index_zero_is_refused),
        cmocka_unit_test(message_from_the_receiver_itself_is_malformed),
        cmocka_unit_test(received_values_at_the_limits),
        cmocka_unit_test(received_entries_past_the_last_index_are_malformed),
        cmocka_unit_test(start_values_at_the_limits),
        cmocka_unit_test(host_event_values_at_the_limits),
        cmocka_unit_test(submissions_stop_at_the_last_index),
    };
    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
