/* The disk side of raft_uv through struct raft_io: init, load (empty, bootstrapped, crashed,
 * corrupted and C-Raft-written directories), bootstrap, term and vote, append, truncate,
 * snapshots, and close with requests in flight. */
#include "uv_test.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Disk faults -------------------------------------------------------------------------
 * This program defines write(), pwrite(), pwrite64() and fdatasync(), which the dynamic linker
 * binds in place of
 * libc's for the whole process, the library's disk threads included (C's symbol
 * interposition: no preload, no change to the library). With no fault armed they forward to
 * libc. Only regular files are hit: libuv's own wake-up writes (eventfds, pipes) are not;
 * fsync() is interposed too, to fail the syncs of directories (FAULT_EIO_DIR_SYNC), rename() to
 * fail renames (FAULT_EIO_RENAME), and open()/open64() to fail the creation of files
 * (FAULT_ENOSPC_CREATE: a full directory or inode table). */

enum fault {
    FAULT_NONE,
    FAULT_ENOSPC,
    FAULT_EIO_SYNC,
    FAULT_SHORT_WRITES,
    FAULT_EIO_DIR_SYNC,
    FAULT_EIO_RENAME,
    FAULT_ENOSPC_CREATE,
};

static bool is_regular_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}
static _Atomic int armed = FAULT_NONE;
static _Atomic int faults_injected = 0;

/* While set, the sync of a snapshot file being written waits until it is cleared (3 s at
 * most): the put stays in flight while a test watches what else completes meanwhile. */
static _Atomic bool hold_snapshot_syncs = false;

static bool is_snapshot_file(int fd)
{
    char link[64];
    char path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) {
        return false;
    }
    path[n] = '\0';
    return strstr(path, "snapshot-") != NULL;
}

static void wait_while_snapshot_syncs_are_held(int fd)
{
    if (!atomic_load(&hold_snapshot_syncs) || !is_snapshot_file(fd)) {
        return;
    }
    for (int i = 0; i < 3000 && atomic_load(&hold_snapshot_syncs); i++) {
        struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&ms, NULL);
    }
}

/* The armed fault for a write of `*n` bytes to `fd`: false with errno set when the write must
 * fail, otherwise true, `*n` perhaps shortened. */
static bool let_write_through(int fd, size_t *n)
{
    if (*n > 0 && atomic_load(&armed) != FAULT_NONE && is_regular_file(fd)) {
        switch (atomic_load(&armed)) {
            case FAULT_ENOSPC:
                atomic_fetch_add(&faults_injected, 1);
                errno = ENOSPC;
                return false;
            case FAULT_SHORT_WRITES:
                if (*n > 1) {
                    atomic_fetch_add(&faults_injected, 1);
                    *n = *n / 2; /* a short write, as a full pipe or a signal can cause */
                }
                break;
            default:
                break;
        }
    }
    return true;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*next)(int, const void *, size_t);
    if (next == NULL) {
        next = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    }
    return let_write_through(fd, &n) ? next(fd, buf, n) : -1;
}

