//! The disk codec against data directories written by C-Raft 0.15 (tests/vectors/craft-0.15/disk):
//! every file decodes to what its `*.decoded.json` states, re-encodes to the same bytes, and the
//! damaged open segments of `recovery/` recover to exactly what C-Raft kept.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{hex, json, read, u, vectors};
use raft::codec::disk::batch::Damage;
use raft::codec::disk::metadata::{decode_metadata, encode_metadata};
use raft::codec::disk::names::{closed_segment_name, parse_file_name, FileName};
use raft::codec::disk::segment::{
    encode_segment, load_closed_segment, load_open_segment, SegmentEnd,
};
use raft::codec::disk::snapshot::{
    decode_snapshot_data, decode_snapshot_meta, encode_snapshot_meta, is_lz4_frame,
    DEFAULT_MAX_SNAPSHOT_LEN,
};
use raft::codec::{Entry, ErrorKind};
use serde_json::Value;

/// Every `X.decoded.json` with its directory `X`.
fn decoded_dirs() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut pending = vec![vectors().join("disk")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(stem) = name.strip_suffix(".decoded.json") {
                out.push((dir.join(stem), json(&path)));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn file_name(key: &str) -> &str {
    key.strip_suffix(".gz").unwrap_or(key)
}

/// The entries of the leading batches whose checksums verify, grouped by batch.
fn valid_batches(file: &Value) -> Vec<Vec<Entry>> {
    let mut out = Vec::new();
    for batch in file["batches"].as_array().unwrap() {
        if !(batch["crc_header_ok"].as_bool().unwrap() && batch["crc_data_ok"].as_bool().unwrap()) {
            break;
        }
        let entries = batch["entries"].as_array().unwrap().iter().map(|e| {
            let kind = raft::core::EntryType::from_code(u(&e["type"]) as i64).unwrap();
            Entry::new(u(&e["term"]), kind, hex(e["data_hex"].as_str().unwrap()))
        });
        out.push(entries.collect());
    }
    out
}

fn flat(batches: &[Vec<Entry>]) -> Vec<Entry> {
    batches.iter().flatten().cloned().collect()
}

fn offset_after(prefix: &str, end: &str) -> usize {
    let rest = &end[end.find(prefix).unwrap() + prefix.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn check_closed(path: &Path, data: &Bytes, want: &Value, ctx: &str) {
    let FileName::ClosedSegment { first, last } = parse_file_name(file_name(ctx_name(path))) else {
        panic!("{ctx}: not a closed segment name");
    };
    assert_eq!((first, last), (u(&want["first_index"]), u(&want["end_index"])), "{ctx}");
    assert_eq!(closed_segment_name(first, last), file_name(ctx_name(path)));
    let batches = valid_batches(want);
    let clean = want["end"] == "exact end of file"
        && batches.len() == want["batches"].as_array().unwrap().len()
        && flat(&batches).iter().all(|e| e.payload.len() % 8 == 0);
    match load_closed_segment(data, first, last) {
        Ok(entries) => {
            assert!(clean, "{ctx}: damaged closed segment accepted");
            assert_eq!(entries, flat(&batches), "{ctx}");
            let refs: Vec<&[Entry]> = batches.iter().map(|b| &b[..]).collect();
            assert_eq!(encode_segment(&refs).unwrap(), data[..], "{ctx}: re-encoding differs");
        }
        Err(e) => {
            assert!(!clean, "{ctx}: {e}");
            assert!(matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Malformed), "{ctx}: {e}");
        }
    }
}

fn check_open(path: &Path, data: &Bytes, want: &Value, ctx: &str) {
    let FileName::OpenSegment { counter } = parse_file_name(file_name(ctx_name(path))) else {
        panic!("{ctx}: not an open segment name");
    };
    assert_eq!(counter, u(&want["counter"]));
    let segment = load_open_segment(data).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let batches = valid_batches(want);
    assert_eq!(segment.entries, flat(&batches), "{ctx}");
    assert_eq!(segment.batches, batches.len(), "{ctx}");
    let end = want["end"].as_str().unwrap();
    if end.starts_with("batch with count 0") && end.ends_with("(rest all zero: True)") {
        let offset = offset_after("at offset ", end);
        assert!(!segment.lost_data(), "{ctx}");
        if batches.is_empty() {
            assert!(segment.is_unused());
        } else {
            assert_eq!(segment.end, SegmentEnd::ZeroFilled { offset }, "{ctx}");
        }
    } else {
        let SegmentEnd::Damaged { offset, damage, discarded } = &segment.end else {
            panic!("{ctx}: expected damage, got {:?}", segment.end);
        };
        assert_eq!(*discarded, data.len() - offset);
        if end.contains("rest all zero: False") {
            assert_eq!(*damage, Damage::ZeroCount);
            assert_eq!(*offset, offset_after("at offset ", end), "{ctx}");
        } else if end.starts_with("checksum mismatch") {
            assert!(matches!(damage, Damage::HeaderChecksum { .. } | Damage::DataChecksum { .. }));
            assert_eq!(*offset, offset_after("at ", end), "{ctx}");
        } else if end.starts_with("short tail") {
            assert!(matches!(damage, Damage::Short { .. }), "{ctx}: {damage:?}");
            assert_eq!(*offset, offset_after("at offset ", end), "{ctx}");
        } else {
            panic!("{ctx}: unknown end {end}");
        }
    }
    if !segment.is_unused() {
        let refs: Vec<&[Entry]> = batches.iter().map(|b| &b[..]).collect();
        assert_eq!(encode_segment(&refs).unwrap(), data[..segment.used_len], "{ctx}");
    }
}

fn ctx_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

#[test]
fn every_disk_file_decodes_to_its_decoded_json() {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (dir, decoded) in decoded_dirs() {
        for (key, want) in decoded.as_object().unwrap() {
            let path = dir.join(key);
            let ctx = format!("{}", path.display());
            let data = Bytes::from(read(&path));
            let kind = want["kind"].as_str().unwrap();
            match kind {
                "metadata" => {
                    let m = decode_metadata(&data).unwrap().unwrap();
                    assert_eq!(
                        (m.version, m.term, m.voted_for),
                        (u(&want["version"]), u(&want["term"]), u(&want["voted_for"])),
                        "{ctx}"
                    );
                    assert_eq!(encode_metadata(&m), data[..]);
                    assert_eq!(m.file_name(), key.as_str());
                }
                "closed segment" => check_closed(&path, &data, want, &ctx),
                "open segment" => check_open(&path, &data, want, &ctx),
                "snapshot metadata" => {
                    let FileName::SnapshotMeta(name) = parse_file_name(key) else {
                        panic!("{ctx}")
                    };
                    assert_eq!(
                        (name.term, name.index, name.timestamp),
                        (u(&want["term"]), u(&want["index"]), u(&want["timestamp"]))
                    );
                    assert_eq!(name.meta_file_name(), *key);
                    let meta = decode_snapshot_meta(&data).unwrap();
                    assert_eq!(meta.conf_index, u(&want["configuration_index"]));
                    let servers = want["configuration"]["servers"].as_array().unwrap();
                    assert_eq!(meta.conf.servers.len(), servers.len());
                    for (s, w) in meta.conf.servers.iter().zip(servers) {
                        assert_eq!(
                            (s.id, &*s.address),
                            (u(&w["id"]), w["address"].as_str().unwrap())
                        );
                        assert_eq!(u64::from(s.role.code()), u(&w["role"]));
                    }
                    assert_eq!(encode_snapshot_meta(&meta).unwrap(), data[..], "{ctx}");
                }
                "snapshot data" => {
                    let FileName::SnapshotData(name) = parse_file_name(key) else {
                        panic!("{ctx}")
                    };
                    assert_eq!(name.data_file_name(), *key);
                    assert_eq!(is_lz4_frame(&data), want["lz4_frame"].as_bool().unwrap(), "{ctx}");
                    let plain = decode_snapshot_data(data, DEFAULT_MAX_SNAPSHOT_LEN).unwrap();
                    assert_eq!(plain[..], hex(want["data_hex"].as_str().unwrap())[..], "{ctx}");
                }
                "other" => assert_eq!(parse_file_name(key), FileName::Corrupt, "{ctx}"),
                other => panic!("{ctx}: unknown kind {other}"),
            }
            *counts.entry(kind.to_string()).or_default() += 1;
        }
    }
    assert!(counts["closed segment"] >= 30, "{counts:?}");
    assert!(counts["open segment"] >= 20, "{counts:?}");
    assert!(counts["snapshot data"] >= 10 && counts["snapshot metadata"] >= 10, "{counts:?}");
    assert!(counts["metadata"] >= 15, "{counts:?}");
}

/// For every damaged directory that C-Raft loaded, recovering its open segment keeps exactly
/// the bytes C-Raft kept in the closed segment it made of it.
#[test]
fn open_segment_recovery_keeps_what_craft_kept() {
    let mut checked = 0;
    let mut roots: Vec<PathBuf> = std::fs::read_dir(vectors().join("disk/recovery"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    roots.push(vectors().join("disk/crafted-from-spec"));
    for root in roots {
        let input = root.join("input");
        let mut next_index = 1;
        let mut opens = Vec::new();
        for entry in std::fs::read_dir(&input).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            match parse_file_name(file_name(&name)) {
                FileName::ClosedSegment { last, .. } => next_index = next_index.max(last + 1),
                FileName::OpenSegment { counter } => opens.push((counter, name)),
                _ => {}
            }
        }
        opens.sort();
        for (_, name) in opens {
            let data = Bytes::from(read(&input.join(&name)));
            let segment = load_open_segment(&data).unwrap();
            if segment.is_unused() {
                continue;
            }
            let last = next_index + segment.entries.len() as u64 - 1;
            let kept = root.join("after-load").join(closed_segment_name(next_index, last));
            if kept.exists() {
                assert_eq!(read(&kept), data[..segment.used_len], "{}", kept.display());
                checked += 1;
            }
            next_index = last + 1;
        }
    }
    assert_eq!(checked, 5, "t1, t2, t3, t4 and crafted-from-spec");
}

#[test]
fn a_corrupt_last_closed_segment_is_refused() {
    let path = vectors().join("disk/recovery/t5-closed/input/0000000000000002-0000000000000007");
    let err = load_closed_segment(&Bytes::from(read(&path)), 2, 7).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

#[test]
fn an_unaligned_entry_on_disk_is_malformed() {
    let path = vectors().join("disk/unaligned-entry/stopped/0000000000000002-0000000000000003");
    let err = load_closed_segment(&Bytes::from(read(&path)), 2, 3).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
}
