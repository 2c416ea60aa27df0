/* "host:port" addresses of the example programs (IPv4 literals, as the demo and the tests
 * use), shared by the node, the client, the load generator and the C-Raft counterpart. Free of
 * raft.h so that programs built on either implementation's header can use it. */

#ifndef EXAMPLE_ADDRESS_H
#define EXAMPLE_ADDRESS_H

#include <netinet/in.h>
#include <stddef.h>

/* Splits "host:port" into `host` (NUL-terminated) and `port`. 0, or -1 if malformed. */
int address_split(const char *address, char *host, size_t host_len, int *port);

/* The IPv4 socket address of "a.b.c.d:port". 0, or -1 if malformed. */
int address_sockaddr(const char *address, struct sockaddr_in *out);

/* The client address of a server: same host, raft port + 1000. 0, or -1 if malformed. */
int address_client_of(const char *raft_address, char *out, size_t len);

/* A blocking TCP connection to "a.b.c.d:port" with Nagle off, or -1. */
int address_dial(const char *address);

#endif