/* Appends to open segments are positioned writes (Rust's write_all_at: pwrite64). */
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset)
{
    static ssize_t (*next)(int, const void *, size_t, off_t);
    if (next == NULL) {
        next = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    }
    return let_write_through(fd, &n) ? next(fd, buf, n, offset) : -1;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
{
    return pwrite64(fd, buf, n, offset);
}

static bool is_directory(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fails a sync with EIO when `fault` is armed and `applies` to the descriptor. */
static bool sync_fails(enum fault fault, bool applies)
{
    if (atomic_load(&armed) == (int)fault && applies) {
        atomic_fetch_add(&faults_injected, 1);
        errno = EIO;
        return true;
    }
    return false;
}

int fsync(int fd)
{
    static int (*next)(int);
    if (next == NULL) {
        next = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    return sync_fails(FAULT_EIO_DIR_SYNC, is_directory(fd)) ? -1 : next(fd);
}

/* Fails with `err` when `fault` is armed. */
static bool call_fails(enum fault fault, int err)
{
    if (atomic_load(&armed) == (int)fault) {
        atomic_fetch_add(&faults_injected, 1);
        errno = err;
        return true;
    }
    return false;
}

int rename(const char *from, const char *to)
{
    static int (*next)(const char *, const char *);
    if (next == NULL) {
        next = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    }
    return call_fails(FAULT_EIO_RENAME, EIO) ? -1 : next(from, to);
}

/* Files are opened through open64() (Rust's std) or open(): only a creation can fail. */
static int open_through(const char *symbol, const char *path, int flags, mode_t mode)
{
    if ((flags & O_CREAT) && call_fails(FAULT_ENOSPC_CREATE, ENOSPC)) {
        return -1;
    }
    int (*next)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, symbol);
    return next(path, flags, mode);
}

/* The body of an open() variant: reads the mode argument, passed only with a creation. */
#define OPEN_THROUGH(SYMBOL)                        \
    do {                                            \
        mode_t mode = 0;                            \
        if (flags & (O_CREAT | O_TMPFILE)) {        \
            va_list ap;                             \
            va_start(ap, flags);                    \
            mode = va_arg(ap, mode_t);              \
            va_end(ap);                             \
        }                                           \
        return open_through(SYMBOL, path, flags, mode); \
    } while (0)

int open64(const char *path, int flags, ...)
{
    OPEN_THROUGH("open64");
}

int open(const char *path, int flags, ...)
{
    OPEN_THROUGH("open");
}

int fdatasync(int fd)
{
    static int (*next)(int);
    if (next == NULL) {
        next = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    wait_while_snapshot_syncs_are_held(fd);
    return sync_fails(FAULT_EIO_SYNC, is_regular_file(fd)) ? -1 : next(fd);
}

struct fixture
{
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    char *dir;
    bool closed;
};

struct loaded
{
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snapshot;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
};

static void open_io(struct fixture *f)
{
    assert_int_equal(uv_loop_init(&f->loop), 0);
    memset(&f->transport, 0, sizeof f->transport);
    memset(&f->io, 0, sizeof f->io);
    assert_int_equal(raft_uv_tcp_init(&f->transport, &f->loop), 0);
    assert_int_equal(raft_uv_init(&f->io, &f->loop, f->dir, &f->transport), 0);
    f->io.data = f;
    assert_int_equal(f->io.init(&f->io, 1, "127.0.0.1:9001"), 0);
}

static void closed_cb(struct raft_io *io)
{
    ((struct fixture *)io->data)->closed = true;
}

static void close_io(struct fixture *f)
{
    f->closed = false;
    f->io.close(&f->io, closed_cb);
    assert_false(f->closed); /* never from inside close */
    RUN_UNTIL(&f->loop, f->closed);
    raft_uv_close(&f->io);
    raft_uv_tcp_close(&f->transport);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = make_dir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    remove_dir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int load(struct fixture *f, struct loaded *l)
{
    memset(l, 0, sizeof *l);
    return f->io.load(&f->io, &l->term, &l->vote, &l->snapshot, &l->start, &l->entries, &l->n);
}

static void free_loaded(struct loaded *l)
{
    void *last = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (l->entries[i].batch != last) {
            raft_free(l->entries[i].batch);
            last = l->entries[i].batch;
        }
    }
    raft_free(l->entries);
    if (l->snapshot != NULL) {
        for (unsigned i = 0; i < l->snapshot->n_bufs; i++) {
            raft_free(l->snapshot->bufs[i].base);
        }
        raft_free(l->snapshot->bufs);
        raft_configuration_close(&l->snapshot->configuration);
        raft_free(l->snapshot);
    }
}

static void bootstrap(struct fixture *f)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    assert_int_equal(f->io.bootstrap(&f->io, &conf), 0);
    raft_configuration_close(&conf);
}

/* Appends. */
struct append
{
    struct raft_io_append req;
    uint64_t value;
    int status;
    int calls;
};

static void append_cb(struct raft_io_append *req, int status)
{
    struct append *a = req->data;
    a->status = status;
    a->calls++;
}

static int submit_append(struct fixture *f, struct append *a, uint64_t value, raft_term term)
{
    struct raft_entry entry;
    memset(a, 0, sizeof *a);
    a->req.data = a;
    a->value = value;
    a->status = -1;
    entry.term = term;
    entry.type = RAFT_COMMAND;
    entry.buf.base = &a->value;
    entry.buf.len = sizeof a->value;
    entry.batch = NULL;
    return f->io.append(&f->io, &a->req, &entry, 1, append_cb);
}

static bool all_called(struct append *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].calls == 0) {
            return false;
        }
    }
    return true;
}

static void append_values(struct fixture *f, uint64_t first, size_t n)
{
    struct append *a = calloc(n, sizeof *a);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(submit_append(f, &a[i], first + i, 1), 0);
    }
    RUN_UNTIL(&f->loop, all_called(a, n));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_int_equal(a[i].status, 0);
    }
    free(a);
}

static uint64_t value_of(const struct raft_entry *e)
{
    uint64_t v;
    assert_int_equal(e->buf.len, sizeof v);
    memcpy(&v, e->buf.base, sizeof v);
    return v;
}

/* Init refuses what C-Raft refuses, with a message. */
static void init_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct raft_uv_transport t;
    memset(&t, 0, sizeof t);
    assert_int_equal(raft_uv_tcp_init(&t, &f->loop), 0);
    struct raft_io io;
    memset(&io, 0, sizeof io);
    char path[1200];
    snprintf(path, sizeof path, "%s/missing", f->dir);
    assert_int_equal(raft_uv_init(&io, &f->loop, path, &t), RAFT_NOTFOUND);
    assert_non_null(strstr(io.errmsg, "does not exist"));
    snprintf(path, sizeof path, "%s/file", f->dir);
    FILE *file = fopen(path, "w");
    fclose(file);
    assert_int_equal(raft_uv_init(&io, &f->loop, path, &t), RAFT_INVALID);
    memset(path, 'a', 1100);
    path[0] = '/';
    path[1100] = 0;
    assert_int_equal(raft_uv_init(&io, &f->loop, path, &t), RAFT_NAMETOOLONG);
    t.version = 0;
    assert_int_equal(raft_uv_init(&io, &f->loop, f->dir, &t), RAFT_INVALID);
    assert_int_equal(raft_uv_init(&io, &f->loop, NULL, &t), RAFT_INVALID);
    raft_uv_close(&io); /* nothing to release: harmless */
    raft_uv_tcp_close(&t);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* raft_uv_close on an instance whose io->close never ran (a host giving up right after
 * raft_uv_init) takes every handle the instance put on the loop away with it, the poll handle
 * of io_uring's eventfd included: the loop has nothing left to run and closes. */
static void release_without_close_leaves_nothing_on_the_loop(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    memset(&f->transport, 0, sizeof f->transport);
    memset(&f->io, 0, sizeof f->io);
    assert_int_equal(raft_uv_tcp_init(&f->transport, &f->loop), 0);
    assert_int_equal(raft_uv_init(&f->io, &f->loop, f->dir, &f->transport), 0);
    raft_uv_close(&f->io);
    raft_uv_tcp_close(&f->transport);
    for (int i = 0; i < 10 && uv_loop_alive(&f->loop); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_false(uv_loop_alive(&f->loop));
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A never-used directory: term 0, no vote, no snapshot, no entries. */
static void load_empty(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.term, 0);
    assert_int_equal(l.vote, 0);
    assert_null(l.snapshot);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, 0);
    free_loaded(&l);
    close_io(f);
}

