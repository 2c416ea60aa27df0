/* The disk codec through the C API, against data directories written by C-Raft 0.15:
 * metadata files, closed and open segments (with torn tails), file names, snapshot .meta
 * files and LZ4 snapshot data. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"
#include "support/files.h"

#define DISK "tests/vectors/craft-0.15/disk/"

static void metadata_round_trips(void **state)
{
    (void)state;
    struct raft_buffer buf = read_vector(DISK "single-basic/stopped/metadata1");
    struct raft_metadata m;
    assert_int_equal(raft_decode_metadata(&buf, &m, NULL), 0);
    assert_true(m.version == 1 && m.term == 1 && m.voted_for == 0);
    struct raft_buffer out;
    assert_int_equal(raft_encode_metadata(&m, &out, NULL), 0);
    assert_int_equal(out.len, RAFT_METADATA_LEN);
    assert_memory_equal(out.base, buf.base, buf.len);
    assert_string_equal(raft_metadata_file_name(m.version), "metadata1");
    assert_string_equal(raft_metadata_file_name(m.version + 1), "metadata2");
    raft_free(out.base);
    raft_free(buf.base);
}

static void the_newer_metadata_file_wins(void **state)
{
    (void)state;
    struct raft_buffer b1 = read_vector(DISK "three-node-leader/stopped/metadata1");
    struct raft_buffer b2 = read_vector(DISK "three-node-leader/stopped/metadata2");
    struct raft_metadata m1, m2, chosen;
    assert_int_equal(raft_decode_metadata(&b1, &m1, NULL), 0);
    assert_int_equal(raft_decode_metadata(&b2, &m2, NULL), 0);
    assert_int_equal(raft_choose_metadata(&m1, &m2, &chosen, NULL), 0);
    assert_true(chosen.version == (m1.version > m2.version ? m1.version : m2.version));
    assert_int_equal(raft_choose_metadata(NULL, NULL, &chosen, NULL), 0);
    assert_true(chosen.version == 0 && chosen.term == 0);
    char errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
    assert_int_equal(raft_choose_metadata(&m1, &m1, &chosen, errmsg), RAFT_CORRUPT);
    assert_true(strlen(errmsg) > 0);

    /* A short file is a write that never completed: never written, not an error. */
    struct raft_buffer short_file = {b1.base, 31};
    assert_int_equal(raft_decode_metadata(&short_file, &m1, NULL), 0);
    assert_true(m1.version == 0);
    struct raft_buffer long_file = {b1.base, 33};
    assert_int_equal(raft_decode_metadata(&long_file, &m1, NULL), RAFT_CORRUPT);
    ((unsigned char *)b1.base)[0] = 7; /* format 7 */
    assert_int_equal(raft_decode_metadata(&b1, &m1, NULL), RAFT_MALFORMED);
    m2.version = 0;
    struct raft_buffer out;
    assert_int_equal(raft_encode_metadata(&m2, &out, NULL), RAFT_INVALID);
    raft_free(b1.base);
    raft_free(b2.base);
}

static void closed_segment_loads_and_reencodes(void **state)
{
    (void)state;
    struct raft_buffer buf =
        read_vector(DISK "single-basic/stopped/0000000000000001-0000000000000001");
    struct raft_segment s;
    assert_int_equal(raft_load_closed_segment(&buf, 1, 1, &s, NULL), 0);
    assert_int_equal(s.n_entries, 1);
    assert_int_equal(s.entries[0].type, RAFT_CHANGE);
    assert_int_equal(s.end, RAFT_SEGMENT_EXACT);

    /* The bootstrap entry is a configuration. */
    struct raft_configuration conf;
    assert_int_equal(raft_configuration_decode(&s.entries[0].buf, &conf), 0);
    assert_int_equal(conf.n, 1);
    assert_string_equal(conf.servers[0].address, "127.0.0.1:9101");
    raft_configuration_close(&conf);

    /* Header + one batch gives back the file. */
    struct raft_buffer header, batch;
    assert_int_equal(raft_encode_segment_header(&header, NULL), 0);
    assert_int_equal(raft_encode_batch(s.entries, s.n_entries, &batch, NULL), 0);
    assert_int_equal(header.len + batch.len, buf.len);
    assert_memory_equal(header.base, buf.base, header.len);
    assert_memory_equal(batch.base, (char *)buf.base + header.len, batch.len);
    raft_free(header.base);
    raft_free(batch.base);
    raft_segment_close(&s);
    raft_segment_close(&s);
    raft_free(buf.base);
}

