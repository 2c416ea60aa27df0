//! The checks the fuzz targets run on arbitrary bytes. Shared, through `#[path]`, by the
//! cargo-fuzz targets (`fuzz_targets/`) and by the crate's `tests/fuzz_regressions.rs`, which
//! replays the saved crash inputs and seeds with a normal `cargo test`.
//!
//! Each function must return normally for any input: decoders may refuse the bytes, but must
//! not panic, and whatever they accept must survive an encode/decode round trip.

#![allow(dead_code)]

use bytes::Bytes;
use raft::codec::checksum::checksum;
use raft::codec::configuration;
use raft::codec::disk::batch::{decode_batch, encode_batch};
use raft::codec::disk::metadata::{choose_metadata, decode_metadata, encode_metadata};
use raft::codec::disk::names::parse_file_name;
use raft::codec::disk::segment::{encode_segment, load_closed_segment, load_open_segment};
use raft::codec::disk::snapshot::{
    decode_snapshot_data, decode_snapshot_meta, encode_snapshot_meta,
};
use raft::codec::wire::{
    decode_message, encode_handshake, encode_message, Frame, Limits, StreamDecoder,
};

/// Small limits so that the fuzzer explores the limit checks too.
fn limits() -> Limits {
    Limits {
        max_address_len: 256,
        max_header_len: 1 << 16,
        max_payload_len: 1 << 20,
        ..Limits::default()
    }
}

/// Stream decoder: the first byte picks the chunk size, the rest is the stream (handshake
/// first). Every decoded frame must re-encode and decode back to itself.
pub fn stream(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk % 64) + 1;
    for mut decoder in [StreamDecoder::new(limits()), StreamDecoder::without_handshake(limits())] {
        'feed: for piece in stream.chunks(chunk) {
            decoder.feed(piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(Frame::Handshake(hs))) => {
                        let bytes = encode_handshake(&hs).expect("decoded handshake re-encodes");
                        let again = raft::codec::wire::decode_handshake(&bytes, &limits());
                        assert_eq!(again.as_ref(), Ok(&hs));
                    }
                    Ok(Some(Frame::Message(msg))) => {
                        let bytes = encode_message(&msg).expect("decoded message re-encodes");
                        let again = decode_message(&Bytes::from(bytes), &limits());
                        assert_eq!(again.as_ref(), Ok(&msg));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        assert!(decoder.next_frame().is_err(), "errors are sticky");
                        break 'feed;
                    }
                }
            }
        }
    }
}

/// Recomputes the two CRCs of the batch at `offset` when the bytes hold a plausible one, so that
/// the fuzzer reaches the checks behind the checksums.
fn fix_batch_checksums(data: &mut [u8], offset: usize) -> Option<usize> {
    let rest = data.get(offset..)?;
    let n = u64::from_le_bytes(rest.get(8..16)?.try_into().ok()?);
    if n == 0 || n > 64 {
        return None;
    }
    let header_end = 16 + 16 * n as usize;
    let descriptors = rest.get(16..header_end)?;
    let size: usize = descriptors
        .chunks(16)
        .map(|d| u32::from_le_bytes(d[12..16].try_into().unwrap()) as usize)
        .sum();
    let end = header_end.checked_add(size)?;
    let header_crc = checksum(&rest[8..header_end]);
    let data_crc = checksum(rest.get(header_end..end)?);
    let rest = &mut data[offset..];
    rest[0..4].copy_from_slice(&header_crc.to_le_bytes());
    rest[4..8].copy_from_slice(&data_crc.to_le_bytes());
    Some(offset + end)
}

/// Batch decoder: an odd first byte asks for the checksums to be fixed first.
pub fn batch(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        fix_batch_checksums(&mut bytes, 0);
    }
    if let Ok((entries, len)) = decode_batch(&Bytes::from(bytes)) {
        assert!(len <= rest.len());
        let encoded = encode_batch(&entries).expect("decoded batch re-encodes");
        assert_eq!(encoded.len(), len);
        let (again, again_len) = decode_batch(&Bytes::from(encoded)).expect("round trip");
        assert_eq!((again, again_len), (entries, len));
    }
}

/// Segment loaders: an odd first byte fixes the checksums of the batches it can find; the
/// second byte gives the entry count the closed segment's name claims.
pub fn segment(data: &[u8]) {
    let [mode, count, rest @ ..] = data else { return };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        let mut offset = 8;
        while let Some(next) = fix_batch_checksums(&mut bytes, offset) {
            offset = next;
        }
    }
    let bytes = Bytes::from(bytes);
    if let Ok(segment) = load_open_segment(&bytes) {
        assert!(segment.used_len <= bytes.len());
        assert_eq!(segment.entries.is_empty(), segment.used_len == 0);
        if !segment.entries.is_empty() {
            let reloaded =
                load_open_segment(&bytes.slice(..segment.used_len)).expect("kept prefix");
            assert_eq!(reloaded.entries, segment.entries);
        }
    }
    let last = u64::from(*count % 8) + 1;
    if let Ok(entries) = load_closed_segment(&bytes, 1, last) {
        assert_eq!(entries.len() as u64, last);
        let encoded = encode_segment(&[&entries]).expect("entries re-encode");
        let again = load_closed_segment(&Bytes::from(encoded), 1, last).expect("round trip");
        assert_eq!(again, entries);
    }
}

/// Configuration decoder: whatever decodes re-encodes to something that decodes the same.
pub fn configuration(data: &[u8]) {
    if let Ok(conf) = configuration::decode(data) {
        let encoded = configuration::encode(&conf);
        assert_eq!(encoded.len(), configuration::encoded_len(&conf));
        assert_eq!(configuration::decode(&encoded).as_ref(), Ok(&conf));
    }
}

/// Metadata decoder (and the choice between two files, and file names).
pub fn metadata(data: &[u8]) {
    let first = decode_metadata(data.get(..32).unwrap_or(data));
    let second = decode_metadata(data.get(32..).unwrap_or_default());
    if let Ok(Some(m)) = &first {
        assert_eq!(&encode_metadata(m)[..], &data[..32]);
    }
    if let (Ok(a), Ok(b)) = (first, second) {
        let _ = choose_metadata(a, b);
    }
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = parse_file_name(name);
    }
}

/// Snapshot `.meta` decoder and snapshot data (LZ4 frame) decoder.
pub fn snapshot(data: &[u8]) {
    if let Ok(meta) = decode_snapshot_meta(data) {
        let encoded = encode_snapshot_meta(&meta).expect("decoded meta re-encodes");
        assert_eq!(decode_snapshot_meta(&encoded).as_ref(), Ok(&meta));
    }
    let mut framed = raft::codec::disk::snapshot::LZ4_FRAME_MAGIC.to_vec();
    framed.extend_from_slice(data);
    for input in [Bytes::copy_from_slice(data), Bytes::from(framed)] {
        if let Ok(plain) = decode_snapshot_data(input, 1 << 20) {
            assert!(plain.len() <= 1 << 20);
        }
    }
}
