/* The ABI proof: sizes and offsets of every public struct, against C-Raft's numbers on x86-64
 * Linux (docs/contract.md#layout, default build). A host compiled against C-Raft's header
 * must find every member where it expects it. Everything here is checked at compile time; the
 * cmocka test repeats the checks at run time so that the binary also reports them. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft.h"

#define LAYOUT(type, size) _Static_assert(sizeof(type) == (size), "sizeof " #type)
#define AT(type, member, offset) \
    _Static_assert(offsetof(type, member) == (offset), "offsetof " #type "." #member)
#define WIDTH(type, member, size) \
    _Static_assert(sizeof(((type *)0)->member) == (size), "sizeof " #type "." #member)

LAYOUT(raft_id, 8);
LAYOUT(raft_term, 8);
LAYOUT(raft_index, 8);
LAYOUT(raft_time, 8);

LAYOUT(struct raft_buffer, 16);
AT(struct raft_buffer, base, 0);
AT(struct raft_buffer, len, 8);

LAYOUT(struct raft_server, 24);
AT(struct raft_server, id, 0);
AT(struct raft_server, address, 8);
AT(struct raft_server, role, 16);
WIDTH(struct raft_server, role, 4);

LAYOUT(struct raft_configuration, 16);
AT(struct raft_configuration, servers, 0);
AT(struct raft_configuration, n, 8);

LAYOUT(struct raft_entry, 40);
AT(struct raft_entry, term, 0);
AT(struct raft_entry, type, 8);
WIDTH(struct raft_entry, type, 4);
AT(struct raft_entry, buf, 16);
AT(struct raft_entry, buf.base, 16);
AT(struct raft_entry, buf.len, 24);
AT(struct raft_entry, batch, 32);

LAYOUT(struct raft_snapshot_metadata, 40);
AT(struct raft_snapshot_metadata, index, 0);
AT(struct raft_snapshot_metadata, term, 8);
AT(struct raft_snapshot_metadata, configuration, 16);
AT(struct raft_snapshot_metadata, configuration_index, 32);

LAYOUT(struct raft_request_vote, 48);
AT(struct raft_request_vote, version, 0);
AT(struct raft_request_vote, term, 8);
AT(struct raft_request_vote, candidate_id, 16);
AT(struct raft_request_vote, last_log_index, 24);
AT(struct raft_request_vote, last_log_term, 32);
AT(struct raft_request_vote, disrupt_leader, 40);
WIDTH(struct raft_request_vote, disrupt_leader, 1);
AT(struct raft_request_vote, pre_vote, 41);

LAYOUT(struct raft_request_vote_result, 24);
AT(struct raft_request_vote_result, version, 0);
AT(struct raft_request_vote_result, term, 8);
AT(struct raft_request_vote_result, vote_granted, 16);
AT(struct raft_request_vote_result, pre_vote, 17);
AT(struct raft_request_vote_result, features, 18);
WIDTH(struct raft_request_vote_result, features, 2);
AT(struct raft_request_vote_result, capacity, 20);
WIDTH(struct raft_request_vote_result, capacity, 2);

LAYOUT(struct raft_append_entries, 56);
AT(struct raft_append_entries, version, 0);
AT(struct raft_append_entries, term, 8);
AT(struct raft_append_entries, prev_log_index, 16);
AT(struct raft_append_entries, prev_log_term, 24);
AT(struct raft_append_entries, leader_commit, 32);
AT(struct raft_append_entries, entries, 40);
AT(struct raft_append_entries, n_entries, 48);
WIDTH(struct raft_append_entries, n_entries, 4);

LAYOUT(struct raft_append_entries_result, 40);
AT(struct raft_append_entries_result, version, 0);
AT(struct raft_append_entries_result, term, 8);
AT(struct raft_append_entries_result, rejected, 16);
AT(struct raft_append_entries_result, last_log_index, 24);
AT(struct raft_append_entries_result, features, 32);
AT(struct raft_append_entries_result, capacity, 34);

LAYOUT(struct raft_install_snapshot, 72);
AT(struct raft_install_snapshot, version, 0);
AT(struct raft_install_snapshot, term, 8);
AT(struct raft_install_snapshot, last_index, 16);
AT(struct raft_install_snapshot, last_term, 24);
AT(struct raft_install_snapshot, conf, 32);
AT(struct raft_install_snapshot, conf_index, 48);
AT(struct raft_install_snapshot, data, 56);

LAYOUT(struct raft_timeout_now, 32);
AT(struct raft_timeout_now, version, 0);
AT(struct raft_timeout_now, term, 8);
AT(struct raft_timeout_now, last_log_index, 16);
AT(struct raft_timeout_now, last_log_term, 24);

LAYOUT(struct raft_message, 96);
AT(struct raft_message, type, 0);
WIDTH(struct raft_message, type, 4);
AT(struct raft_message, server_id, 8);
AT(struct raft_message, server_address, 16);
AT(struct raft_message, request_vote, 24);
AT(struct raft_message, request_vote_result, 24);
AT(struct raft_message, append_entries, 24);
AT(struct raft_message, append_entries_result, 24);
AT(struct raft_message, install_snapshot, 24);
AT(struct raft_message, timeout_now, 24);

LAYOUT(struct raft_event, 80);
AT(struct raft_event, time, 0);
AT(struct raft_event, type, 8);
WIDTH(struct raft_event, type, 4);
AT(struct raft_event, unused, 12);
AT(struct raft_event, capacity, 14);
WIDTH(struct raft_event, capacity, 2);
AT(struct raft_event, reserved, 16);
WIDTH(struct raft_event, reserved, 4);
AT(struct raft_event, start.term, 24);
AT(struct raft_event, start.voted_for, 32);
AT(struct raft_event, start.metadata, 40);
AT(struct raft_event, start.start_index, 48);
AT(struct raft_event, start.entries, 56);
AT(struct raft_event, start.n_entries, 64);
WIDTH(struct raft_event, start, 48);
AT(struct raft_event, receive.message, 24);
AT(struct raft_event, persisted_entries.index, 24);
AT(struct raft_event, persisted_snapshot.metadata, 24);
AT(struct raft_event, persisted_snapshot.offset, 64);
AT(struct raft_event, persisted_snapshot.last, 72);
WIDTH(struct raft_event, persisted_snapshot, 56);
AT(struct raft_event, configuration.index, 24);
AT(struct raft_event, configuration.conf, 32);
WIDTH(struct raft_event, configuration, 24);
AT(struct raft_event, snapshot.metadata, 24);
AT(struct raft_event, snapshot.trailing, 64);
WIDTH(struct raft_event, snapshot, 48);
AT(struct raft_event, submit.entries, 24);
AT(struct raft_event, submit.n, 32);
WIDTH(struct raft_event, submit, 16);
AT(struct raft_event, catch_up.server_id, 24);
AT(struct raft_event, transfer.server_id, 24);

LAYOUT(struct raft_update, 120);
AT(struct raft_update, flags, 0);
AT(struct raft_update, entries.index, 8);
AT(struct raft_update, entries.batch, 16);
AT(struct raft_update, entries.n, 24);
WIDTH(struct raft_update, entries, 24);
AT(struct raft_update, snapshot.metadata, 32);
AT(struct raft_update, snapshot.offset, 72);
AT(struct raft_update, snapshot.chunk, 80);
AT(struct raft_update, snapshot.last, 96);
WIDTH(struct raft_update, snapshot, 72);
AT(struct raft_update, messages.batch, 104);
AT(struct raft_update, messages.n, 112);
WIDTH(struct raft_update, messages, 16);

LAYOUT(struct raft_tracer, 24);
AT(struct raft_tracer, impl, 0);
AT(struct raft_tracer, version, 8);
AT(struct raft_tracer, emit, 16);

LAYOUT(struct raft_tracer_info, 40);
AT(struct raft_tracer_info, version, 0);
AT(struct raft_tracer_info, diagnostic, 8);
AT(struct raft_tracer_info, diagnostic.level, 8);
AT(struct raft_tracer_info, diagnostic.message, 16);
AT(struct raft_tracer_info, diagnostic.file, 24);
AT(struct raft_tracer_info, diagnostic.line, 32);

LAYOUT(struct raft_heap, 56);
AT(struct raft_heap, data, 0);
AT(struct raft_heap, malloc, 8);
AT(struct raft_heap, free, 16);
AT(struct raft_heap, calloc, 24);
AT(struct raft_heap, realloc, 32);
AT(struct raft_heap, aligned_alloc, 40);
AT(struct raft_heap, aligned_free, 48);

/* struct raft: C-Raft's default build (v0 members present). */
LAYOUT(struct raft, 992);
AT(struct raft, data, 0);
AT(struct raft, tracer, 8);
AT(struct raft, io, 16);
AT(struct raft, fsm, 24);
AT(struct raft, id, 32);
AT(struct raft, address, 40);
AT(struct raft, current_term, 48);
AT(struct raft, voted_for, 56);
AT(struct raft, capacity, 64);
AT(struct raft, capacity_threshold, 66);
AT(struct raft, configuration, 72);
AT(struct raft, configuration_committed, 88);
AT(struct raft, configuration_committed_index, 104);
AT(struct raft, configuration_uncommitted_index, 112);
AT(struct raft, election_timeout, 120);
AT(struct raft, heartbeat_timeout, 124);
AT(struct raft, install_snapshot_timeout, 128);
AT(struct raft, commit_index, 136);
AT(struct raft, last_applied, 144);
AT(struct raft, last_stored, 152);
AT(struct raft, state, 160);
WIDTH(struct raft, state, 2);
AT(struct raft, follower_state, 168);
WIDTH(struct raft, follower_state, 88);
AT(struct raft, follower_state.randomized_election_timeout, 168);
AT(struct raft, follower_state.current_leader.id, 176);
AT(struct raft, follower_state.current_leader.address, 184);
AT(struct raft, follower_state.match, 192);
AT(struct raft, candidate_state.votes, 176);
AT(struct raft, candidate_state.disrupt_leader, 184);
AT(struct raft, candidate_state.in_pre_vote, 185);
AT(struct raft, leader_state.progress, 168);
AT(struct raft, leader_state.promotee_id, 184);
AT(struct raft, leader_state.round_number, 192);
AT(struct raft, leader_state.round_index, 200);
AT(struct raft, leader_state.round_start, 208);
AT(struct raft, leader_state.transferee, 232);
AT(struct raft, leader_state.transfer_start, 240);
AT(struct raft, leader_state.transferring, 248);
AT(struct raft, election_timer_start, 296);
AT(struct raft, transfer, 304);
AT(struct raft, close_cb, 456);
AT(struct raft, errmsg, 464);
AT(struct raft, pre_vote, 720);
AT(struct raft, max_catch_up_rounds, 724);
AT(struct raft, max_catch_up_round_duration, 728);