/* Bootstrap writes term 1 and the configuration at index 1, once. */
static void bootstrap_then_load(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    bootstrap(f);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    assert_int_equal(f->io.bootstrap(&f->io, &conf), RAFT_CANTBOOTSTRAP);
    close_io(f);
    assert_true(file_exists(f->dir, "metadata1"));
    assert_true(file_exists(f->dir, "0000000000000001-0000000000000001"));

    open_io(f);
    assert_int_equal(f->io.bootstrap(&f->io, &conf), RAFT_CANTBOOTSTRAP);
    raft_configuration_close(&conf);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.term, 1);
    assert_int_equal(l.vote, 0);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.entries[0].type, RAFT_CHANGE);
    struct raft_configuration decoded;
    raft_configuration_init(&decoded);
    assert_int_equal(raft_configuration_decode(&l.entries[0].buf, &decoded), 0);
    assert_int_equal(decoded.n, 1);
    assert_string_equal(decoded.servers[0].address, "127.0.0.1:9001");
    raft_configuration_close(&decoded);
    free_loaded(&l);
    close_io(f);
}

/* Term and vote survive a close and a reopen; a new term clears the vote. */
static void term_and_vote_persist(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    assert_int_equal(f->io.set_term(&f->io, 5), 0);
    assert_int_equal(f->io.set_vote(&f->io, 2), 0);
    close_io(f);
    open_io(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.term, 5);
    assert_int_equal(l.vote, 2);
    free_loaded(&l);
    assert_int_equal(f->io.set_term(&f->io, 6), 0);
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.term, 6);
    assert_int_equal(l.vote, 0);
    free_loaded(&l);
    close_io(f);
    assert_int_equal(file_size(f->dir, "metadata1"), 32);
    assert_int_equal(file_size(f->dir, "metadata2"), 32);
}

/* Many small appends submitted at once all complete, and read back in order. */
static void append_many_small(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 1000, 300);
    close_io(f);
    assert_false(file_exists(f->dir, "open-1")); /* a clean close leaves no open segment */

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 301);
    for (size_t i = 1; i < l.n; i++) {
        assert_int_equal(value_of(&l.entries[i]), 1000 + i - 1);
    }
    free_loaded(&l);
    close_io(f);
}

/* Appends read back whatever block direct writes use: a set size (8 KiB) and sizes that are
 * not valid block sizes, which are ignored. */
static void append_with_a_block_size_set(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    raft_uv_set_block_size(&f->io, 3000); /* not a power of two: ignored */
    raft_uv_set_block_size(&f->io, 8192);
    raft_uv_set_block_size(&f->io, 0);    /* ignored */
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    for (int round = 0; round < 30; round++) {
        append_values(f, (uint64_t)round * 40, 40);
    }
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 1201);
    for (size_t i = 1; i < l.n; i++) {
        assert_int_equal(value_of(&l.entries[i]), i - 1);
    }
    free_loaded(&l);
    close_io(f);
}

/* A small segment size spreads the log over several closed segments. */
static void append_rolls_segments(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    raft_uv_set_segment_size(&f->io, 512);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    for (int round = 0; round < 10; round++) {
        append_values(f, (uint64_t)round * 10, 10);
    }
    close_io(f);
    assert_false(file_exists(f->dir, "0000000000000002-0000000000000101"));
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 101);
    assert_int_equal(value_of(&l.entries[100]), 99);
    free_loaded(&l);
    close_io(f);
}

/* A truncation removes the suffix; the next append takes its place. */
static void truncate_then_append(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    raft_uv_set_segment_size(&f->io, 256);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 2, 10); /* indexes 2..11 hold 2..11 */
    assert_int_equal(f->io.truncate(&f->io, 6), 0);
    append_values(f, 100, 2); /* indexes 6, 7 */
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 7);
    assert_int_equal(value_of(&l.entries[4]), 5);
    assert_int_equal(value_of(&l.entries[5]), 100);
    assert_int_equal(value_of(&l.entries[6]), 101);
    free_loaded(&l);
    close_io(f);
}

/* Snapshots. */
struct put
{
    struct raft_io_snapshot_put req;
    int status;
    int calls;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct put *p = req->data;
    p->status = status;
    p->calls++;
}

struct get
{
    struct raft_io_snapshot_get req;
    struct raft_snapshot *snapshot;
    int status;
    int calls;
};

static void get_cb(struct raft_io_snapshot_get *req, struct raft_snapshot *snapshot, int status)
{
    struct get *g = req->data;
    g->snapshot = snapshot;
    g->status = status;
    g->calls++;
}

/* Puts a snapshot of 16 bytes (`text`) at `index` and returns its status. */
static int try_put_snapshot(struct fixture *f, raft_index index, unsigned trailing,
                            const char *text);

static void put_snapshot(struct fixture *f, raft_index index, unsigned trailing, const char *text)
{
    assert_int_equal(try_put_snapshot(f, index, trailing, text), 0);
}

/* A snapshot of 16 bytes being put: what must stay valid until its callback. */
struct put_in_flight
{
    struct raft_snapshot s;
    struct raft_buffer bufs[1];
    char data[16];
    struct put p;
};

