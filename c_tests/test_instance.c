/* The instance lifecycle, settings, accessors and the safety of the boundary: NULL pointers,
 * uninitialised or closed instances, unknown event types, legacy arguments. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

static void init_copies_the_address_and_sets_public_members(void **state)
{
    (void)state;
    struct raft r;
    char address[] = "127.0.0.1:9001";
    assert_int_equal(raft_init(&r, NULL, NULL, 7, address), 0);
    address[0] = 'X';
    assert_true(r.id == 7);
    assert_string_equal(r.address, "127.0.0.1:9001");
    assert_non_null(r.tracer);
    assert_null(r.io);
    assert_null(r.fsm);
    assert_string_equal(raft_errmsg(&r), "");
    assert_int_equal(raft_state(&r), RAFT_FOLLOWER);
    assert_true(raft_current_term(&r) == 0);
    assert_true(raft_voted_for(&r) == 0);
    assert_true(raft_commit_index(&r) == 0);
    assert_true(raft_last_index(&r) == 0);
    assert_true(raft_transferee(&r) == 0);
    assert_int_equal(raft_role(&r), -1);
    raft_id id = 99;
    const char *leader = "junk";
    raft_leader(&r, &id, &leader);
    assert_true(id == 0);
    assert_null(leader);
    raft_close(&r, NULL);
}

static void init_refuses_io_without_fsm_and_incomplete_back_ends(void **state)
{
    (void)state;
    struct raft r;
    struct raft_io io;
    struct raft_fsm fsm;
    memset(&io, 0, sizeof io);
    memset(&fsm, 0, sizeof fsm);
    assert_int_equal(raft_init(&r, &io, NULL, 1, "a"), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "io and fsm go together"));
    assert_int_equal(raft_init(&r, NULL, &fsm, 1, "a"), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "io and fsm go together"));
    /* C-Raft asserts on these; the classic mode refuses them with a message. */
    assert_int_equal(raft_init(&r, &io, &fsm, 1, "a"), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "io->version"));
    io.version = 2;
    fsm.version = 1;
    assert_int_equal(raft_init(&r, &io, &fsm, 1, "a"), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "io->init is NULL"));
    /* A failed init leaves nothing to close; closing anyway is harmless. */
    raft_close(&r, NULL);
}

static void init_refuses_bad_arguments(void **state)
{
    (void)state;
    struct raft r;
    assert_int_equal(raft_init(NULL, NULL, NULL, 1, "a"), RAFT_INVALID);
    assert_int_equal(raft_init(&r, NULL, NULL, 1, NULL), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "address"));
    assert_int_equal(raft_init(&r, NULL, NULL, 0, "a"), RAFT_BADID);
    assert_true(strlen(raft_errmsg(&r)) > 0);
}

static void close_then_reinit_and_double_close(void **state)
{
    (void)state;
    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    raft_close(&r, NULL);
    assert_null(r.address);
    raft_close(&r, NULL); /* already closed: ignored */
    assert_int_equal(raft_init(&r, NULL, NULL, 2, "b"), 0);
    assert_true(r.id == 2);
    raft_close(&r, NULL);
    raft_close(NULL, NULL);
}

static void calls_on_a_closed_instance_are_refused(void **state)
{
    (void)state;
    struct raft r;
    struct raft_event event;
    struct raft_update update;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    raft_close(&r, NULL);
    memset(&event, 0, sizeof event);
    event.type = RAFT_TIMEOUT;
    assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
    assert_int_equal(raft_state(&r), RAFT_UNAVAILABLE);
    raft_seed(&r, 1);
    raft_set_election_timeout(&r, 10);
}

static void setters_accept_every_value(void **state)
{
    (void)state;
    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    raft_seed(&r, 42);
    raft_set_election_timeout(&r, 0); /* clamped, never a division by zero */
    raft_set_election_timeout(&r, 150);
    raft_set_heartbeat_timeout(&r, 15);
    raft_set_install_snapshot_timeout(&r, 500);
    raft_set_pre_vote(&r, true);
    raft_set_max_catch_up_rounds(&r, 3);
    raft_set_max_catch_up_round_duration(&r, 100);
    raft_set_max_inflight_entries(&r, 0);
    raft_set_capacity_threshold(&r, 10);
    raft_close(&r, NULL);
    /* NULL instances are ignored. */
    raft_seed(NULL, 1);
    raft_set_election_timeout(NULL, 1);
    raft_set_heartbeat_timeout(NULL, 1);
    raft_set_install_snapshot_timeout(NULL, 1);
    raft_set_pre_vote(NULL, true);
    raft_set_max_catch_up_rounds(NULL, 1);
    raft_set_max_catch_up_round_duration(NULL, 1);
    raft_set_max_inflight_entries(NULL, 1);
    raft_set_capacity_threshold(NULL, 1);
}

