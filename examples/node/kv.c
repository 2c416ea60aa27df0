/* The replicated state machine: a string-to-string map. Commands and snapshots are byte
 * formats of this example, not of C-Raft:
 *   PUT command:  u32le key length | u32le value length | key | value | zeros to a multiple of 8
 *   snapshot:     u64le count | count x (u32le key length | u32le value length | key | value)
 *                 | zeros to a multiple of 8
 * raft_step takes payloads of any length, but this node's segment files and its C-Raft peers
 * use C-Raft's formats, which carry only multiples of 8 bytes: hence the padding, which the
 * explicit lengths make exact to undo. */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct item {
    char *key, *value; /* NUL-terminated copies */
    size_t klen, vlen;
    uint64_t hash; /* of the key */
    struct item *next;
};

struct kv {
    struct item **buckets;
    size_t n_buckets, count;
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static char *copy(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

struct kv *kv_new(void)
{
    struct kv *kv = calloc(1, sizeof *kv);
    kv->n_buckets = 4096;
    kv->buckets = calloc(kv->n_buckets, sizeof *kv->buckets);
    return kv;
}

static void clear(struct kv *kv)
{
    for (size_t b = 0; b < kv->n_buckets; b++) {
        for (struct item *it = kv->buckets[b], *next; it != NULL; it = next) {
            next = it->next;
            free(it->key);
            free(it->value);
            free(it);
        }
        kv->buckets[b] = NULL;
    }
    kv->count = 0;
}

void kv_free(struct kv *kv)
{
    if (kv != NULL) {
        clear(kv);
        free(kv->buckets);
        free(kv);
    }
}

static struct item **slot(const struct kv *kv, const char *key, size_t klen, uint64_t hash)
{
    struct item **p = &kv->buckets[hash % kv->n_buckets];
    while (*p != NULL &&
           ((*p)->hash != hash || (*p)->klen != klen || memcmp((*p)->key, key, klen) != 0)) {
        p = &(*p)->next;
    }
    return p;
}

/* Doubles the table when chains grow beyond two items on average. */
static void grow(struct kv *kv)
{
    size_t n = kv->n_buckets * 2;
    struct item **buckets = calloc(n, sizeof *buckets);
    for (size_t b = 0; b < kv->n_buckets; b++) {
        for (struct item *it = kv->buckets[b], *next; it != NULL; it = next) {
            next = it->next;
            it->next = buckets[it->hash % n];
            buckets[it->hash % n] = it;
        }
    }
    free(kv->buckets);
    kv->buckets = buckets;
    kv->n_buckets = n;
}

static void put(struct kv *kv, const char *key, size_t klen, const char *value, size_t vlen)
{
    uint64_t hash = fnv1a(14695981039346656037ull, key, klen);
    struct item **p = slot(kv, key, klen, hash);
    if (*p == NULL) {
        *p = calloc(1, sizeof **p);
        (*p)->key = copy(key, klen);
        (*p)->klen = klen;
        (*p)->hash = hash;
        kv->count++;
    } else {
        free((*p)->value);
    }
    (*p)->value = copy(value, vlen);
    (*p)->vlen = vlen;
    if (kv->count > 2 * kv->n_buckets) {
        grow(kv);
    }
}

static size_t pad8(size_t n)
{
    return (n + 7) / 8 * 8;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct raft_buffer kv_encode_put(const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    struct raft_buffer buf = {NULL, pad8(8 + klen + vlen)};
    unsigned char *p = raft_calloc(1, buf.len);
    put_u32(p, (uint32_t)klen);
    put_u32(p + 4, (uint32_t)vlen);
    memcpy(p + 8, key, klen);
    memcpy(p + 8 + klen, value, vlen);
    buf.base = p;
    return buf;
}

int kv_apply(struct kv *kv, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < 8) {
        return -1;
    }
    size_t klen = get_u32(p), vlen = get_u32(p + 4);
    if (klen > len - 8 || vlen > len - 8 - klen) {
        return -1;
    }
    put(kv, (const char *)p + 8, klen, (const char *)p + 8 + klen, vlen);
    return 0;
}

const char *kv_get(const struct kv *kv, const char *key)
{
    size_t klen = strlen(key);
    struct item **p = slot(kv, key, klen, fnv1a(14695981039346656037ull, key, klen));
    return *p != NULL ? (*p)->value : NULL;
}

size_t kv_count(const struct kv *kv)
{
    return kv->count;
}

/* Independent of insertion order, so that equal maps give equal digests on every node. */
uint64_t kv_digest(const struct kv *kv)
{
    uint64_t sum = kv->count;
    for (size_t b = 0; b < kv->n_buckets; b++) {
        for (const struct item *it = kv->buckets[b]; it != NULL; it = it->next) {
            uint64_t h = fnv1a(14695981039346656037ull, it->key, it->klen + 1);
            sum += fnv1a(h, it->value, it->vlen);
        }
    }
    return sum;
}

struct raft_buffer kv_snapshot(const struct kv *kv)
{
    size_t len = 8;
    for (size_t b = 0; b < kv->n_buckets; b++) {
        for (const struct item *it = kv->buckets[b]; it != NULL; it = it->next) {
            len += 8 + it->klen + it->vlen;
        }
    }
    struct raft_buffer buf = {raft_calloc(1, pad8(len)), pad8(len)};
    unsigned char *p = buf.base;
    uint64_t count = kv->count;
    memcpy(p, &count, 8); /* little-endian hosts only, like the rest of this example */
    p += 8;
    for (size_t b = 0; b < kv->n_buckets; b++) {
        for (const struct item *it = kv->buckets[b]; it != NULL; it = it->next) {
            size_t klen = it->klen, vlen = it->vlen;
            put_u32(p, (uint32_t)klen);
            put_u32(p + 4, (uint32_t)vlen);
            memcpy(p + 8, it->key, klen);
            memcpy(p + 8 + klen, it->value, vlen);
            p += 8 + klen + vlen;
        }
    }
    return buf;
}

int kv_restore(struct kv *kv, const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t count;
    if (len < 8) {
        return -1;
    }
    memcpy(&count, p, 8);
    p += 8;
    clear(kv);
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 8) {
            return -1;
        }
        size_t klen = get_u32(p), vlen = get_u32(p + 4);
        if ((size_t)(end - p) - 8 < klen + vlen) {
            return -1;
        }
        put(kv, (const char *)p + 8, klen, (const char *)p + 8 + klen, vlen);
        p += 8 + klen + vlen;
    }
    return 0;
}
