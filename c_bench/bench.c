/* Throughput benchmark: a simulated cluster (c_tests/support/sim.h) with 1 ms network and
 * 1 ms disk latency, driven by a client that keeps a fixed number of entries
 * submitted-but-not-committed on the leader.
 *
 * Every configuration runs in a child process, so that its peak RSS is its own. Figures are
 * printed as "name value" lines and appended to the results file (argv[1]).
 *
 * Allocations are counted two ways while a raft_step call is running:
 *   - heap_*: through a counting raft heap installed with raft_heap_set (what the library
 *     allocates through raft_malloc: the entries arrays the contract hands to the host);
 *   - malloc_*: every malloc/calloc/realloc/aligned allocation of the process, the Rust global
 *     allocator's included, by interposing the C allocator (this binary defines malloc & co and
 *     forwards to glibc's __libc_* functions). rust_* = malloc_* - heap_*: what the library
 *     allocates for itself inside raft_step.
 *
 * Under callgrind (c_bench/callgrind.sh) the measured phase is bracketed by client requests, so
 * that the instructions executed inside raft_step per committed entry can be read exactly.
 *
 * Environment: BENCH_ENTRIES (entries measured per configuration, default 200000 for 64-byte
 * entries and 100000 for 1 KiB ones, 8 times more with batches of 64), BENCH_FILTER (run only configurations whose
 * name contains it), BENCH_SNAPSHOT_THRESHOLD (entries between the servers' snapshots; 0:
 * never), BENCH_ROUNDS (rounds of every configuration, default 3: all figures come from the
 * fastest round, with the median and the worst throughput beside them). */

#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <valgrind/callgrind.h>

#include "support/sim.h"

/* --- Counting the C allocator -------------------------------------------------------------- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);

struct counts {
    unsigned long long allocs, bytes;
};

static bool in_step;
static struct counts malloc_in_step, malloc_total, heap_in_step;

static void count_malloc(size_t size)
{
    malloc_total.allocs++;
    malloc_total.bytes += size;
    if (in_step) {
        malloc_in_step.allocs++;
        malloc_in_step.bytes += size;
    }
}

void *malloc(size_t size)
{
    count_malloc(size);
    return __libc_malloc(size);
}

void *calloc(size_t nmemb, size_t size)
{
    count_malloc(nmemb * size);
    return __libc_calloc(nmemb, size);
}

void *realloc(void *p, size_t size)
{
    count_malloc(size);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}

void *memalign(size_t alignment, size_t size)
{
    count_malloc(size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    count_malloc(size);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    count_malloc(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

/* --- Counting the raft heap ---------------------------------------------------------------- */

static void count_heap(size_t size)
{
    if (in_step) {
        heap_in_step.allocs++;
        heap_in_step.bytes += size;
    }
}

static void *heap_malloc(void *data, size_t size)
{
    (void)data;
    count_heap(size);
    return malloc(size);
}

static void heap_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    count_heap(nmemb * size);
    return calloc(nmemb, size);
}

static void *heap_realloc(void *data, void *p, size_t size)
{
    (void)data;
    count_heap(size);
    return realloc(p, size);
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    count_heap(size);
    return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *p)
{
    (void)data;
    (void)alignment;
    free(p);
}

static struct raft_heap counting_heap = {NULL,        heap_malloc,        heap_free,
                                         heap_calloc, heap_realloc,       heap_aligned_alloc,
                                         heap_aligned_free};

/* --- Timing raft_step ---------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double step_started, step_seconds;

static void step_hook(void *arg, bool entering)
{
    (void)arg;
    if (entering) {
        step_started = now_seconds();
        in_step = true;
    } else {
        in_step = false;
        step_seconds += now_seconds() - step_started;
    }
}

/* --- One configuration --------------------------------------------------------------------- */

struct config {
    unsigned servers;
    size_t entry_len;
    unsigned batch;
    unsigned window;
};

/* Where report() writes: the results file in the parent, the pipe to the parent in a child. */
static FILE *results;
static bool to_stdout = true;

static void report(const char *name, const char *figure, double value)
{
    char line[256];
    if (value == (double)(long long)value) {
        snprintf(line, sizeof line, "%s.%s %lld\n", name, figure, (long long)value);
    } else {
        snprintf(line, sizeof line, "%s.%s %.4g\n", name, figure, value);
    }
    if (to_stdout) {
        fputs(line, stdout);
    }
    if (results != NULL) {
        fputs(line, results);
    }
}

static unsigned long long env_number(const char *name, unsigned long long fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 10) : fallback;
}

/* Keeps the leader's window full and runs the cluster until `target` is committed. Returns
 * false when the cluster lost its leader or failed. */
static bool drive(struct sim *s, unsigned leader, const struct config *c, raft_index target)
{
    struct raft *r = sim_raft(s, leader);
    while (!sim_failed(s)) {
        if (raft_state(r) != RAFT_LEADER) {
            fprintf(stderr, "bench: server %u lost leadership\n", leader);
            return false;
        }
        raft_index commit = raft_commit_index(r);
        if (commit >= target) {
            return true;
        }
        raft_index last = raft_last_index(r);
        while (last - commit + c->batch <= c->window) {
            int rv = sim_submit_sized(s, leader, c->batch, c->entry_len);
            if (rv != 0) {
                fprintf(stderr, "bench: submit failed: %s\n", raft_strerror(rv));
                return false;
            }
            last += c->batch;
        }
        sim_step(s);
    }
    return false;
}

