/* Opening a data directory after a clean stop or a crash, and storing snapshots. Recovery
 * follows C-Raft's (docs/formats.md#disk): leftover tmp files are deleted, open segments keep their valid
 * batches (a torn tail is reported and cut off) and are closed, a closed segment that fails
 * its checks is set aside as corrupt-* and the log ends before it. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_internal.h"

struct listing {
    struct raft_file_name *files;
    size_t n;
};

static int by_position(const void *a, const void *b)
{
    const struct raft_file_name *x = a, *y = b;
    if (x->kind != y->kind) {
        return x->kind - y->kind;
    }
    raft_index kx = x->first + x->counter + x->index, ky = y->first + y->counter + y->index;
    if (kx != ky) {
        return kx < ky ? -1 : 1;
    }
    return x->term < y->term ? -1 : x->term > y->term ? 1 : 0;
}

/* The C-Raft files of the directory, sorted by kind then position; tmp-* files deleted. */
static struct listing list_directory(struct storage *s)
{
    struct listing l = {NULL, 0};
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        return l;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct raft_file_name f;
        if (raft_parse_file_name(de->d_name, &f) != 0 || f.kind == RAFT_FILE_OTHER) {
            continue;
        }
        if (f.kind == RAFT_FILE_TEMPORARY) {
            char path[600];
            path_of(s, de->d_name, path, sizeof path);
            unlink(path);
            continue;
        }
        if (l.n == cap) {
            cap = cap ? 2 * cap : 32;
            l.files = realloc(l.files, cap * sizeof *l.files);
        }
        l.files[l.n++] = f;
    }
    closedir(d);
    if (l.n > 1) {
        qsort(l.files, l.n, sizeof *l.files, by_position);
    }
    return l;
}

void snapshot_names(const struct raft_file_name *f, char *data, char *meta, size_t len)
{
    raft_snapshot_file_name(f->term, f->index, f->timestamp, false, data, len);
    raft_snapshot_file_name(f->term, f->index, f->timestamp, true, meta, len);
}

/* Loads the most recent snapshot whose two files decode. */
static void load_snapshot(struct storage *s, const struct listing *l, struct snapshot *snap)
{
    memset(snap, 0, sizeof *snap);
    for (size_t i = l->n; i-- > 0;) {
        const struct raft_file_name *f = &l->files[i];
        if (f->kind != RAFT_FILE_SNAPSHOT_META || (snap->present && f->index <= snap->index)) {
            continue;
        }
        char data_name[96], meta_name[96], errmsg[RAFT_ERRMSG_BUF_SIZE];
        snapshot_names(f, data_name, meta_name, sizeof data_name);
        struct raft_buffer meta = read_file(s, meta_name), data = read_file(s, data_name);
        struct raft_configuration conf;
        raft_index conf_index;
        struct raft_buffer plain = {NULL, 0};
        if (data.base != NULL &&
            raft_decode_snapshot_meta(&meta, &conf, &conf_index, errmsg) == 0) {
            if (raft_decode_snapshot_data(&data, 0, &plain, errmsg) == 0) {
                if (snap->present) {
                    raft_configuration_close(&snap->conf);
                    raft_free(snap->data.base);
                }
                *snap = (struct snapshot){true, f->index, f->term, conf_index, conf, plain};
                snprintf(s->snap_data, sizeof s->snap_data, "%s", data_name);
                s->snap_raw = !raft_snapshot_data_is_lz4(&data);
            } else {
                raft_configuration_close(&conf);
                fprintf(stderr, "storage: ignoring snapshot %s: %s\n", data_name, errmsg);
            }
        } else if (data.base != NULL) {
            fprintf(stderr, "storage: ignoring snapshot %s: %s\n", meta_name, errmsg);
        }
        raft_free(meta.base);
        raft_free(data.base);
    }
}

/* Renames a damaged closed segment out of the way, as C-Raft does. */
static void set_aside(struct storage *s, const char *name)
{
    char from[600], to[600], corrupt[128];
    snprintf(corrupt, sizeof corrupt, "corrupt-%llu-%s", (unsigned long long)now_ms(), name);
    path_of(s, name, from, sizeof from);
    path_of(s, corrupt, to, sizeof to);
    rename(from, to);
    fprintf(stderr, "storage: %s set aside as %s\n", name, corrupt);
}

/* Turns each open segment into a closed one (cutting a torn tail), in creation order. */
static void close_open_segments(struct storage *s, const struct listing *l, raft_index next)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct raft_file_name *f = &l->files[i];
        if (f->kind != RAFT_FILE_OPEN_SEGMENT) {
            continue;
        }
        char name[64], path[600], errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
        raft_open_segment_name(f->counter, name, sizeof name);
        path_of(s, name, path, sizeof path);
        if (f->counter >= s->next_counter) {
            s->next_counter = f->counter + 1;
        }
        struct raft_buffer data = read_file(s, name);
        struct raft_segment seg;
        int rv = raft_load_open_segment(&data, &seg, errmsg);
        raft_free(data.base);
        if (rv != 0) {
            fprintf(stderr, "storage: %s unreadable (%s)\n", name, errmsg);
            set_aside(s, name);
            continue;
        }
        if (seg.end == RAFT_SEGMENT_DAMAGED) {
            fprintf(stderr, "storage: RECOVERED %s: torn tail cut off: %s\n", name, errmsg);
        }
        if (seg.n_entries == 0) {
            unlink(path);
        } else {
            char closed[64], to[600];
            raft_closed_segment_name(next, next + seg.n_entries - 1, closed, sizeof closed);
            path_of(s, closed, to, sizeof to);
            if (truncate(path, (off_t)seg.used_len) != 0 || rename(path, to) != 0) {
                report("closing", name, errno);
            } else {
                add_segment(s, next, next + seg.n_entries - 1);
                next += seg.n_entries;
            }
        }
        raft_segment_close(&seg);
    }
    sync_file(s->dirfd);
}

