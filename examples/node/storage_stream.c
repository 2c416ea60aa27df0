/* Streamed snapshots in the data directory (--snapshot-chunk, docs/snapshots.md). A snapshot
 * received in chunks is written to tmp-stream-TERM-INDEX as the chunks come; the last chunk
 * syncs it, renames it to the snapshot's data file and writes the .meta, which makes it the
 * snapshot storage_put_snapshot would have written. A stream cut short leaves only the tmp-
 * file, deleted at the next start. Chunks before the last are not synced one by one: after a
 * restart the library has forgotten the stream and the leader starts it over. The chunks this
 * node sends are read from its snapshot's data file at their offsets. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "storage_internal.h"

static void stream_name(raft_term term, raft_index index, char *out, size_t len)
{
    snprintf(out, len, "tmp-stream-%llu-%llu", term, index);
}

void storage_drop_stream(struct storage *s)
{
    if (s->stream_fd < 0) {
        return;
    }
    close(s->stream_fd);
    s->stream_fd = -1;
    char name[96], path[600];
    stream_name(s->stream_term, s->stream_index, name, sizeof name);
    path_of(s, name, path, sizeof path);
    unlink(path);
}

static int start_stream(struct storage *s, raft_term term, raft_index index)
{
    storage_drop_stream(s);
    char name[96], path[600];
    stream_name(term, index, name, sizeof name);
    path_of(s, name, path, sizeof path);
    s->stream_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (s->stream_fd < 0) {
        report("creating", name, errno);
        return -1;
    }
    s->stream_term = term;
    s->stream_index = index;
    s->stream_len = 0;
    return 0;
}

int storage_put_snapshot_chunk(struct storage *s, raft_term term, raft_index index,
                               size_t offset, const struct raft_buffer *chunk)
{
    if (offset == 0 && start_stream(s, term, index) != 0) {
        return -1;
    }
    if (s->stream_fd < 0 || s->stream_term != term || s->stream_index != index ||
        s->stream_len != offset) {
        fprintf(stderr, "storage: chunk at %zu of snapshot %llu/%llu does not continue the "
                "stream\n", offset, term, index);
        return -1;
    }
    size_t done = 0;
    while (done < chunk->len) {
        ssize_t n = pwrite(s->stream_fd, (const char *)chunk->base + done, chunk->len - done,
                           (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            report("writing", "a snapshot chunk", n < 0 ? errno : EIO);
            return -1;
        }
        done += (size_t)n;
    }
    s->stream_len = offset + chunk->len;
    return 0;
}

static unsigned long long millis(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000;
}

int storage_finish_snapshot_stream(struct storage *s, struct snapshot *snap)
{
    if (s->stream_fd < 0 || s->stream_term != snap->term || s->stream_index != snap->index) {
        fprintf(stderr, "storage: no stream of snapshot %llu/%llu to finish\n", snap->term,
                snap->index);
        return -1;
    }
    struct raft_buffer meta;
    char errmsg[RAFT_ERRMSG_BUF_SIZE];
    if (raft_encode_snapshot_meta(&snap->conf, snap->conf_index, &meta, errmsg) != 0) {
        fprintf(stderr, "storage: snapshot metadata: %s\n", errmsg);
        return -1;
    }
    struct raft_file_name f = {.term = snap->term, .index = snap->index, .timestamp = millis()};
    char data_name[96], meta_name[96], from[600], to[600], stream[96];
    snapshot_names(&f, data_name, meta_name, sizeof data_name);
    stream_name(snap->term, snap->index, stream, sizeof stream);
    path_of(s, stream, from, sizeof from);
    path_of(s, data_name, to, sizeof to);
    int rv = sync_file(s->stream_fd);
    close(s->stream_fd);
    s->stream_fd = -1;
    /* Data first: a .meta file names a snapshot whose data is complete. */
    if (rv != 0 || rename(from, to) != 0 || sync_file(s->dirfd) != 0) {
        report("storing", data_name, errno);
        unlink(from);
        raft_free(meta.base);
        return -1;
    }
    rv = write_file_atomically(s, meta_name, meta.base, meta.len, NULL, 0);
    raft_free(meta.base);
    if (rv != 0) {
        return -1;
    }
    delete_other_snapshots(s, snap->index, snap->term);
    snprintf(s->snap_data, sizeof s->snap_data, "%s", data_name);
    s->snap_raw = true;
    snap->data = read_file(s, data_name);
    return snap->data.base == NULL ? -1 : 0;
}

int storage_read_snapshot_chunk(struct storage *s, size_t offset, struct raft_buffer *chunk)
{
    if (!s->snap_raw || s->snap_data[0] == '\0') {
        return -1;
    }
    char path[600];
    path_of(s, s->snap_data, path, sizeof path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    size_t done = 0;
    while (done < chunk->len) {
        ssize_t n = pread(fd, (char *)chunk->base + done, chunk->len - done,
                          (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    return done == chunk->len ? 0 : -1;
}
