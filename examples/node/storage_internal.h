/* What storage.c and storage_load.c share: the state of a data directory. */
#ifndef EXAMPLE_STORAGE_INTERNAL_H
#define EXAMPLE_STORAGE_INTERNAL_H

#include "node.h"

/* Closing segments at this size keeps rewrites after a truncation small. */
#define SEGMENT_MAX_BYTES (256 * 1024)
/* Direct I/O: block size, and the space reserved for an open segment when it is created. */
#define BLOCK 4096
#define SEGMENT_PREALLOC (SEGMENT_MAX_BYTES + 64 * 1024)

struct segment {
    raft_index first, last;
};

struct storage {
    char dir[512];
    int dirfd;
    unsigned long long meta_version;
    struct segment *segs; /* closed segments, in index order */
    size_t n_segs, cap_segs;
    int open_fd; /* -1 when no open segment */
    unsigned long long open_counter, next_counter;
    raft_index open_first, open_last; /* open_last < open_first when empty */
    size_t open_size;
    bool dirty; /* appended to the open segment since its last fdatasync */
    /* The open segment is written with O_DIRECT | O_DSYNC into pre-allocated space, whole
     * blocks at a time (as C-Raft does): each append is durable when pwrite returns, with
     * no fdatasync. Otherwise (tmpfs, --fsync 0): buffered appends and one fdatasync per
     * poll round. */
    bool direct;
    unsigned char *tail; /* BLOCK bytes, aligned: the open segment's last, partial block */
    unsigned char *wbuf; /* aligned staging buffer of wcap bytes */
    size_t wcap;
    /* The latest snapshot's data file, and whether it is raw (chunks to send are read from
     * it); a C-Raft LZ4 file is not (its chunks come from the decompressed copy in memory). */
    char snap_data[96];
    bool snap_raw;
    /* A snapshot being received in chunks (storage_stream.c): tmp-stream-TERM-INDEX. */
    int stream_fd; /* -1: none */
    raft_term stream_term;
    raft_index stream_index;
    size_t stream_len;
};

/* Deletes every snapshot except term/index. */
void delete_other_snapshots(struct storage *s, raft_index index, raft_term term);
/* Names of a snapshot's data and .meta files. */
void snapshot_names(const struct raft_file_name *f, char *data, char *meta, size_t len);
/* Forgets the stream being received, deleting its file. */
void storage_drop_stream(struct storage *s);

/* fsync(2)/fdatasync(2), or nothing when durability was turned off (benchmarks only). */
int sync_file(int fd);
int sync_data(int fd);
void report(const char *what, const char *name, int err);
void path_of(const struct storage *s, const char *name, char *out, size_t len);
int write_all(int fd, const void *data, size_t len);
int write_file_atomically(struct storage *s, const char *name, const void *a, size_t alen,
                          const void *b, size_t blen);
/* The file's contents in a raft_malloc buffer; {NULL, 0} when it cannot be read. */
struct raft_buffer read_file(struct storage *s, const char *name);
void add_segment(struct storage *s, raft_index first, raft_index last);
int close_open_segment(struct storage *s);
void load_metadata(struct storage *s, raft_term *term, raft_id *vote);

#endif
