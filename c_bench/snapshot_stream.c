/* Snapshot transfer between two processes over TCP on loopback, through raft_step and this
 * library's wire codec: a leader (this process) sends a snapshot file of SIZE MiB to a follower
 * (a child process) that stores it in its own file, either streamed in chunks
 * (docs/snapshots.md) or whole, the way C-Raft sends every snapshot (one InstallSnapshot
 * holding all of it). Prints the time, the throughput and each side's peak resident memory.
 *
 *   snapshot_stream SIZE_MIB CHUNK_KIB WINDOW DIR [OUT]   (CHUNK_KIB 0: whole)
 *
 * The follower makes each chunk durable (fdatasync) before acknowledging it, as the contract
 * requires; the whole snapshot is made durable once. Both files are compared at the end. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raft.h"

static uint64_t chunk_size;
static unsigned window;
static struct raft r;
static int sock, data_fd;
static struct raft_decoder *decoder;
static struct raft_buffer conf_buf;
static struct raft_entry log_entries[2];
static unsigned n_log;
static bool installed;

static void die(const char *what)
{
    fprintf(stderr, "snapshot_stream: %s: %s (%s)\n", what, strerror(errno), raft_errmsg(&r));
    exit(1);
}

static raft_time now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (raft_time)ts.tv_sec * 1000 + (raft_time)ts.tv_nsec / 1000000;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void write_all(const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t k = write(sock, b, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            die("write");
        }
        b += k;
        n -= (size_t)k;
    }
}

static void handle(struct raft_update *u);

static void step(struct raft_event *ev)
{
    struct raft_update u;
    ev->time = now_ms();
    if (raft_step(&r, ev, &u) != 0) {
        die("raft_step");
    }
    handle(&u);
}

/* Attaches what the host owes a message (entries, snapshot data read from the file,
 * configuration), encodes and sends it. */
static void send_message(struct raft_message *m)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    void *data = NULL;
    if (raft_configuration_decode(&conf_buf, &conf) != 0) {
        die("configuration");
    }
    if (m->type == RAFT_APPEND_ENTRIES) {
        raft_index prev = m->append_entries.prev_log_index;
        if (prev + m->append_entries.n_entries > n_log) {
            raft_configuration_close(&conf);
            return; /* compacted: the library sends the snapshot next */
        }
        m->append_entries.entries = m->append_entries.n_entries ? &log_entries[prev] : NULL;
    } else if (m->type == RAFT_INSTALL_SNAPSHOT) {
        off_t len = lseek(data_fd, 0, SEEK_END);
        data = malloc((size_t)len + 1);
        if (data == NULL || pread(data_fd, data, (size_t)len, 0) != len) {
            die("read snapshot");
        }
        m->install_snapshot.conf = conf;
        m->install_snapshot.data = (struct raft_buffer){data, (size_t)len};
    } else if (m->type == RAFT_INSTALL_SNAPSHOT_CHUNK) {
        struct raft_install_snapshot_chunk *c = &m->install_snapshot_chunk;
        data = malloc(c->data.len + 1);
        off_t offset = (off_t)c->chunk * (off_t)chunk_size;
        if (data == NULL || pread(data_fd, data, c->data.len, offset) != (ssize_t)c->data.len) {
            die("read chunk");
        }
        c->data.base = data;
        if (c->last) {
            c->conf = conf;
        }
    }
    struct raft_buffer out;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_message(m, &out, errmsg) != 0) {
        fprintf(stderr, "encode: %s\n", errmsg);
        exit(1);
    }
    free(data);
    raft_configuration_close(&conf);
    write_all(out.base, out.len);
    raft_free(out.base);
}