static void closed_segment_entries_share_one_batch(void **state)
{
    (void)state;
    struct raft_buffer buf =
        read_vector(DISK "single-basic/stopped/0000000000000002-0000000000000007");
    struct raft_segment s;
    assert_int_equal(raft_load_closed_segment(&buf, 2, 7, &s, NULL), 0);
    assert_int_equal(s.n_entries, 6);
    assert_memory_equal(s.entries[0].buf.base, "cmd-0001", 8);
    assert_memory_equal(s.entries[2].buf.base, "cmd-0003-payload-abcdefg", 24);
    assert_int_equal(s.entries[3].type, RAFT_BARRIER);
    for (unsigned i = 0; i < s.n_entries; i++) {
        assert_ptr_equal(s.entries[i].batch, s.entries[0].batch);
    }
    /* A host keeping the entries takes the array and the batch. */
    struct raft_entry *kept = s.entries;
    raft_free(kept[0].batch);
    raft_free(kept);
    raft_free(buf.base);
}

static void damaged_closed_segments_are_corrupt(void **state)
{
    (void)state;
    struct raft_buffer buf =
        read_vector(DISK "single-basic/stopped/0000000000000002-0000000000000007");
    struct raft_segment s;
    char errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
    assert_int_equal(raft_load_closed_segment(&buf, 2, 8, &s, errmsg), RAFT_CORRUPT);
    assert_non_null(strstr(errmsg, "entries"));
    assert_null(s.entries);
    assert_int_equal(raft_load_closed_segment(&buf, 7, 2, &s, NULL), RAFT_MALFORMED);
    for (size_t len = 0; len < buf.len; len += 5) {
        struct raft_buffer cut = {buf.base, len};
        assert_int_equal(raft_load_closed_segment(&cut, 2, 7, &s, NULL), RAFT_CORRUPT);
    }
    ((unsigned char *)buf.base)[256] ^= 0xff; /* what t5-closed did to C-Raft */
    assert_int_equal(raft_load_closed_segment(&buf, 2, 7, &s, NULL), RAFT_CORRUPT);
    assert_int_equal(raft_load_closed_segment(NULL, 2, 7, &s, NULL), RAFT_INVALID);
    assert_int_equal(raft_load_closed_segment(&buf, 2, 7, NULL, NULL), RAFT_INVALID);
    raft_free(buf.base);
}

static void open_segment_with_preallocated_zeros(void **state)
{
    (void)state;
    struct raft_buffer buf = read_vector(DISK "single-multiseg/running/open-3");
    struct raft_segment s;
    assert_int_equal(raft_load_open_segment(&buf, &s, NULL), 0);
    assert_true(s.end == RAFT_SEGMENT_ZERO_FILLED || s.end == RAFT_SEGMENT_EXACT);
    assert_int_equal(s.discarded, 0);
    if (s.n_entries > 0) {
        assert_true(s.used_len > RAFT_SEGMENT_HEADER_LEN);
        assert_true(s.n_batches > 0);
    }
    raft_segment_close(&s);
    raft_free(buf.base);

    unsigned char zeros[64] = {0};
    struct raft_buffer unused = {zeros, sizeof zeros};
    assert_int_equal(raft_load_open_segment(&unused, &s, NULL), 0);
    assert_int_equal(s.n_entries, 0);
    assert_int_equal(s.end, RAFT_SEGMENT_ZERO_FILLED);
    struct raft_buffer empty = {NULL, 0};
    assert_int_equal(raft_load_open_segment(&empty, &s, NULL), 0);
    assert_int_equal(s.end, RAFT_SEGMENT_EMPTY);
}

/* t6-short: C-Raft 0.15 crashed on this file; we keep the 4 whole batches and report the
 * short tail. */
