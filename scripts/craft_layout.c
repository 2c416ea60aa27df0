/* Prints the memory layout (sizeof and offsetof) of C-Raft's classic ("v0") API structs and of
 * struct raft, as the raft.h it is compiled against lays them out. Compiled against C-Raft
 * 0.22.1's installed header (default build: v0 enabled), its output is
 * docs/craft-0.22.1-layout.txt, the reference c_tests/test_layout.c asserts against.
 *
 *   cc -std=c11 -Wall -Wextra -Werror -I/work/craft-0.22.1/include \
 *      -o craft_layout scripts/craft_layout.c && ./craft_layout
 *
 * It needs no library: every number is a compile-time constant. Members are named the way a
 * C-Raft program spells them (anonymous unions included), so this only compiles against a header
 * that exposes C-Raft's member names, which is the point: a member a C-Raft program reads must
 * exist under the same name.
 *
 * With -DLAYOUT_PUBLIC_ONLY it leaves out the members that are C-Raft's private bookkeeping (the
 * legacy `unused` log pointer, the snapshot block, the reserved tail and what C-Raft packs into
 * it), so that it also compiles against a header that keeps those bytes under other names, such
 * as ours: every line it prints must then appear as is in the full output of C-Raft's header
 * (`make test-craft` checks that).
 *
 * Output, one fact per line, fields separated by single spaces:
 *   size   TYPE SIZE                      sizeof(TYPE)
 *   member TYPE MEMBER OFFSET SIZE        offsetof(TYPE, MEMBER), sizeof of that member
 *   const  NAME VALUE                     a constant whose value the ABI depends on
 * TYPE is written without spaces (struct_raft for "struct raft") so every line splits on
 * whitespace into a fixed number of fields. */

#include <stddef.h>
#include <stdio.h>

#include <raft.h>

/* "struct raft_io" -> "struct_raft_io": keeps each line a fixed number of fields. */
static void print_type(const char *type)
{
    for (const char *c = type; *c != '\0'; c++) {
        putchar(*c == ' ' ? '_' : *c);
    }
}

static void print_size(const char *type, size_t size)
{
    fputs("size ", stdout);
    print_type(type);
    printf(" %zu\n", size);
}

static void print_member(const char *type, const char *member, size_t offset, size_t size)
{
    fputs("member ", stdout);
    print_type(type);
    printf(" %s %zu %zu\n", member, offset, size);
}

static void print_const(const char *name, long long value)
{
    printf("const %s %lld\n", name, value);
}

#define SIZE(T) print_size(#T, sizeof(T))
#define MEMBER(T, m) print_member(#T, #m, offsetof(T, m), sizeof(((T *)0)->m))
#define CONST(name) print_const(#name, (long long)(name))

static void common_types(void)
{
    SIZE(raft_id);
    SIZE(raft_term);
    SIZE(raft_index);
    SIZE(raft_time);

    SIZE(struct raft_buffer);
    MEMBER(struct raft_buffer, base);
    MEMBER(struct raft_buffer, len);

    SIZE(struct raft_server);
    MEMBER(struct raft_server, id);
    MEMBER(struct raft_server, address);
    MEMBER(struct raft_server, role);

    SIZE(struct raft_configuration);
    MEMBER(struct raft_configuration, servers);
    MEMBER(struct raft_configuration, n);

    SIZE(struct raft_entry);
    MEMBER(struct raft_entry, term);
    MEMBER(struct raft_entry, type);
    MEMBER(struct raft_entry, buf);
    MEMBER(struct raft_entry, batch);

    SIZE(struct raft_tracer);
    MEMBER(struct raft_tracer, impl);
    MEMBER(struct raft_tracer, version);
    MEMBER(struct raft_tracer, emit);
}

