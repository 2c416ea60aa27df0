/* The replicated key-value store of the examples, shared by the libraft-rs node
 * (examples/node) and the C-Raft 0.15 node (examples/craft-node): the same command format,
 * snapshot format and digest, so that entries written by either implementation apply on
 * both and state machines compare across implementations.
 *
 * It needs only `struct raft_buffer` and `raft_calloc`, which both libraries' raft.h declare
 * identically: `#include "raft.h"` resolves to whichever header the program is built with
 * (include/raft.h for examples/node, the system's for examples/craft-node). */
#ifndef EXAMPLE_KV_H
#define EXAMPLE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "raft.h"

struct kv;
struct kv *kv_new(void);
void kv_free(struct kv *kv);
/* A command payload (padded to a multiple of 8 bytes for C-Raft's formats) in a raft_malloc
 * buffer. */
struct raft_buffer kv_encode_put(const char *key, const char *value);
int kv_apply(struct kv *kv, const void *data, size_t len);
const char *kv_get(const struct kv *kv, const char *key);
size_t kv_count(const struct kv *kv);
/* Independent of insertion order: equal maps give equal digests on every node. */
uint64_t kv_digest(const struct kv *kv);
/* The whole store as snapshot data, in a raft_malloc buffer. */
struct raft_buffer kv_snapshot(const struct kv *kv);
int kv_restore(struct kv *kv, const void *data, size_t len);

#endif