static void torn_open_segment_is_recovered_and_reported(void **state)
{
    (void)state;
    struct raft_buffer buf = read_vector(DISK "recovery/t6-short/input/open-1");
    struct raft_segment s;
    char errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
    assert_int_equal(raft_load_open_segment(&buf, &s, errmsg), 0);
    assert_int_equal(s.end, RAFT_SEGMENT_DAMAGED);
    assert_int_equal(s.n_batches, 4);
    assert_int_equal(s.n_entries, 5);
    assert_int_equal(s.end_offset, 216);
    assert_int_equal(s.discarded, 34);
    assert_int_equal(s.used_len, 216);
    assert_non_null(strstr(errmsg, "34 bytes dropped"));
    raft_segment_close(&s);

    /* A flipped byte in the last batch's data: the batch is dropped, the rest kept. */
    ((unsigned char *)buf.base)[200] ^= 0x01;
    assert_int_equal(raft_load_open_segment(&buf, &s, NULL), 0);
    assert_int_equal(s.end, RAFT_SEGMENT_DAMAGED);
    assert_true(s.n_entries < 5);
    raft_segment_close(&s);

    ((unsigned char *)buf.base)[0] = 9; /* format word neither 0 nor 1 */
    assert_int_equal(raft_load_open_segment(&buf, &s, NULL), RAFT_CORRUPT);
    raft_free(buf.base);
}

/* docs/formats.md#alignment: C-Raft could not load a batch holding an entry whose length is not a
 * multiple of 8, so the encoder refuses it, naming the entry by its position in the batch (a
 * batch carries no log index) and its length. */
static void batch_encoder_refuses_what_craft_cannot_load(void **state)
{
    (void)state;
    char payload[16] = "12345678abcdefg";
    struct raft_entry two[2] = {{.term = 1, .type = RAFT_COMMAND, .buf = {payload, 8}},
                                {.term = 1, .type = RAFT_COMMAND, .buf = {payload + 8, 7}}};
    two[0].batch = two[1].batch = payload;
    struct raft_buffer out = {NULL, 0};
    char errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
    assert_int_equal(raft_encode_batch(two, 2, &out, errmsg), RAFT_INVALID);
    assert_non_null(strstr(errmsg, "entry at batch position 1 (from 0) has 7 bytes"));
    assert_non_null(strstr(errmsg, "not a multiple of 8"));
    struct raft_entry e = two[0];
    assert_int_equal(raft_encode_batch(&e, 0, &out, NULL), RAFT_INVALID);
    e.type = 9;
    e.buf.len = 8;
    assert_int_equal(raft_encode_batch(&e, 1, &out, NULL), RAFT_INVALID);
    assert_null(out.base);
}

static void file_names_are_craft_names(void **state)
{
    (void)state;
    char name[80];
    assert_int_equal(raft_closed_segment_name(2, 7, name, sizeof name), 0);
    assert_string_equal(name, "0000000000000002-0000000000000007");
    assert_int_equal(raft_closed_segment_name(2, 7, name, 33), RAFT_NAMETOOLONG);
    assert_int_equal(raft_closed_segment_name(0, 7, name, sizeof name), RAFT_INVALID);
    assert_int_equal(raft_open_segment_name(3, name, sizeof name), 0);
    assert_string_equal(name, "open-3");
    assert_int_equal(raft_snapshot_file_name(2, 5, 1007708, true, name, sizeof name), 0);
    assert_string_equal(name, "snapshot-2-5-1007708.meta");
    assert_int_equal(raft_snapshot_file_name(2, 5, 1007708, false, NULL, 9), RAFT_INVALID);

    struct raft_file_name f;
    assert_int_equal(raft_parse_file_name("0000000000000002-0000000000000007", &f), 0);
    assert_int_equal(f.kind, RAFT_FILE_CLOSED_SEGMENT);
    assert_true(f.first == 2 && f.last == 7);
    assert_int_equal(raft_parse_file_name("open-12", &f), 0);
    assert_true(f.kind == RAFT_FILE_OPEN_SEGMENT && f.counter == 12);
    assert_int_equal(raft_parse_file_name("snapshot-3-10-1014589.meta", &f), 0);
    assert_true(f.kind == RAFT_FILE_SNAPSHOT_META && f.term == 3 && f.index == 10);
    assert_int_equal(raft_parse_file_name("snapshot-3-10-1014589", &f), 0);
    assert_int_equal(f.kind, RAFT_FILE_SNAPSHOT);
    assert_int_equal(raft_parse_file_name("metadata2", &f), 0);
    assert_true(f.kind == RAFT_FILE_METADATA && f.number == 2);
    assert_int_equal(raft_parse_file_name("tmp-x", &f), 0);
    assert_int_equal(f.kind, RAFT_FILE_TEMPORARY);
    assert_int_equal(raft_parse_file_name("corrupt-1-2-3", &f), 0);
    assert_int_equal(f.kind, RAFT_FILE_CORRUPT);
    assert_int_equal(raft_parse_file_name("lost+found", &f), 0);
    assert_int_equal(f.kind, RAFT_FILE_OTHER);
    assert_int_equal(raft_parse_file_name(NULL, &f), RAFT_INVALID);
}