static void start_put_snapshot(struct fixture *f, struct put_in_flight *q, raft_index index,
                               unsigned trailing, const char *text)
{
    memset(q, 0, sizeof *q);
    memcpy(q->data, text, sizeof q->data);
    q->bufs[0].base = q->data;
    q->bufs[0].len = sizeof q->data;
    q->s.index = index;
    q->s.term = 1;
    raft_configuration_init(&q->s.configuration);
    assert_int_equal(raft_configuration_add(&q->s.configuration, 1, "127.0.0.1:9001", RAFT_VOTER),
                     0);
    q->s.configuration_index = 1;
    q->s.bufs = q->bufs;
    q->s.n_bufs = 1;
    q->p.req.data = &q->p;
    q->p.status = -1;
    assert_int_equal(f->io.snapshot_put(&f->io, trailing, &q->p.req, &q->s, put_cb), 0);
    raft_configuration_close(&q->s.configuration);
}

static int try_put_snapshot(struct fixture *f, raft_index index, unsigned trailing,
                            const char *text)
{
    struct raft_snapshot s;
    struct raft_buffer bufs[2];
    char first[8], second[8];
    memcpy(first, text, 8);
    memcpy(second, text + 8, 8);
    bufs[0].base = first;
    bufs[0].len = 8;
    bufs[1].base = second;
    bufs[1].len = 8;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.term = 1;
    raft_configuration_init(&s.configuration);
    assert_int_equal(raft_configuration_add(&s.configuration, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    s.configuration_index = 1;
    s.bufs = bufs;
    s.n_bufs = 2;
    struct put p = {.req = {.data = &p}, .status = -1};
    p.req.data = &p;
    assert_int_equal(f->io.snapshot_put(&f->io, trailing, &p.req, &s, put_cb), 0);
    raft_configuration_close(&s.configuration);
    RUN_UNTIL(&f->loop, p.calls > 0);
    assert_int_equal(p.calls, 1);
    return p.status;
}

static void snapshot_put_get_with_trailing(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    raft_uv_set_segment_size(&f->io, 256);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 2, 20); /* indexes 2..21 */
    put_snapshot(f, 15, 5, "snapshot-at-15!!");

    struct get g = {.status = -1};
    g.req.data = &g;
    assert_int_equal(f->io.snapshot_get(&f->io, &g.req, get_cb), 0);
    RUN_UNTIL(&f->loop, g.calls > 0);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.snapshot->index, 15);
    assert_int_equal(g.snapshot->term, 1);
    assert_int_equal(g.snapshot->configuration.n, 1);
    assert_int_equal(g.snapshot->n_bufs, 1);
    assert_int_equal(g.snapshot->bufs[0].len, 16);
    assert_memory_equal(g.snapshot->bufs[0].base, "snapshot-at-15!!", 16);
    struct loaded as_loaded = {.snapshot = g.snapshot};
    free_loaded(&as_loaded);
    close_io(f);

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 15);
    assert_true(l.start <= 11); /* the trailing entries are kept */
    assert_true(l.start > 1);   /* older segments are gone */
    assert_int_equal(l.start + l.n - 1, 21);
    assert_int_equal(value_of(&l.entries[l.n - 1]), 21);
    free_loaded(&l);

    /* An installed snapshot (trailing 0) replaces the whole log. */
    put_snapshot(f, 40, 0, "installed-at-40!");
    append_values(f, 41, 1);
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.snapshot->index, 40);
    assert_int_equal(l.start, 41);
    assert_int_equal(l.n, 1);
    assert_int_equal(value_of(&l.entries[0]), 41);
    free_loaded(&l);
    close_io(f);
}

/* Directories C-Raft 0.15 left after a crash in the middle of an append: the torn tail is
 * cut, the valid batches kept, as C-Raft does. */
static void load_crashed(const char *vector, size_t expected, const char *closed_name)
{
    struct fixture f;
    memset(&f, 0, sizeof f);
    f.dir = make_dir();
    copy_vector(vector, f.dir);
    open_io(&f);
    struct loaded l;
    assert_int_equal(load(&f, &l), 0);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, expected);
    free_loaded(&l);
    close_io(&f);
    assert_false(file_exists(f.dir, "open-1"));
    assert_false(file_exists(f.dir, "open-2"));
    assert_true(file_exists(f.dir, closed_name));
    remove_dir(f.dir);
    free(f.dir);
}

static void load_torn_open_segments(void **state)
{
    (void)state;
    load_crashed("recovery/t1-lastdata/input", 6, "0000000000000002-0000000000000006");
    load_crashed("recovery/t2-torn/input", 6, "0000000000000002-0000000000000006");
    load_crashed("recovery/t3-midhdr/input", 2, "0000000000000002-0000000000000002");
    load_crashed("recovery/t4-zerocount/input", 5, "0000000000000002-0000000000000005");
}

/* With auto-recovery off, an open segment whose tail is damaged (not zeros) makes the load
 * fail and stays as it is; with it on (the default, above) the valid batches are kept. */
static void auto_recovery_off_refuses_a_damaged_open_segment(void **state)
{
    struct fixture *f = *state;
    copy_vector("recovery/t2-torn/input", f->dir);
    open_io(f);
    raft_uv_set_auto_recovery(&f->io, false);
    struct loaded l;
    assert_int_equal(load(f, &l), RAFT_CORRUPT);
    assert_non_null(strstr(f->io.errmsg, "auto-recovery is off"));
    close_io(f);
    assert_true(file_exists(f->dir, "open-1") || file_exists(f->dir, "open-2"));
    open_io(f);
    raft_uv_set_auto_recovery(&f->io, true);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 6);
    free_loaded(&l);
    close_io(f);
}

/* A damaged closed segment is refused: nothing committed is dropped silently. */
static void load_corrupt_closed_segment(void **state)
{
    struct fixture *f = *state;
    copy_vector("recovery/t5-closed/input", f->dir);
    open_io(f);
    struct loaded l;
    assert_int_equal(load(f, &l), RAFT_CORRUPT);
    assert_non_null(strstr(f->io.errmsg, "0000000000000002-0000000000000007"));
    close_io(f);
    assert_true(file_exists(f->dir, "0000000000000002-0000000000000007"));
}

