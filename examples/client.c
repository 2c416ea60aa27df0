/* A client of the example key-value cluster (line protocol: examples/node/clients.c).
 *
 *   client SERVERS put KEY VALUE       write one key (follows redirects, retries)
 *   client SERVERS get KEY             read one key from the leader
 *   client SERVERS transfer ID         ask the leader to hand leadership to server ID
 *   client SERVERS load PREFIX FROM TO write keys PREFIX-FROM .. PREFIX-TO, one at a time
 *   client ADDRESS status|hash         ask one server directly
 *
 * SERVERS is a comma-separated list of client addresses (host:port). A request that meets a
 * dead server, no leader or a lost leadership is retried on the next server (PUT is
 * idempotent), for up to 30 seconds. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "address.h"

#define MAX_SERVERS 16
#define RETRY_FOR_MS 30000

struct session {
    char servers[MAX_SERVERS][64];
    int n_servers, current;
    char redirect[64]; /* where the last REDIRECT pointed, tried first */
    int fd;
    FILE *in;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void hang_up(struct session *s)
{
    if (s->in != NULL) {
        fclose(s->in); /* closes fd */
    }
    s->in = NULL;
    s->fd = -1;
}

static int connect_somewhere(struct session *s)
{
    if (s->redirect[0] != '\0') {
        s->fd = address_dial(s->redirect);
        s->redirect[0] = '\0';
    }
    for (int tries = 0; s->fd < 0 && tries < s->n_servers; tries++) {
        s->current = (s->current + 1) % s->n_servers;
        s->fd = address_dial(s->servers[s->current]);
    }
    if (s->fd < 0) {
        return -1;
    }
    s->in = fdopen(s->fd, "r");
    return 0;
}

/* Sends one request line and reads the final answer, following redirects and retrying. */
static int request(struct session *s, const char *line, char *answer, size_t len)
{
    long long give_up = now_ms() + RETRY_FOR_MS;
    while (now_ms() < give_up) {
        if (s->fd < 0 && connect_somewhere(s) != 0) {
            pause_ms(100);
            continue;
        }
        size_t n = strlen(line);
        if (write(s->fd, line, n) != (ssize_t)n || fgets(answer, (int)len, s->in) == NULL) {
            hang_up(s);
            continue;
        }
        if (strncmp(answer, "REDIRECT ", 9) == 0) {
            snprintf(s->redirect, sizeof s->redirect, "%s", answer + 9);
            s->redirect[strcspn(s->redirect, "\r\n")] = '\0';
            hang_up(s);
            continue;
        }
        if (strncmp(answer, "ERR ", 4) == 0) {
            hang_up(s); /* no leader yet, or leadership lost: try again */
            pause_ms(50);
            continue;
        }
        return 0;
    }
    fprintf(stderr, "client: no answer to %s", line);
    return -1;
}

static void parse_servers(struct session *s, const char *list)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->current = -1;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *a = strtok_r(copy, ",", &save); a && s->n_servers < MAX_SERVERS;
         a = strtok_r(NULL, ",", &save)) {
        snprintf(s->servers[s->n_servers++], sizeof s->servers[0], "%s", a);
    }
}

static int load(struct session *s, const char *prefix, long from, long to)
{
    char line[256], answer[256];
    long long start = now_ms();
    for (long i = from; i <= to; i++) {
        snprintf(line, sizeof line, "PUT %s-%ld value-%ld-%s\n", prefix, i, i, prefix);
        if (request(s, line, answer, sizeof answer) != 0) {
            return 1;
        }
    }
    long long ms = now_ms() - start;
    printf("wrote %ld keys in %lld ms (%.0f writes/s)\n", to - from + 1, ms,
           ms > 0 ? (to - from + 1) * 1000.0 / (double)ms : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: client SERVERS put K V | get K | transfer ID | load PREFIX FROM TO "
                        "| status | hash\n");
        return 2;
    }
    struct session s;
    parse_servers(&s, argv[1]);
    const char *cmd = argv[2];
    char line[4200], answer[4200];
    if (strcmp(cmd, "load") == 0 && argc == 6) {
        return load(&s, argv[3], atol(argv[4]), atol(argv[5]));
    }
    if (strcmp(cmd, "put") == 0 && argc == 5) {
        snprintf(line, sizeof line, "PUT %s %s\n", argv[3], argv[4]);
    } else if (strcmp(cmd, "get") == 0 && argc == 4) {
        snprintf(line, sizeof line, "GET %s\n", argv[3]);
    } else if (strcmp(cmd, "transfer") == 0 && argc == 4) {
        snprintf(line, sizeof line, "TRANSFER %s\n", argv[3]);
    } else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "hash") == 0) {
        /* One server, no redirects: ask it directly. */
        int fd = address_dial(s.servers[0]);
        FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
        snprintf(line, sizeof line, "%s\n", strcmp(cmd, "status") == 0 ? "STATUS" : "HASH");
        if (in == NULL || write(fd, line, strlen(line)) < 0 ||
            fgets(answer, sizeof answer, in) == NULL) {
            fprintf(stderr, "client: %s is not answering\n", s.servers[0]);
            return 1;
        }
        fputs(answer, stdout);
        fclose(in);
        return 0;
    } else {
        fprintf(stderr, "client: bad command\n");
        return 2;
    }
    if (request(&s, line, answer, sizeof answer) != 0) {
        return 1;
    }
    fputs(answer, stdout);
    hang_up(&s);
    return 0;
}
