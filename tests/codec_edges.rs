//! Malformed, truncated, oversized and damaged inputs: each is refused with the right kind of
//! error (or recovered as C-Raft does), without panicking or buffering what a peer merely
//! announces.

mod common;

use bytes::Bytes;
use common::{read, vectors};
use raft::codec::disk::batch::{encode_batch, Damage, MAX_BATCH_ENTRIES};
use raft::codec::disk::names::{
    closed_segment_name, open_segment_name, parse_file_name, FileName, SnapshotName,
};
use raft::codec::disk::segment::{
    encode_segment, load_closed_segment, load_open_segment, SegmentEnd,
};
use raft::codec::disk::snapshot::decode_snapshot_meta;
use raft::codec::wire::*;
use raft::codec::{Entry, ErrorKind};
use raft::core::EntryType;

fn preamble(kind: u8, header_len: u64) -> Vec<u8> {
    let mut out = vec![kind, 0, 0, 0, 0, 0, 0, 0];
    out.extend_from_slice(&header_len.to_le_bytes());
    out
}

fn kind_of(bytes: Vec<u8>) -> ErrorKind {
    decode_message(&Bytes::from(bytes), &Limits::default()).unwrap_err().kind()
}

#[test]
fn preambles_with_unknown_type_zero_or_huge_header_are_refused() {
    assert_eq!(kind_of(preamble(0, 24)), ErrorKind::Malformed);
    assert_eq!(kind_of(preamble(7, 24)), ErrorKind::Malformed);
    assert_eq!(kind_of(preamble(6, 0)), ErrorKind::Malformed);
    assert_eq!(kind_of(preamble(1, u64::MAX)), ErrorKind::TooBig);
}

#[test]
fn a_huge_announcement_is_refused_before_anything_is_buffered() {
    let mut decoder = StreamDecoder::without_handshake(Limits::default());
    decoder.feed(&preamble(5, 1 << 40));
    let err = decoder.next_frame().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooBig);
    assert_eq!(decoder.buffered_len(), 0);
    decoder.feed(&[0; 64]);
    assert_eq!(decoder.next_frame().unwrap_err(), err, "errors are sticky");

    // An AppendEntries header announcing 4 GiB of payload in one entry.
    let mut msg = preamble(1, 64);
    for word in [1u64, 0, 0, 0, 1] {
        msg.extend_from_slice(&word.to_le_bytes());
    }
    msg.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xf8, 0xff, 0xff, 0xff]);
    msg.extend_from_slice(&[0; 8]);
    let limits = Limits { max_payload_len: 1 << 20, ..Limits::default() };
    let mut decoder = StreamDecoder::without_handshake(limits);
    decoder.feed(&msg);
    assert_eq!(decoder.next_frame().unwrap_err().kind(), ErrorKind::TooBig);
}

#[test]
fn the_stream_decoder_says_how_many_bytes_it_still_needs() {
    let msg = read(&vectors().join("wire/messages/append-entries-two-commands.bin"));
    let mut decoder = StreamDecoder::without_handshake(Limits::default());
    assert_eq!(decoder.bytes_needed(), 16);
    decoder.feed(&msg[..10]);
    assert_eq!(decoder.next_frame(), Ok(None));
    assert_eq!(decoder.bytes_needed(), 6);
    decoder.feed(&msg[10..100]);
    assert_eq!(decoder.next_frame(), Ok(None));
    assert_eq!(decoder.bytes_needed(), (msg.len() - 100) as u64);
    decoder.feed(&msg[100..]);
    assert!(matches!(decoder.next_frame(), Ok(Some(Frame::Message(_)))));
    assert!(decoder.is_at_frame_boundary());
}

