/* raft/uv.h has C-Raft 0.22.1's names, prototypes and layouts (x86-64 Linux): a program built
 * against C-Raft's header runs on our library. */
#include "uv_test.h"

/* Offsets and sizes of C-Raft 0.22.1's structs. */
_Static_assert(sizeof(struct raft_uv_connect) == 16, "raft_uv_connect size");
_Static_assert(offsetof(struct raft_uv_connect, data) == 0, "raft_uv_connect.data");
_Static_assert(offsetof(struct raft_uv_connect, cb) == 8, "raft_uv_connect.cb");
_Static_assert(sizeof(struct raft_uv_transport) == 312, "raft_uv_transport size");
_Static_assert(offsetof(struct raft_uv_transport, version) == 0, "version");
_Static_assert(offsetof(struct raft_uv_transport, data) == 8, "data");
_Static_assert(offsetof(struct raft_uv_transport, impl) == 16, "impl");
_Static_assert(offsetof(struct raft_uv_transport, errmsg) == 24, "errmsg");
_Static_assert(sizeof(((struct raft_uv_transport *)0)->errmsg) == RAFT_ERRMSG_BUF_SIZE, "errmsg size");
_Static_assert(offsetof(struct raft_uv_transport, init) == 280, "init");
_Static_assert(offsetof(struct raft_uv_transport, listen) == 288, "listen");
_Static_assert(offsetof(struct raft_uv_transport, connect) == 296, "connect");
_Static_assert(offsetof(struct raft_uv_transport, close) == 304, "close");
_Static_assert(RAFT_UV_TRACER_WRITE_SUBMIT == 256, "tracer submit");
_Static_assert(RAFT_UV_TRACER_WRITE_COMPLETE == 512, "tracer complete");

/* Every function with C-Raft 0.22.1's exact prototype (a mismatch is a compile error). */
static int (*const p_init)(struct raft_io *, struct uv_loop_s *, const char *,
                           struct raft_uv_transport *) = raft_uv_init;
static void (*const p_close)(struct raft_io *) = raft_uv_close;
static void (*const p_block)(struct raft_io *, size_t) = raft_uv_set_block_size;
static void (*const p_segment)(struct raft_io *, size_t) = raft_uv_set_segment_size;
static void (*const p_retry)(struct raft_io *, unsigned) = raft_uv_set_disk_retry;
static int (*const p_compress)(struct raft_io *, bool) = raft_uv_set_snapshot_compression;
static void (*const p_delay)(struct raft_io *, unsigned) = raft_uv_set_connect_retry_delay;
static void (*const p_tracer)(struct raft_io *, struct raft_tracer *) = raft_uv_set_tracer;
static void (*const p_auto)(struct raft_io *, bool) = raft_uv_set_auto_recovery;
static int (*const p_tcp_init)(struct raft_uv_transport *, struct uv_loop_s *) = raft_uv_tcp_init;
static void (*const p_tcp_close)(struct raft_uv_transport *) = raft_uv_tcp_close;
static int (*const p_bind)(struct raft_uv_transport *, const char *) = raft_uv_tcp_set_bind_address;
static raft_uv_accept_cb p_accept_type;
static raft_uv_connect_cb p_connect_type;
static raft_uv_transport_close_cb p_close_type;

static void every_function_is_exported(void **state)
{
    (void)state;
    void *fns[] = {(void *)p_init,    (void *)p_close,    (void *)p_block,    (void *)p_segment,
                   (void *)p_retry,   (void *)p_compress, (void *)p_delay,    (void *)p_tracer,
                   (void *)p_auto,    (void *)p_tcp_init, (void *)p_tcp_close, (void *)p_bind};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        assert_non_null(fns[i]);
    }
    assert_null((void *)p_accept_type);
    assert_null((void *)p_connect_type);
    assert_null((void *)p_close_type);
}

/* The TCP transport fills the struct as C-Raft's does: version 1 and every method. */
static void tcp_init_fills_the_transport(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct raft_uv_transport t;
    memset(&t, 0, sizeof t);
    assert_int_equal(raft_uv_tcp_init(&t, &loop), 0);
    assert_int_equal(t.version, 1);
    assert_non_null(t.impl);
    assert_non_null((void *)t.init);
    assert_non_null((void *)t.listen);
    assert_non_null((void *)t.connect);
    assert_non_null((void *)t.close);
    assert_int_equal(raft_uv_tcp_set_bind_address(&t, "0.0.0.0:9000"), 0);
    assert_int_equal(raft_uv_tcp_set_bind_address(&t, "127.0.0.1"), 0);
    assert_int_equal(raft_uv_tcp_set_bind_address(&t, "not-an-address:1"), RAFT_INVALID);
    assert_int_equal(raft_uv_tcp_set_bind_address(&t, NULL), RAFT_INVALID);
    raft_uv_tcp_close(&t);
    raft_uv_tcp_close(&t); /* harmless twice */
    assert_int_equal(raft_uv_tcp_init(NULL, &loop), RAFT_INVALID);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_function_is_exported),
        cmocka_unit_test(tcp_init_fills_the_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
