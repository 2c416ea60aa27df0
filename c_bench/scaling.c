/* Scaling: the cost of one raft_step as the log grows (10^3 vs 10^7 entries) and as the
 * cluster grows (3 vs 9 voters), on one instance driven directly through the public API with
 * fake peers (no simulator, no network).
 *
 * The long log is real: the leader is fed 10^7 submitted entries (in batches of 65536 tiny
 * entries, all acknowledged and committed), the follower 10^7 received ones. Then it measures
 * steady-state steps:
 *   leader:   submit one entry, RAFT_PERSISTED_ENTRIES, one AppendEntries result per follower;
 *   follower: a heartbeat (AppendEntries without entries), and one entry appended + persisted.
 *
 * Wall clock: best of 5 rounds of ITERATIONS loops, ns per step. Under callgrind (see
 * c_bench/callgrind.sh) each category is bracketed by client requests so that the instruction
 * count of raft_step alone is dumped per category.
 *
 * Usage: scaling [results-file] [only-scenario]; env SCALING_ITERATIONS (default 200000). */

#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <valgrind/callgrind.h>

#include "raft.h"

#define FILL_BATCH 65536u

static FILE *results;

static void report(const char *name, const char *figure, double value)
{
    char line[256];
    snprintf(line, sizeof line, "%s.%s %.4g\n", name, figure, value);
    fputs(line, stdout);
    if (results != NULL) {
        fputs(line, results);
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, struct raft *r, int rv)
{
    fprintf(stderr, "scaling: %s failed: %s (%s)\n", what, raft_strerror(rv), raft_errmsg(r));
    exit(1);
}

/* Kinds of steps, for the instruction counts. */
enum kind { K_OTHER, K_SUBMIT, K_PERSISTED, K_ACK, K_HEARTBEAT, K_READ, K_ECHO, K_COUNT };
static const char *kind_names[K_COUNT] = {"other",     "submit", "persisted", "ack",
                                          "heartbeat", "read",   "echo"};
/* The read round of the last AppendEntries the leader emitted, and how many reads were
 * confirmed (docs/reads.md). */
static unsigned last_round;
static unsigned long long reads_confirmed;
/* Under callgrind (started with --collect-atstart=no), only raft_step calls of this kind are
 * collected. */
static enum kind measuring = K_COUNT;

/* A fake host: records nothing, frees what the library hands over. */
struct node {
    struct raft raft;
    raft_time now;
    unsigned voters;
    raft_index durable;
};

static void step(struct node *n, struct raft_event *ev, const char *what, enum kind kind)
{
    struct raft_update u;
    ev->time = n->now;
    if (kind == measuring) {
        CALLGRIND_TOGGLE_COLLECT;
    }
    int rv = raft_step(&n->raft, ev, &u);
    if (kind == measuring) {
        CALLGRIND_TOGGLE_COLLECT;
    }
    if (rv != 0) {
        die(what, &n->raft, rv);
    }
    for (unsigned k = 0; k < u.messages.n; k++) {
        if (u.messages.batch[k].type == RAFT_APPEND_ENTRIES) {
            last_round = u.messages.batch[k].append_entries.read_round;
        }
    }
    if (u.flags & RAFT_UPDATE_READS) {
        const struct raft_read_result *reads;
        unsigned nr;
        if (raft_update_reads(&n->raft, &reads, &nr) == 0) {
            reads_confirmed += nr;
        }
    }
    if (u.flags & RAFT_UPDATE_ENTRIES) {
        /* The entries of one update share one batch (a submit's or a received message's). */
        if (u.entries.n > 0) {
            raft_free(u.entries.batch[0].batch);
        }
        raft_free(u.entries.batch);
    }
}

static void bootstrap(struct node *n, raft_id id, unsigned voters)
{
    memset(n, 0, sizeof *n);
    n->now = 1000;
    n->voters = voters;
    n->durable = 1;
    char address[32];
    snprintf(address, sizeof address, "node-%llu", (unsigned long long)id);
    if (raft_init(&n->raft, NULL, NULL, id, address) != 0) {
        die("raft_init", &n->raft, RAFT_INVALID);
    }
    n->raft.tracer = NULL;
    raft_set_election_timeout(&n->raft, 100);
    raft_set_heartbeat_timeout(&n->raft, 20);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (unsigned k = 1; k <= voters; k++) {
        snprintf(address, sizeof address, "node-%u", k);
        raft_configuration_add(&conf, k, address, RAFT_VOTER);
    }
    struct raft_buffer buf;
    raft_configuration_encode(&conf, &buf);
    raft_configuration_close(&conf);
    struct raft_entry entry = {1, RAFT_CHANGE, buf, buf.base};
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 1;
    ev.start.start_index = 1;
    ev.start.entries = &entry;
    ev.start.n_entries = 1;
    step(n, &ev, "start", K_OTHER);
    raft_free(buf.base);
}

static void receive(struct node *n, struct raft_message *m, raft_id from, const char *what,
                    enum kind kind)
{
    static char addresses[10][16];
    snprintf(addresses[from], sizeof addresses[from], "node-%llu", (unsigned long long)from);
    m->server_id = from;
    m->server_address = addresses[from];
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_RECEIVE;
    ev.receive.message = m;
    step(n, &ev, what, kind);
}

static void persisted(struct node *n)
{
    if (raft_last_index(&n->raft) == n->durable) {
        return;
    }
    n->durable = raft_last_index(&n->raft);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = raft_last_index(&n->raft);
    step(n, &ev, "persisted entries", K_PERSISTED);
}

static void ack(struct node *n, raft_id from, raft_index index)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES_RESULT;
    m.append_entries_result.version = 2;
    m.append_entries_result.term = raft_current_term(&n->raft);
    m.append_entries_result.last_log_index = index;
    m.append_entries_result.features = 1;
    m.append_entries_result.capacity = 100;
    receive(n, &m, from, "append entries result", K_ACK);
}