#[test]
fn every_truncation_of_every_message_vector_is_an_error() {
    for entry in std::fs::read_dir(vectors().join("wire/messages")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".bin") || name.contains("handshake") || name.contains("unaligned") {
            continue;
        }
        let bytes = read(&path);
        for len in 0..bytes.len() {
            let cut = Bytes::copy_from_slice(&bytes[..len]);
            assert!(decode_message(&cut, &Limits::default()).is_err(), "{name} cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_message(&Bytes::from(longer), &Limits::default()).is_err(), "{name}");
    }
}

#[test]
fn headers_too_short_for_their_type_are_refused() {
    for (kind, len) in [
        (3u8, 24u64),
        (3, 36),
        (4, 8),
        (4, 20),
        (2, 16),
        (2, 26),
        (6, 16),
        (1, 40),
        (1, 56),
        (5, 48),
        (7, 8),
        (8, 16),
        (9, 56),
        (9, 72),
        (10, 16),
    ] {
        let mut msg = preamble(kind, len);
        msg.resize(16 + len as usize, 0);
        assert_eq!(kind_of(msg), ErrorKind::Malformed, "type {kind}, H = {len}");
    }
}

#[test]
fn bad_entry_types_and_bad_snapshot_configurations_are_malformed() {
    let mut ae = read(&vectors().join("wire/messages/append-entries-one-command.bin"));
    ae[16 + 40 + 8] = 4;
    assert_eq!(kind_of(ae), ErrorKind::Malformed);
    let mut is = read(&vectors().join("wire/messages/install-snapshot.bin"));
    is[16 + 40] = 2;
    assert_eq!(kind_of(is), ErrorKind::Malformed);
}

#[test]
fn handshakes_with_bad_protocol_length_or_address_are_refused() {
    let good = encode_handshake(&Handshake { server_id: 2, address: "a:1".into() }).unwrap();
    let limits = Limits::default();
    let mut bad = good.clone();
    bad[0] = 2;
    assert_eq!(decode_handshake(&bad, &limits).unwrap_err().kind(), ErrorKind::Malformed);
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(decode_handshake(&bad, &limits).unwrap_err().kind(), ErrorKind::Malformed);
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(decode_handshake(&bad, &limits).unwrap_err().kind(), ErrorKind::TooBig);
    let mut bad = good.clone();
    bad[24..32].copy_from_slice(b"abcdefgh");
    assert_eq!(decode_handshake(&bad, &limits).unwrap_err().kind(), ErrorKind::Malformed);
    let mut bad = good.clone();
    bad[8..16].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(decode_handshake(&bad, &limits).unwrap_err().kind(), ErrorKind::Malformed);
    let nul = Handshake { server_id: 1, address: "a\0b".into() };
    assert_eq!(encode_handshake(&nul).unwrap_err().kind(), ErrorKind::Invalid);
}

#[test]
fn garbage_in_handshake_padding_is_ignored() {
    let mut bytes = encode_handshake(&Handshake { server_id: 9, address: "h:1".into() }).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 0xAB;
    assert_eq!(decode_handshake(&bytes, &Limits::default()).unwrap().address, "h:1");
}

#[test]
fn unaligned_or_empty_batches_are_never_encoded() {
    let odd = Entry::new(1, EntryType::Command, &b"hello"[..]);
    assert_eq!(encode_batch(std::slice::from_ref(&odd)).unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(encode_batch(&[]).unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(
        encode_message(&append_entries(0, vec![odd])).unwrap_err().kind(),
        ErrorKind::Invalid
    );
}

fn append_entries(prev_log_index: u64, entries: Vec<Entry>) -> WireMessage {
    WireMessage::AppendEntries(AppendEntries {
        version: 0,
        term: 1,
        prev_log_index,
        prev_log_term: 1,
        leader_commit: 0,
        entries,
        read_round: 0,
    })
}

fn command(len: usize) -> Entry {
    Entry::new(1, EntryType::Command, vec![7u8; len])
}

/// docs/formats.md#alignment: C-Raft's formats carry only multiples of 8
/// bytes, so their encoders refuse any other length (raft_step itself accepts it), naming the
/// entry by its log index where they know it and its length.
#[test]
fn encoders_refuse_unaligned_entries_naming_index_and_length() {
    for len in [1, 7, 9, 13, 4099] {
        let err = encode_message(&append_entries(6, vec![command(8), command(len)])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let text = err.to_string();
        assert!(
            text.contains("log index 8 has") && text.contains(&format!("{len} bytes")),
            "{text}"
        );

        let err = encode_batch(&[command(8), command(16), command(len)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let text = err.to_string();
        assert!(
            text.contains("batch position 2") && text.contains(&format!("{len} bytes")),
            "{text}"
        );

        let err = encode_segment(&[&[command(8)], &[command(8), command(len)]]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let text = err.to_string();
        assert!(
            text.contains("batch 1 of the segment: ") && text.contains("batch position 1"),
            "{text}"
        );
    }
}

#[test]
fn encoders_carry_empty_and_aligned_entries() {
    let entries = vec![command(0), command(8), command(4096)];
    let bytes = encode_message(&append_entries(6, entries.clone())).unwrap();
    let decoded = decode_message(&Bytes::from(bytes), &Limits::default()).unwrap();
    assert_eq!(decoded, append_entries(6, entries.clone()));
    let batch = encode_batch(&entries).unwrap();
    assert_eq!(raft::codec::disk::batch::decode_batch(&Bytes::from(batch)).unwrap().0, entries);
}

fn entries(n: usize, term: u64) -> Vec<Entry> {
    (0..n)
        .map(|i| Entry::new(term, EntryType::Command, format!("entry-{i:02}").into_bytes()))
        .collect()
}

#[test]
fn closed_segments_refuse_trailing_bytes_wrong_counts_and_bad_formats() {
    let seg = encode_segment(&[&entries(2, 1), &entries(1, 2)]).unwrap();
    assert_eq!(load_closed_segment(&Bytes::from(seg.clone()), 5, 7).unwrap().len(), 3);
    for (first, last) in [(5, 6), (5, 8)] {
        let err = load_closed_segment(&Bytes::from(seg.clone()), first, last).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{first}-{last}");
    }
    let mut trailing = seg.clone();
    trailing.extend_from_slice(&[0; 8]);
    assert_eq!(
        load_closed_segment(&Bytes::from(trailing), 5, 7).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    let mut format = seg.clone();
    format[0] = 2;
    assert_eq!(
        load_closed_segment(&Bytes::from(format), 5, 7).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    for len in 0..seg.len() {
        assert!(load_closed_segment(&Bytes::copy_from_slice(&seg[..len]), 5, 7).is_err());
    }
    assert!(load_closed_segment(&Bytes::from(seg), 7, 5).is_err());
}

#[test]
fn open_segments_keep_every_batch_before_a_torn_one() {
    let good = encode_segment(&[&entries(2, 1), &entries(1, 1)]).unwrap();
    let torn_batch = encode_batch(&entries(3, 1)).unwrap();
    // Every way of cutting the last write short keeps the first three entries.
    for cut in 1..torn_batch.len() {
        let mut data = good.clone();
        data.extend_from_slice(&torn_batch[..cut]);
        let segment = load_open_segment(&Bytes::from(data.clone())).unwrap();
        assert_eq!(segment.entries.len(), 3, "cut at {cut}");
        assert_eq!(segment.used_len, good.len());
        let SegmentEnd::Damaged { offset, damage, discarded } = segment.end else {
            panic!("cut at {cut}: {:?}", segment.end)
        };
        assert_eq!((offset, discarded), (good.len(), cut));
        assert!(
            matches!(damage, Damage::Short { .. } | Damage::HeaderChecksum { .. }),
            "{damage:?}"
        );

        // The same cut followed by the zeros of pre-allocated space.
        data.resize(data.len() + 4096, 0);
        let segment = load_open_segment(&Bytes::from(data)).unwrap();
        assert_eq!(segment.entries.len(), 3, "cut at {cut}, zero-filled");
        assert!(segment.lost_data() || cut < 16 && torn_batch[..cut].iter().all(|&b| b == 0));
    }
}

#[test]
fn open_segments_drop_everything_after_the_first_damaged_batch() {
    let data = encode_segment(&[&entries(1, 1), &entries(1, 2), &entries(1, 3)]).unwrap();
    let second = 8 + 40;
    let mut damaged = data.clone();
    damaged[second + 16] ^= 1; // a descriptor byte of the second batch
    let segment = load_open_segment(&Bytes::from(damaged)).unwrap();
    assert_eq!(segment.entries.len(), 1);
    assert_eq!(segment.used_len, second);
    let mut damaged = data.clone();
    damaged[second + 8] = 0; // count 0
    damaged[second + 9] = 0;
    let segment = load_open_segment(&Bytes::from(damaged)).unwrap();
    assert!(matches!(segment.end, SegmentEnd::Damaged { damage: Damage::ZeroCount, .. }));
    let mut damaged = data;
    damaged[second + 8..second + 16].copy_from_slice(&(MAX_BATCH_ENTRIES + 1).to_le_bytes());
    let segment = load_open_segment(&Bytes::from(damaged)).unwrap();
    assert!(matches!(segment.end, SegmentEnd::Damaged { damage: Damage::TooManyEntries(_), .. }));
}

#[test]
fn open_segments_with_a_bad_format_word_are_corrupt() {
    let mut data = vec![0u8; 64];
    data[20] = 1;
    assert_eq!(load_open_segment(&Bytes::from(data)).unwrap_err().kind(), ErrorKind::Corrupt);
    let mut data = vec![0u8; 64];
    data[0] = 2;
    assert_eq!(load_open_segment(&Bytes::from(data)).unwrap_err().kind(), ErrorKind::Corrupt);
    assert!(load_open_segment(&Bytes::from(vec![0u8; 64])).unwrap().is_unused());
    assert_eq!(load_open_segment(&Bytes::new()).unwrap().end, SegmentEnd::Empty);
    let short = load_open_segment(&Bytes::from(vec![1u8, 0, 0])).unwrap();
    assert!(short.is_unused() && short.lost_data());
}

#[test]
fn snapshot_meta_files_are_checked() {
    let path = vectors().join("disk/three-node-leader/stopped/snapshot-2-5-1007708.meta");
    let good = read(&path);
    assert!(decode_snapshot_meta(&good).is_ok());
    let mut bad = good.clone();
    bad[40] ^= 1;
    assert_eq!(decode_snapshot_meta(&bad).unwrap_err().kind(), ErrorKind::Corrupt);
    let mut bad = good.clone();
    bad[0] = 9;
    assert_eq!(decode_snapshot_meta(&bad).unwrap_err().kind(), ErrorKind::Malformed);
    let mut bad = good.clone();
    bad[24..32].copy_from_slice(&(2u64 << 20).to_le_bytes());
    assert_eq!(decode_snapshot_meta(&bad).unwrap_err().kind(), ErrorKind::Corrupt);
    for len in 0..good.len() {
        assert!(decode_snapshot_meta(&good[..len]).is_err());
    }
}

#[test]
fn file_names_are_parsed_and_formatted_like_craft() {
    assert_eq!(closed_segment_name(2, 7), "0000000000000002-0000000000000007");
    assert_eq!(open_segment_name(3), "open-3");
    assert_eq!(
        parse_file_name("0000000000000002-0000000000000007"),
        FileName::ClosedSegment { first: 2, last: 7 }
    );
    assert_eq!(parse_file_name("2-7"), FileName::ClosedSegment { first: 2, last: 7 });
    assert_eq!(parse_file_name("open-12"), FileName::OpenSegment { counter: 12 });
    assert_eq!(parse_file_name("metadata2"), FileName::Metadata(2));
    assert_eq!(parse_file_name("tmp-metadata1"), FileName::Temporary);
    assert_eq!(parse_file_name("corrupt-123-open-1"), FileName::Corrupt);
    let snap = SnapshotName { term: 2, index: 5, timestamp: 1007708 };
    assert_eq!(parse_file_name("snapshot-2-5-1007708"), FileName::SnapshotData(snap));
    assert_eq!(parse_file_name("snapshot-2-5-1007708.meta"), FileName::SnapshotMeta(snap));
    for other in [
        "open-",
        "open-x",
        "2-7-9",
        "-2-7",
        "2--7",
        "+2-7",
        "snapshot-1-2",
        "snapshot-1-2-3.tmp",
        "metadata3",
        "18446744073709551616-1",
    ] {
        assert_eq!(parse_file_name(other), FileName::Other, "{other}");
    }
    assert_eq!(parse_file_name(&format!("open-{}", "1".repeat(130))), FileName::Other);
    assert!(
        SnapshotName { term: 2, index: 1, timestamp: 0 }
            > SnapshotName { term: 1, index: 9, timestamp: 9 }
    );
}

/// The read round rides in the AppendEntries' reserved trailing word under a mark (docs/reads.md):
/// a word without it (C-Raft's zeros, the garbage C-Raft 0.15 leaves there) is no round at all.
#[test]
fn a_read_round_is_read_only_under_its_mark() {
    let mut ae = append_entries(3, vec![command(8)]);
    if let WireMessage::AppendEntries(m) = &mut ae {
        m.read_round = 0xdead_beef;
    }
    let bytes = encode_message(&ae).unwrap();
    let decoded = decode_message(&Bytes::from(bytes.clone()), &Limits::default()).unwrap();
    assert_eq!(decoded, ae, "marked: carried");
    // The trailing word ends the header: 16 (preamble) + 48 + 16 (one descriptor) - 8.
    let word = 16 + 40 + 16;
    let mut garbage = bytes.clone();
    garbage[word + 4..word + 8].copy_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    let WireMessage::AppendEntries(m) =
        decode_message(&Bytes::from(garbage), &Limits::default()).unwrap()
    else {
        panic!("not an AppendEntries")
    };
    assert_eq!(m.read_round, 0, "unmarked: no round");
}

#[test]
fn read_index_messages_round_trip() {
    for msg in [
        WireMessage::ReadIndex(ReadIndex { term: 7, id: u64::MAX }),
        WireMessage::ReadIndexResult(ReadIndexResult { term: 7, id: 3, index: 42 }),
    ] {
        let bytes = encode_message(&msg).unwrap();
        assert_eq!(decode_message(&Bytes::from(bytes), &Limits::default()).unwrap(), msg);
    }
}

fn snapshot_chunk(last: bool, data: &[u8]) -> InstallSnapshotChunk {
    let mut conf = raft::vocab::Configuration::new();
    if last {
        conf.add(1, "s1", raft::core::Role::Voter).unwrap();
    }
    InstallSnapshotChunk {
        term: 3,
        last_index: 90,
        last_term: 2,
        conf,
        conf_index: 7,
        chunk: u32::MAX,
        last,
        data: Bytes::copy_from_slice(data),
    }
}

#[test]
fn snapshot_chunk_messages_round_trip() {
    for msg in [
        WireMessage::InstallSnapshotChunk(snapshot_chunk(false, &[1, 2, 3])),
        WireMessage::InstallSnapshotChunk(snapshot_chunk(true, &[])),
        WireMessage::InstallSnapshotChunkResult(InstallSnapshotChunkResult {
            term: 3,
            last_index: 90,
            next_chunk: 17,
            gap: false,
        }),
        WireMessage::InstallSnapshotChunkResult(InstallSnapshotChunkResult {
            term: 3,
            last_index: 90,
            next_chunk: 0,
            gap: true,
        }),
    ] {
        let bytes = encode_message(&msg).unwrap();
        assert_eq!(decode_message(&Bytes::from(bytes), &Limits::default()).unwrap(), msg);
    }
}

#[test]
fn malformed_snapshot_chunk_messages_are_refused() {
    // A last chunk must carry the snapshot's configuration: not encoded, not decoded.
    let mut no_conf = snapshot_chunk(true, &[9; 8]);
    no_conf.conf = raft::vocab::Configuration::new();
    let err = encode_message(&WireMessage::InstallSnapshotChunk(no_conf)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let mut bytes =
        encode_message(&WireMessage::InstallSnapshotChunk(snapshot_chunk(false, &[]))).unwrap();
    // The flags word (preamble 16 + 5 words) marks it last: no configuration follows.
    bytes[16 + 40] = 1;
    assert_eq!(kind_of(bytes), ErrorKind::Malformed);
    // A chunk number or count beyond 32 bits.
    let mut bytes =
        encode_message(&WireMessage::InstallSnapshotChunk(snapshot_chunk(false, &[]))).unwrap();
    bytes[16 + 32 + 4] = 1;
    assert_eq!(kind_of(bytes), ErrorKind::Malformed);
    let result = InstallSnapshotChunkResult { term: 3, last_index: 90, next_chunk: 1, gap: true };
    let mut bytes = encode_message(&WireMessage::InstallSnapshotChunkResult(result)).unwrap();
    bytes[16 + 16 + 4] = 1;
    assert_eq!(kind_of(bytes), ErrorKind::Malformed);
    // A chunk result's flags other than the gap bit.
    let result = InstallSnapshotChunkResult { term: 3, last_index: 90, next_chunk: 1, gap: true };
    let mut bytes = encode_message(&WireMessage::InstallSnapshotChunkResult(result)).unwrap();
    bytes[16 + 24] = 3;
    assert_eq!(kind_of(bytes), ErrorKind::Malformed);
}

#[test]
fn a_chunk_result_without_its_flags_word_has_no_gap() {
    // The first form of type 10 had a 24-byte header: read as flags 0.
    let result = InstallSnapshotChunkResult { term: 3, last_index: 90, next_chunk: 5, gap: true };
    let mut bytes =
        encode_message(&WireMessage::InstallSnapshotChunkResult(result.clone())).unwrap();
    assert_eq!(bytes.len(), 16 + 32);
    bytes.truncate(16 + 24);
    bytes[8..16].copy_from_slice(&24u64.to_le_bytes());
    let decoded = decode_message(&Bytes::from(bytes), &Limits::default()).unwrap();
    let expected = InstallSnapshotChunkResult { gap: false, ..result };
    assert_eq!(decoded, WireMessage::InstallSnapshotChunkResult(expected));
}

#[test]
fn the_committed_stream_seeds_of_snapshot_chunks_decode() {
    // fuzz/seeds/stream/crafted-install-snapshot-chunk*.bin start the fuzzer inside types 9
    // and 10: a byte for the feeding size, a handshake, then whole messages.
    for (name, expected) in [
        ("crafted-install-snapshot-chunks.bin", 2),
        ("crafted-install-snapshot-chunk-result.bin", 1),
    ] {
        let bytes = std::fs::read(format!("fuzz/seeds/stream/{name}")).unwrap();
        let mut decoder = StreamDecoder::new(Limits::default());
        decoder.feed(&bytes[1..]);
        let mut messages = 0;
        while let Some(frame) = decoder.next_frame().unwrap() {
            if let Frame::Message(m) = frame {
                assert!(matches!(
                    m,
                    WireMessage::InstallSnapshotChunk(_)
                        | WireMessage::InstallSnapshotChunkResult(_)
                ));
                messages += 1;
            }
        }
        assert_eq!(messages, expected, "{name}");
    }
}

#[test]
fn a_configuration_on_a_chunk_before_the_last_is_malformed() {
    let last =
        encode_message(&WireMessage::InstallSnapshotChunk(snapshot_chunk(true, &[]))).unwrap();
    let mut bytes = last.clone();
    // Clear the flags word: the configuration now rides a chunk before the last.
    bytes[16 + 40] = 0;
    assert_eq!(kind_of(bytes), ErrorKind::Malformed);
}
