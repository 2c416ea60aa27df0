/* The node's clock. raft_step wants milliseconds on a clock that never goes backwards:
 * CLOCK_MONOTONIC, not the wall clock. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "node.h"

raft_time now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (raft_time)ts.tv_sec * 1000 + (raft_time)ts.tv_nsec / 1000000;
}

int poll_timeout(raft_time deadline, int cap)
{
    raft_time now = now_ms();
    if (deadline <= now) {
        return 0;
    }
    raft_time wait = deadline - now;
    return wait > (raft_time)cap ? cap : (int)wait;
}
