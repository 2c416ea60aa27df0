/* Stateless utilities: error strings, names, digest, random generator, version, heap. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

static void strerror_gives_craft_text_for_every_code(void **state)
{
    (void)state;
    static const char *const texts[] = {
        [RAFT_NOMEM] = "out of memory",
        [RAFT_BADID] = "server ID is not valid",
        [RAFT_DUPLICATEID] = "server ID already in use",
        [RAFT_DUPLICATEADDRESS] = "server address already in use",
        [RAFT_BADROLE] = "server role is not valid",
        [RAFT_MALFORMED] = "encoded data is malformed",
        [RAFT_NOTLEADER] = "server is not the leader",
        [RAFT_LEADERSHIPLOST] = "server has lost leadership",
        [RAFT_SHUTDOWN] = "server is shutting down",
        [RAFT_CANTBOOTSTRAP] = "bootstrap only works on new clusters",
        [RAFT_CANTCHANGE] = "a configuration change is already in progress",
        [RAFT_CORRUPT] = "persisted data is corrupted",
        [RAFT_CANCELED] = "operation canceled",
        [RAFT_NAMETOOLONG] = "resource name too long",
        [RAFT_TOOBIG] = "data is too big",
        [RAFT_NOCONNECTION] = "no connection to remote server available",
        [RAFT_BUSY] = "operation can't be performed at this time",
        [RAFT_IOERR] = "I/O error",
        [RAFT_NOTFOUND] = "Resource not found",
        [RAFT_INVALID] = "Invalid parameter",
        [RAFT_UNAUTHORIZED] = "No access to resource",
        [RAFT_NOSPACE] = "Not enough disk space",
        [RAFT_TOOMANY] = "System or raft limit met or exceeded",
    };
    for (int code = RAFT_NOMEM; code <= RAFT_TOOMANY; code++) {
        assert_string_equal(raft_strerror(code), texts[code]);
    }
    assert_int_equal(RAFT_TOOMANY, 23);
    assert_string_equal(raft_strerror(0), "unknown error");
    assert_string_equal(raft_strerror(24), "unknown error");
    assert_string_equal(raft_strerror(-1), "unknown error");
}

static void state_and_role_names(void **state)
{
    (void)state;
    assert_string_equal(raft_state_name(RAFT_FOLLOWER), "follower");
    assert_string_equal(raft_state_name(RAFT_CANDIDATE), "candidate");
    assert_string_equal(raft_state_name(RAFT_LEADER), "leader");
    assert_null(raft_state_name(RAFT_UNAVAILABLE));
    assert_null(raft_state_name(4));
    assert_null(raft_state_name(-1));
    assert_string_equal(raft_role_name(RAFT_STANDBY), "stand-by");
    assert_string_equal(raft_role_name(RAFT_VOTER), "voter");
    assert_string_equal(raft_role_name(RAFT_SPARE), "spare");
    assert_null(raft_role_name(3));
    assert_null(raft_role_name(-1));
}

static void digest_matches_craft_vectors(void **state)
{
    (void)state;
    assert_true(raft_digest("127.0.0.1:65536", 0) == 17791327498928598451ULL);
    assert_true(raft_digest("127.0.0.1:65536", 0) == 0xf6e77e1908472db3ULL);
    assert_true(raft_digest("abc", 1234) == 7863176461209272338ULL);
    assert_true(raft_digest(NULL, 1) == 0);
}

static void random_matches_craft_vectors(void **state)
{
    (void)state;
    static const unsigned expected[20] = {1571, 1410, 1735, 1743, 1995, 1353, 1589,
                                          1478, 1753, 1367, 1112, 1216, 1727, 1057,
                                          1061, 1669, 1773, 1425, 1864, 1035};
    unsigned s = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(raft_random(&s, 1000, 2000), expected[i]);
    }
    s = 42;
    assert_int_equal(raft_random(&s, 1000, 2000), 1650);
}

static void random_empty_range_returns_min_without_advancing(void **state)
{
    (void)state;
    unsigned s = 99;
    assert_int_equal(raft_random(&s, 7, 7), 7);
    assert_int_equal(s, 99);
    assert_int_equal(raft_random(&s, 0, 0), 0);
    assert_int_equal(raft_random(&s, 9, 3), 9); /* inverted: min, no crash */
    assert_int_equal(raft_random(NULL, 5, 10), 5);
    for (int i = 0; i < 1000; i++) {
        unsigned v = raft_random(&s, 10, 12);
        assert_in_range(v, 10, 12);
    }
}