/* Directories written by C-Raft 0.15, with snapshots (LZ4 or raw) and trailing entries. */
static void load_craft_directories(void **state)
{
    struct fixture *f = *state;
    copy_vector("single-snapshot-lz4/stopped", f->dir);
    open_io(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 6);
    assert_int_equal(l.snapshot->bufs[0].len, 104);
    assert_int_equal(l.start, 4);
    assert_int_equal(l.n, 3);
    free_loaded(&l);
    close_io(f);

    remove_dir(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    copy_vector("single-basic/stopped", f->dir);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, 7);
    assert_memory_equal(l.entries[1].buf.base, "cmd-0001", 8);
    free_loaded(&l);
    close_io(f);
}

/* Closing with appends and a snapshot in flight: every callback fires once, the close
 * callback after them, and every append acknowledged with 0 is on disk. */
static void close_with_requests_in_flight(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    enum { N = 50 };
    struct append a[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(submit_append(f, &a[i], (uint64_t)i, 1), 0);
    }
    f->closed = false;
    f->io.close(&f->io, closed_cb);
    RUN_UNTIL(&f->loop, f->closed);
    size_t acknowledged = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_true(a[i].status == 0 || a[i].status == RAFT_CANCELED);
        if (a[i].status == 0) {
            assert_int_equal(acknowledged, (size_t)i); /* in order */
            acknowledged++;
        }
    }
    raft_uv_close(&f->io);
    raft_uv_tcp_close(&f->transport);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_true(l.n >= 1 + acknowledged);
    free_loaded(&l);
    close_io(f);
}

/* Entries C-Raft could not read back are refused at once. */
static void append_refuses_unaligned_entries(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    char data[5] = "abcd";
    struct raft_entry e = {.term = 1, .type = RAFT_COMMAND, .buf = {data, 5}, .batch = NULL};
    struct append a = {.status = -1};
    a.req.data = &a;
    assert_int_equal(f->io.append(&f->io, &a.req, &e, 1, append_cb), RAFT_INVALID);
    assert_non_null(strstr(f->io.errmsg, "multiple of 8"));
    close_io(f);
    assert_int_equal(a.calls, 0);
}

/* A write that fails (here: past RLIMIT_FSIZE, EFBIG) fails its append with RAFT_IOERR and a
 * message, never a crash; the segment is cut back, so later appends and a reload see exactly
 * the acknowledged entries. */
static void failed_write_is_reported_and_nothing_acknowledged_is_lost(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 1, 10);

    struct rlimit saved, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, SIG_IGN);
    small = saved;
    small.rlim_cur = 64 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    size_t len = 128 * 1024;
    void *big = calloc(1, len);
    struct raft_entry e = {.term = 1, .type = RAFT_COMMAND, .buf = {big, len}, .batch = NULL};
    struct append a = {.status = -1};
    a.req.data = &a;
    assert_int_equal(f->io.append(&f->io, &a.req, &e, 1, append_cb), 0);
    RUN_UNTIL(&f->loop, a.calls == 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    free(big);
    assert_int_equal(a.status, RAFT_IOERR);
    assert_non_null(strstr(f->io.errmsg, "open-"));

    append_values(f, 11, 2);
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 13);
    assert_int_equal(value_of(&l.entries[10]), 10);
    assert_int_equal(value_of(&l.entries[11]), 11);
    assert_int_equal(value_of(&l.entries[12]), 12);
    free_loaded(&l);
    close_io(f);
}

/* raft_recover appends the forced configuration after the last entry. */
static void recover_appends_the_configuration(void **state)
{
    struct fixture *f = *state;
    open_io(f);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 2, 3);
    close_io(f);

    open_io(f);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&conf, 4, "127.0.0.1:9004", RAFT_VOTER), 0);
    assert_int_equal(f->io.recover(&f->io, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.entries[4].type, RAFT_CHANGE);
    struct raft_configuration decoded;
    raft_configuration_init(&decoded);
    assert_int_equal(raft_configuration_decode(&l.entries[4].buf, &decoded), 0);
    assert_int_equal(decoded.n, 2);
    assert_int_equal(decoded.servers[1].id, 4);
    raft_configuration_close(&decoded);
    free_loaded(&l);
    close_io(f);
}


/* One append while `fault` is armed: its status and message; then, disarmed, two more appends
 * and a reopen must show exactly the acknowledged entries (nothing acknowledged is lost, nothing
 * failed is half there). */
static void append_under_fault_with_segments(struct fixture *f, enum fault fault,
                                             int expected_status, size_t segment_size);

static void append_under_fault(struct fixture *f, enum fault fault, int expected_status)
{
    append_under_fault_with_segments(f, fault, expected_status, 0);
}

/* The same with segments of `segment_size` bytes (0: the default). */
static void append_under_fault_with_segments(struct fixture *f, enum fault fault,
                                             int expected_status, size_t segment_size)
{
    /* The interposed write/pwrite/fdatasync see only libc's calls: these appends go through
     * the thread pool. The io_uring path reports the kernel's errors (see
     * failed_write_is_reported_and_nothing_acknowledged_is_lost). */
    setenv("LIBRAFT_RS_UV_URING", "0", 1);
    open_io(f);
    if (segment_size > 0) {
        raft_uv_set_segment_size(&f->io, segment_size);
    }
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 1, 10);

    struct append a;
    atomic_store(&faults_injected, 0);
    atomic_store(&armed, fault);
    assert_int_equal(submit_append(f, &a, 99, 1), 0);
    RUN_UNTIL(&f->loop, a.calls == 1);
    atomic_store(&armed, FAULT_NONE);
    assert_true(atomic_load(&faults_injected) > 0);
    assert_int_equal(a.status, expected_status);
    if (expected_status != 0) {
        assert_true(strlen(f->io.errmsg) > 0);
    }

    append_values(f, 11, 2);
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    size_t expected = expected_status == 0 ? 14 : 13; /* bootstrap entry + appends */
    assert_int_equal(l.n, expected);
    assert_int_equal(value_of(&l.entries[10]), 10);
    if (expected_status == 0) {
        assert_int_equal(value_of(&l.entries[11]), 99);
    }
    assert_int_equal(value_of(&l.entries[expected - 1]), 12);
    free_loaded(&l);
    close_io(f);
    unsetenv("LIBRAFT_RS_UV_URING");
}

