/* Built against an installed libraft-rs with nothing but `pkg-config --cflags --libs raft`
 * (make test-install): the headers sit where C-Raft installs them and the library links and
 * runs. A one-voter cluster starts and leads at once. */

/* libuv's own header needs POSIX declarations that -std=c11 hides. */
#define _POSIX_C_SOURCE 200809L

#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    struct raft r;
    struct raft_configuration conf;
    struct raft_buffer buf;
    struct raft_entry entry;
    struct raft_event event;
    struct raft_update update;
    int rv;

    if (raft_init(&r, NULL, NULL, 1, "127.0.0.1:9001") != 0) {
        fprintf(stderr, "raft_init: %s\n", raft_errmsg(&r));
        return 1;
    }
    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER);
    if (rv == 0) {
        rv = raft_configuration_encode(&conf, &buf);
    }
    raft_configuration_close(&conf);
    if (rv != 0) {
        fprintf(stderr, "bootstrap configuration: %s\n", raft_strerror(rv));
        return 1;
    }
    entry.term = 1;
    entry.type = RAFT_CHANGE;
    entry.buf = buf;
    entry.batch = buf.base;

    memset(&event, 0, sizeof event);
    event.type = RAFT_START;
    event.start.term = 1;
    event.start.start_index = 1;
    event.start.entries = &entry;
    event.start.n_entries = 1;
    rv = raft_step(&r, &event, &update);
    raft_free(buf.base);
    if (rv != 0 || raft_state(&r) != RAFT_LEADER || r.current_term != 2) {
        fprintf(stderr, "expected a leader in term 2: rv %d, %s\n", rv, raft_errmsg(&r));
        return 1;
    }
    if (update.flags & RAFT_UPDATE_ENTRIES) {
        raft_free(update.entries.batch[0].batch);
        raft_free(update.entries.batch);
    }
    printf("installed libraft-rs %d: leader in term %llu\n", raft_version_number(),
           (unsigned long long)r.current_term);
    raft_close(&r, NULL);
    return 0;
}