static int run_config(const struct config *c, const char *name)
{
    unsigned long long measured = env_number("BENCH_ENTRIES", 0);
    if (measured == 0) {
        /* Long enough for several snapshots of every server and for a run of at least a
         * tenth of a second or so (batches of 64 commit about 10x faster). */
        measured = (c->entry_len <= 64 ? 200000 : 100000) * (c->batch >= 64 ? 8 : 1);
    }
    struct sim_options o;
    sim_options_default(&o, c->servers, 42);
    o.latency_min = o.latency_max = 1;
    o.disk_min = o.disk_max = 1;
    o.election_timeout = 100;
    o.heartbeat_timeout = 20;
    o.max_inflight_entries = c->window;
    /* Bounded host memory: each server snapshots every few windows and keeps a window's
     * worth of trailing entries for followers that lag. */
    o.snapshot_threshold = c->window * 4 > 8192 ? c->window * 4 : 8192;
    o.snapshot_trailing = c->window * 2;
    if (getenv("BENCH_SNAPSHOT_THRESHOLD") != NULL) {
        o.snapshot_threshold = (unsigned)env_number("BENCH_SNAPSHOT_THRESHOLD", 0);
    }
    o.unchecked = true;
    o.step_hook = step_hook;

    raft_heap_set(&counting_heap);
    struct sim *s = sim_create(&o);
    int leader = sim_run_until_leader(s, 10000);
    if (leader < 0) {
        fprintf(stderr, "bench: %s: no leader\n", name);
        return 1;
    }
    /* Warm up: fill the pipeline and let every buffer reach its steady size. The hosts' logs
     * are largest right before their second snapshot; until then they take fresh pages from
     * the kernel (page faults), which the steady state does not. */
    struct raft *r = sim_raft(s, (unsigned)leader);
    raft_index warmup = raft_commit_index(r) + measured / 5 + 2 * c->window +
                        2 * (raft_index)o.snapshot_threshold;
    if (!drive(s, (unsigned)leader, c, warmup)) {
        return 1;
    }
    struct sim_stats before, after;
    sim_stats(s, &before);
    raft_index start = raft_commit_index(r);
    memset(&malloc_in_step, 0, sizeof malloc_in_step);
    memset(&malloc_total, 0, sizeof malloc_total);
    memset(&heap_in_step, 0, sizeof heap_in_step);
    step_seconds = 0;
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    raft_time sim_start = sim_now(s);
    double t0 = now_seconds();
    CALLGRIND_ZERO_STATS;
    if (!drive(s, (unsigned)leader, c, start + measured)) {
        return 1;
    }
    double elapsed = now_seconds() - t0;
    char label[96];
    snprintf(label, sizeof label, "%s/%llu", name, raft_commit_index(r) - start);
    CALLGRIND_DUMP_STATS_AT(label);
    sim_stats(s, &after);
    double committed = (double)(raft_commit_index(r) - start);
    double steps = (double)(after.steps - before.steps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    report(name, "committed", committed);
    report(name, "entries_per_sec", committed / elapsed);
    report(name, "steps_per_sec", steps / elapsed);
    report(name, "steps_per_entry", steps / committed);
    report(name, "ns_per_step", step_seconds / steps * 1e9);
    /* What the cluster would commit if the host cost nothing: entries per second of time
     * spent inside raft_step (all servers). */
    report(name, "step_only_entries_per_sec", committed / step_seconds);
    report(name, "step_time_share", step_seconds / elapsed);
    report(name, "sim_ms", (double)(sim_now(s) - sim_start));
    report(name, "heap_allocs_per_entry", (double)heap_in_step.allocs / committed);
    report(name, "heap_bytes_per_entry", (double)heap_in_step.bytes / committed);
    report(name, "malloc_in_step_allocs_per_entry", (double)malloc_in_step.allocs / committed);
    report(name, "malloc_in_step_bytes_per_entry", (double)malloc_in_step.bytes / committed);
    report(name, "rust_allocs_per_entry",
           (double)(malloc_in_step.allocs - heap_in_step.allocs) / committed);
    report(name, "rust_bytes_per_entry",
           (double)(malloc_in_step.bytes - heap_in_step.bytes) / committed);
    report(name, "process_allocs_per_entry", (double)malloc_total.allocs / committed);
    report(name, "peak_rss_kib", (double)ru.ru_maxrss);
    report(name, "page_faults_per_entry", (double)(ru.ru_minflt - ru0.ru_minflt) / committed);
    fflush(stdout);
    sim_destroy(s);
    raft_heap_set_default();
    return 0;
}

#define MAX_ROUNDS 9

/* One configuration and what each round of it reported. */
struct run {
    struct config c;
    char name[64];
    char *text[MAX_ROUNDS]; /* the report lines */
    double entries_per_sec[MAX_ROUNDS];
    double best, median;
    bool failed;
};

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs one round of a configuration in a child process (so that its peak RSS is its own) and
 * keeps the lines it reports. */
static void run_child(struct run *run, unsigned round)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("bench: pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        results = fdopen(fds[1], "w");
        to_stdout = false;
        int rv = run_config(&run->c, run->name);
        fclose(results);
        _exit(rv);
    }
    close(fds[1]);
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    ssize_t got;
    while ((got = read(fds[0], text + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    close(fds[0]);
    text[len] = '\0';
    int status = 0;
    waitpid(pid, &status, 0);
    char key[96];
    snprintf(key, sizeof key, "%s.entries_per_sec ", run->name);
    const char *at = strstr(text, key);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || at == NULL) {
        run->failed = true;
    } else {
        run->entries_per_sec[round] = strtod(at + strlen(key), NULL);
    }
    run->text[round] = text;
    fprintf(stderr, "bench: round %u %s: %.4g entries/s\n", round + 1, run->name,
            run->entries_per_sec[round]);
}

int main(int argc, char **argv)
{
    /* The host's allocator keeps the memory it got, as a long-running server's would: by
     * default glibc gives the top of the heap back to the kernel as soon as 128 KiB are free,
     * and serves blocks from 128 KiB on with mmap, so the pages freed after each snapshot
     * would be faulted in again (zeroed by the kernel) a moment later, a cost that grows with
     * the window and has nothing to do with the library. */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    const char *path = argc > 1 ? argv[1] : NULL;
    const char *filter = getenv("BENCH_FILTER");
    unsigned rounds = (unsigned)env_number("BENCH_ROUNDS", 3);
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        rounds = rounds < 1 ? 1 : MAX_ROUNDS;
    }
    static const unsigned servers[] = {3, 5};
    static const size_t lens[] = {64, 1024};
    static const unsigned batches[] = {1, 64};
    static const unsigned windows[] = {64, 256, 1024, 4096};
    static struct run runs[32];
    size_t n_runs = 0;
    for (size_t a = 0; a < 2; a++) {
        for (size_t b = 0; b < 2; b++) {
            for (size_t d = 0; d < 2; d++) {
                for (size_t w = 0; w < 4; w++) {
                    struct run *run = &runs[n_runs];
                    run->c = (struct config){servers[a], lens[b], batches[d], windows[w]};
                    snprintf(run->name, sizeof run->name, "n%u.e%zu.b%u.w%u", run->c.servers,
                             run->c.entry_len, run->c.batch, run->c.window);
                    if (filter == NULL || strstr(run->name, filter) != NULL) {
                        n_runs++;
                    }
                }
            }
        }
    }
    /* Rounds outside, configurations inside: a burst of load from elsewhere on the machine
     * hits one round of several configurations rather than every round of one. */
    for (unsigned round = 0; round < rounds; round++) {
        for (size_t k = 0; k < n_runs; k++) {
            run_child(&runs[k], round);
        }
    }
    results = path != NULL ? fopen(path, "a") : NULL;
    int failures = 0;
    for (size_t k = 0; k < n_runs; k++) {
        struct run *run = &runs[k];
        if (run->failed) {
            fprintf(stderr, "bench: %s failed\n", run->name);
            failures++;
            continue;
        }
        /* Every figure of the fastest round, then the spread of the throughput. */
        double sorted[MAX_ROUNDS];
        unsigned best = 0;
        for (unsigned r = 0; r < rounds; r++) {
            sorted[r] = run->entries_per_sec[r];
            best = run->entries_per_sec[r] > run->entries_per_sec[best] ? r : best;
        }
        qsort(sorted, rounds, sizeof *sorted, compare_doubles);
        fputs(run->text[best], stdout);
        if (results != NULL) {
            fputs(run->text[best], results);
        }
        report(run->name, "entries_per_sec_median", sorted[rounds / 2]);
        report(run->name, "entries_per_sec_worst", sorted[0]);
        report(run->name, "rounds", rounds);
        run->best = sorted[rounds - 1];
        run->median = sorted[rounds / 2];
    }
    /* The criterion: throughput from a window of 64 to 4096, per configuration. */
    for (size_t k = 0; k < n_runs; k++) {
        const struct run *low = &runs[k];
        for (size_t j = 0; j < n_runs && low->c.window == 64 && !low->failed; j++) {
            const struct run *high = &runs[j];
            if (high->c.window == 4096 && !high->failed && high->c.servers == low->c.servers &&
                high->c.entry_len == low->c.entry_len && high->c.batch == low->c.batch) {
                char base[64];
                snprintf(base, sizeof base, "n%u.e%zu.b%u", low->c.servers, low->c.entry_len,
                         low->c.batch);
                report(base, "w4096_vs_w64_best_percent", 100.0 * (high->best / low->best - 1));
                report(base, "w4096_vs_w64_median_percent",
                       100.0 * (high->median / low->median - 1));
            }
        }
    }
    if (results != NULL) {
        fclose(results);
    }
    return failures == 0 ? 0 : 1;
}