static void handle(struct raft_update *u)
{
    struct raft_event ev;
    for (unsigned k = 0; (u->flags & RAFT_UPDATE_ENTRIES) && k < u->entries.n; k++) {
        if (n_log < 2) {
            log_entries[n_log++] = u->entries.batch[k];
        }
    }
    for (unsigned k = 0; (u->flags & RAFT_UPDATE_MESSAGES) && k < u->messages.n; k++) {
        send_message(&u->messages.batch[k]);
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        raft_index last = u->entries.index + u->entries.n - 1;
        raft_free(u->entries.batch);
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_ENTRIES;
        ev.persisted_entries.index = last;
        step(&ev);
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        struct raft_buffer c = u->snapshot.chunk;
        if (u->snapshot.offset == 0 && ftruncate(data_fd, 0) != 0) {
            die("truncate");
        }
        if (pwrite(data_fd, c.base, c.len, (off_t)u->snapshot.offset) != (ssize_t)c.len ||
            fdatasync(data_fd) != 0) {
            die("store chunk");
        }
        raft_free(c.base);
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_PERSISTED_SNAPSHOT;
        ev.persisted_snapshot.metadata = u->snapshot.metadata;
        ev.persisted_snapshot.offset = u->snapshot.offset;
        ev.persisted_snapshot.last = u->snapshot.last;
        struct raft_configuration conf = u->snapshot.metadata.configuration;
        bool last = u->snapshot.last;
        step(&ev);
        raft_configuration_close(&conf);
        installed = installed || last;
    }
}

/* Receives what is readable and steps it; false once the peer closed. */
static bool receive(void)
{
    static char buf[1 << 16];
    ssize_t n = read(sock, buf, sizeof buf);
    if (n <= 0) {
        return false;
    }
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_decoder_feed(decoder, buf, (size_t)n, errmsg) != 0) {
        die("feed");
    }
    for (;;) {
        int frame;
        struct raft_message m;
        if (raft_decoder_next(decoder, &frame, &m, errmsg) != 0) {
            fprintf(stderr, "decode: %s\n", errmsg);
            exit(1);
        }
        if (frame != RAFT_FRAME_MESSAGE) {
            return true;
        }
        m.server_id = raft_state(&r) == RAFT_LEADER ? 2 : 1;
        m.server_address = m.server_id == 1 ? "s1" : "s2";
        struct raft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_RECEIVE;
        ev.receive.message = &m;
        struct raft_update u;
        ev.time = now_ms();
        int rv = raft_step(&r, &ev, &u);
        raft_message_release(&m, rv == 0);
        if (rv != 0) {
            die("receive");
        }
        handle(&u);
    }
}

static void start(raft_id id)
{
    char address[4] = {'s', (char)('0' + id), 0, 0};
    if (raft_init(&r, NULL, NULL, id, address) != 0) {
        die("raft_init");
    }
    if (raft_set_snapshot_chunks(&r, chunk_size, window) != 0) {
        die("raft_set_snapshot_chunks");
    }
    if (raft_decoder_new(&decoder, false) != 0) {
        die("decoder");
    }
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.start_index = 1;
    struct raft_entry entry = {1, RAFT_CHANGE, conf_buf, conf_buf.base};
    if (id == 1) {
        ev.start.term = 1;
        ev.start.entries = &entry;
        ev.start.n_entries = 1;
        log_entries[n_log++] = entry;
    }
    step(&ev);
}

static uint64_t checksum(int fd)
{
    static char buf[1 << 20];
    uint64_t h = 1469598103934665603ULL;
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
        for (ssize_t k = 0; k < n; k += 8) {
            h = (h ^ (uint64_t)(unsigned char)buf[k]) * 1099511628211ULL;
        }
        h ^= (uint64_t)n;
        at += n;
    }
    return h;
}