/* Appends the entries of the closed segments, which must follow each other. */
static void load_segments(struct storage *s, struct memlog *log)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_segs; i++) {
        struct segment *seg = &s->segs[i];
        char name[64], errmsg[RAFT_ERRMSG_BUF_SIZE];
        raft_closed_segment_name(seg->first, seg->last, name, sizeof name);
        if (log->n > 0 && seg->first != memlog_last(log) + 1) {
            fprintf(stderr, "storage: %s does not follow entry %llu; ignored\n", name,
                    memlog_last(log));
            set_aside(s, name);
            continue;
        }
        struct raft_buffer data = read_file(s, name);
        struct raft_segment loaded;
        int rv = raft_load_closed_segment(&data, seg->first, seg->last, &loaded, errmsg);
        raft_free(data.base);
        if (rv != 0) {
            fprintf(stderr, "storage: CORRUPT %s: %s\n", name, errmsg);
            set_aside(s, name);
            continue;
        }
        if (log->n == 0) {
            memlog_reset(log, seg->first);
        }
        for (unsigned k = 0; k < loaded.n_entries; k++) {
            const struct raft_entry *e = &loaded.entries[k];
            memlog_append(log, e->term, e->type, e->buf.base, e->buf.len);
        }
        raft_segment_close(&loaded);
        s->segs[kept++] = *seg;
    }
    s->n_segs = kept;
}

struct storage *storage_open(const char *dir, raft_term *term, raft_id *vote,
                             struct snapshot *snap, struct memlog *log)
{
    if (dir == NULL) {
        return NULL;
    }
    mkdir(dir, 0755);
    struct storage *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->open_fd = -1;
    s->stream_fd = -1;
    s->next_counter = 1;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (s->dirfd < 0) {
        report("opening", dir, errno);
        free(s);
        return NULL;
    }
    load_metadata(s, term, vote);
    struct listing l = list_directory(s);
    load_snapshot(s, &l, snap);
    for (size_t i = 0; i < l.n; i++) {
        if (l.files[i].kind == RAFT_FILE_CLOSED_SEGMENT) {
            add_segment(s, l.files[i].first, l.files[i].last);
        }
    }
    raft_index next = s->n_segs > 0 ? s->segs[s->n_segs - 1].last + 1
                      : snap->present ? snap->index + 1
                                      : 1;
    close_open_segments(s, &l, next);
    free(l.files);
    memlog_init(log, snap->present ? snap->index + 1 : 1);
    load_segments(s, log);
    if (snap->present && (log->n == 0 || memlog_last(log) < snap->index ||
                          log->first > snap->index + 1)) {
        /* Nothing usable after the snapshot: the log restarts after it. */
        memlog_reset(log, snap->index + 1);
    }
    return s;
}

void storage_close(struct storage *s)
{
    if (s == NULL) {
        return;
    }
    if (s->open_fd >= 0) {
        close(s->open_fd);
    }
    storage_drop_stream(s);
    close(s->dirfd);
    free(s->segs);
    free(s->tail);
    free(s->wbuf);
    free(s);
}

bool storage_is_empty(const struct memlog *log, raft_term term, const struct snapshot *snap)
{
    return term == 0 && log->n == 0 && !snap->present;
}

/* Deletes every snapshot except term/index. */
void delete_other_snapshots(struct storage *s, raft_index index, raft_term term)
{
    struct listing l = list_directory(s);
    for (size_t i = 0; i < l.n; i++) {
        const struct raft_file_name *f = &l.files[i];
        if ((f->kind == RAFT_FILE_SNAPSHOT || f->kind == RAFT_FILE_SNAPSHOT_META) &&
            (f->index != index || f->term != term)) {
            char data[96], meta[96], path[600];
            snapshot_names(f, data, meta, sizeof data);
            path_of(s, f->kind == RAFT_FILE_SNAPSHOT ? data : meta, path, sizeof path);
            unlink(path);
        }
    }
    free(l.files);
}

int storage_put_snapshot(struct storage *s, const struct snapshot *snap)
{
    struct raft_buffer meta;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_snapshot_meta(&snap->conf, snap->conf_index, &meta, errmsg) != 0) {
        fprintf(stderr, "storage: snapshot metadata: %s\n", errmsg);
        return -1;
    }
    struct raft_file_name f = {.term = snap->term, .index = snap->index, .timestamp = now_ms()};
    char data_name[96], meta_name[96];
    snapshot_names(&f, data_name, meta_name, sizeof data_name);
    /* Data first: a .meta file names a snapshot whose data is complete. */
    int rv = write_file_atomically(s, data_name, snap->data.base, snap->data.len, NULL, 0);
    if (rv == 0) {
        rv = write_file_atomically(s, meta_name, meta.base, meta.len, NULL, 0);
    }
    raft_free(meta.base);
    if (rv == 0) {
        delete_other_snapshots(s, snap->index, snap->term);
        snprintf(s->snap_data, sizeof s->snap_data, "%s", data_name);
        s->snap_raw = true;
    }
    return rv;
}
