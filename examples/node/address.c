/* "host:port" parsing, the client-port convention and a blocking dial (see address.h). */

#define _POSIX_C_SOURCE 200809L
#include "address.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Servers answer clients on their raft port plus this. */
#define CLIENT_PORT_OFFSET 1000

int address_split(const char *address, char *host, size_t host_len, int *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= host_len) {
        return -1;
    }
    snprintf(host, host_len, "%.*s", (int)(colon - address), address);
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

int address_sockaddr(const char *address, struct sockaddr_in *out)
{
    char host[64];
    int port;
    if (address_split(address, host, sizeof host, &port) != 0) {
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

int address_client_of(const char *raft_address, char *out, size_t len)
{
    char host[128];
    int port;
    if (address_split(raft_address, host, sizeof host, &port) != 0) {
        return -1;
    }
    snprintf(out, len, "%s:%d", host, port + CLIENT_PORT_OFFSET);
    return 0;
}

int address_dial(const char *address)
{
    struct sockaddr_in sa;
    if (address_sockaddr(address, &sa) != 0) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}
