/* Durable storage in C-Raft's data-directory format (docs/formats.md#disk), through the codec
 * C API: metadata1/metadata2 written alternately, one open segment appended to and fsync'ed,
 * closed segments FIRST-LAST, snapshots snapshot-T-I-TS with their .meta. Writes are
 * synchronous: when a function returns 0 the data is durable. Errors (disk full included) are
 * reported on stderr and returned; the node then stops rather than acknowledge what it did
 * not store. */
#define _GNU_SOURCE /* O_DIRECT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"

#include "storage_internal.h"

static bool durable = true;

void storage_set_fsync(bool on)
{
    durable = on;
}

int sync_file(int fd)
{
    return durable ? fsync(fd) : 0;
}

int sync_data(int fd)
{
    return durable ? fdatasync(fd) : 0;
}

void report(const char *what, const char *name, int err)
{
    if (err == ENOSPC) {
        fprintf(stderr, "storage: DISK FULL while %s %s\n", what, name);
    } else {
        fprintf(stderr, "storage: %s %s: %s\n", what, name, strerror(err));
    }
}

void path_of(const struct storage *s, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", s->dir, name);
}

int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes a whole file durably: tmp file, fsync, rename, fsync of the directory. */
int write_file_atomically(struct storage *s, const char *name, const void *a, size_t alen,
                                 const void *b, size_t blen)
{
    char tmp[600], final[600];
    path_of(s, "tmp-write", tmp, sizeof tmp);
    path_of(s, name, final, sizeof final);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_all(fd, a, alen) != 0 || write_all(fd, b, blen) != 0 || sync_file(fd) != 0) {
        int err = errno;
        report("writing", name, err);
        if (fd >= 0) {
            close(fd);
        }
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, final) != 0 || sync_file(s->dirfd) != 0) {
        report("renaming", name, errno);
        return -1;
    }
    return 0;
}

struct raft_buffer read_file(struct storage *s, const char *name)
{
    char path[600];
    path_of(s, name, path, sizeof path);
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
    ssize_t n = read(fd, buf.base, (size_t)st.st_size);
    buf.len = n > 0 ? (size_t)n : 0;
    close(fd);
    return buf;
}

/* ---- metadata ----------------------------------------------------------------------------- */

void load_metadata(struct storage *s, raft_term *term, raft_id *vote)
{
    struct raft_metadata m[2];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "metadata1" : "metadata2";
        struct raft_buffer buf = read_file(s, name);
        char errmsg[RAFT_ERRMSG_BUF_SIZE];
        if (buf.base != NULL && raft_decode_metadata(&buf, &m[i], errmsg) != 0) {
            fprintf(stderr, "storage: ignoring %s: %s\n", name, errmsg);
            memset(&m[i], 0, sizeof m[i]);
        }
        raft_free(buf.base);
    }
    struct raft_metadata chosen;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_choose_metadata(&m[0], &m[1], &chosen, errmsg) != 0) {
        fprintf(stderr, "storage: metadata: %s; using metadata1\n", errmsg);
        chosen = m[0];
    }
    s->meta_version = chosen.version;
    *term = chosen.term;
    *vote = chosen.voted_for;
}

int storage_set_term_vote(struct storage *s, raft_term term, raft_id vote)
{
    struct raft_metadata m = {s->meta_version + 1, term, vote};
    struct raft_buffer buf;
    if (raft_encode_metadata(&m, &buf, NULL) != 0) {
        return -1;
    }
    /* No rename: the two files alternate, so a torn write leaves the other one intact. */
    const char *name = raft_metadata_file_name(m.version);
    char path[600];
    path_of(s, name, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rv = fd < 0 || write_all(fd, buf.base, buf.len) != 0 || sync_file(fd) != 0 ? -1 : 0;
    if (rv != 0) {
        report("writing", name, errno);
    } else if (s->meta_version < 2) {
        sync_file(s->dirfd); /* the file is new */
    }
    if (fd >= 0) {
        close(fd);
    }
    raft_free(buf.base);
    if (rv == 0) {
        s->meta_version = m.version;
    }
    return rv;
}

/* ---- segments ----------------------------------------------------------------------------- */

void add_segment(struct storage *s, raft_index first, raft_index last)
{
    if (s->n_segs == s->cap_segs) {
        s->cap_segs = s->cap_segs ? 2 * s->cap_segs : 16;
        s->segs = realloc(s->segs, s->cap_segs * sizeof *s->segs);
        if (s->segs == NULL) {
            abort();
        }
    }
    s->segs[s->n_segs++] = (struct segment){first, last};
}

static void closed_name(raft_index first, raft_index last, char *out, size_t len)
{
    raft_closed_segment_name(first, last, out, len);
}

/* Writes entries (one batch) as the closed segment first..first+n-1. */
static int write_closed_segment(struct storage *s, raft_index first, const struct raft_entry *e,
                                unsigned n)
{
    struct raft_buffer header, batch;
    char name[64];
    closed_name(first, first + n - 1, name, sizeof name);
    raft_encode_segment_header(&header, NULL);
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_batch(e, n, &batch, errmsg) != 0) {
        fprintf(stderr, "storage: %s: %s\n", name, errmsg);
        raft_free(header.base);
        return -1;
    }
    int rv = write_file_atomically(s, name, header.base, header.len, batch.base, batch.len);
    raft_free(header.base);
    raft_free(batch.base);
    return rv;
}