/* An acknowledgement from a follower of this library, echoing read round `round`. */
static void echo(struct node *n, raft_id from, unsigned round)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES_RESULT;
    m.append_entries_result.version = 2;
    m.append_entries_result.term = raft_current_term(&n->raft);
    m.append_entries_result.last_log_index = raft_last_index(&n->raft);
    m.append_entries_result.features = 3;
    m.append_entries_result.capacity = 100;
    m.append_entries_result.read_echo = round;
    receive(n, &m, from, "echo", K_ECHO);
}

static void read_index(struct node *n, unsigned long long id)
{
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_READ;
    ev.read.id = id;
    step(n, &ev, "read", K_READ);
}

/* Entries of 8 bytes each sharing one raft_malloc'd batch; `entries` is the caller's. */
static void fill_entries(struct raft_entry *entries, unsigned count, raft_term term)
{
    uint64_t *batch = raft_malloc(8 * (size_t)count);
    for (unsigned k = 0; k < count; k++) {
        batch[k] = k;
        entries[k].term = term;
        entries[k].type = RAFT_COMMAND;
        entries[k].buf.base = &batch[k];
        entries[k].buf.len = 8;
        entries[k].batch = batch;
    }
}

static struct raft_entry *scratch_entries;

static void submit(struct node *n, unsigned count)
{
    fill_entries(scratch_entries, count, raft_current_term(&n->raft));
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SUBMIT;
    ev.submit.entries = scratch_entries;
    ev.submit.n = count;
    step(n, &ev, "submit", K_SUBMIT);
}

