//! Round-trip properties over random values from a seeded generator: encoding then decoding
//! gives back the input, for messages, handshakes, streams, batches, segments, configurations,
//! metadata and snapshot files. A failure names its seed, which replays it.

mod common;

use bytes::Bytes;
use common::Rng;
use raft::codec::configuration;
use raft::codec::disk::batch::{decode_batch, encode_batch};
use raft::codec::disk::metadata::{decode_metadata, encode_metadata, Metadata};
use raft::codec::disk::segment::{
    encode_segment, load_closed_segment, load_open_segment, SegmentEnd,
};
use raft::codec::disk::snapshot::{
    decode_snapshot_data, decode_snapshot_meta, encode_snapshot_meta, SnapshotMeta,
};
use raft::codec::wire::*;
use raft::codec::{Entry, ErrorKind};
use raft::core::{Configuration, EntryType, Role};

const SEEDS: u64 = 300;

fn any_u64(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.below(4),
        1 => u64::MAX - rng.below(2),
        _ => rng.next() >> rng.below(64),
    }
}

fn any_conf(rng: &mut Rng) -> Configuration {
    let mut conf = Configuration::new();
    for i in 0..=rng.below(5) {
        let len = rng.below(24) as usize;
        let mut address: String = (0..len).map(|_| (b'!' + rng.below(90) as u8) as char).collect();
        address.push_str(&format!("#{i}"));
        let role = Role::from_code(rng.below(3) as i64).unwrap();
        // A random id may repeat: skip it, as the configuration refuses duplicates.
        let _ = conf.add(any_u64(rng).max(1), &address, role);
    }
    conf
}

fn any_entries(rng: &mut Rng, max: u64) -> Vec<Entry> {
    (0..rng.below(max + 1))
        .map(|_| {
            let kind = EntryType::from_code(1 + rng.below(3) as i64).unwrap();
            let len = 8 * rng.below(9) as usize;
            Entry::new(any_u64(rng), kind, rng.bytes(len))
        })
        .collect()
}

fn any_message(rng: &mut Rng) -> WireMessage {
    match rng.below(6) {
        0 => {
            let version = 1 + rng.below(2) as u8;
            let v2 = version == 2;
            WireMessage::RequestVote(RequestVote {
                version,
                term: any_u64(rng),
                candidate_id: any_u64(rng),
                last_log_index: any_u64(rng),
                last_log_term: any_u64(rng),
                disrupt_leader: v2 && rng.bool(),
                pre_vote: v2 && rng.bool(),
            })
        }
        1 => {
            let version = 1 + rng.below(2) as u8;
            let v2 = version == 2;
            WireMessage::RequestVoteResult(RequestVoteResult {
                version,
                term: any_u64(rng),
                vote_granted: rng.bool(),
                pre_vote: v2 && rng.bool(),
                features: if v2 { rng.next() as u16 } else { 0 },
                capacity: if v2 { rng.next() as u16 } else { 0 },
            })
        }
        2 => WireMessage::AppendEntries(AppendEntries {
            version: 0,
            term: any_u64(rng),
            prev_log_index: any_u64(rng),
            prev_log_term: any_u64(rng),
            leader_commit: any_u64(rng),
            entries: any_entries(rng, 6),
            read_round: rng.next() as u32,
        }),
        3 => {
            let version = 2 * rng.below(2) as u8;
            WireMessage::AppendEntriesResult(AppendEntriesResult {
                version,
                term: any_u64(rng),
                rejected: any_u64(rng),
                last_log_index: any_u64(rng),
                features: if version == 2 { rng.next() as u16 } else { 0 },
                capacity: if version == 2 { rng.next() as u16 } else { 0 },
                read_echo: if version == 2 { rng.next() as u32 } else { 0 },
            })
        }
        4 => {
            let len = rng.below(200) as usize;
            WireMessage::InstallSnapshot(InstallSnapshot {
                version: 0,
                term: any_u64(rng),
                last_index: any_u64(rng),
                last_term: any_u64(rng),
                conf: any_conf(rng),
                conf_index: any_u64(rng),
                data: Bytes::from(rng.bytes(len)),
            })
        }
        _ => WireMessage::TimeoutNow(TimeoutNow {
            version: 0,
            term: any_u64(rng),
            last_log_index: any_u64(rng),
            last_log_term: any_u64(rng),
        }),
    }
}

#[test]
fn messages_round_trip() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let msg = any_message(&mut rng);
        let bytes = encode_message(&msg).unwrap();
        assert_eq!(bytes[1..8], [0; 7], "seed {seed}: preamble bytes 1..7 must be zero");
        let back = decode_message(&Bytes::from(bytes), &Limits::default());
        assert_eq!(back, Ok(msg), "seed {seed}");
    }
}

#[test]
fn head_and_payload_parts_concatenate_to_the_whole_message() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let msg = any_message(&mut rng);
        let mut split = Vec::new();
        encode_message_head(&msg, &mut split).unwrap();
        for part in payload_parts(&msg) {
            split.extend_from_slice(part);
        }
        assert_eq!(split, encode_message(&msg).unwrap(), "seed {seed}");
    }
}