/* The classic API's structs (C-Raft 0.22.1, default build). */
LAYOUT(struct raft_io, 400);
AT(struct raft_io, version, 0);
WIDTH(struct raft_io, version, 2);
AT(struct raft_io, capacity, 2);
AT(struct raft_io, data, 8);
AT(struct raft_io, impl, 16);
AT(struct raft_io, errmsg, 24);
AT(struct raft_io, init, 280);
AT(struct raft_io, close, 288);
AT(struct raft_io, load, 296);
AT(struct raft_io, start, 304);
AT(struct raft_io, bootstrap, 312);
AT(struct raft_io, recover, 320);
AT(struct raft_io, set_term, 328);
AT(struct raft_io, set_vote, 336);
AT(struct raft_io, send, 344);
AT(struct raft_io, append, 352);
AT(struct raft_io, truncate, 360);
AT(struct raft_io, snapshot_put, 368);
AT(struct raft_io, snapshot_get, 376);
AT(struct raft_io, time, 384);
AT(struct raft_io, random, 392);
LAYOUT(struct raft_fsm, 56);
AT(struct raft_fsm, version, 0);
AT(struct raft_fsm, data, 8);
AT(struct raft_fsm, apply, 16);
AT(struct raft_fsm, snapshot, 24);
AT(struct raft_fsm, restore, 32);
AT(struct raft_fsm, snapshot_finalize, 40);
AT(struct raft_fsm, snapshot_async, 48);
LAYOUT(struct raft_snapshot, 56);
AT(struct raft_snapshot, index, 0);
AT(struct raft_snapshot, term, 8);
AT(struct raft_snapshot, configuration, 16);
AT(struct raft_snapshot, configuration_index, 32);
AT(struct raft_snapshot, bufs, 40);
AT(struct raft_snapshot, n_bufs, 48);
LAYOUT(struct raft_io_send, 16);
LAYOUT(struct raft_io_append, 16);
LAYOUT(struct raft_io_snapshot_put, 16);
LAYOUT(struct raft_io_snapshot_get, 16);
AT(struct raft_io_send, data, 0);
AT(struct raft_io_send, cb, 8);
#define REQUEST_LAYOUT(T, size)      \
    LAYOUT(struct T, size);          \
    AT(struct T, data, 0);           \
    AT(struct T, type, 8);           \
    AT(struct T, index, 16);         \
    AT(struct T, queue, 24);         \
    AT(struct T, req_id, 40);        \
    AT(struct T, client_id, 56);     \
    AT(struct T, unique_id, 72);     \
    AT(struct T, reserved, 88);      \
    AT(struct T, status, 88);        \
    AT(struct T, result, 96);        \
    AT(struct T, catch_up_id, 96)