/* Node 1 becomes leader of `voters` voters and grows its log to `length` committed entries. */
static void make_leader(struct node *n, unsigned voters, raft_index length)
{
    bootstrap(n, 1, voters);
    n->now = raft_timeout(&n->raft);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_TIMEOUT;
    step(n, &ev, "timeout", K_OTHER);
    for (raft_id k = 2; k <= voters && raft_state(&n->raft) != RAFT_LEADER; k++) {
        struct raft_message m;
        memset(&m, 0, sizeof m);
        m.type = RAFT_REQUEST_VOTE_RESULT;
        m.request_vote_result.version = 2;
        m.request_vote_result.term = raft_current_term(&n->raft);
        m.request_vote_result.vote_granted = 1;
        receive(n, &m, k, "vote", K_OTHER);
    }
    if (raft_state(&n->raft) != RAFT_LEADER) {
        fprintf(stderr, "scaling: no leader\n");
        exit(1);
    }
    persisted(n);
    while (raft_last_index(&n->raft) < length) {
        raft_index missing = length - raft_last_index(&n->raft);
        submit(n, missing < FILL_BATCH ? (unsigned)missing : FILL_BATCH);
        persisted(n);
        for (raft_id k = 2; k <= voters; k++) {
            ack(n, k, raft_last_index(&n->raft));
        }
    }
    if (raft_commit_index(&n->raft) != length) {
        fprintf(stderr, "scaling: leader committed %llu of %llu\n", raft_commit_index(&n->raft),
                length);
        exit(1);
    }
}

static void append(struct node *n, unsigned count, raft_index commit)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_APPEND_ENTRIES;
    m.append_entries.term = 2;
    m.append_entries.prev_log_index = raft_last_index(&n->raft);
    m.append_entries.prev_log_term = raft_last_index(&n->raft) == 1 ? 1 : 2;
    m.append_entries.leader_commit = commit;
    if (count > 0) {
        fill_entries(scratch_entries, count, 2);
        m.append_entries.entries = scratch_entries;
        m.append_entries.n_entries = count;
    }
    receive(n, &m, 1, "append entries", count == 0 ? K_HEARTBEAT : K_OTHER);
}

/* Node 2 follows node 1 in term 2 and holds `length` entries. */
static void make_follower(struct node *n, unsigned voters, raft_index length)
{
    bootstrap(n, 2, voters);
    while (raft_last_index(&n->raft) < length) {
        raft_index missing = length - raft_last_index(&n->raft);
        append(n, missing < FILL_BATCH ? (unsigned)missing : FILL_BATCH,
               raft_last_index(&n->raft));
        persisted(n);
    }
}

/* --- Measurements ---------------------------------------------------------------------------
 * The steady-state loop runs `iterations` times per round. Under valgrind there is one extra
 * round per kind of step, collecting only the raft_step calls of that kind, followed by a dump
 * named after the scenario and kind (c_bench/callgrind.sh reads them). */

static unsigned iterations;

static void leader_round(struct node *n)
{
    for (unsigned i = 0; i < iterations; i++) {
        n->now++;
        submit(n, 1);
        persisted(n);
        for (raft_id k = 2; k <= n->voters; k++) {
            ack(n, k, raft_last_index(&n->raft));
        }
    }
}

/* One linearizable read per iteration: the read starts a round, one follower's echo (with the
 * leader, a majority of 3) confirms it. */
static void reads_round(struct node *n)
{
    static unsigned long long id;
    for (unsigned i = 0; i < iterations; i++) {
        n->now++;
        read_index(n, ++id);
        echo(n, 2, last_round);
    }
}

static void follower_round(struct node *n)
{
    for (unsigned i = 0; i < iterations; i++) {
        n->now++;
        append(n, 0, raft_last_index(&n->raft));
    }
}