int storage_bootstrap(struct storage *s, const struct raft_configuration *conf)
{
    struct raft_buffer payload;
    if (raft_configuration_encode(conf, &payload) != 0) {
        return -1;
    }
    struct raft_entry e = {.term = 1, .type = RAFT_CHANGE, .buf = payload, .batch = payload.base};
    int rv = write_closed_segment(s, 1, &e, 1);
    raft_free(payload.base);
    if (rv == 0) {
        add_segment(s, 1, 1);
        rv = storage_set_term_vote(s, 1, 0);
    }
    return rv;
}

/* Renames the open segment to its closed name (nothing to do when it is empty). */
int close_open_segment(struct storage *s)
{
    if (s->open_fd < 0) {
        return 0;
    }
    if (storage_sync(s) != 0) {
        return -1;
    }
    /* Direct I/O leaves pre-allocated zeros after the last batch: a closed segment ends
     * exactly at its last batch. */
    if (s->direct && (ftruncate(s->open_fd, (off_t)s->open_size) != 0 ||
                      sync_file(s->open_fd) != 0)) {
        report("truncating", "open segment", errno);
        return -1;
    }
    close(s->open_fd);
    s->open_fd = -1;
    char open_name[64], name[64], from[600], to[600];
    raft_open_segment_name(s->open_counter, open_name, sizeof open_name);
    path_of(s, open_name, from, sizeof from);
    if (s->open_last < s->open_first) {
        unlink(from);
        return 0;
    }
    closed_name(s->open_first, s->open_last, name, sizeof name);
    path_of(s, name, to, sizeof to);
    if (rename(from, to) != 0 || sync_file(s->dirfd) != 0) {
        report("closing segment", name, errno);
        return -1;
    }
    add_segment(s, s->open_first, s->open_last);
    return 0;
}

/* Opens a new segment for direct I/O, pre-allocated; -1 where that is not possible. */
static int open_direct(struct storage *s, const char *path)
{
    if (!durable) {
        return -1;
    }
    if (s->tail == NULL && posix_memalign((void **)&s->tail, BLOCK, BLOCK) != 0) {
        s->tail = NULL;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_DSYNC, 0644);
    if (fd >= 0 && posix_fallocate(fd, 0, SEGMENT_PREALLOC) != 0) {
        close(fd);
        unlink(path);
        fd = -1;
    }
    return fd;
}

static int start_open_segment(struct storage *s, raft_index first)
{
    char name[64], path[600];
    s->open_counter = s->next_counter++;
    raft_open_segment_name(s->open_counter, name, sizeof name);
    path_of(s, name, path, sizeof path);
    struct raft_buffer header;
    raft_encode_segment_header(&header, NULL);
    int rv = 0;
    s->open_fd = open_direct(s, path);
    s->direct = s->open_fd >= 0;
    if (s->direct) {
        memset(s->tail, 0, BLOCK);
        memcpy(s->tail, header.base, header.len);
        ssize_t n = pwrite(s->open_fd, s->tail, BLOCK, 0);
        if (n < 0 && errno == EINVAL) {
            /* The file system accepted O_DIRECT but not the write: buffered it is. */
            close(s->open_fd);
            s->direct = false;
        } else if (n != BLOCK) {
            rv = -1;
        }
    }
    if (s->direct) {
        rv = rv != 0 || sync_file(s->open_fd) != 0 || sync_file(s->dirfd) != 0 ? -1 : 0;
    } else {
        s->open_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        rv = s->open_fd < 0 || write_all(s->open_fd, header.base, header.len) != 0 ||
                     sync_file(s->open_fd) != 0 || sync_file(s->dirfd) != 0
                 ? -1
                 : 0;
    }
    if (rv != 0) {
        report("creating", name, errno);
    }
    raft_free(header.base);
    s->open_first = first;
    s->open_last = first - 1;
    s->open_size = header.len;
    return rv;
}

/* Appends bytes to the open segment in direct mode: the partial last block and the new bytes
 * are written as whole blocks at the block's offset (zeros after the end). */
