/* What one durable append costs, by the way it reaches the disk (issue 14, BENCHMARKS.md):
 * N appends of one small record, one after the other, into a preallocated file, each made
 * durable before the next starts, timed from submission to the completion seen on a libuv loop:
 *
 *   sync        pwrite + fdatasync on the loop thread (the floor; blocks the loop)
 *   threadpool  the same on libuv's thread pool (uv_queue_work), what raft_uv does today
 *   io_uring    one IORING_OP_WRITE with RWF_DSYNC, completion through an eventfd polled by
 *               the loop (liburing), what a kernel-side submission would give
 *
 * each buffered and with O_DIRECT (4 KiB blocks). Prints mean microseconds per append.
 *
 *   append_latency DIR [N]
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

enum { RECORD = 128, BLOCK = 4096 };

static char block[BLOCK] __attribute__((aligned(BLOCK)));
static int fd;
static size_t len;
static off_t offset;
static int done, total;
static double started, spent;
static uv_loop_t *loop;
static struct io_uring ring;
static int efd;
static uv_poll_t poll_handle;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

static void open_file(const char *path, bool direct)
{
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 || posix_fallocate(fd, 0, 64 << 20) != 0 || fsync(fd) != 0) {
        fail(path);
    }
    len = direct ? BLOCK : RECORD;
    offset = 0;
    done = 0;
    spent = 0;
}

static void append_now(void)
{
    if (pwrite(fd, block, len, offset) != (ssize_t)len || fdatasync(fd) != 0) {
        fail("append");
    }
}

static void completed(void)
{
    spent += now() - started;
    offset += (off_t)len;
    done++;
}

static void on_work(uv_work_t *w)
{
    (void)w;
    append_now();
}

static void after_work(uv_work_t *w, int status)
{
    (void)status;
    completed();
    if (done < total) {
        started = now();
        uv_queue_work(loop, w, on_work, after_work);
    }
}

static void submit_uring(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_write(sqe, fd, block, (unsigned)len, (uint64_t)offset);
    sqe->rw_flags = RWF_DSYNC;
    started = now();
    if (io_uring_submit(&ring) != 1) {
        fail("io_uring_submit");
    }
}

static void on_eventfd(uv_poll_t *h, int status, int events)
{
    (void)h, (void)status, (void)events;
    uint64_t n;
    if (read(efd, &n, sizeof n) < 0) {
        return;
    }
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
        if (cqe->res != (int)len) {
            fprintf(stderr, "io_uring write: %d\n", cqe->res);
            exit(1);
        }
        io_uring_cqe_seen(&ring, cqe);
        completed();
        if (done < total) {
            submit_uring();
        } else {
            uv_poll_stop(&poll_handle);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/append_latency.dat", argv[1]);
    total = argc > 2 ? atoi(argv[2]) : 3000;
    memset(block, 'x', sizeof block);
    loop = uv_default_loop();
    if (io_uring_queue_init(8, &ring, 0) != 0) {
        fail("io_uring_queue_init");
    }
    efd = eventfd(0, EFD_NONBLOCK);
    if (efd < 0 || io_uring_register_eventfd(&ring, efd) != 0) {
        fail("eventfd");
    }
    for (int direct = 0; direct <= 1; direct++) {
        const char *kind = direct ? "O_DIRECT 4 KiB" : "buffered 128 B";

        open_file(path, direct);
        for (int k = 0; k < total; k++) {
            started = now();
            append_now();
            completed();
        }
        printf("append.sync (%s): %.1f us\n", kind, spent / total * 1e6);
        close(fd);

        open_file(path, direct);
        uv_work_t w;
        started = now();
        uv_queue_work(loop, &w, on_work, after_work);
        uv_run(loop, UV_RUN_DEFAULT);
        printf("append.threadpool (%s): %.1f us\n", kind, spent / total * 1e6);
        close(fd);

        open_file(path, direct);
        uv_poll_init(loop, &poll_handle, efd);
        uv_poll_start(&poll_handle, UV_READABLE, on_eventfd);
        submit_uring();
        uv_run(loop, UV_RUN_DEFAULT);
        printf("append.io_uring (%s): %.1f us\n", kind, spent / total * 1e6);
        uv_close((uv_handle_t *)&poll_handle, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        close(fd);
    }
    unlink(path);
    io_uring_queue_exit(&ring);
    return 0;
}
