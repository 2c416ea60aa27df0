/* Source compatibility: code written for C-Raft's raft.h compiles unchanged (and warning-free
 * under -Wall -Wextra -Werror) against ours: anonymous unions, enum and macro names, update
 * flags used in expressions, function signatures taken as pointers. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

/* Every function of the v1 API, taken with C-Raft's exact signature. */
static int (*const p_init)(struct raft *, struct raft_io *, struct raft_fsm *, raft_id,
                           const char *) = raft_init;
static void (*const p_close)(struct raft *, raft_close_cb) = raft_close;
static void (*const p_seed)(struct raft *, unsigned) = raft_seed;
static int (*const p_step)(struct raft *, struct raft_event *, struct raft_update *) = raft_step;
static raft_term (*const p_current_term)(const struct raft *) = raft_current_term;
static raft_id (*const p_voted_for)(const struct raft *) = raft_voted_for;
static raft_index (*const p_commit_index)(const struct raft *) = raft_commit_index;
static raft_time (*const p_timeout)(const struct raft *) = raft_timeout;
static int (*const p_match_index)(const struct raft *, raft_id, raft_index *) = raft_match_index;
static int (*const p_catch_up)(const struct raft *, raft_id, int *) = raft_catch_up;
static raft_id (*const p_transferee)(const struct raft *) = raft_transferee;
static enum raft_state (*const p_state)(struct raft *) = raft_state;
static int (*const p_role)(struct raft *) = raft_role;
static void (*const p_leader)(struct raft *, raft_id *, const char **) = raft_leader;
static raft_index (*const p_last_index)(struct raft *) = raft_last_index;
static const char *(*const p_errmsg)(struct raft *) = raft_errmsg;
static void (*const p_set_et)(struct raft *, unsigned) = raft_set_election_timeout;
static void (*const p_set_ht)(struct raft *, unsigned) = raft_set_heartbeat_timeout;
static void (*const p_set_ist)(struct raft *, unsigned) = raft_set_install_snapshot_timeout;
static void (*const p_set_pv)(struct raft *, bool) = raft_set_pre_vote;
static void (*const p_set_mcr)(struct raft *, unsigned) = raft_set_max_catch_up_rounds;
static void (*const p_set_mcrd)(struct raft *, unsigned) = raft_set_max_catch_up_round_duration;
static void (*const p_set_mie)(struct raft *, unsigned) = raft_set_max_inflight_entries;
static void (*const p_set_ct)(struct raft *, unsigned short) = raft_set_capacity_threshold;
static unsigned (*const p_random)(unsigned *, unsigned, unsigned) = raft_random;
static const char *(*const p_strerror)(int) = raft_strerror;
static const char *(*const p_state_name)(int) = raft_state_name;
static const char *(*const p_role_name)(int) = raft_role_name;
static unsigned long long (*const p_digest)(const char *, unsigned long long) = raft_digest;
static int (*const p_version)(void) = raft_version_number;
static void (*const p_conf_init)(struct raft_configuration *) = raft_configuration_init;
static void (*const p_conf_close)(struct raft_configuration *) = raft_configuration_close;
static int (*const p_conf_add)(struct raft_configuration *, raft_id, const char *,
                               int) = raft_configuration_add;
static int (*const p_conf_encode)(const struct raft_configuration *,
                                  struct raft_buffer *) = raft_configuration_encode;
static int (*const p_conf_decode)(const struct raft_buffer *,
                                  struct raft_configuration *) = raft_configuration_decode;
static void *(*const p_malloc)(size_t) = raft_malloc;
static void (*const p_free)(void *) = raft_free;
static void *(*const p_calloc)(size_t, size_t) = raft_calloc;
static void *(*const p_realloc)(void *, size_t) = raft_realloc;
static void *(*const p_aligned_alloc)(size_t, size_t) = raft_aligned_alloc;
static void (*const p_aligned_free)(size_t, void *) = raft_aligned_free;
static void (*const p_heap_set)(struct raft_heap *) = raft_heap_set;
static void (*const p_heap_set_default)(void) = raft_heap_set_default;
static const struct raft_heap *(*const p_heap_get)(void) = raft_heap_get;

