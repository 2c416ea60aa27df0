/* Reading test vectors from the repository (tests run from its root). */
#ifndef TEST_FILES_H
#define TEST_FILES_H

#include "raft.h"

/* The whole file at `path` (relative to the repository root) in a raft_malloc buffer that the
 * caller frees with raft_free. Fails the test when the file cannot be read. */
struct raft_buffer read_vector(const char *path);

#endif
