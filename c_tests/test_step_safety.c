/* Memory and boundary safety of raft_step and the calls around it: what a step hands to the
 * host stays valid and complete whatever the core decided, re-entrant calls from a tracer are
 * refused, running out of memory fails cleanly, and nothing is ever printed on the host's
 * stderr. Each test is the regression test of a defect found by an adversarial host. */

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "raft.h"
#include "support/host.h"

#define NOW 1000

/* --- A single instance driven by hand ------------------------------------------------------- */

struct host {
    struct raft r;
    struct raft_update u;
};

static int step_at(struct host *h, struct raft_event *ev, raft_time time)
{
    ev->time = time;
    return raft_step(&h->r, ev, &h->u);
}

static void release_update(struct host *h)
{
    host_release_update(&h->u);
}

/* Server `id` started from a log holding one configuration entry of `n` voters at index 1. */
static void start(struct host *h, raft_id id, unsigned n)
{
    char address[16];
    snprintf(address, sizeof address, "s%u", (unsigned)id);
    memset(h, 0, sizeof *h);
    int rv = raft_init(&h->r, NULL, NULL, id, address);
    if (rv != 0) {
        print_error("raft_init: %s\n", raft_errmsg(&h->r));
    }
    assert_int_equal(rv, 0);
    h->r.tracer = NULL;
    raft_seed(&h->r, 42);
    struct raft_buffer conf = host_configuration(n, 0);
    struct raft_entry entry;
    struct raft_event ev;
    host_bootstrap_start(&ev, &entry, conf);
    assert_int_equal(step_at(h, &ev, NOW), 0);
    release_update(h);
    raft_free(conf.base);
}

static int persist_entries(struct host *h, raft_index index, raft_time time)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = index;
    return step_at(h, &ev, time);
}

static int timeout(struct host *h, raft_time time)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    return step_at(h, &ev, time);
}

/* An AppendEntries from leader 2 at `address`, carrying `entry` (or none when NULL). */
static int receive_append(struct host *h, const char *address, raft_term term, raft_index prev,
                          raft_term prev_term, raft_index commit, struct raft_entry *entry,
                          raft_time time)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES;
    m.server_id = 2;
    m.server_address = address;
    m.append_entries.term = term;
    m.append_entries.prev_log_index = prev;
    m.append_entries.prev_log_term = prev_term;
    m.append_entries.leader_commit = commit;
    m.append_entries.entries = entry;
    m.append_entries.n_entries = entry != NULL ? 1 : 0;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &m;
    return step_at(h, &ev, time);
}

/* --- stderr belongs to the host -------------------------------------------------------------- */

struct captured_stderr {
    int saved;
    FILE *file;
};

static struct captured_stderr capture_stderr(void)
{
    struct captured_stderr c;
    fflush(stderr);
    c.file = tmpfile();
    assert_non_null(c.file);
    c.saved = dup(STDERR_FILENO);
    assert_true(c.saved >= 0);
    assert_true(dup2(fileno(c.file), STDERR_FILENO) >= 0);
    return c;
}

/* Restores stderr and returns how many bytes were written to it meanwhile. */
static long release_stderr(struct captured_stderr c)
{
    fflush(stderr);
    assert_true(dup2(c.saved, STDERR_FILENO) >= 0);
    close(c.saved);
    long written = ftell(c.file) >= 0 ? (fseek(c.file, 0, SEEK_END), ftell(c.file)) : -1;
    fclose(c.file);
    return written;
}

/* --- A lone voter (Raft dissertation §4.1: a server uses the latest configuration in its log) -- */

/* Server 1 of {1, 2} receives, from leader 2, a configuration that leaves it the only voter. */
static void shrink_to_lone_voter(struct host *h)
{
    start(h, 1, 2);
    struct raft_buffer conf = host_configuration(1, 0);
    struct raft_entry entry = {2, RAFT_CHANGE, conf, conf.base};
    assert_int_equal(receive_append(h, "s2", 2, 1, 1, 1, &entry, NOW + 10), 0);
    assert_true(h->u.flags & RAFT_UPDATE_ENTRIES);
    assert_true(h->u.entries.index == 2);
    release_update(h);
    assert_int_equal(persist_entries(h, 2, NOW + 20), 0);
    release_update(h);
}

/* The library once guessed before the step which arrays the core would fill, guessed none for
 * a timeout, and panicked when the lone voter won at once and appended its barrier: the step
 * returned RAFT_SHUTDOWN forever after, printed a backtrace and left the server a leader. */
