/* Helpers of the raft/uv.h tests: temporary data directories and running the loop until a
 * condition holds (bounded: a test that waits more than 10 s of loop time fails). */
#ifndef UV_TEST_H
#define UV_TEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>

/* Runs the loop one iteration at a time until `cond` holds. */
#define RUN_UNTIL(loop, cond)                                              \
    do {                                                                   \
        uv_update_time(loop);                                              \
        uint64_t start_ = uv_now(loop);                                    \
        while (!(cond)) {                                                  \
            uv_run((loop), UV_RUN_ONCE);                                   \
            uv_update_time(loop);                                          \
            if (uv_now(loop) - start_ > 10000) {                           \
                fail_msg("timed out waiting for: %s", #cond);              \
            }                                                              \
        }                                                                  \
    } while (0)

/* A fresh empty directory under /tmp; the caller frees the string after remove_dir. */
static inline char *make_dir(void)
{
    char *dir = strdup("/tmp/raft-uv-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

/* Deletes a flat directory and its files. */
static inline void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Copies the regular files of `from` into the existing directory `to`. */
static inline void copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    assert_non_null(d);
    struct dirent *e;
    char src[2048], dst[2048];
    static char buf[1 << 16];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
        int in = open(src, O_RDONLY);
        assert_true(in >= 0);
        int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(out >= 0);
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            assert_int_equal(write(out, buf, (size_t)n), n);
        }
        close(in);
        close(out);
    }
    closedir(d);
}

/* True if `dir/name` exists. */
static inline bool file_exists(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Size of `dir/name`, -1 if missing. */
static inline long file_size(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A port for this process's tests: distinct between concurrent runs, and below Linux's
 * ephemeral range (32768-60999 by default): a connection of an earlier test in TIME_WAIT on an
 * ephemeral port makes listening on that port fail with EADDRINUSE, SO_REUSEADDR or not. */
static inline int test_port(int i)
{
    return 10000 + (int)(getpid() % 7500) * 3 + i;
}

/* Copies the C-Raft data directory `name` of the vectors (UV_VECTORS) into `to`, unpacking
 * its gzip-compressed open segments. */
static inline void copy_vector(const char *name, const char *to)
{
    const char *root = getenv("UV_VECTORS");
    char from[1024], cmd[4096];
    snprintf(from, sizeof from, "%s/%s", root != NULL ? root : "tests/vectors/craft-0.15/disk",
             name);
    copy_dir(from, to);
    snprintf(cmd, sizeof cmd, "cd '%s' && for f in *.gz; do [ -e \"$f\" ] && gzip -dq \"$f\"; done; true", to);
    assert_int_equal(system(cmd), 0);
}

#endif