/* Dumps the instruction count of each kind of step, per step. */
static void callgrind_rounds(struct node *n, const char *name, bool leader, bool reads)
{
    static const enum kind leader_kinds[] = {K_SUBMIT, K_PERSISTED, K_ACK};
    static const enum kind follower_kinds[] = {K_HEARTBEAT};
    static const enum kind read_kinds[] = {K_READ, K_ECHO};
    const enum kind *kinds = reads ? read_kinds : leader ? leader_kinds : follower_kinds;
    size_t n_kinds = reads ? 2 : leader ? 3 : 1;
    for (size_t k = 0; k < n_kinds; k++) {
        measuring = kinds[k];
        CALLGRIND_ZERO_STATS;
        if (reads) {
            reads_round(n);
        } else if (leader) {
            leader_round(n);
        } else {
            follower_round(n);
        }
        char label[128];
        unsigned per_round = kinds[k] == K_ACK ? iterations * (n->voters - 1) : iterations;
        snprintf(label, sizeof label, "%s.%s/%u", name, kind_names[kinds[k]], per_round);
        CALLGRIND_DUMP_STATS_AT(label);
        measuring = K_COUNT;
    }
}

struct scenario {
    const char *name;
    bool leader;
    unsigned voters;
    raft_index length;
    bool reads;
};

int main(int argc, char **argv)
{
    const char *path = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
    const char *only = argc > 2 ? argv[2] : NULL;
    const char *it = getenv("SCALING_ITERATIONS");
    iterations = it != NULL ? (unsigned)strtoul(it, NULL, 10) : 200000;
    if (iterations == 0) {
        iterations = 1;
    }
    bool under_valgrind = RUNNING_ON_VALGRIND;
    results = path != NULL ? fopen(path, "a") : NULL;
    scratch_entries = malloc(FILL_BATCH * sizeof *scratch_entries);
    static const struct scenario scenarios[] = {
        {"scale.leader.v3.log1e3", true, 3, 1000, false},
        {"scale.leader.v3.log1e7", true, 3, 10000000, false},
        {"scale.leader.v9.log1e3", true, 9, 1000, false},
        {"scale.leader.v9.log1e7", true, 9, 10000000, false},
        {"scale.follower.v3.log1e3", false, 3, 1000, false},
        {"scale.follower.v3.log1e7", false, 3, 10000000, false},
        {"scale.reads.v3.log1e3", true, 3, 1000, true},
    };
    for (size_t k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++) {
        const struct scenario *sc = &scenarios[k];
        if (only != NULL && strcmp(only, sc->name) != 0) {
            continue;
        }
        struct node n;
        double setup = now_seconds();
        if (sc->leader) {
            make_leader(&n, sc->voters, sc->length);
        } else {
            make_follower(&n, sc->voters, sc->length);
        }
        setup = now_seconds() - setup;
        if (sc->reads) {
            /* The followers answer as this library does, so that echoes confirm reads. */
            for (raft_id k = 2; k <= sc->voters; k++) {
                echo(&n, k, last_round);
            }
        }
        if (under_valgrind) {
            callgrind_rounds(&n, sc->name, sc->leader, sc->reads);
            raft_close(&n.raft, NULL);
            continue;
        }
        double best = 0;
        unsigned steps_per_round = sc->reads    ? iterations * 2
                                   : sc->leader ? iterations * (1 + sc->voters)
                                                : iterations;
        unsigned long long confirmed_before = reads_confirmed;
        for (unsigned round = 0; round < 5; round++) {
            double t0 = now_seconds();
            if (sc->reads) {
                reads_round(&n);
            } else if (sc->leader) {
                leader_round(&n);
            } else {
                follower_round(&n);
            }
            double ns = (now_seconds() - t0) * 1e9 / steps_per_round;
            best = round == 0 || ns < best ? ns : best;
        }
        if (sc->reads && reads_confirmed - confirmed_before != 5ull * iterations) {
            fprintf(stderr, "scaling: %llu of %u reads confirmed\n",
                    reads_confirmed - confirmed_before, 5 * iterations);
            exit(1);
        }
        {
            report(sc->name, "ns_per_step", best);
            report(sc->name, "setup_seconds", setup);
        }
        raft_close(&n.raft, NULL);
    }
    free(scratch_entries);
    if (results != NULL) {
        fclose(results);
    }
    return 0;
}
