/* uvdir: writes and dumps a raft_uv data directory through struct raft_io only, so that the
 * same source runs on C-Raft (system raft.h, raft/uv.h, libraft.so.2) and on libraft-rs
 * (include/, libraft.so.0). c_tests/uv/diff/run.sh checks that each implementation loads
 * what the other wrote, with identical dumps.
 *
 *   uvdir write DIR [crash]   bootstrap, term/vote, appends, a truncation, a snapshot with
 *                             trailing entries, more appends; "crash" exits without closing
 *                             (open segments stay, as after a kill)
 *   uvdir dump DIR            prints term, vote, snapshot and every entry (payload hashes)
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <raft/uv.h>

static uv_loop_t loop;
static struct raft_uv_transport transport;
static struct raft_io io;
static int pending;
static bool closed;

#define CHECK(expr)                                                                    \
    do {                                                                               \
        int rv_ = (expr);                                                              \
        if (rv_ != 0) {                                                                \
            fprintf(stderr, "%s:%d: %s = %d (%s)\n", __FILE__, __LINE__, #expr, rv_, io.errmsg); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static void run_until_idle(void)
{
    while (pending > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void append_cb(struct raft_io_append *req, int status)
{
    if (status != 0) {
        fprintf(stderr, "append failed: %d\n", status);
        exit(1);
    }
    void **owned = req->data; /* the payloads and the entries array */
    free(owned[0]);
    free(owned[1]);
    free(owned);
    free(req);
    pending--;
}

/* Appends `n` entries of term `term`, entry i holding 8 * (1 + i % 4) bytes derived from
 * `seed + i`, in one request. */
static void append(raft_term term, unsigned n, uint64_t seed)
{
    struct raft_entry *entries = calloc(n, sizeof *entries);
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        total += 8 * (1 + i % 4);
    }
    uint8_t *data = malloc(total);
    size_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t len = 8 * (1 + i % 4);
        for (size_t j = 0; j < len; j++) {
            data[at + j] = (uint8_t)((seed + i) * 31 + j);
        }
        entries[i].term = term;
        entries[i].type = RAFT_COMMAND;
        entries[i].buf.base = data + at;
        entries[i].buf.len = len;
        at += len;
    }
    /* Both stay alive until the callback (raft_io's contract: C-Raft encodes them later). */
    struct raft_io_append *req = calloc(1, sizeof *req);
    void **owned = calloc(2, sizeof *owned);
    owned[0] = data;
    owned[1] = entries;
    req->data = owned;
    pending++;
    CHECK(io.append(&io, req, entries, n, append_cb));
    /* One at a time: C-Raft 0.15 fails (RAFT_NOMEM) when many appends wait together. */
    run_until_idle();
}

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    if (status != 0) {
        fprintf(stderr, "snapshot put failed: %d\n", status);
        exit(1);
    }
    (void)req;
    pending--;
}

static void closed_cb(struct raft_io *unused)
{
    (void)unused;
    closed = true;
}

static void open_io(const char *dir)
{
    uv_loop_init(&loop);
#ifdef RAFT_VERSION_NUMBER /* 0.18 on: the transport has a version, which 0.22.1 requires */
    transport.version = 1;
#endif
    CHECK(raft_uv_tcp_init(&transport, &loop));
    CHECK(raft_uv_init(&io, &loop, dir, &transport));
    raft_uv_set_segment_size(&io, 8192);
    CHECK(io.init(&io, 1, "127.0.0.1:9001"));
}

static void close_io(void)
{
    io.close(&io, closed_cb);
    while (!closed) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    raft_uv_close(&io);
    raft_uv_tcp_close(&transport);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void load(raft_term *term, raft_id *vote, struct raft_snapshot **snapshot,
                 raft_index *start, struct raft_entry **entries, size_t *n)
{
    CHECK(io.load(&io, term, vote, snapshot, start, entries, n));
}

static void free_loaded(struct raft_snapshot *snapshot, struct raft_entry *entries, size_t n)
{
    void *last = NULL;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].batch != last) {
            raft_free(entries[i].batch);
            last = entries[i].batch;
        }
    }
    raft_free(entries);
    if (snapshot != NULL) {
        for (unsigned i = 0; i < snapshot->n_bufs; i++) {
            raft_free(snapshot->bufs[i].base);
        }
        raft_free(snapshot->bufs);
        raft_configuration_close(&snapshot->configuration);
        raft_free(snapshot);
    }
}