#[test]
fn a_stream_of_random_messages_decodes_in_random_chunks() {
    for seed in 0..40 {
        let mut rng = Rng::new(seed);
        let handshake =
            Handshake { server_id: any_u64(&mut rng).max(1), address: "10.0.0.1:9001".into() };
        let mut stream = encode_handshake(&handshake).unwrap();
        let messages: Vec<_> = (0..30).map(|_| any_message(&mut rng)).collect();
        for msg in &messages {
            encode_message_into(msg, &mut stream).unwrap();
        }
        let mut decoder = StreamDecoder::new(Limits::default());
        let mut frames = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            let end = (pos + 1 + rng.below(300) as usize).min(stream.len());
            decoder.feed(&stream[pos..end]);
            pos = end;
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert!(decoder.is_at_frame_boundary());
        assert_eq!(frames[0], Frame::Handshake(handshake), "seed {seed}");
        let decoded: Vec<_> = frames[1..]
            .iter()
            .map(|f| match f {
                Frame::Message(m) => m.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(decoded, messages, "seed {seed}");
    }
}

#[test]
fn handshakes_round_trip() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let len = rng.below(100) as usize;
        let address: String = (0..len).map(|_| (b' ' + rng.below(95) as u8) as char).collect();
        let hs = Handshake { server_id: any_u64(&mut rng).max(1), address };
        let bytes = encode_handshake(&hs).unwrap();
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(decode_handshake(&bytes, &Limits::default()), Ok(hs), "seed {seed}");
    }
}

#[test]
fn configurations_round_trip() {
    for seed in 0..SEEDS {
        let conf = any_conf(&mut Rng::new(seed));
        let bytes = configuration::encode(&conf);
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(configuration::decode(&bytes), Ok(conf), "seed {seed}");
    }
}

#[test]
fn batches_and_segments_round_trip() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let batches: Vec<Vec<Entry>> = (0..=rng.below(4))
            .map(|_| any_entries(&mut rng, 5))
            .filter(|b| !b.is_empty())
            .collect();
        for batch in &batches {
            let bytes = Bytes::from(encode_batch(batch).unwrap());
            assert_eq!(decode_batch(&bytes).unwrap(), (batch.clone(), bytes.len()), "seed {seed}");
        }
        if batches.is_empty() {
            continue;
        }
        let refs: Vec<&[Entry]> = batches.iter().map(|b| &b[..]).collect();
        let segment = encode_segment(&refs).unwrap();
        let all: Vec<Entry> = batches.concat();
        let closed = load_closed_segment(&Bytes::from(segment.clone()), 7, 6 + all.len() as u64);
        assert_eq!(closed.as_ref(), Ok(&all), "seed {seed}");

        // The same bytes in a pre-allocated open segment: zeros after the last batch.
        let used = segment.len();
        let mut open = segment;
        open.resize(used + 8 * rng.below(64) as usize, 0);
        let loaded = load_open_segment(&Bytes::from(open.clone())).unwrap();
        assert_eq!(loaded.entries, all, "seed {seed}");
        assert_eq!(loaded.used_len, used);
        let want_end = if open.len() == used {
            SegmentEnd::Exact
        } else {
            SegmentEnd::ZeroFilled { offset: used }
        };
        assert_eq!(loaded.end, want_end, "seed {seed}");
    }
}

#[test]
fn metadata_round_trips() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let m = Metadata {
            version: any_u64(&mut rng).max(1),
            term: any_u64(&mut rng),
            voted_for: any_u64(&mut rng),
        };
        assert_eq!(decode_metadata(&encode_metadata(&m)), Ok(Some(m)), "seed {seed}");
    }
}

#[test]
fn snapshot_meta_round_trips() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let meta = SnapshotMeta { conf_index: any_u64(&mut rng), conf: any_conf(&mut rng) };
        let bytes = encode_snapshot_meta(&meta).unwrap();
        assert_eq!(decode_snapshot_meta(&bytes), Ok(meta), "seed {seed}");
    }
}

#[test]
fn lz4_snapshots_decompress_within_their_limit() {
    use std::io::Write;
    for seed in 0..20 {
        let mut rng = Rng::new(seed);
        let len = rng.below(200_000) as usize;
        let plain: Vec<u8> = (0..len)
            .map(|i| if rng.below(4) == 0 { rng.next() as u8 } else { (i / 64) as u8 })
            .collect();
        let mut info = lz4_flex::frame::FrameInfo::new();
        info.content_size = Some(len as u64);
        let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(&plain).unwrap();
        let framed = Bytes::from(encoder.finish().unwrap());
        assert_eq!(decode_snapshot_data(framed.clone(), len as u64).unwrap(), plain, "seed {seed}");
        if len > 0 {
            let err = decode_snapshot_data(framed, len as u64 - 1).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TooBig, "seed {seed}");
        }
    }
}
