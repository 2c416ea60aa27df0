/* raft_configuration_*: building, the byte-exact encoding, and decoding of hostile input. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

static void add_servers(struct raft_configuration *c)
{
    raft_configuration_init(c);
    assert_int_equal(raft_configuration_add(c, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(c, 2, "127.0.0.1:9002", RAFT_STANDBY), 0);
    assert_int_equal(raft_configuration_add(c, 3, "127.0.0.1:9003", RAFT_SPARE), 0);
}

static void init_makes_an_empty_configuration(void **state)
{
    (void)state;
    struct raft_configuration c;
    memset(&c, 0xAB, sizeof c);
    raft_configuration_init(&c);
    assert_null(c.servers);
    assert_int_equal(c.n, 0);
    raft_configuration_close(&c);
    raft_configuration_init(NULL);
    raft_configuration_close(NULL);
}

static void add_copies_the_address_and_keeps_order(void **state)
{
    (void)state;
    struct raft_configuration c;
    char address[] = "host:1";
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 5, address, RAFT_VOTER), 0);
    address[0] = 'X';
    assert_int_equal(raft_configuration_add(&c, 6, "host:2", RAFT_SPARE), 0);
    assert_int_equal(c.n, 2);
    assert_true(c.servers[0].id == 5);
    assert_string_equal(c.servers[0].address, "host:1");
    assert_int_equal(c.servers[0].role, RAFT_VOTER);
    assert_true(c.servers[1].id == 6);
    assert_int_equal(c.servers[1].role, RAFT_SPARE);
    raft_configuration_close(&c);
}

static void add_rejects_bad_input_and_leaves_it_unchanged(void **state)
{
    (void)state;
    struct raft_configuration c;
    add_servers(&c);
    assert_int_equal(raft_configuration_add(&c, 0, "x", RAFT_VOTER), RAFT_BADID);
    assert_int_equal(raft_configuration_add(&c, 9, "x", 3), RAFT_BADROLE);
    assert_int_equal(raft_configuration_add(&c, 9, "x", -1), RAFT_BADROLE);
    assert_int_equal(raft_configuration_add(&c, 2, "x", RAFT_VOTER), RAFT_DUPLICATEID);
    assert_int_equal(raft_configuration_add(&c, 9, "127.0.0.1:9003", RAFT_VOTER),
                     RAFT_DUPLICATEADDRESS);
    /* Servers are checked in order: server 1's address matches before server 3's ID. */
    assert_int_equal(raft_configuration_add(&c, 3, "127.0.0.1:9001", RAFT_VOTER),
                     RAFT_DUPLICATEADDRESS);
    assert_int_equal(raft_configuration_add(&c, 9, NULL, RAFT_VOTER), RAFT_INVALID);
    assert_int_equal(raft_configuration_add(NULL, 9, "x", RAFT_VOTER), RAFT_INVALID);
    assert_int_equal(c.n, 3);
    raft_configuration_close(&c);
}

static void close_resets_so_a_second_close_is_harmless(void **state)
{
    (void)state;
    struct raft_configuration c;
    add_servers(&c);
    raft_configuration_close(&c);
    assert_null(c.servers);
    assert_int_equal(c.n, 0);
    raft_configuration_close(&c);
}

static void encoding_is_byte_identical_to_craft(void **state)
{
    (void)state;
    struct raft_configuration c;
    struct raft_buffer buf;
    static const unsigned char expected[24] = {
        0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 'a',  'd',  'd',  'r',  '1',  0x00, 0x01,
    };
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 1, "addr1", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    assert_int_equal(buf.len, sizeof expected);
    assert_memory_equal(buf.base, expected, sizeof expected);
    raft_free(buf.base);
    raft_configuration_close(&c);
}

static void encode_pads_to_eight_and_round_trips(void **state)
{
    (void)state;
    struct raft_configuration c, d;
    struct raft_buffer buf;
    add_servers(&c);
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    assert_int_equal(buf.len % 8, 0);
    /* 1 + 8 + 3 * (8 + 15 + 1) = 81, padded to 88. */
    assert_int_equal(buf.len, 88);
    assert_int_equal(raft_configuration_decode(&buf, &d), 0);
    assert_int_equal(d.n, c.n);
    for (unsigned i = 0; i < c.n; i++) {
        assert_true(d.servers[i].id == c.servers[i].id);
        assert_string_equal(d.servers[i].address, c.servers[i].address);
        assert_int_equal(d.servers[i].role, c.servers[i].role);
    }
    raft_free(buf.base);
    raft_configuration_close(&c);
    raft_configuration_close(&d);
}

static void encode_rejects_empty_and_null(void **state)
{
    (void)state;
    struct raft_configuration c;
    struct raft_buffer buf = {NULL, 0};
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_encode(&c, &buf), RAFT_INVALID);
    assert_null(buf.base);
    assert_int_equal(raft_configuration_encode(NULL, &buf), RAFT_INVALID);
    assert_int_equal(raft_configuration_add(&c, 1, "a", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_encode(&c, NULL), RAFT_INVALID);
    /* A hand-built configuration with a bad role or a NULL address is refused too. */
    c.servers[0].role = 7;
    assert_int_equal(raft_configuration_encode(&c, &buf), RAFT_BADROLE);
    c.servers[0].role = RAFT_VOTER;
    char *address = c.servers[0].address;
    c.servers[0].address = NULL;
    assert_int_equal(raft_configuration_encode(&c, &buf), RAFT_INVALID);
    c.servers[0].address = address;
    raft_configuration_close(&c);
}