static void every_function_has_craft_signature(void **state)
{
    (void)state;
    const void *all[] = {
        (const void *)p_init,         (const void *)p_close,       (const void *)p_seed,
        (const void *)p_step,         (const void *)p_current_term, (const void *)p_voted_for,
        (const void *)p_commit_index, (const void *)p_timeout,     (const void *)p_match_index,
        (const void *)p_catch_up,     (const void *)p_transferee,  (const void *)p_state,
        (const void *)p_role,         (const void *)p_leader,      (const void *)p_last_index,
        (const void *)p_errmsg,       (const void *)p_set_et,      (const void *)p_set_ht,
        (const void *)p_set_ist,      (const void *)p_set_pv,      (const void *)p_set_mcr,
        (const void *)p_set_mcrd,     (const void *)p_set_mie,     (const void *)p_set_ct,
        (const void *)p_random,       (const void *)p_strerror,    (const void *)p_state_name,
        (const void *)p_role_name,    (const void *)p_digest,      (const void *)p_version,
        (const void *)p_conf_init,    (const void *)p_conf_close,  (const void *)p_conf_add,
        (const void *)p_conf_encode,  (const void *)p_conf_decode, (const void *)p_malloc,
        (const void *)p_free,         (const void *)p_calloc,      (const void *)p_realloc,
        (const void *)p_aligned_alloc, (const void *)p_aligned_free, (const void *)p_heap_set,
        (const void *)p_heap_set_default, (const void *)p_heap_get,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_non_null(all[i]);
    }
}

/* The way C-Raft hosts write messages, events and updates. */
static void craft_member_names_compile_and_work(void **state)
{
    (void)state;
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_REQUEST_VOTE;
    m.request_vote.pre_vote = true;
    m.request_vote.disrupt_leader = false;
    m.request_vote.last_log_term = 3;
    assert_true(m.request_vote.pre_vote);
    m.type = RAFT_APPEND_ENTRIES;
    m.append_entries.term = 7;
    assert_true(m.append_entries.term == 7);
    m.append_entries_result.rejected = 0;
    m.request_vote_result.vote_granted = true;
    m.install_snapshot.conf.n = 0;
    m.install_snapshot.data.len = 0;
    m.timeout_now.last_log_index = 1;

    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &m;
    assert_ptr_equal(ev.receive.message, &m);
    ev.start.n_entries = 0;
    ev.persisted_entries.index = 1;
    ev.persisted_snapshot.last = true;
    ev.configuration.index = 1;
    ev.snapshot.trailing = 10;
    ev.submit.n = 1;
    ev.catch_up.server_id = 2;
    ev.transfer.server_id = 3;
    ev.capacity = 100;

    struct raft_update up;
    memset(&up, 0, sizeof up);
    up.flags = RAFT_UPDATE_ENTRIES | RAFT_UPDATE_MESSAGES;
    /* Parenthesised macros: this reads as intended (C-Raft's unparenthesised ones do not). */
    assert_true((up.flags & RAFT_UPDATE_ENTRIES) != 0);
    assert_int_equal(RAFT_UPDATE_ENTRIES * 2, 8);
    assert_null(up.messages.batch);
    assert_int_equal(up.entries.n, 0);
    assert_false(up.snapshot.last);

    struct raft_entry e = {.term = 1, .type = RAFT_COMMAND, .buf = {NULL, 0}, .batch = NULL};
    enum raft_entry_type t = e.type;
    assert_int_equal(t, RAFT_COMMAND);
    int statuses[] = {RAFT_CATCH_UP_NONE, RAFT_CATCH_UP_RUNNING, RAFT_CATCH_UP_ABORTED,
                      RAFT_CATCH_UP_FINISHED};
    assert_int_equal(statuses[3], 3);

    struct raft_tracer_info info;
    info.version = 1;
    info.diagnostic.level = 3;
    info.diagnostic.message = "x";
    assert_string_equal(info.diagnostic.message, "x");

    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "127.0.0.1:9001"), 0);
    r.data = &r; /* reserved for the host */
    assert_ptr_equal(r.data, &r);
    r.tracer = NULL; /* hosts may disable tracing */
    printf("id=%llu address=%s term=%llu\n", r.id, r.address, raft_current_term(&r));
    raft_close(&r, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_function_has_craft_signature),
        cmocka_unit_test(craft_member_names_compile_and_work),
    };
    return cmocka_run_group_tests_name("compat", tests, NULL, NULL);
}
