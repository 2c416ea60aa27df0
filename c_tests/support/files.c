/* Reading test vectors. The buffer comes from raft_malloc so that tests can hand it to any
 * function of the library that takes ownership of raft heap memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "files.h"

struct raft_buffer read_vector(const char *path)
{
    struct raft_buffer buf = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s (tests run from the repository root)", path);
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf.len = (size_t)size;
    buf.base = raft_malloc(buf.len > 0 ? buf.len : 1);
    assert_non_null(buf.base);
    assert_int_equal(fread(buf.base, 1, buf.len, f), buf.len);
    fclose(f);
    return buf;
}