/* try_put_snapshot with `fault` armed, which must have struck: the put's status. */
static int try_put_snapshot_under(struct fixture *f, enum fault fault, raft_index index,
                                  unsigned trailing, const char *text)
{
    atomic_store(&faults_injected, 0);
    atomic_store(&armed, fault);
    int status = try_put_snapshot(f, index, trailing, text);
    atomic_store(&armed, FAULT_NONE);
    assert_true(atomic_load(&faults_injected) > 0);
    return status;
}

/* A snapshot put while `fault` is armed fails with `expected_status` and a message; the
 * snapshot and the log from before are still what a reopen loads, and a later put works. */
static void snapshot_put_under_fault(struct fixture *f, enum fault fault, int expected_status)
{
    open_io(f);
    raft_uv_set_segment_size(&f->io, 256);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 2, 20); /* indexes 2..21 */
    put_snapshot(f, 15, 5, "snapshot-at-15!!");

    int status = try_put_snapshot_under(f, fault, 20, 2, "snapshot-at-20!!");
    assert_int_equal(status, expected_status);
    assert_true(strlen(f->io.errmsg) > 0);
    close_io(f);

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 15);
    assert_memory_equal(l.snapshot->bufs[0].base, "snapshot-at-15!!", 16);
    assert_int_equal(l.start + l.n - 1, 21);
    assert_int_equal(value_of(&l.entries[l.n - 1]), 21);
    free_loaded(&l);
    put_snapshot(f, 20, 2, "snapshot-at-20!!");
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.snapshot->index, 20);
    assert_int_equal(l.start + l.n - 1, 21);
    free_loaded(&l);
    close_io(f);
}

static void disk_full_fails_a_snapshot_put_with_nospace(void **state)
{
    snapshot_put_under_fault(*state, FAULT_ENOSPC, RAFT_NOSPACE);
}

static void failed_sync_fails_a_snapshot_put_with_ioerr(void **state)
{
    snapshot_put_under_fault(*state, FAULT_EIO_SYNC, RAFT_IOERR);
}

static void failed_directory_sync_fails_a_snapshot_put_with_ioerr(void **state)
{
    snapshot_put_under_fault(*state, FAULT_EIO_DIR_SYNC, RAFT_IOERR);
}

static void disk_full_fails_the_append_with_nospace(void **state)
{
    append_under_fault(*state, FAULT_ENOSPC, RAFT_NOSPACE);
}

static void failed_sync_fails_the_append_with_ioerr(void **state)
{
    append_under_fault(*state, FAULT_EIO_SYNC, RAFT_IOERR);
}

static void short_writes_are_completed(void **state)
{
    append_under_fault(*state, FAULT_SHORT_WRITES, 0);
}

/* What a tracer of raft_uv received. */
struct uv_trace
{
    int submits, completes, failures;
    char last[256];
};

static void uv_trace_emit(struct raft_tracer *t, int type, const void *info)
{
    struct uv_trace *u = t->impl;
    if (type == RAFT_UV_TRACER_WRITE_SUBMIT || type == RAFT_UV_TRACER_WRITE_COMPLETE) {
        assert_null(info);
        *(type == RAFT_UV_TRACER_WRITE_SUBMIT ? &u->submits : &u->completes) += 1;
    } else if (type == RAFT_TRACER_DIAGNOSTIC) {
        const struct raft_tracer_info *i = info;
        assert_int_equal(i->version, 1);
        u->failures += i->diagnostic.level <= 2;
        snprintf(u->last, sizeof u->last, "%s", i->diagnostic.message);
    }
}

/* The tracer sees each append's write submitted and completed, and a failed one as a
 * diagnostic; a tracer of a version other than 2 is never called. */
static void tracer_sees_each_write_and_each_failure(void **state)
{
    struct fixture *f = *state;
    struct uv_trace u = {0}, old = {0};
    struct raft_tracer t = {.impl = &u, .version = 2, .emit = uv_trace_emit};
    struct raft_tracer v1 = {.impl = &old, .version = 1, .emit = uv_trace_emit};
    setenv("LIBRAFT_RS_UV_URING", "0", 1); /* the interposed write sees the thread pool's */
    open_io(f);
    raft_uv_set_tracer(&f->io, &v1);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 1, 5);
    assert_int_equal(old.submits + old.completes + old.failures, 0);

    raft_uv_set_tracer(&f->io, &t);
    append_values(f, 6, 20);
    assert_true(u.submits >= 1);
    assert_int_equal(u.completes, u.submits);
    assert_int_equal(u.failures, 0);

    struct append a;
    atomic_store(&armed, FAULT_ENOSPC);
    assert_int_equal(submit_append(f, &a, 99, 1), 0);
    RUN_UNTIL(&f->loop, a.calls == 1);
    atomic_store(&armed, FAULT_NONE);
    assert_int_equal(a.status, RAFT_NOSPACE);
    assert_int_equal(u.failures, 1);
    assert_non_null(strstr(u.last, "append failed"));
    assert_int_equal(u.completes, u.submits);
    raft_uv_set_tracer(&f->io, NULL);
    close_io(f);
    unsetenv("LIBRAFT_RS_UV_URING");

    /* The same events where appends go through io_uring (where the kernel allows it). */
    memset(&u, 0, sizeof u);
    open_io(f);
    raft_uv_set_tracer(&f->io, &t);
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 100, 20);
    assert_true(u.submits >= 1);
    assert_int_equal(u.completes, u.submits);
    assert_int_equal(u.failures, 0);
    close_io(f);
}

