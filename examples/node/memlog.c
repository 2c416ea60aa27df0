/* The in-memory log. The library keeps no payloads (docs/contract.md#raft_update_entries): the host sends
 * AppendEntries from here and applies committed entries from here. Payloads are copied, so
 * the library's batches can be freed as soon as an update is processed. */
#include <stdlib.h>
#include <string.h>

#include "node.h"

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        abort(); /* an example: out of memory ends it */
    }
    return q;
}

void memlog_init(struct memlog *l, raft_index first)
{
    memset(l, 0, sizeof *l);
    l->first = first;
}

void memlog_close(struct memlog *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->entries[i].data);
    }
    free(l->entries);
    memset(l, 0, sizeof *l);
}

void memlog_reset(struct memlog *l, raft_index first)
{
    memlog_close(l);
    memlog_init(l, first);
}

raft_index memlog_last(const struct memlog *l)
{
    return l->first + l->n - 1;
}

const struct mem_entry *memlog_get(const struct memlog *l, raft_index index)
{
    if (index < l->first || index > memlog_last(l) || l->n == 0) {
        return NULL;
    }
    return &l->entries[index - l->first];
}

void memlog_append(struct memlog *l, raft_term term, int type, const void *data, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->entries = xrealloc(l->entries, l->cap * sizeof *l->entries);
    }
    struct mem_entry *e = &l->entries[l->n++];
    e->term = term;
    e->type = type;
    e->len = len;
    e->data = xrealloc(NULL, len > 0 ? len : 1);
    memcpy(e->data, data, len);
}

void memlog_truncate(struct memlog *l, raft_index from)
{
    while (l->n > 0 && memlog_last(l) >= from) {
        free(l->entries[--l->n].data);
    }
}

void memlog_drop_prefix(struct memlog *l, raft_index before)
{
    if (before <= l->first) {
        return;
    }
    size_t drop = before - l->first;
    if (drop > l->n) {
        drop = l->n;
    }
    for (size_t i = 0; i < drop; i++) {
        free(l->entries[i].data);
    }
    memmove(l->entries, l->entries + drop, (l->n - drop) * sizeof *l->entries);
    l->n -= drop;
    l->first += drop;
}
