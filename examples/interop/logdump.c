/* Prints what a C-Raft data directory holds, read through libraft-rs's disk codec only (the
 * codec C API of include/raft.h), without changing anything in it:
 *
 *   logdump DIR
 *
 *   metadata term=T vote=V
 *   snapshot index=I term=T conf_index=C keys=... digest=...   (the latest usable one, if any)
 *   entry INDEX TERM command LEN FNV1A64(data)
 *   entry INDEX TERM barrier
 *   entry INDEX TERM change ID@ADDRESS/ROLE,...                 (decoded: padding may differ)
 *
 * Used by the interoperability test to compare the logs of libraft-rs and C-Raft nodes.
 * Exit status 1 when something does not decode (a gap, a bad checksum, ...). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft.h"

static const char *dir;
static int failed;

static struct raft_buffer read_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct raft_buffer buf = {NULL, 0};
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return buf;
    }
    buf.base = raft_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, (char *)buf.base + got, (size_t)st.st_size - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf.len = got;
    close(fd);
    return buf;
}

static unsigned long long fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned long long h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static void print_conf(const struct raft_configuration *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        printf("%s%llu@%s/%d", i ? "," : "", c->servers[i].id, c->servers[i].address,
               c->servers[i].role);
    }
}

static void print_entry(raft_index index, const struct raft_entry *e)
{
    printf("entry %llu %llu ", index, e->term);
    if (e->type == RAFT_COMMAND) {
        printf("command %zu %016llx\n", e->buf.len, fnv1a(e->buf.base, e->buf.len));
    } else if (e->type == RAFT_BARRIER) {
        printf("barrier\n"); /* 8 bytes of unspecified content */
    } else {
        struct raft_configuration c;
        if (raft_configuration_decode(&e->buf, &c) != 0) {
            printf("change UNDECODABLE\n");
            failed = 1;
            return;
        }
        printf("change ");
        print_conf(&c);
        printf("\n");
        raft_configuration_close(&c);
    }
}