/* Decoding must return RAFT_MALFORMED for every strict prefix that cuts a server, and never
 * read past the end: each prefix is copied into an allocation of exactly its size so that
 * AddressSanitizer and valgrind catch any over-read. */
static void decode_refuses_every_truncation(void **state)
{
    (void)state;
    struct raft_configuration c, d;
    struct raft_buffer buf;
    add_servers(&c);
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    size_t unpadded = 1 + 8 + 3 * (8 + 15 + 1);
    for (size_t len = 0; len < unpadded; len++) {
        struct raft_buffer prefix = {malloc(len ? len : 1), len};
        memcpy(prefix.base, buf.base, len);
        memset(&d, 0xCD, sizeof d);
        assert_int_equal(raft_configuration_decode(&prefix, &d), RAFT_MALFORMED);
        assert_null(d.servers);
        assert_int_equal(d.n, 0);
        free(prefix.base);
    }
    for (size_t len = unpadded; len <= buf.len; len++) {
        struct raft_buffer prefix = {malloc(len), len};
        memcpy(prefix.base, buf.base, len);
        assert_int_equal(raft_configuration_decode(&prefix, &d), 0);
        raft_configuration_close(&d);
        free(prefix.base);
    }
    raft_free(buf.base);
    raft_configuration_close(&c);
}

static void decode_refuses_bad_content(void **state)
{
    (void)state;
    struct raft_configuration c, d;
    struct raft_buffer buf;
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 1, "a", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&c, 2, "b", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_encode(&c, &buf), 0);
    unsigned char *bytes = buf.base;
    unsigned char saved;

    saved = bytes[0]; /* format version */
    bytes[0] = 2;
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);
    bytes[0] = saved;

    saved = bytes[9]; /* first server ID becomes 0 */
    bytes[9] = 0;
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);
    bytes[9] = saved;

    saved = bytes[19]; /* first role */
    bytes[19] = 3;
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);
    bytes[19] = saved;

    saved = bytes[20]; /* second server ID becomes 1: duplicate */
    bytes[20] = 1;
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);
    bytes[20] = saved;

    saved = bytes[28]; /* second address becomes "a": duplicate */
    bytes[28] = 'a';
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);
    bytes[28] = saved;

    /* A huge server count must not make the decoder allocate or read beyond the buffer. */
    memset(bytes + 1, 0xFF, 8);
    assert_int_equal(raft_configuration_decode(&buf, &d), RAFT_MALFORMED);

    struct raft_buffer empty = {NULL, 0};
    assert_int_equal(raft_configuration_decode(&empty, &d), RAFT_MALFORMED);
    assert_int_equal(raft_configuration_decode(NULL, &d), RAFT_INVALID);
    assert_int_equal(raft_configuration_decode(&buf, NULL), RAFT_INVALID);
    raft_free(buf.base);
    raft_configuration_close(&c);
}

/* Random bytes and random mutations of a valid encoding: decode returns 0 or RAFT_MALFORMED,
 * never crashes, and what it accepts re-encodes to a valid configuration. */
static void decode_survives_garbage(void **state)
{
    (void)state;
    struct raft_configuration c, d;
    struct raft_buffer valid;
    add_servers(&c);
    assert_int_equal(raft_configuration_encode(&c, &valid), 0);
    unsigned seed = 12345;
    int accepted = 0;
    int rounds = getenv("RAFT_TEST_QUICK") ? 2000 : 20000;
    for (int round = 0; round < rounds; round++) {
        size_t len = raft_random(&seed, 0, (unsigned)valid.len + 8);
        unsigned char *bytes = malloc(len ? len : 1);
        if (round % 2 == 0) {
            for (size_t i = 0; i < len; i++) {
                bytes[i] = (unsigned char)raft_random(&seed, 0, 255);
            }
            if (len > 0) {
                bytes[0] = 1; /* get past the version byte */
            }
        } else {
            memcpy(bytes, valid.base, len < valid.len ? len : valid.len);
            for (size_t i = valid.len; i < len; i++) {
                bytes[i] = 0;
            }
            unsigned flips = raft_random(&seed, 1, 4);
            for (unsigned f = 0; f < flips && len > 0; f++) {
                bytes[raft_random(&seed, 0, (unsigned)len - 1)] ^=
                    (unsigned char)(1u << raft_random(&seed, 0, 7));
            }
        }
        struct raft_buffer buf = {bytes, len};
        int rv = raft_configuration_decode(&buf, &d);
        if (rv == 0) {
            struct raft_buffer again;
            accepted++;
            assert_true(d.n > 0 || len >= 9);
            if (d.n > 0) {
                assert_int_equal(raft_configuration_encode(&d, &again), 0);
                raft_free(again.base);
            }
            raft_configuration_close(&d);
        } else {
            assert_int_equal(rv, RAFT_MALFORMED);
            assert_null(d.servers);
        }
        free(bytes);
    }
    assert_true(accepted > 0);
    raft_free(valid.base);
    raft_configuration_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_makes_an_empty_configuration),
        cmocka_unit_test(add_copies_the_address_and_keeps_order),
        cmocka_unit_test(add_rejects_bad_input_and_leaves_it_unchanged),
        cmocka_unit_test(close_resets_so_a_second_close_is_harmless),
        cmocka_unit_test(encoding_is_byte_identical_to_craft),
        cmocka_unit_test(encode_pads_to_eight_and_round_trips),
        cmocka_unit_test(encode_rejects_empty_and_null),
        cmocka_unit_test(decode_refuses_every_truncation),
        cmocka_unit_test(decode_refuses_bad_content),
        cmocka_unit_test(decode_survives_garbage),
    };
    return cmocka_run_group_tests_name("configuration", tests, NULL, NULL);
}
