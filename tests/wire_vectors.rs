//! The wire codec against the bytes C-Raft 0.15 sent and accepted (tests/vectors/craft-0.15/wire):
//! every message decodes to what `decoded.json`/`index.json` state, re-encodes to the same bytes
//! where C-Raft zero-filled its padding, and the captured streams decode the same whatever the
//! chunking.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{hex, json, read, u, vectors, Rng};
use raft::codec::wire::{
    decode_handshake, decode_message, encode_handshake, encode_message, Frame, Limits,
    StreamDecoder, WireMessage,
};
use raft::codec::ErrorKind;
use serde_json::Value;

fn check_fields(msg: &WireMessage, f: &Value, header_len: u64, ctx: &str) {
    let eq = |got: u64, key: &str| assert_eq!(got, u(&f[key]), "{ctx}: field {key}");
    match msg {
        WireMessage::RequestVote(m) => {
            eq(m.term, "term");
            eq(m.candidate_id, "candidate_id");
            eq(m.last_log_index, "last_log_index");
            eq(m.last_log_term, "last_log_term");
            assert_eq!(m.disrupt_leader, f["disrupt_leader"].as_bool().unwrap(), "{ctx}");
            assert_eq!(m.pre_vote, f["pre_vote"].as_bool().unwrap(), "{ctx}");
            eq(m.version.into(), "inferred_version");
        }
        WireMessage::RequestVoteResult(m) => {
            eq(m.term, "term");
            assert_eq!(m.vote_granted, u(&f["vote_granted"]) != 0, "{ctx}");
            assert_eq!(m.pre_vote, f["pre_vote"].as_bool().unwrap(), "{ctx}");
            eq(m.features.into(), "features");
            eq(m.capacity.into(), "capacity");
            eq(m.version.into(), "inferred_version");
        }
        WireMessage::AppendEntries(m) => {
            eq(m.term, "term");
            eq(m.prev_log_index, "prev_log_index");
            eq(m.prev_log_term, "prev_log_term");
            eq(m.leader_commit, "leader_commit");
            eq(m.entries.len() as u64, "n_entries");
            for (entry, want) in m.entries.iter().zip(f["entries"].as_array().unwrap()) {
                assert_eq!(entry.term, u(&want["term"]), "{ctx}");
                assert_eq!(u64::from(entry.kind.code()), u(&want["type"]), "{ctx}");
                assert_eq!(entry.payload.len() as u64, u(&want["size"]), "{ctx}");
                if let Some(data) = want["data_hex"].as_str() {
                    assert_eq!(entry.payload[..], hex(data)[..], "{ctx}");
                }
            }
            assert_eq!(m.version, 0);
        }
        WireMessage::AppendEntriesResult(m) => {
            eq(m.term, "term");
            eq(m.rejected, "rejected");
            eq(m.last_log_index, "last_log_index");
            assert_eq!(u64::from(m.features), f.get("features").map_or(0, u), "{ctx}");
            assert_eq!(u64::from(m.capacity), f.get("capacity").map_or(0, u), "{ctx}");
            assert_eq!(m.version, if header_len == 24 { 0 } else { 2 }, "{ctx}");
        }
        WireMessage::InstallSnapshot(m) => {
            eq(m.term, "term");
            eq(m.last_index, "last_index");
            eq(m.last_term, "last_term");
            eq(m.conf_index, "conf_index");
            eq(m.data.len() as u64, "data_len");
            let servers = f["conf"]["servers"].as_array().unwrap();
            assert_eq!(m.conf.servers.len(), servers.len(), "{ctx}");
            for (s, want) in m.conf.servers.iter().zip(servers) {
                assert_eq!(s.id, u(&want["id"]), "{ctx}");
                assert_eq!(&*s.address, want["address"].as_str().unwrap(), "{ctx}");
                assert_eq!(u64::from(s.role.code()), u(&want["role"]), "{ctx}");
            }
        }
        WireMessage::TimeoutNow(m) => {
            eq(m.term, "term");
            eq(m.last_log_index, "last_log_index");
            eq(m.last_log_term, "last_log_term");
        }
        WireMessage::ReadIndex(_) | WireMessage::ReadIndexResult(_) => {
            panic!("{ctx}: C-Raft has no ReadIndex messages")
        }
        WireMessage::InstallSnapshotChunk(_) | WireMessage::InstallSnapshotChunkResult(_) => {
            panic!("{ctx}: C-Raft has no snapshot chunk messages")
        }
    }
}

