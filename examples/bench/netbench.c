/* A closed-loop load generator for the example key-value nodes (both implementations speak
 * the same line protocol, examples/node/clients.c):
 *
 *   netbench SERVERS CLIENTS SECONDS [VALUE_BYTES] [WARMUP_MS] [put|get]
 *
 * finds the leader (STATUS on each client address of SERVERS), opens CLIENTS connections to
 * it, and on each keeps exactly one PUT outstanding: the next one is sent when the previous
 * one is answered (OK = committed and applied on the leader). Keys cycle over 1000 per
 * connection, so the store stays bounded. After WARMUP_MS (default 500) it counts replies
 * for SECONDS and prints one line:
 *
 *   ops N seconds S commits_per_s R p50_us A p90_us B p99_us C max_us D errors E
 *
 * With `get` the requests are GETs of the same keys (VALUE or NOTFOUND answers count; the
 * figure is then reads per second, under the name commits_per_s).
 *
 * Single-threaded (poll): the client costs little next to the nodes. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "address.h"

#define MAX_CONNS 1024

struct conn {
    int fd;
    unsigned long seq;
    long long sent_ns;
    char in[512];
    size_t in_len;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One request, one line back (blocking; used before the run). */
static int ask(const char *address, const char *request, char *answer, size_t len)
{
    int fd = address_dial(address);
    if (fd < 0) {
        return -1;
    }
    size_t got = 0;
    int rv = -1;
    if (write(fd, request, strlen(request)) == (ssize_t)strlen(request)) {
        while (got + 1 < len) {
            ssize_t n = read(fd, answer + got, len - 1 - got);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
            if (memchr(answer, '\n', got) != NULL) {
                rv = 0;
                break;
            }
        }
    }
    answer[got] = '\0';
    close(fd);
    return rv;
}

static int find_leader(char *servers, char *leader, size_t len)
{
    long long deadline = now_ns() + 20000000000LL;
    while (now_ns() < deadline) {
        char copy[2048];
        snprintf(copy, sizeof copy, "%s", servers);
        char *save = NULL;
        for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
            char answer[512];
            if (ask(a, "STATUS\n", answer, sizeof answer) == 0 &&
                strstr(answer, " state=leader ") != NULL) {
                snprintf(leader, len, "%s", a);
                return 0;
            }
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static bool reads; /* GET instead of PUT */

static int send_put(struct conn *c, int id, const char *value)
{
    char line[4200];
    int n = reads ? snprintf(line, sizeof line, "GET bench-%d-%lu\n", id, c->seq % 1000)
                  : snprintf(line, sizeof line, "PUT bench-%d-%lu %s\n", id, c->seq % 1000, value);
    c->seq++;
    c->sent_ns = now_ns();
    return write(c->fd, line, (size_t)n) == n ? 0 : -1; /* small: fits the socket buffer */
}

static int by_value(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: netbench SERVERS CLIENTS SECONDS [VALUE_BYTES] [WARMUP_MS] [put|get]\n");
        return 2;
    }
    int n_conns = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int value_len = argc > 4 ? atoi(argv[4]) : 64;
    int warmup_ms = argc > 5 ? atoi(argv[5]) : 500;
    reads = argc > 6 && strcmp(argv[6], "get") == 0;
    if (n_conns < 1 || n_conns > MAX_CONNS || seconds <= 0 || value_len < 1 || value_len > 4000) {
        fprintf(stderr, "netbench: bad arguments\n");
        return 2;
    }
    char leader[128];
    if (find_leader(argv[1], leader, sizeof leader) != 0) {
        fprintf(stderr, "netbench: no leader among %s\n", argv[1]);
        return 1;
    }
    char *value = malloc((size_t)value_len + 1);
    memset(value, 'v', (size_t)value_len);
    value[value_len] = '\0';

    static struct conn conns[MAX_CONNS];
    static struct pollfd pfds[MAX_CONNS];
    for (int i = 0; i < n_conns; i++) {
        conns[i].fd = address_dial(leader);
        if (conns[i].fd < 0) {
            fprintf(stderr, "netbench: cannot connect to %s\n", leader);
            return 1;
        }
        pfds[i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
    }
    size_t cap = 1 << 20, n_lat = 0;
    long long *lat = malloc(cap * sizeof *lat);
    unsigned long errors = 0;
    long long start = now_ns(), measure_from = start + (long long)warmup_ms * 1000000;
    long long measure_to = measure_from + (long long)(seconds * 1e9);
    for (int i = 0; i < n_conns; i++) {
        send_put(&conns[i], i, value);
    }
    while (now_ns() < measure_to) {
        int rv = poll(pfds, (nfds_t)n_conns, 100);
        if (rv < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        for (int i = 0; i < n_conns && rv > 0; i++) {
            if (pfds[i].revents == 0) {
                continue;
            }
            struct conn *c = &conns[i];
            ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
            if (n <= 0) {
                fprintf(stderr, "netbench: the leader closed a connection\n");
                return 1;
            }
            c->in_len += (size_t)n;
            char *nl;
            while ((nl = memchr(c->in, '\n', c->in_len)) != NULL) {
                long long t = now_ns();
                bool ok = reads ? strncmp(c->in, "VALUE", 5) == 0 || strncmp(c->in, "NOTFOUND", 8) == 0
                                : strncmp(c->in, "OK", 2) == 0;
                if (t >= measure_from && t < measure_to) {
                    if (!ok) {
                        errors++;
                    } else {
                        if (n_lat == cap) {
                            cap *= 2;
                            lat = realloc(lat, cap * sizeof *lat);
                        }
                        lat[n_lat++] = t - c->sent_ns;
                    }
                }
                if (!ok && errors > 1000) {
                    fprintf(stderr, "netbench: too many errors (last: %.*s)\n",
                            (int)(nl - c->in), c->in);
                    return 1;
                }
                size_t used = (size_t)(nl - c->in) + 1;
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
                if (send_put(c, i, value) != 0) {
                    fprintf(stderr, "netbench: write failed\n");
                    return 1;
                }
            }
        }
    }
    if (n_lat == 0) {
        fprintf(stderr, "netbench: nothing committed\n");
        return 1;
    }
    qsort(lat, n_lat, sizeof *lat, by_value);
#define PCT(p) (lat[(size_t)((double)(n_lat - 1) * (p))] / 1000)
    printf("ops %zu seconds %.2f commits_per_s %.0f p50_us %lld p90_us %lld p99_us %lld "
           "max_us %lld errors %lu\n",
           n_lat, seconds, (double)n_lat / seconds, PCT(0.50), PCT(0.90), PCT(0.99),
           lat[n_lat - 1] / 1000, errors);
    for (int i = 0; i < n_conns; i++) {
        close(conns[i].fd);
    }
    free(lat);
    free(value);
    return 0;
}