/* A raft_io implementation fills and reads these: it receives and sends them. */
static void messages(void)
{
    SIZE(struct raft_message);
    MEMBER(struct raft_message, type);
    MEMBER(struct raft_message, server_id);
    MEMBER(struct raft_message, server_address);
    MEMBER(struct raft_message, request_vote);
    MEMBER(struct raft_message, request_vote_result);
    MEMBER(struct raft_message, append_entries);
    MEMBER(struct raft_message, append_entries_result);
    MEMBER(struct raft_message, install_snapshot);
    MEMBER(struct raft_message, timeout_now);

    SIZE(struct raft_request_vote);
    MEMBER(struct raft_request_vote, version);
    MEMBER(struct raft_request_vote, term);
    MEMBER(struct raft_request_vote, candidate_id);
    MEMBER(struct raft_request_vote, last_log_index);
    MEMBER(struct raft_request_vote, last_log_term);
    MEMBER(struct raft_request_vote, disrupt_leader);
    MEMBER(struct raft_request_vote, pre_vote);

    SIZE(struct raft_request_vote_result);
    MEMBER(struct raft_request_vote_result, version);
    MEMBER(struct raft_request_vote_result, term);
    MEMBER(struct raft_request_vote_result, vote_granted);
    MEMBER(struct raft_request_vote_result, pre_vote);
    MEMBER(struct raft_request_vote_result, features);
    MEMBER(struct raft_request_vote_result, capacity);

    SIZE(struct raft_append_entries);
    MEMBER(struct raft_append_entries, version);
    MEMBER(struct raft_append_entries, term);
    MEMBER(struct raft_append_entries, prev_log_index);
    MEMBER(struct raft_append_entries, prev_log_term);
    MEMBER(struct raft_append_entries, leader_commit);
    MEMBER(struct raft_append_entries, entries);
    MEMBER(struct raft_append_entries, n_entries);

    SIZE(struct raft_append_entries_result);
    MEMBER(struct raft_append_entries_result, version);
    MEMBER(struct raft_append_entries_result, term);
    MEMBER(struct raft_append_entries_result, rejected);
    MEMBER(struct raft_append_entries_result, last_log_index);
    MEMBER(struct raft_append_entries_result, features);
    MEMBER(struct raft_append_entries_result, capacity);

    SIZE(struct raft_install_snapshot);
    MEMBER(struct raft_install_snapshot, version);
    MEMBER(struct raft_install_snapshot, term);
    MEMBER(struct raft_install_snapshot, last_index);
    MEMBER(struct raft_install_snapshot, last_term);
    MEMBER(struct raft_install_snapshot, conf);
    MEMBER(struct raft_install_snapshot, conf_index);
    MEMBER(struct raft_install_snapshot, data);

    SIZE(struct raft_timeout_now);
    MEMBER(struct raft_timeout_now, version);
    MEMBER(struct raft_timeout_now, term);
    MEMBER(struct raft_timeout_now, last_log_index);
    MEMBER(struct raft_timeout_now, last_log_term);
}

static void io_and_fsm(void)
{
    SIZE(struct raft_io);
    MEMBER(struct raft_io, version);
    MEMBER(struct raft_io, capacity);
    MEMBER(struct raft_io, data);
    MEMBER(struct raft_io, impl);
    MEMBER(struct raft_io, errmsg);
    MEMBER(struct raft_io, init);
    MEMBER(struct raft_io, close);
    MEMBER(struct raft_io, load);
    MEMBER(struct raft_io, start);
    MEMBER(struct raft_io, bootstrap);
    MEMBER(struct raft_io, recover);
    MEMBER(struct raft_io, set_term);
    MEMBER(struct raft_io, set_vote);
    MEMBER(struct raft_io, send);
    MEMBER(struct raft_io, append);
    MEMBER(struct raft_io, truncate);
    MEMBER(struct raft_io, snapshot_put);
    MEMBER(struct raft_io, snapshot_get);
    MEMBER(struct raft_io, time);
    MEMBER(struct raft_io, random);

    SIZE(struct raft_io_send);
    MEMBER(struct raft_io_send, data);
    MEMBER(struct raft_io_send, cb);
    SIZE(struct raft_io_append);
    MEMBER(struct raft_io_append, data);
    MEMBER(struct raft_io_append, cb);
    SIZE(struct raft_io_snapshot_put);
    MEMBER(struct raft_io_snapshot_put, data);
    MEMBER(struct raft_io_snapshot_put, cb);
    SIZE(struct raft_io_snapshot_get);
    MEMBER(struct raft_io_snapshot_get, data);
    MEMBER(struct raft_io_snapshot_get, cb);

    SIZE(struct raft_fsm);
    MEMBER(struct raft_fsm, version);
    MEMBER(struct raft_fsm, data);
    MEMBER(struct raft_fsm, apply);
    MEMBER(struct raft_fsm, snapshot);
    MEMBER(struct raft_fsm, restore);
    MEMBER(struct raft_fsm, snapshot_finalize);
    MEMBER(struct raft_fsm, snapshot_async);

    SIZE(struct raft_snapshot);
    MEMBER(struct raft_snapshot, index);
    MEMBER(struct raft_snapshot, term);
    MEMBER(struct raft_snapshot, configuration);
    MEMBER(struct raft_snapshot, configuration_index);
    MEMBER(struct raft_snapshot, bufs);
    MEMBER(struct raft_snapshot, n_bufs);
}