static void lone_voter_that_times_out_leads_and_appends_its_barrier(void **state)
{
    (void)state;
    struct host h;
    shrink_to_lone_voter(&h);
    struct captured_stderr err = capture_stderr();
    int rv = timeout(&h, NOW + 100000);
    long printed = release_stderr(err);
    assert_int_equal(rv, 0);
    assert_int_equal(printed, 0);
    assert_int_equal(raft_state(&h.r), RAFT_LEADER);
    assert_true(raft_current_term(&h.r) == 3);
    assert_true(h.u.flags & RAFT_UPDATE_CURRENT_TERM);
    assert_true(h.u.flags & RAFT_UPDATE_ENTRIES);
    assert_true(h.u.entries.index == 3);
    assert_int_equal(h.u.entries.n, 1);
    assert_int_equal(h.u.entries.batch[0].type, RAFT_BARRIER);
    assert_true(h.u.entries.batch[0].term == 3);
    assert_true(raft_last_index(&h.r) == 3);
    release_update(&h);
    /* Alone, it commits its own entries as soon as they are durable. */
    assert_int_equal(persist_entries(&h, 3, NOW + 100010), 0);
    release_update(&h);
    assert_true(raft_commit_index(&h.r) == 3);
    raft_close(&h.r, NULL);
}

/* A heap whose allocations fail on demand (frees go to libc, as the default heap's do). */
static bool heap_failing;
static void *failing_malloc(void *data, size_t size)
{
    (void)data;
    return heap_failing ? NULL : malloc(size);
}
static void *failing_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    return heap_failing ? NULL : calloc(nmemb, size);
}
static void *failing_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return heap_failing ? NULL : realloc(ptr, size);
}
static void libc_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}
static void *failing_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return heap_failing ? NULL : aligned_alloc(alignment, size);
}
static void libc_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

/* The barrier a step may hand out is allocated before the core runs: without memory for it the
 * step fails with RAFT_NOMEM and changes nothing, and succeeds once memory is back. */
static void step_without_memory_for_a_barrier_fails_before_anything_changes(void **state)
{
    (void)state;
    struct raft_heap heap = {NULL,           failing_malloc,        libc_free,        failing_calloc,
                             failing_realloc, failing_aligned_alloc, libc_aligned_free};
    raft_heap_set(&heap);
    struct host h;
    shrink_to_lone_voter(&h);
    /* The election hands out the barrier in stock; the next step must refill the stock
     * before the core runs. */
    assert_int_equal(timeout(&h, NOW + 100000), 0);
    release_update(&h);
    struct host_observed before = host_observe(&h.r);
    heap_failing = true;
    assert_int_equal(persist_entries(&h, 3, NOW + 100010), RAFT_NOMEM);
    heap_failing = false;
    struct host_observed after = host_observe(&h.r);
    assert_memory_equal(&before, &after, sizeof before);
    assert_non_null(strstr(raft_errmsg(&h.r), "memory"));
    assert_int_equal(persist_entries(&h, 3, NOW + 100010), 0);
    release_update(&h);
    assert_true(raft_commit_index(&h.r) == 3);
    raft_close(&h.r, NULL);
    raft_heap_set_default();
}

/* --- Addresses handed out stay valid until the next step ------------------------------------ */

/* The same leader reaches a follower from another address (a transport reports the peer's
 * address as it sees it): the reply goes to the new address while the follower still records
 * the leader's old one. The library once freed the reply's address string within the step. */
static void reply_address_survives_a_leader_address_change_in_the_same_step(void **state)
{
    (void)state;
    struct host h;
    start(&h, 1, 3);
    assert_int_equal(receive_append(&h, "n1", 2, 1, 1, 1, NULL, NOW + 10), 0);
    release_update(&h);
    const char *other = "10.0.0.1:40000";
    assert_int_equal(receive_append(&h, other, 2, 1, 1, 1, NULL, NOW + 20), 0);
    assert_true(h.u.flags & RAFT_UPDATE_MESSAGES);
    assert_int_equal(h.u.messages.n, 1);
    assert_int_equal(h.u.messages.batch[0].type, RAFT_APPEND_ENTRIES_RESULT);
    /* Under AddressSanitizer or valgrind a freed string is an error here. */
    assert_string_equal(h.u.messages.batch[0].server_address, other);
    release_update(&h);
    raft_id leader;
    const char *leader_address;
    raft_leader(&h.r, &leader, &leader_address);
    assert_true(leader == 2);
    assert_non_null(leader_address);
    raft_close(&h.r, NULL);
}