static int append_direct(struct storage *s, const void *data, size_t len)
{
    size_t start = s->open_size & ~(size_t)(BLOCK - 1);
    size_t head = s->open_size - start, total = head + len;
    size_t padded = (total + BLOCK - 1) & ~(size_t)(BLOCK - 1);
    if (padded > s->wcap) {
        free(s->wbuf);
        s->wcap = padded * 2;
        if (posix_memalign((void **)&s->wbuf, BLOCK, s->wcap) != 0) {
            s->wbuf = NULL;
            s->wcap = 0;
            errno = ENOMEM;
            return -1;
        }
    }
    memcpy(s->wbuf, s->tail, head);
    memcpy(s->wbuf + head, data, len);
    memset(s->wbuf + total, 0, padded - total);
    for (size_t done = 0; done < padded;) {
        ssize_t n = pwrite(s->open_fd, s->wbuf + done, padded - done, (off_t)(start + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    memcpy(s->tail, s->wbuf + padded - BLOCK, BLOCK);
    return 0;
}

/* Rewrites closed segment `seg` keeping only the entries before `from`. */
static int cut_closed_segment(struct storage *s, struct segment *seg, raft_index from)
{
    char name[64], path[600];
    closed_name(seg->first, seg->last, name, sizeof name);
    struct raft_buffer data = read_file(s, name);
    struct raft_segment loaded;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    int rv = raft_load_closed_segment(&data, seg->first, seg->last, &loaded, errmsg);
    raft_free(data.base);
    if (rv != 0) {
        fprintf(stderr, "storage: truncating %s: %s\n", name, errmsg);
        return -1;
    }
    rv = write_closed_segment(s, seg->first, loaded.entries, (unsigned)(from - seg->first));
    raft_segment_close(&loaded);
    if (rv == 0) {
        path_of(s, name, path, sizeof path);
        unlink(path);
        seg->last = from - 1;
    }
    return rv;
}

/* Removes every stored entry from `from` on. The open segment is closed first, so that only
 * closed segments are ever cut. */
static int truncate_log(struct storage *s, raft_index from)
{
    if (close_open_segment(s) != 0) {
        return -1;
    }
    while (s->n_segs > 0 && s->segs[s->n_segs - 1].last >= from) {
        struct segment *seg = &s->segs[s->n_segs - 1];
        if (seg->first < from) {
            return cut_closed_segment(s, seg, from);
        }
        char name[64], path[600];
        closed_name(seg->first, seg->last, name, sizeof name);
        path_of(s, name, path, sizeof path);
        unlink(path);
        s->n_segs--;
    }
    return sync_file(s->dirfd);
}

static raft_index stored_last(const struct storage *s)
{
    if (s->open_fd >= 0 && s->open_last >= s->open_first) {
        return s->open_last;
    }
    return s->n_segs > 0 ? s->segs[s->n_segs - 1].last : 0;
}

int storage_append(struct storage *s, raft_index index, const struct raft_entry *entries,
                   unsigned n)
{
    raft_index last = stored_last(s);
    if (last > 0 && index <= last && truncate_log(s, index) != 0) {
        return -1;
    }
    if (s->open_fd >= 0 && s->open_last + 1 != index && close_open_segment(s) != 0) {
        return -1;
    }
    if (s->open_fd < 0 && start_open_segment(s, index) != 0) {
        return -1;
    }
    struct raft_buffer batch;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_batch(entries, n, &batch, errmsg) != 0) {
        fprintf(stderr, "storage: batch at %llu: %s\n", index, errmsg);
        return -1;
    }
    int rv = s->direct ? append_direct(s, batch.base, batch.len) == 0
                       : write_all(s->open_fd, batch.base, batch.len) == 0;
    raft_free(batch.base);
    if (!rv) {
        report("appending to", "open segment", errno);
        return -1;
    }
    s->dirty = !s->direct; /* direct writes are durable already (O_DSYNC) */
    s->open_last = index + n - 1;
    s->open_size += batch.len;
    if (s->open_size >= SEGMENT_MAX_BYTES) {
        return close_open_segment(s);
    }
    return 0;
}

int storage_sync(struct storage *s)
{
    if (!s->dirty || s->open_fd < 0) {
        return 0;
    }
    if (sync_data(s->open_fd) != 0) {
        report("syncing", "open segment", errno);
        return -1;
    }
    s->dirty = false;
    return 0;
}

void storage_compact(struct storage *s, raft_index before)
{
    /* Closed first, so that after a restart the open segment always follows a closed one (or a
     * snapshot with no log after it) and its first index is known. */
    close_open_segment(s);
    size_t keep = 0;
    for (size_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].last < before) {
            char name[64], path[600];
            closed_name(s->segs[i].first, s->segs[i].last, name, sizeof name);
            path_of(s, name, path, sizeof path);
            unlink(path);
        } else {
            s->segs[keep++] = s->segs[i];
        }
    }
    s->n_segs = keep;
}

int storage_drop_log(struct storage *s, raft_index next_index)
{
    (void)next_index;
    if (close_open_segment(s) != 0) {
        return -1;
    }
    storage_compact(s, (raft_index)-1);
    return sync_file(s->dirfd);
}