/* The members every client request starts with (C-Raft's RAFT__REQUEST), then the anonymous
 * union of the reserved words and the extensions packed into them. */
#define REQUEST_MEMBERS(T)         \
    do {                           \
        SIZE(T);                   \
        MEMBER(T, data);           \
        MEMBER(T, type);           \
        MEMBER(T, index);          \
        MEMBER(T, queue);          \
        MEMBER(T, req_id);         \
        MEMBER(T, client_id);      \
        MEMBER(T, unique_id);      \
        MEMBER(T, reserved);       \
        MEMBER(T, status);         \
        MEMBER(T, result);         \
        MEMBER(T, catch_up_id);    \
    } while (0)

static void requests(void)
{
    REQUEST_MEMBERS(struct raft_apply);
    MEMBER(struct raft_apply, cb);
    REQUEST_MEMBERS(struct raft_barrier);
    MEMBER(struct raft_barrier, cb);
    REQUEST_MEMBERS(struct raft_change);
    MEMBER(struct raft_change, cb);
    REQUEST_MEMBERS(struct raft_transfer);
    MEMBER(struct raft_transfer, id);
    MEMBER(struct raft_transfer, start);
    MEMBER(struct raft_transfer, send);
    MEMBER(struct raft_transfer, cb);
}

/* struct raft up to the end of the public members C-Raft programs read. */
static void raft_public(void)
{
    SIZE(struct raft);
    MEMBER(struct raft, data);
    MEMBER(struct raft, tracer);
    MEMBER(struct raft, io);
    MEMBER(struct raft, fsm);
    MEMBER(struct raft, id);
    MEMBER(struct raft, address);
    MEMBER(struct raft, current_term);
    MEMBER(struct raft, voted_for);
#ifndef LAYOUT_PUBLIC_ONLY
    MEMBER(struct raft, unused);
#endif
    MEMBER(struct raft, capacity);
    MEMBER(struct raft, capacity_threshold);
    MEMBER(struct raft, configuration);
    MEMBER(struct raft, configuration_committed);
    MEMBER(struct raft, configuration_committed_index);
    MEMBER(struct raft, configuration_uncommitted_index);
    MEMBER(struct raft, election_timeout);
    MEMBER(struct raft, heartbeat_timeout);
    MEMBER(struct raft, install_snapshot_timeout);
    MEMBER(struct raft, commit_index);
    MEMBER(struct raft, last_applied);
    MEMBER(struct raft, last_stored);
    MEMBER(struct raft, state);
}

/* The union of the three role-specific states; they overlap from the same start. */
static void raft_role_states(void)
{
    MEMBER(struct raft, follower_state);
    MEMBER(struct raft, follower_state.randomized_election_timeout);
    MEMBER(struct raft, follower_state.current_leader);
    MEMBER(struct raft, follower_state.current_leader.id);
    MEMBER(struct raft, follower_state.current_leader.address);
    MEMBER(struct raft, follower_state.match);
    MEMBER(struct raft, follower_state.reserved);

    MEMBER(struct raft, candidate_state);
    MEMBER(struct raft, candidate_state.randomized_election_timeout);
    MEMBER(struct raft, candidate_state.votes);
    MEMBER(struct raft, candidate_state.disrupt_leader);
    MEMBER(struct raft, candidate_state.in_pre_vote);
    MEMBER(struct raft, candidate_state.reserved);

    MEMBER(struct raft, leader_state);
    MEMBER(struct raft, leader_state.progress);
    MEMBER(struct raft, leader_state.unused1);
    MEMBER(struct raft, leader_state.promotee_id);
    MEMBER(struct raft, leader_state.round_number);
    MEMBER(struct raft, leader_state.round_index);
    MEMBER(struct raft, leader_state.round_start);
    MEMBER(struct raft, leader_state.unused2);
    MEMBER(struct raft, leader_state.reserved);
    MEMBER(struct raft, leader_state.transferee);
    MEMBER(struct raft, leader_state.transfer_start);
    MEMBER(struct raft, leader_state.transferring);
}