static void version_number(void **state)
{
    (void)state;
    assert_int_equal(raft_version_number(), 2201);
}

/* A heap that counts what goes through it, to prove the library uses the current heap. */
struct counting_heap {
    int mallocs, frees, callocs, reallocs, aligned, aligned_frees;
};

static void *count_malloc(void *data, size_t size)
{
    ((struct counting_heap *)data)->mallocs++;
    return malloc(size);
}
static void count_free(void *data, void *ptr)
{
    ((struct counting_heap *)data)->frees++;
    free(ptr);
}
static void *count_calloc(void *data, size_t n, size_t size)
{
    ((struct counting_heap *)data)->callocs++;
    return calloc(n, size);
}
static void *count_realloc(void *data, void *ptr, size_t size)
{
    ((struct counting_heap *)data)->reallocs++;
    return realloc(ptr, size);
}
static void *count_aligned_alloc(void *data, size_t alignment, size_t size)
{
    ((struct counting_heap *)data)->aligned++;
    return aligned_alloc(alignment, size);
}
static void count_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)alignment;
    ((struct counting_heap *)data)->aligned_frees++;
    free(ptr);
}

static void heap_functions_forward_to_the_installed_heap(void **state)
{
    (void)state;
    struct counting_heap counts = {0};
    struct raft_heap heap = {&counts,       count_malloc,        count_free, count_calloc,
                             count_realloc, count_aligned_alloc, count_aligned_free};
    const struct raft_heap *builtin = raft_heap_get();
    assert_non_null(builtin);

    raft_heap_set(&heap);
    assert_ptr_equal(raft_heap_get(), &heap);
    void *p = raft_malloc(16);
    p = raft_realloc(p, 32);
    void *q = raft_calloc(4, 8);
    void *a = raft_aligned_alloc(64, 128);
    assert_true(((uintptr_t)a % 64) == 0);
    raft_free(p);
    raft_free(q);
    raft_free(NULL); /* does not reach the heap */
    raft_aligned_free(64, a);
    assert_int_equal(counts.mallocs, 1);
    assert_int_equal(counts.reallocs, 1);
    assert_int_equal(counts.callocs, 1);
    assert_int_equal(counts.aligned, 1);
    assert_int_equal(counts.frees, 2);
    assert_int_equal(counts.aligned_frees, 1);

    /* Memory the library hands out goes through the heap too. */
    struct raft_configuration c;
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 1, "a", RAFT_VOTER), 0);
    struct raft_buffer buf;
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    raft_free(buf.base);
    raft_configuration_close(&c);
    assert_int_equal(counts.mallocs + counts.reallocs + counts.callocs,
                     1 + 1 + 1 + 3); /* address copy, array growth, encoded buffer */
    assert_int_equal(counts.frees, 2 + 3);

    raft_heap_set_default();
    assert_ptr_equal(raft_heap_get(), builtin);
    p = raft_malloc(8);
    raft_free(p);
    assert_int_equal(counts.mallocs, 1 + 2);
}

static void heap_with_missing_functions_fails_cleanly(void **state)
{
    (void)state;
    struct raft_heap empty = {0};
    raft_heap_set(&empty);
    assert_null(raft_malloc(8));
    assert_null(raft_calloc(1, 8));
    assert_null(raft_realloc(NULL, 8));
    struct raft_configuration c;
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 1, "a", RAFT_VOTER), RAFT_NOMEM);
    assert_int_equal(c.n, 0);
    raft_heap_set_default();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_gives_craft_text_for_every_code),
        cmocka_unit_test(state_and_role_names),
        cmocka_unit_test(digest_matches_craft_vectors),
        cmocka_unit_test(random_matches_craft_vectors),
        cmocka_unit_test(random_empty_range_returns_min_without_advancing),
        cmocka_unit_test(version_number),
        cmocka_unit_test(heap_functions_forward_to_the_installed_heap),
        cmocka_unit_test(heap_with_missing_functions_fails_cleanly),
    };
    return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