static int by_kind_then_position(const void *a, const void *b)
{
    const struct raft_file_name *x = a, *y = b;
    if (x->kind != y->kind) {
        return x->kind - y->kind;
    }
    unsigned long long kx = x->first + x->counter, ky = y->first + y->counter;
    if (x->kind == RAFT_FILE_SNAPSHOT_META) {
        if (x->term != y->term) {
            return x->term < y->term ? -1 : 1;
        }
        if (x->index != y->index) {
            return x->index < y->index ? -1 : 1;
        }
        kx = x->timestamp;
        ky = y->timestamp;
    }
    return kx < ky ? -1 : kx > ky ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: logdump DIR\n");
        return 2;
    }
    dir = argv[1];
    char errmsg[RAFT_ERRMSG_BUF_SIZE];

    /* Metadata: the file with the greater version wins. */
    struct raft_metadata m[2];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 2; i++) {
        struct raft_buffer buf = read_file(i == 0 ? "metadata1" : "metadata2");
        if (buf.base != NULL && raft_decode_metadata(&buf, &m[i], errmsg) != 0) {
            fprintf(stderr, "logdump: metadata%d: %s\n", i + 1, errmsg);
            failed = 1;
        }
        raft_free(buf.base);
    }
    struct raft_metadata chosen;
    if (raft_choose_metadata(&m[0], &m[1], &chosen, errmsg) != 0) {
        fprintf(stderr, "logdump: metadata: %s\n", errmsg);
        return 1;
    }
    printf("metadata term=%llu vote=%llu\n", chosen.term, chosen.voted_for);

    /* The files, sorted by kind then position. */
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return 1;
    }
    struct raft_file_name files[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 4096) {
        if (raft_parse_file_name(de->d_name, &files[n]) == 0 &&
            (files[n].kind == RAFT_FILE_CLOSED_SEGMENT || files[n].kind == RAFT_FILE_OPEN_SEGMENT ||
             files[n].kind == RAFT_FILE_SNAPSHOT_META)) {
            n++;
        }
    }
    closedir(d);
    if (n > 1) {
        qsort(files, n, sizeof *files, by_kind_then_position);
    }

    /* The latest snapshot whose two files are there. */
    raft_index snap_index = 0;
    for (size_t i = n; i-- > 0;) {
        if (files[i].kind != RAFT_FILE_SNAPSHOT_META) {
            continue;
        }
        char data_name[96], meta_name[96];
        raft_snapshot_file_name(files[i].term, files[i].index, files[i].timestamp, false,
                                data_name, sizeof data_name);
        raft_snapshot_file_name(files[i].term, files[i].index, files[i].timestamp, true,
                                meta_name, sizeof meta_name);
        struct raft_buffer meta = read_file(meta_name), data = read_file(data_name);
        struct raft_configuration conf;
        raft_index conf_index;
        struct raft_buffer plain = {NULL, 0};
        int ok = data.base != NULL && data.len > 0 &&
                 raft_decode_snapshot_meta(&meta, &conf, &conf_index, errmsg) == 0;
        if (ok && raft_decode_snapshot_data(&data, 0, &plain, errmsg) == 0) {
            printf("snapshot index=%llu term=%llu conf_index=%llu %s len=%zu hash=%016llx conf=",
                   files[i].index, files[i].term, conf_index,
                   raft_snapshot_data_is_lz4(&data) ? "lz4" : "raw", plain.len,
                   fnv1a(plain.base, plain.len));
            print_conf(&conf);
            printf("\n");
            snap_index = files[i].index;
            raft_free(plain.base);
        } else if (ok) {
            fprintf(stderr, "logdump: %s: %s\n", data_name, errmsg);
            failed = 1;
        }
        if (ok) {
            raft_configuration_close(&conf);
        }
        raft_free(meta.base);
        raft_free(data.base);
        if (snap_index != 0) {
            break;
        }
    }

    /* Closed segments in index order (the newest contiguous run), then open ones by counter. */
    raft_index next = 0;
    for (size_t i = 0; i < n; i++) {
        const struct raft_file_name *f = &files[i];
        if (f->kind != RAFT_FILE_CLOSED_SEGMENT) {
            continue;
        }
        if (next != 0 && f->first != next) {
            /* A gap: older segments before it are outside the contiguous run. */
            if (f->first > next && snap_index + 1 >= f->first) {
                next = 0;
            } else {
                fprintf(stderr, "logdump: segment %llu-%llu does not follow %llu\n", f->first,
                        f->last, next - 1);
                failed = 1;
            }
        }
        char name[64];
        raft_closed_segment_name(f->first, f->last, name, sizeof name);
        struct raft_buffer data = read_file(name);
        struct raft_segment seg;
        if (raft_load_closed_segment(&data, f->first, f->last, &seg, errmsg) != 0) {
            fprintf(stderr, "logdump: %s: %s\n", name, errmsg);
            failed = 1;
            raft_free(data.base);
            continue;
        }
        raft_free(data.base);
        for (unsigned k = 0; k < seg.n_entries; k++) {
            print_entry(f->first + k, &seg.entries[k]);
        }
        next = f->last + 1;
        raft_segment_close(&seg);
    }
    if (next == 0) {
        next = snap_index + 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct raft_file_name *f = &files[i];
        if (f->kind != RAFT_FILE_OPEN_SEGMENT) {
            continue;
        }
        char name[64];
        raft_open_segment_name(f->counter, name, sizeof name);
        struct raft_buffer data = read_file(name);
        struct raft_segment seg;
        errmsg[0] = '\0';
        if (raft_load_open_segment(&data, &seg, errmsg) != 0) {
            fprintf(stderr, "logdump: %s: %s\n", name, errmsg);
            failed = 1;
            raft_free(data.base);
            continue;
        }
        raft_free(data.base);
        if (seg.end == RAFT_SEGMENT_DAMAGED) {
            fprintf(stderr, "logdump: %s: torn tail: %s\n", name, errmsg);
        }
        for (unsigned k = 0; k < seg.n_entries; k++) {
            print_entry(next + k, &seg.entries[k]);
        }
        next += seg.n_entries;
        raft_segment_close(&seg);
    }
    return failed;
}