/// The encoding compared with C-Raft's bytes, ignoring the preamble's version byte (cowsql-style
/// senders put a version there; encoders always write 0).
fn assert_reencodes(msg: &WireMessage, original: &[u8], ctx: &str) {
    let mut expected = original.to_vec();
    expected[2] = 0;
    assert_eq!(encode_message(msg).unwrap(), expected, "{ctx}: re-encoding differs");
}

fn has_unaligned_entry(msg: &WireMessage) -> bool {
    matches!(msg, WireMessage::AppendEntries(m) if m.entries.iter().any(|e| e.payload.len() % 8 != 0))
}

fn permissive() -> Limits {
    Limits { reject_unaligned_entries: false, ..Limits::default() }
}

#[test]
fn every_single_message_vector_decodes_and_reencodes() {
    let dir = vectors().join("wire/messages");
    let index = json(&dir.join("index.json"));
    let mut checked = 0;
    for item in index.as_array().unwrap() {
        let file = item["file"].as_str().unwrap();
        let bytes = read(&dir.join(file));
        let fields = &item["fields"];
        if item.get("type").is_none() {
            let hs = decode_handshake(&bytes, &Limits::default()).unwrap();
            assert_eq!(hs.server_id, u(&fields["server_id"]), "{file}");
            assert_eq!(hs.address, fields["address"].as_str().unwrap(), "{file}");
            assert_eq!(encode_handshake(&hs).unwrap(), bytes, "{file}");
        } else {
            let buf = Bytes::from(bytes.clone());
            let msg = decode_message(&buf, &permissive()).unwrap();
            assert_eq!(u64::from(msg.message_type().code()), u(&item["type"]), "{file}");
            check_fields(&msg, fields, u(&item["header_len"]), file);
            if has_unaligned_entry(&msg) {
                let err = encode_message(&msg).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Invalid, "{file}");
                let err = decode_message(&buf, &Limits::default()).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Malformed, "{file}");
            } else {
                assert_reencodes(&msg, &bytes, file);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 30);
}

/// Feeds `stream` in chunks whose sizes `next_chunk` picks, collecting frames until the end or
/// the first error.
fn decode_stream(
    stream: &[u8],
    limits: Limits,
    mut next_chunk: impl FnMut() -> usize,
) -> (Vec<Frame>, Option<raft::codec::Error>) {
    let mut decoder = StreamDecoder::new(limits);
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let end = (pos + next_chunk().max(1)).min(stream.len());
        decoder.feed(&stream[pos..end]);
        pos = end;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    assert!(decoder.is_at_frame_boundary(), "stream ends inside a frame");
    (frames, None)
}

fn scenarios() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for name in [
        "w1-leader",
        "w1-leader-rawheap",
        "w2-prevote-follower",
        "w3-version-byte",
        "w4-unaligned-entries",
    ] {
        out.push((name.to_string(), json(&vectors().join("wire").join(name).join("decoded.json"))));
    }
    out
}

fn frames_in_every_chunking(path: &Path, limits: Limits) -> Vec<Frame> {
    let stream = read(path);
    let (whole, err) = decode_stream(&stream, limits, || usize::MAX);
    assert!(err.is_none(), "{}: {err:?}", path.display());
    let (bytewise, _) = decode_stream(&stream, limits, || 1);
    assert_eq!(bytewise, whole, "{}: byte-at-a-time differs", path.display());
    for seed in 0..8 {
        let mut rng = Rng::new(seed);
        let (random, _) = decode_stream(&stream, limits, || rng.below(97) as usize + 1);
        assert_eq!(random, whole, "{}: random chunks (seed {seed}) differ", path.display());
    }
    whole
}