static int write_dir(const char *dir, bool crash)
{
    open_io(dir);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    CHECK(raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER));
    CHECK(raft_configuration_add(&conf, 2, "127.0.0.1:9002", RAFT_VOTER));
    CHECK(io.bootstrap(&io, &conf));

    raft_term term;
    raft_id vote;
    struct raft_snapshot *snapshot;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    load(&term, &vote, &snapshot, &start, &entries, &n);
    free_loaded(snapshot, entries, n);

    CHECK(io.set_term(&io, 2));
    CHECK(io.set_vote(&io, 1));
    append(2, 1, 100); /* 2 */
    append(2, 5, 200); /* 3..7 */
    for (unsigned i = 0; i < 8; i++) {
        append(2, 40, 300 + 40 * i); /* 8..327: several segments of 8 KiB */
    }
    run_until_idle();
    CHECK(io.truncate(&io, 300)); /* 300..327 go */
    CHECK(io.set_term(&io, 3));
    append(3, 3, 1000); /* 300..302 */
    run_until_idle();

    /* A snapshot at 250 keeping 100 trailing entries. */
    uint8_t data[40];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    struct raft_buffer buf = {.base = data, .len = sizeof data};
    struct raft_snapshot s;
    memset(&s, 0, sizeof s);
    s.index = 250;
    s.term = 2;
    s.configuration = conf;
    s.configuration_index = 1;
    s.bufs = &buf;
    s.n_bufs = 1;
    struct raft_io_snapshot_put put;
    pending++;
    CHECK(io.snapshot_put(&io, 100, &put, &s, put_cb));
    run_until_idle();
    raft_configuration_close(&conf);

    append(3, 6, 2000); /* 303..308 */
    run_until_idle();
    if (crash) {
        /* As after a kill: nothing closed, the open segment stays. */
        return 0;
    }
    close_io();
    return 0;
}

static uint64_t hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    return h;
}

static int dump_dir(const char *dir)
{
    open_io(dir);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snapshot;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    load(&term, &vote, &snapshot, &start, &entries, &n);
    printf("term %" PRIu64 " vote %" PRIu64 "\n", (uint64_t)term, (uint64_t)vote);
    if (snapshot != NULL) {
        size_t len = 0;
        uint8_t joined[4096];
        for (unsigned i = 0; i < snapshot->n_bufs; i++) {
            memcpy(joined + len, snapshot->bufs[i].base, snapshot->bufs[i].len);
            len += snapshot->bufs[i].len;
        }
        printf("snapshot index %" PRIu64 " term %" PRIu64 " conf_index %" PRIu64
               " servers %u len %zu hash %016" PRIx64 "\n",
               (uint64_t)snapshot->index, (uint64_t)snapshot->term,
               (uint64_t)snapshot->configuration_index, snapshot->configuration.n, len,
               hash(joined, len));
    }
    /* Entries before the snapshot's trailing window depend on segment boundaries, which
     * each implementation chooses: print from the first index both must keep. */
    raft_index from = snapshot != NULL && snapshot->index > 100 ? snapshot->index - 100 + 1 : 1;
    printf("entries up to %" PRIu64 "\n", (uint64_t)(start + n - 1));
    for (size_t i = 0; i < n; i++) {
        if (start + i < from) {
            continue;
        }
        printf("%" PRIu64 ": term %" PRIu64 " type %d len %zu hash %016" PRIx64 "\n",
               (uint64_t)(start + i), (uint64_t)entries[i].term, (int)entries[i].type,
               entries[i].buf.len, hash(entries[i].buf.base, entries[i].buf.len));
    }
    free_loaded(snapshot, entries, n);
    close_io();
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc >= 3 && strcmp(argv[1], "write") == 0) {
        return write_dir(argv[2], argc >= 4 && strcmp(argv[3], "crash") == 0);
    }
    if (argc == 3 && strcmp(argv[1], "dump") == 0) {
        return dump_dir(argv[2]);
    }
    fprintf(stderr, "usage: uvdir write DIR [crash] | uvdir dump DIR\n");
    return 2;
}