static void snapshot_meta_round_trips(void **state)
{
    (void)state;
    struct raft_buffer buf = read_vector(DISK "three-node-leader/stopped/snapshot-2-5-1007708.meta");
    struct raft_configuration conf;
    raft_index conf_index = 0;
    assert_int_equal(raft_decode_snapshot_meta(&buf, &conf, &conf_index, NULL), 0);
    assert_int_equal(conf.n, 3);
    assert_true(conf_index >= 1);
    struct raft_buffer out;
    assert_int_equal(raft_encode_snapshot_meta(&conf, conf_index, &out, NULL), 0);
    assert_int_equal(out.len, buf.len);
    assert_memory_equal(out.base, buf.base, buf.len);
    raft_free(out.base);
    raft_configuration_close(&conf);

    ((unsigned char *)buf.base)[buf.len - 20] ^= 0x10;
    char errmsg[RAFT_ERRMSG_BUF_SIZE] = "";
    assert_int_equal(raft_decode_snapshot_meta(&buf, &conf, &conf_index, errmsg), RAFT_CORRUPT);
    assert_non_null(strstr(errmsg, "checksum"));
    assert_int_equal(conf.n, 0);
    struct raft_buffer cut = {buf.base, 20};
    assert_int_equal(raft_decode_snapshot_meta(&cut, &conf, &conf_index, NULL), RAFT_MALFORMED);
    raft_configuration_init(&conf);
    assert_int_equal(raft_encode_snapshot_meta(&conf, 1, &out, NULL), RAFT_INVALID);
    raft_free(buf.base);
}

static void lz4_snapshot_data_is_decompressed(void **state)
{
    (void)state;
    struct raft_buffer buf = read_vector(DISK "single-snapshot-lz4/stopped/snapshot-1-3-687304");
    assert_true(raft_snapshot_data_is_lz4(&buf));
    struct raft_buffer plain;
    assert_int_equal(raft_decode_snapshot_data(&buf, 0, &plain, NULL), 0);
    assert_int_equal(plain.len, 40);
    assert_memory_equal((char *)plain.base + 16, "cmd-0001cmd-0002-payload", 24);

    /* Raw data comes back as a copy. */
    struct raft_buffer copy;
    assert_false(raft_snapshot_data_is_lz4(&plain));
    assert_int_equal(raft_decode_snapshot_data(&plain, 0, &copy, NULL), 0);
    assert_int_equal(copy.len, plain.len);
    assert_memory_equal(copy.base, plain.base, plain.len);
    raft_free(copy.base);
    raft_free(plain.base);

    assert_int_equal(raft_decode_snapshot_data(&buf, 39, &plain, NULL), RAFT_TOOBIG);
    ((unsigned char *)buf.base)[buf.len - 6] ^= 0x55;
    int rv = raft_decode_snapshot_data(&buf, 0, &plain, NULL);
    assert_true(rv == RAFT_CORRUPT);
    raft_free(buf.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata_round_trips),
        cmocka_unit_test(the_newer_metadata_file_wins),
        cmocka_unit_test(closed_segment_loads_and_reencodes),
        cmocka_unit_test(closed_segment_entries_share_one_batch),
        cmocka_unit_test(damaged_closed_segments_are_corrupt),
        cmocka_unit_test(open_segment_with_preallocated_zeros),
        cmocka_unit_test(torn_open_segment_is_recovered_and_reported),
        cmocka_unit_test(batch_encoder_refuses_what_craft_cannot_load),
        cmocka_unit_test(file_names_are_craft_names),
        cmocka_unit_test(snapshot_meta_round_trips),
        cmocka_unit_test(lz4_snapshot_data_is_decompressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