static void accessors_on_null_return_neutral_values(void **state)
{
    (void)state;
    raft_index index = 5;
    int status = 5;
    assert_true(raft_current_term(NULL) == 0);
    assert_true(raft_voted_for(NULL) == 0);
    assert_true(raft_commit_index(NULL) == 0);
    assert_true(raft_timeout(NULL) == 0);
    assert_true(raft_transferee(NULL) == 0);
    assert_true(raft_last_index(NULL) == 0);
    assert_int_equal(raft_state(NULL), RAFT_UNAVAILABLE);
    assert_int_equal(raft_role(NULL), -1);
    assert_int_equal(raft_match_index(NULL, 1, &index), RAFT_INVALID);
    assert_int_equal(raft_catch_up(NULL, 1, &status), RAFT_INVALID);
    assert_true(index == 5);
    assert_int_equal(status, 5);
    raft_leader(NULL, NULL, NULL);
    assert_non_null(raft_errmsg(NULL));
}

static void match_index_and_catch_up_need_leadership(void **state)
{
    (void)state;
    struct raft r;
    raft_index index = 0;
    int status = 0;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    assert_int_equal(raft_match_index(&r, 1, &index), RAFT_NOTLEADER);
    assert_int_equal(raft_catch_up(&r, 1, &status), RAFT_NOTLEADER);
    assert_int_equal(raft_match_index(&r, 1, NULL), RAFT_INVALID);
    assert_int_equal(raft_catch_up(&r, 1, NULL), RAFT_INVALID);
    raft_close(&r, NULL);
}

static void step_refuses_null_and_unknown_events(void **state)
{
    (void)state;
    struct raft r;
    struct raft_event event;
    struct raft_update update;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    assert_int_equal(raft_step(NULL, &event, &update), RAFT_INVALID);
    assert_int_equal(raft_step(&r, NULL, &update), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "event"));
    memset(&event, 0, sizeof event);
    event.type = RAFT_TIMEOUT;
    assert_int_equal(raft_step(&r, &event, NULL), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "update"));
    int bad_types[] = {0, 12, -1, 1000};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        memset(&event, 0, sizeof event);
        event.type = (enum raft_event_type)bad_types[i];
        event.time = 100;
        assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
        assert_non_null(strstr(raft_errmsg(&r), "unknown event type"));
        assert_true(raft_current_term(&r) == 0);
        assert_int_equal(raft_state(&r), RAFT_FOLLOWER);
    }
    raft_close(&r, NULL);
}

static void events_before_start_are_refused(void **state)
{
    (void)state;
    struct raft r;
    struct raft_event event;
    struct raft_update update;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    raft_seed(&r, 1);
    static const enum raft_event_type types[] = {RAFT_PERSISTED_ENTRIES, RAFT_TIMEOUT,
                                                 RAFT_CATCH_UP, RAFT_TRANSFER};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        memset(&event, 0, sizeof event);
        event.type = types[i];
        assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
        assert_true(strlen(raft_errmsg(&r)) > 0);
    }
    raft_close(&r, NULL);
}

static void submit_with_no_entries_is_refused(void **state)
{
    (void)state;
    struct raft r;
    struct raft_event event;
    struct raft_update update;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    memset(&event, 0, sizeof event);
    event.type = RAFT_SUBMIT;
    event.submit.n = 0;
    assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
    event.submit.n = 3; /* NULL array with a count */
    assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
    raft_close(&r, NULL);
}

static void receive_with_null_message_is_refused(void **state)
{
    (void)state;
    struct raft r;
    struct raft_event event;
    struct raft_update update;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a"), 0);
    memset(&event, 0, sizeof event);
    event.type = RAFT_RECEIVE;
    assert_int_equal(raft_step(&r, &event, &update), RAFT_INVALID);
    assert_non_null(strstr(raft_errmsg(&r), "message"));
    raft_close(&r, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_copies_the_address_and_sets_public_members),
        cmocka_unit_test(init_refuses_io_without_fsm_and_incomplete_back_ends),
        cmocka_unit_test(init_refuses_bad_arguments),
        cmocka_unit_test(close_then_reinit_and_double_close),
        cmocka_unit_test(calls_on_a_closed_instance_are_refused),
        cmocka_unit_test(setters_accept_every_value),
        cmocka_unit_test(accessors_on_null_return_neutral_values),
        cmocka_unit_test(match_index_and_catch_up_need_leadership),
        cmocka_unit_test(step_refuses_null_and_unknown_events),
        cmocka_unit_test(events_before_start_are_refused),
        cmocka_unit_test(submit_with_no_entries_is_refused),
        cmocka_unit_test(receive_with_null_message_is_refused),
    };
    return cmocka_run_group_tests_name("instance", tests, NULL, NULL);
}