static void follower(int port, const char *path)
{
    sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sock, (struct sockaddr *)&a, sizeof a) != 0) {
        die("connect");
    }
    data_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (data_fd < 0) {
        die(path);
    }
    start(2);
    while (!(installed && raft_commit_index(&r) >= 2)) {
        if (!receive()) {
            die("leader closed");
        }
    }
    printf("%llu %ld\n", (unsigned long long)checksum(data_fd), peak_rss_kib());
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s SIZE_MIB CHUNK_KIB WINDOW DIR [OUT]\n", argv[0]);
        return 2;
    }
    uint64_t size = strtoull(argv[1], NULL, 10) << 20;
    chunk_size = strtoull(argv[2], NULL, 10) << 10;
    window = (unsigned)atoi(argv[3]);
    char leader_path[4096], follower_path[4096];
    snprintf(leader_path, sizeof leader_path, "%s/leader.snap", argv[4]);
    snprintf(follower_path, sizeof follower_path, "%s/follower.snap", argv[4]);

    struct raft_configuration c;
    raft_configuration_init(&c);
    raft_configuration_add(&c, 1, "s1", RAFT_VOTER);
    raft_configuration_add(&c, 2, "s2", RAFT_STANDBY);
    raft_configuration_encode(&c, &conf_buf);

    /* The leader's snapshot: pseudo-random bytes, written once. */
    data_fd = open(leader_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (data_fd < 0) {
        die(leader_path);
    }
    static char block[1 << 20];
    uint64_t x = 88172645463325252ULL;
    for (uint64_t done = 0; done < size; done += sizeof block) {
        for (size_t k = 0; k < sizeof block; k += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(block + k, &x, 8);
        }
        if (write(data_fd, block, sizeof block) != (ssize_t)sizeof block) {
            die("write snapshot");
        }
    }
    fsync(data_fd);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &alen) != 0) {
        die("listen");
    }
    int out[2];
    if (pipe(out) != 0) {
        die("pipe");
    }
    pid_t child = fork();
    if (child == 0) {
        close(out[0]);
        dup2(out[1], 1);
        close(listener);
        close(data_fd);
        follower(ntohs(a.sin_port), follower_path);
    }
    close(out[1]);
    sock = accept(listener, NULL, NULL);
    if (sock < 0) {
        die("accept");
    }
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    start(1);
    struct raft_event ev;
    while (raft_state(&r) != RAFT_LEADER || raft_commit_index(&r) < 2) {
        memset(&ev, 0, sizeof ev);
        ev.type = RAFT_TIMEOUT;
        step(&ev);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_SNAPSHOT;
    ev.snapshot.metadata.index = 2;
    ev.snapshot.metadata.term = raft_current_term(&r);
    ev.snapshot.metadata.configuration_index = 1;
    ev.snapshot.metadata.configuration = c;
    step(&ev);
    if (chunk_size > 0 && raft_set_snapshot_length(&r, 2, size) != 0) {
        die("raft_set_snapshot_length");
    }
    double t0 = seconds();
    raft_index match = 0;
    while (match < 2) {
        raft_time timeout = raft_timeout(&r), t = now_ms();
        struct pollfd p = {sock, POLLIN, 0};
        int wait = timeout > t ? (int)(timeout - t) : 0;
        int n = poll(&p, 1, wait);
        if (n > 0 && !receive()) {
            die("follower closed");
        }
        if (now_ms() >= raft_timeout(&r)) {
            memset(&ev, 0, sizeof ev);
            ev.type = RAFT_TIMEOUT;
            step(&ev);
        }
        raft_match_index(&r, 2, &match);
    }
    double elapsed = seconds() - t0;
    unsigned long long follower_sum = 0;
    long follower_rss = 0;
    FILE *from_child = fdopen(out[0], "r");
    if (fscanf(from_child, "%llu %ld", &follower_sum, &follower_rss) != 2) {
        die("follower's report");
    }
    int status;
    waitpid(child, &status, 0);
    if (follower_sum != checksum(data_fd)) {
        fprintf(stderr, "snapshot_stream: the follower's copy differs\n");
        return 1;
    }
    char line[512];
    snprintf(line, sizeof line,
             "snapshot.%s size %llu MiB, chunk %llu KiB, window %u: %.2f s, %.0f MiB/s, "
             "follower peak RSS %ld MiB, leader peak RSS %ld MiB\n",
             chunk_size ? "streamed" : "whole", (unsigned long long)(size >> 20),
             (unsigned long long)(chunk_size >> 10), window, elapsed,
             (double)(size >> 20) / elapsed, follower_rss / 1024, peak_rss_kib() / 1024);
    fputs(line, stdout);
    if (argc > 5) {
        FILE *f = fopen(argv[5], "a");
        if (f != NULL) {
            fputs(line, f);
            fclose(f);
        }
    }
    unlink(leader_path);
    unlink(follower_path);
    raft_configuration_close(&c);
    return 0;
}