REQUEST_LAYOUT(raft_apply, 128);
REQUEST_LAYOUT(raft_barrier, 128);
REQUEST_LAYOUT(raft_change, 128);
REQUEST_LAYOUT(raft_transfer, 160);
AT(struct raft_apply, cb, 120);
AT(struct raft_barrier, cb, 120);
AT(struct raft_change, cb, 120);
AT(struct raft_transfer, id, 120);
AT(struct raft_transfer, start, 128);
AT(struct raft_transfer, send, 136);
AT(struct raft_transfer, cb, 152);
_Static_assert(RAFT_ERRMSG_BUF_SIZE == 256, "default build's error buffer");

/* Constants. */
_Static_assert(RAFT_VERSION_NUMBER == 2201, "version number");
_Static_assert(RAFT_UPDATE_CURRENT_TERM == 1 && RAFT_UPDATE_VOTED_FOR == 2 &&
                   RAFT_UPDATE_ENTRIES == 4 && RAFT_UPDATE_SNAPSHOT == 8 &&
                   RAFT_UPDATE_MESSAGES == 16 && RAFT_UPDATE_STATE == 32 &&
                   RAFT_UPDATE_COMMIT_INDEX == 64 && RAFT_UPDATE_TIMEOUT == 128,
               "update flags");
