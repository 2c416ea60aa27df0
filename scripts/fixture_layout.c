/* Prints the layout of C-Raft 0.22.1's struct raft_fixture as one "name value" line per fact,
 * compiled against a raft/fixture.h: C-Raft's (the reference) or ours. `make test-craft`
 * compares the two outputs (docs/fixture.md). */
#include <stddef.h>
#include <stdio.h>

#include <raft.h>
#include <raft/fixture.h>

#define SIZE(t) printf("sizeof(%s) %zu\n", #t, sizeof(t))
#define OFF(t, m) printf("offsetof(%s, %s) %zu\n", #t, #m, offsetof(t, m))

int main(void)
{
    SIZE(struct raft_fixture);
    OFF(struct raft_fixture, time);
    OFF(struct raft_fixture, n);
    OFF(struct raft_fixture, leader_id);
    OFF(struct raft_fixture, log);
    OFF(struct raft_fixture, commit_index);
    OFF(struct raft_fixture, event);
    OFF(struct raft_fixture, hook);
    OFF(struct raft_fixture, servers);
    OFF(struct raft_fixture, reserved);
    printf("RAFT_FIXTURE_MAX_SERVERS %d\n", RAFT_FIXTURE_MAX_SERVERS);
    printf("RAFT_FIXTURE_TICK %d RAFT_FIXTURE_NETWORK %d RAFT_FIXTURE_DISK %d\n", RAFT_FIXTURE_TICK,
           RAFT_FIXTURE_NETWORK, RAFT_FIXTURE_DISK);
    return 0;
}