/* From the election timer to the end: the snapshot block with its v0 and v1 views, the close
 * callback, the error message, the tuning knobs and the reserved tail. */
static void raft_tail(void)
{
    MEMBER(struct raft, election_timer_start);
    MEMBER(struct raft, transfer);

#ifndef LAYOUT_PUBLIC_ONLY
    MEMBER(struct raft, snapshot);
    MEMBER(struct raft, snapshot._threshold);
    MEMBER(struct raft, snapshot._trailing);
    MEMBER(struct raft, snapshot._pending);
    MEMBER(struct raft, snapshot._pending.index);
    MEMBER(struct raft, snapshot._pending.term);
    MEMBER(struct raft, snapshot._pending.configuration);
    MEMBER(struct raft, snapshot._pending.configuration_index);
    MEMBER(struct raft, snapshot._pending.bufs);
    MEMBER(struct raft, snapshot._pending.n_bufs);
    MEMBER(struct raft, snapshot._put);
    MEMBER(struct raft, snapshot.unused);
    MEMBER(struct raft, snapshot.installing);
    MEMBER(struct raft, snapshot.reserved);
#endif

    MEMBER(struct raft, close_cb);
    MEMBER(struct raft, errmsg);
    MEMBER(struct raft, pre_vote);
    MEMBER(struct raft, max_catch_up_rounds);
    MEMBER(struct raft, max_catch_up_round_duration);

#ifndef LAYOUT_PUBLIC_ONLY
    /* The reserved words and C-Raft's own use of them: private to C-Raft, listed so that the
     * extent of the tail is on record. A C-Raft program never reads these. */
    MEMBER(struct raft, reserved);
    MEMBER(struct raft, now);
    MEMBER(struct raft, random);
    MEMBER(struct raft, messages);
    MEMBER(struct raft, n_messages_cap);
    MEMBER(struct raft, max_inflight_entries);
    MEMBER(struct raft, configuration_last_snapshot_index);
    MEMBER(struct raft, legacy);
    MEMBER(struct raft, update);
    MEMBER(struct raft, trail);
    MEMBER(struct raft, barrier);
#endif
}

static void constants(void)
{
    CONST(RAFT_VERSION_NUMBER);
    CONST(RAFT_ERRMSG_BUF_SIZE);
    CONST(RAFT_NOMEM);
    CONST(RAFT_NOTLEADER);
    CONST(RAFT_LEADERSHIPLOST);
    CONST(RAFT_SHUTDOWN);
    CONST(RAFT_CANTBOOTSTRAP);
    CONST(RAFT_CANTCHANGE);
    CONST(RAFT_CANCELED);
    CONST(RAFT_BUSY);
    CONST(RAFT_IOERR);
    CONST(RAFT_NOTFOUND);
    CONST(RAFT_INVALID);
    CONST(RAFT_TOOMANY);
    CONST(RAFT_STANDBY);
    CONST(RAFT_VOTER);
    CONST(RAFT_SPARE);
    CONST(RAFT_UNAVAILABLE);
    CONST(RAFT_FOLLOWER);
    CONST(RAFT_CANDIDATE);
    CONST(RAFT_LEADER);
    CONST(RAFT_COMMAND);
    CONST(RAFT_BARRIER);
    CONST(RAFT_CHANGE);
}

int main(void)
{
    printf("# C-Raft layout: RAFT_VERSION_NUMBER %d, pointer size %zu, long size %zu\n",
           RAFT_VERSION_NUMBER, sizeof(void *), sizeof(long));
    printf("# Produced by scripts/craft_layout.c; columns: see its header comment.\n");
    common_types();
    messages();
    io_and_fsm();
    requests();
    raft_public();
    raft_role_states();
    raft_tail();
    constants();
    return 0;
}