_Static_assert(RAFT_STANDBY == 0 && RAFT_VOTER == 1 && RAFT_SPARE == 2, "roles");
_Static_assert(RAFT_UNAVAILABLE == 0 && RAFT_FOLLOWER == 1 && RAFT_CANDIDATE == 2 &&
                   RAFT_LEADER == 3,
               "states");
_Static_assert(RAFT_CATCH_UP_NONE == 0 && RAFT_CATCH_UP_RUNNING == 1 &&
                   RAFT_CATCH_UP_ABORTED == 2 && RAFT_CATCH_UP_FINISHED == 3,
               "catch-up statuses");
_Static_assert(RAFT_COMMAND == 1 && RAFT_BARRIER == 2 && RAFT_CHANGE == 3, "entry types");
_Static_assert(RAFT_APPEND_ENTRIES == 1 && RAFT_APPEND_ENTRIES_RESULT == 2 &&
                   RAFT_REQUEST_VOTE == 3 && RAFT_REQUEST_VOTE_RESULT == 4 &&
                   RAFT_INSTALL_SNAPSHOT == 5 && RAFT_TIMEOUT_NOW == 6,
               "message types");
_Static_assert(RAFT_START == 1 && RAFT_RECEIVE == 2 && RAFT_PERSISTED_ENTRIES == 3 &&
                   RAFT_PERSISTED_SNAPSHOT == 4 && RAFT_CONFIGURATION == 5 &&
                   RAFT_SNAPSHOT == 6 && RAFT_TIMEOUT == 7 && RAFT_SUBMIT == 8 &&
                   RAFT_CATCH_UP == 9 && RAFT_TRANSFER == 10,
               "event types");
_Static_assert(RAFT_TRACER_DIAGNOSTIC == 1, "tracer type");
_Static_assert(sizeof(enum raft_entry_type) == 4 && sizeof(enum raft_message_type) == 4 &&
                   sizeof(enum raft_event_type) == 4 && sizeof(enum raft_state) == 4,
               "enums are 4 bytes");

/* The same facts at run time, so the test binary also reports them. */
static void struct_sizes_match_craft(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct raft), 992);
    assert_int_equal(sizeof(struct raft_message), 96);
    assert_int_equal(sizeof(struct raft_event), 80);
    assert_int_equal(sizeof(struct raft_update), 120);
    assert_int_equal(sizeof(struct raft_entry), 40);
    assert_int_equal(offsetof(struct raft, address), 40);
    assert_int_equal(offsetof(struct raft, follower_state.current_leader.id), 176);
    assert_int_equal(offsetof(struct raft, errmsg), 464);
    assert_int_equal(sizeof(struct raft_io), 400);
    assert_int_equal(sizeof(struct raft_fsm), 56);
    assert_int_equal(sizeof(struct raft_apply), 128);
    assert_int_equal(sizeof(struct raft_transfer), 160);
    assert_int_equal(offsetof(struct raft_message, append_entries), 24);
}

static void version_number_is_exported_and_matches_header(void **state)
{
    (void)state;
    assert_int_equal(raft_version_number(), RAFT_VERSION_NUMBER);
    assert_int_equal(RAFT_VERSION_NUMBER,
                     RAFT_VERSION_MAJOR * 10000 + RAFT_VERSION_MINOR * 100 +
                         RAFT_VERSION_RELEASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(struct_sizes_match_craft),
        cmocka_unit_test(version_number_is_exported_and_matches_header),
    };
    return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