/* Appends made in one turn of the loop (as many applies read from clients at once) go to the
 * disk as one write, not the first alone and the others in a second write after it; and once
 * that write is out, the appends made meanwhile go together in the next. Both with io_uring
 * and on the thread pool. */
static void appends_made_in_one_loop_turn_share_one_write(void **state)
{
    struct fixture *f = *state;
    for (int pool = 0; pool <= 1; pool++) {
        if (pool) {
            setenv("LIBRAFT_RS_UV_URING", "0", 1);
        }
        struct uv_trace u = {0};
        struct raft_tracer t = {.impl = &u, .version = 2, .emit = uv_trace_emit};
        open_io(f);
        if (!pool) {
            bootstrap(f);
        }
        struct loaded l;
        assert_int_equal(load(f, &l), 0);
        free_loaded(&l);
        raft_uv_set_tracer(&f->io, &t);
        append_values(f, 1000 * (pool + 1), 16);
        assert_int_equal(u.submits, 1);
        assert_int_equal(u.completes, 1);

        /* 16 more while the first of them is being written: one write for the 15 others. */
        struct append a[16];
        assert_int_equal(submit_append(f, &a[0], 1, 1), 0);
        RUN_UNTIL(&f->loop, u.submits == 2);
        for (int i = 1; i < 16; i++) {
            assert_int_equal(submit_append(f, &a[i], (uint64_t)i + 1, 1), 0);
        }
        RUN_UNTIL(&f->loop, all_called(a, 16));
        assert_int_equal(u.submits, 3);
        assert_int_equal(u.completes, 3);
        for (int i = 0; i < 16; i++) {
            assert_int_equal(a[i].status, 0);
        }
        raft_uv_set_tracer(&f->io, NULL);
        close_io(f);
        if (pool) {
            unsetenv("LIBRAFT_RS_UV_URING");
        }
    }
    struct loaded l;
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 1 + 2 * 32);
    free_loaded(&l);
    close_io(f);
}

/* With a disk retry set, a failed append is written again until it succeeds, keeping its
 * place, and nothing is lost; closing cancels an append still waiting. */
static void disk_retry_writes_a_failed_append_again(void **state)
{
    struct fixture *f = *state;
    setenv("LIBRAFT_RS_UV_URING", "0", 1); /* the interposed write sees the thread pool's */
    open_io(f);
    raft_uv_set_disk_retry(&f->io, 5);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 1, 3);

    struct append a, b;
    atomic_store(&faults_injected, 0);
    atomic_store(&armed, FAULT_ENOSPC);
    assert_int_equal(submit_append(f, &a, 99, 1), 0);
    assert_int_equal(submit_append(f, &b, 100, 1), 0);
    RUN_UNTIL(&f->loop, atomic_load(&faults_injected) >= 3); /* tried three times at least */
    assert_int_equal(a.calls + b.calls, 0);
    atomic_store(&armed, FAULT_NONE);
    RUN_UNTIL(&f->loop, a.calls == 1 && b.calls == 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    append_values(f, 4, 2);
    close_io(f);
    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.n, 8);
    uint64_t expected[] = {1, 2, 3, 99, 100, 4, 5};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(value_of(&l.entries[i + 1]), expected[i]);
    }
    free_loaded(&l);

    /* An append waiting for its retry when the instance closes is canceled (the tracer says
     * when it waits: its failure is reported as one to be tried again). */
    struct uv_trace u = {0};
    struct raft_tracer t = {.impl = &u, .version = 2, .emit = uv_trace_emit};
    raft_uv_set_disk_retry(&f->io, 1000);
    raft_uv_set_tracer(&f->io, &t);
    atomic_store(&armed, FAULT_ENOSPC);
    assert_int_equal(submit_append(f, &a, 7, 1), 0);
    RUN_UNTIL(&f->loop, u.failures >= 1);
    assert_non_null(strstr(u.last, "tried again"));
    close_io(f);
    atomic_store(&armed, FAULT_NONE);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, RAFT_CANCELED);
    unsetenv("LIBRAFT_RS_UV_URING");
}

static void failed_rename_fails_a_snapshot_put_with_ioerr(void **state)
{
    snapshot_put_under_fault(*state, FAULT_EIO_RENAME, RAFT_IOERR);
}

static void full_disk_at_a_file_creation_fails_a_snapshot_put_with_nospace(void **state)
{
    snapshot_put_under_fault(*state, FAULT_ENOSPC_CREATE, RAFT_NOSPACE);
}

/* Segments of 9 bytes hold one batch each: every append closes the open segment (a rename)
 * and creates the next (a file creation). */
static void failed_rename_of_a_full_segment_fails_the_append_with_ioerr(void **state)
{
    append_under_fault_with_segments(*state, FAULT_EIO_RENAME, RAFT_IOERR, 9);
}

static void full_disk_at_a_segment_creation_fails_the_append_with_nospace(void **state)
{
    append_under_fault_with_segments(*state, FAULT_ENOSPC_CREATE, RAFT_NOSPACE, 9);
}

/* A log with entries 2..25, a snapshot at 15 keeping 5, and entries 22..25 in the spare segment
 * that put made ready: what a node has after its first snapshot. */