/* --- Re-entrant calls from a tracer ------------------------------------------------------------ */

struct reentrant_tracer {
    struct raft_tracer tracer;
    struct raft *r;
    unsigned calls;
    int step_rv;
};

static void reenter(struct raft_tracer *t, int type, const void *info)
{
    (void)type;
    (void)info;
    struct reentrant_tracer *rt = t->impl;
    rt->calls++;
    struct raft_event ev;
    struct raft_update u;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    ev.time = NOW + 1;
    rt->step_rv = raft_step(rt->r, &ev, &u);
    raft_close(rt->r, NULL);
}

/* A setter that traces ("election timeout 0 clamped") calls the host's tracer; a tracer that
 * steps or closes the instance from there is refused, as it is from inside raft_step. */
static void tracer_cannot_step_or_close_the_instance_from_a_setter(void **state)
{
    (void)state;
    struct host h;
    start(&h, 1, 3);
    struct reentrant_tracer rt = {{NULL, 2, reenter}, &h.r, 0, 0};
    rt.tracer.impl = &rt;
    h.r.tracer = &rt.tracer;
    raft_set_election_timeout(&h.r, 0);
    assert_true(rt.calls >= 1);
    assert_int_equal(rt.step_rv, RAFT_BUSY);
    /* The instance survived the attempted close and still works. */
    h.r.tracer = NULL;
    assert_int_equal(raft_state(&h.r), RAFT_FOLLOWER);
    assert_int_equal(timeout(&h, NOW + 100000), 0);
    release_update(&h);
    assert_int_equal(raft_state(&h.r), RAFT_CANDIDATE);
    raft_close(&h.r, NULL);
}

/* --- Allocation failure on the raft_step path -------------------------------------------------- */

#define HUGE_BATCH (1u << 22) /* entries announced by one AppendEntries */

static bool under_memory_checker(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
#endif
}

static size_t address_space_in_use(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In a child whose address space is capped just above what it uses, receives an AppendEntries
 * announcing 4 Mi entries: the library needs memory proportional to that and must answer
 * RAFT_NOMEM with nothing changed and the batch still the host's, where it once aborted. */
static int receive_huge_batch_in_capped_process(void)
{
    struct host h;
    start(&h, 1, 3);
    struct raft_entry *entries = calloc(HUGE_BATCH, sizeof *entries);
    void *batch = raft_malloc(8);
    if (entries == NULL || batch == NULL) {
        return 10;
    }
    for (unsigned i = 0; i < HUGE_BATCH; i++) {
        entries[i] = (struct raft_entry){2, RAFT_COMMAND, {batch, 0}, batch};
    }
    struct host_observed before = host_observe(&h.r);
    struct rlimit cap;
    cap.rlim_cur = cap.rlim_max = address_space_in_use() + (32u << 20);
    if (setrlimit(RLIMIT_AS, &cap) != 0) {
        return 11;
    }
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES;
    m.server_id = 2;
    m.server_address = "s2";
    m.append_entries.term = 2;
    m.append_entries.prev_log_index = 1;
    m.append_entries.prev_log_term = 1;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = HUGE_BATCH;
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = &m;
    int rv = step_at(&h, &ev, NOW + 10);
    if (rv != RAFT_NOMEM) {
        return 12;
    }
    struct host_observed after = host_observe(&h.r);
    if (memcmp(&before, &after, sizeof before) != 0) {
        return 13;
    }
    raft_free(batch); /* still the host's: a double free would abort here */
    free(entries);
    raft_close(&h.r, NULL);
    return 0;
}

static void append_entries_too_large_for_memory_fails_with_nomem(void **state)
{
    (void)state;
    /* A capped address space only means something for the system allocator: AddressSanitizer
     * and valgrind bring their own (which report or abort on exhaustion by design). */
    if (under_memory_checker()) {
        return;
    }
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(receive_huge_batch_in_capped_process());
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status)); /* an abort (SIGABRT) is the defect */
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A failed test must not leave the failing heap behind for the next ones. */
static int restore_heap(void **state)
{
    (void)state;
    heap_failing = false;
    raft_heap_set_default();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lone_voter_that_times_out_leads_and_appends_its_barrier),
        cmocka_unit_test_teardown(step_without_memory_for_a_barrier_fails_before_anything_changes,
                                  restore_heap),
        cmocka_unit_test(reply_address_survives_a_leader_address_change_in_the_same_step),
        cmocka_unit_test(tracer_cannot_step_or_close_the_instance_from_a_setter),
        cmocka_unit_test(append_entries_too_large_for_memory_fails_with_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