#[test]
fn captured_node_streams_decode_in_any_chunking() {
    let mut messages = 0;
    for (name, decoded) in scenarios() {
        let dir = vectors().join("wire").join(&name);
        let rawheap = name.contains("rawheap");
        for conn in decoded["connections"].as_array().unwrap() {
            let file = conn["file"].as_str().unwrap();
            let stream = read(&dir.join(file));
            assert_eq!(stream.len() as u64, u(&conn["total_bytes"]));
            let frames = frames_in_every_chunking(&dir.join(file), permissive());
            let want = conn["messages"].as_array().unwrap();
            assert_eq!(frames.len(), want.len() + 1, "{name}/{file}");
            let Frame::Handshake(hs) = &frames[0] else { panic!("{name}/{file}: no handshake") };
            assert_eq!(hs.server_id, u(&conn["handshake"]["server_id"]));
            assert_eq!(hs.address, conn["handshake"]["address"].as_str().unwrap());
            for (frame, want) in frames[1..].iter().zip(want) {
                let Frame::Message(msg) = frame else { panic!("second handshake") };
                let offset = u(&want["offset"]) as usize;
                let ctx = format!("{name}/{file}@{offset}");
                check_fields(msg, &want["fields"], u(&want["header_len"]), &ctx);
                let original = &stream[offset..offset + u(&want["len"]) as usize];
                if has_unaligned_entry(msg) {
                    assert!(encode_message(msg).is_err());
                } else if rawheap {
                    // Garbage in reserved bytes: the encoding zeroes them, and decodes back
                    // to the same message.
                    let again = encode_message(msg).unwrap();
                    assert_eq!(again.len(), original.len(), "{ctx}");
                    assert_eq!(decode_message(&Bytes::from(again), &permissive()).unwrap(), *msg);
                } else {
                    assert_reencodes(msg, original, &ctx);
                }
                messages += 1;
            }
        }
    }
    assert!(messages > 80, "only {messages} messages checked");
}

#[test]
fn streams_crafted_by_hand_decode_and_reencode_byte_for_byte() {
    let mut items = 0;
    for (name, decoded) in scenarios() {
        let dir = vectors().join("wire").join(&name);
        for sent in decoded["sent"].as_array().unwrap() {
            let file = sent["file"].as_str().unwrap();
            let stream = read(&dir.join(file));
            let frames = frames_in_every_chunking(&dir.join(file), Limits::default());
            let want = sent["items"].as_array().unwrap();
            assert_eq!(frames.len(), want.len(), "{name}/{file}");
            for (frame, item) in frames.iter().zip(want) {
                let bytes = hex(item["hex"].as_str().unwrap());
                let offset = u(&item["offset"]) as usize;
                assert_eq!(&stream[offset..offset + bytes.len()], &bytes[..]);
                match frame {
                    Frame::Handshake(hs) => assert_eq!(encode_handshake(hs).unwrap(), bytes),
                    Frame::Message(msg) => assert_reencodes(msg, &bytes, &format!("{name}/{file}")),
                }
                items += 1;
            }
        }
    }
    assert!(items > 50, "only {items} items checked");
}

#[test]
fn unaligned_entries_stop_a_strict_stream_at_that_message() {
    let dir = vectors().join("wire/w4-unaligned-entries");
    let decoded = json(&dir.join("decoded.json"));
    let mut stopped = 0;
    for conn in decoded["connections"].as_array().unwrap() {
        let stream = read(&dir.join(conn["file"].as_str().unwrap()));
        let messages = conn["messages"].as_array().unwrap();
        let first_bad = messages.iter().position(|m| {
            m["fields"]["entries"]
                .as_array()
                .is_some_and(|es| es.iter().any(|e| u(&e["size"]) % 8 != 0))
        });
        let (frames, err) = decode_stream(&stream, Limits::default(), || 7);
        match first_bad {
            Some(i) => {
                assert_eq!(frames.len(), i + 1, "handshake and the messages before it");
                assert_eq!(err.unwrap().kind(), ErrorKind::Malformed);
                stopped += 1;
            }
            None => assert!(err.is_none()),
        }
    }
    assert!(stopped >= 1);
}

#[test]
fn a_nonzero_version_byte_is_accepted_and_ignored() {
    let bytes =
        read(&vectors().join("wire/messages/rejected-version-byte-request-vote-result.bin"));
    assert_eq!(bytes[2], 2);
    let msg = decode_message(&Bytes::from(bytes.clone()), &Limits::default()).unwrap();
    let WireMessage::RequestVoteResult(m) = &msg else { panic!("{msg:?}") };
    assert!(m.vote_granted);
    assert_eq!(m.version, 2);
}