static void log_after_a_first_snapshot(struct fixture *f)
{
    open_io(f);
    bootstrap(f);
    struct loaded l;
    assert_int_equal(load(f, &l), 0);
    free_loaded(&l);
    append_values(f, 2, 20);                    /* indexes 2..21 */
    put_snapshot(f, 15, 5, "snapshot-at-15!!"); /* the next puts find a spare segment */
    append_values(f, 22, 4);                    /* indexes 22..25, in the spare */
}

/* A snapshot put keeping trailing entries runs beside appends (C-Raft closes the open segment
 * for it and goes on in a prepared one): appends made after it complete while its files are
 * still being synced, and a reopen finds the snapshot and every entry. */
static void appends_go_on_while_a_snapshot_is_written(void **state)
{
    struct fixture *f = *state;
    log_after_a_first_snapshot(f);
    struct loaded l;

    atomic_store(&hold_snapshot_syncs, true);
    struct put_in_flight q;
    start_put_snapshot(f, &q, 25, 4, "snapshot-at-25!!");
    struct append a[3];
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(submit_append(f, &a[i], 26 + i, 1), 0);
    }
    RUN_UNTIL(&f->loop, all_called(a, 3));
    bool put_still_out = q.p.calls == 0;
    atomic_store(&hold_snapshot_syncs, false);
    RUN_UNTIL(&f->loop, q.p.calls > 0);
    assert_true(put_still_out);
    assert_int_equal(q.p.status, 0);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(a[i].status, 0);
    }
    close_io(f);

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.snapshot->index, 25);
    assert_memory_equal(l.snapshot->bufs[0].base, "snapshot-at-25!!", 16);
    assert_true(l.start <= 22); /* the trailing entries are kept */
    assert_int_equal(l.start + l.n - 1, 28);
    assert_int_equal(value_of(&l.entries[l.n - 1]), 28);
    free_loaded(&l);
    close_io(f);
}

/* The segment a put beside appends closes may fail to close (here its rename): the put fails,
 * the segment stays open on disk, and the next close of a segment closes it first (here the
 * next put's), so that the closed segments stay in order: a truncation then finds the entries
 * it cuts, and a reopen finds every entry in place. */
static void a_segment_that_fails_to_close_beside_appends_is_closed_later(void **state)
{
    struct fixture *f = *state;
    log_after_a_first_snapshot(f);
    struct loaded l;

    int status = try_put_snapshot_under(f, FAULT_EIO_RENAME, 25, 5, "snapshot-at-25!!");
    assert_int_equal(status, RAFT_IOERR);
    assert_non_null(strstr(f->io.errmsg, "rename"));
    append_values(f, 26, 3);                    /* indexes 26..28, in the segment after it */
    put_snapshot(f, 26, 3, "snapshot-at-26!!"); /* closes 22..25, then 26..28 */

    assert_int_equal(f->io.truncate(&f->io, 27), 0);
    struct append a;
    assert_int_equal(submit_append(f, &a, 1027, 1), 0); /* index 27 again */
    RUN_UNTIL(&f->loop, a.calls == 1);
    assert_int_equal(a.status, 0);
    close_io(f);

    open_io(f);
    assert_int_equal(load(f, &l), 0);
    assert_int_equal(l.snapshot->index, 26);
    assert_true(l.start <= 24); /* the trailing entries are kept */
    assert_int_equal(l.start + l.n - 1, 27);
    for (size_t i = 0; i + 1 < l.n; i++) {
        assert_int_equal(value_of(&l.entries[i]), l.start + i);
    }
    assert_int_equal(value_of(&l.entries[l.n - 1]), 1027);
    free_loaded(&l);
    close_io(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(release_without_close_leaves_nothing_on_the_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(disk_full_fails_a_snapshot_put_with_nospace, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_sync_fails_a_snapshot_put_with_ioerr, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_directory_sync_fails_a_snapshot_put_with_ioerr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(load_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(bootstrap_then_load, setup, teardown),
        cmocka_unit_test_setup_teardown(term_and_vote_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(append_many_small, setup, teardown),
        cmocka_unit_test_setup_teardown(append_rolls_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(append_with_a_block_size_set, setup, teardown),
        cmocka_unit_test_setup_teardown(truncate_then_append, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_put_get_with_trailing, setup, teardown),
        cmocka_unit_test_setup_teardown(appends_go_on_while_a_snapshot_is_written, setup, teardown),
        cmocka_unit_test_setup_teardown(a_segment_that_fails_to_close_beside_appends_is_closed_later,
                                        setup, teardown),
        cmocka_unit_test(load_torn_open_segments),
        cmocka_unit_test_setup_teardown(load_corrupt_closed_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(auto_recovery_off_refuses_a_damaged_open_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(load_craft_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(close_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(append_refuses_unaligned_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(recover_appends_the_configuration, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_full_fails_the_append_with_nospace, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_sync_fails_the_append_with_ioerr, setup, teardown),
        cmocka_unit_test_setup_teardown(short_writes_are_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_rename_fails_a_snapshot_put_with_ioerr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tracer_sees_each_write_and_each_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_retry_writes_a_failed_append_again, setup, teardown),
        cmocka_unit_test_setup_teardown(appends_made_in_one_loop_turn_share_one_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            full_disk_at_a_file_creation_fails_a_snapshot_put_with_nospace, setup, teardown),
        cmocka_unit_test_setup_teardown(
            failed_rename_of_a_full_segment_fails_the_append_with_ioerr, setup, teardown),
        cmocka_unit_test_setup_teardown(
            full_disk_at_a_segment_creation_fails_the_append_with_nospace, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_write_is_reported_and_nothing_acknowledged_is_lost,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
