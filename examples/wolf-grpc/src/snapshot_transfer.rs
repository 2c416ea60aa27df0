//! How the core's streamed snapshot (docs/snapshots.md) maps onto the seed's InstallSnapshot
//! requests. Each chunk the core emits is one request: chunk k of the snapshot's data sits at
//! `offset = k * chunk_size`, and the last chunk has `done`. Every node of a cluster must use
//! the same chunk size, since the receiver turns the offset back into the chunk number.
//!
//! The request carries the snapshot's position but has no field for its configuration, which
//! the core needs with the last chunk. So the last chunk's bytes end with a trailer:
//!
//! ```text
//! data tail | the snapshot's .meta file | u64le length of the .meta file
//! ```
//!
//! where the `.meta` file is C-Raft's (configuration index and configuration, with its CRC),
//! encoded by the library's disk codec. Putting it at the end keeps every offset the core's:
//! the data of chunk k always starts at `k * chunk_size`.

use raft::codec::disk::snapshot::{decode_snapshot_meta, SnapshotMeta};
use raft::core::SnapshotChunk;

use crate::proto::raft::RaftInstallSnapshotReq;

/// Bytes of the length that ends the trailer.
const TRAILER_LEN_BYTES: usize = 8;

/// Appends the trailer to the last chunk's `data`: the encoded `.meta` file, then its length.
pub fn append_trailer(data: &mut Vec<u8>, meta_file: &[u8]) {
    data.extend_from_slice(meta_file);
    data.extend_from_slice(&(meta_file.len() as u64).to_le_bytes());
}

/// Splits the trailer off the last chunk's `data`, leaving the data tail, and decodes it.
pub fn split_trailer(data: &mut Vec<u8>) -> Result<SnapshotMeta, String> {
    let len_at = data
        .len()
        .checked_sub(TRAILER_LEN_BYTES)
        .ok_or("the last chunk is too short for its configuration trailer")?;
    let len_bytes: [u8; TRAILER_LEN_BYTES] = data[len_at..].try_into().expect("8 bytes");
    let meta_len = u64::from_le_bytes(len_bytes);
    let meta_at = usize::try_from(meta_len)
        .ok()
        .and_then(|len| len_at.checked_sub(len))
        .ok_or_else(|| format!("the trailer names a {meta_len}-byte .meta, longer than it"))?;
    let meta = decode_snapshot_meta(&data[meta_at..len_at])
        .map_err(|e| format!("the trailer's .meta is malformed: {e}"))?;
    data.truncate(meta_at);
    Ok(meta)
}

/// The chunk number of a request at `offset`: chunks all hold `chunk_size` bytes but the last,
/// so an offset between two chunk boundaries comes from a sender with another chunk size.
pub fn chunk_number(offset: u64, chunk_size: u64) -> Result<u32, String> {
    if chunk_size == 0 {
        return Err("this node has no chunk size".into());
    }
    if !offset.is_multiple_of(chunk_size) {
        return Err(format!(
            "offset {offset} is not a multiple of this node's chunk size {chunk_size}"
        ));
    }
    u32::try_from(offset / chunk_size)
        .map_err(|_| format!("offset {offset} is beyond the chunks a snapshot can have"))
}

/// Whether `len` bytes of data (trailer excluded) fit chunk `last` or not: every chunk but the
/// last holds exactly the chunk size, else the next chunk's offset would not be where the
/// receiver's core puts it.
pub fn check_chunk_len(len: usize, chunk_size: u64, last: bool) -> Result<(), String> {
    let len = len as u64;
    match (last, len.cmp(&chunk_size)) {
        (_, std::cmp::Ordering::Greater) => {
            Err(format!("a chunk of {len} bytes is larger than the chunk size {chunk_size}"))
        }
        (false, std::cmp::Ordering::Less) => Err(format!(
            "a chunk before the last holds {len} bytes, not the chunk size {chunk_size}"
        )),
        _ => Ok(()),
    }
}

/// The core's chunk message for a request, with the chunk's data (the trailer removed).
pub fn decode_request(
    req: RaftInstallSnapshotReq,
    chunk_size: u64,
) -> Result<(SnapshotChunk, Vec<u8>), String> {
    let chunk = chunk_number(req.offset, chunk_size)?;
    let mut data = req.data;
    let meta = if req.done { Some(split_trailer(&mut data)?) } else { None };
    check_chunk_len(data.len(), chunk_size, req.done)?;
    let (conf, conf_index) = meta.map(|m| (m.conf, m.conf_index)).unwrap_or_default();
    let message = SnapshotChunk {
        term: req.term,
        last_index: req.last_included_index,
        last_term: req.last_included_term,
        conf,
        conf_index,
        chunk,
        len: data.len() as u64,
        last: req.done,
    };
    Ok((message, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::codec::disk::snapshot::encode_snapshot_meta;
    use raft::core::{Configuration, Role};

    fn meta() -> SnapshotMeta {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:1", Role::Voter).unwrap();
        conf.add(2, "127.0.0.1:2", Role::Voter).unwrap();
        SnapshotMeta { conf_index: 3, conf }
    }

    fn meta_file() -> Vec<u8> {
        encode_snapshot_meta(&meta()).unwrap()
    }

    fn request(offset: u64, done: bool, data: Vec<u8>) -> RaftInstallSnapshotReq {
        RaftInstallSnapshotReq {
            msg_id: "m".into(),
            term: 4,
            leader_id: 1,
            last_included_index: 30,
            last_included_term: 3,
            offset,
            done,
            data,
        }
    }

    #[test]
    fn the_trailer_comes_off_leaving_the_data_tail() {
        for tail in [&b""[..], b"x", b"{\"a\":\"1\"}"] {
            let mut data = tail.to_vec();
            append_trailer(&mut data, &meta_file());
            assert_eq!(split_trailer(&mut data).unwrap(), meta());
            assert_eq!(data, tail);
        }
    }

    #[test]
    fn a_malformed_trailer_is_refused() {
        let mut short = vec![1, 2, 3];
        assert!(split_trailer(&mut short).unwrap_err().contains("too short"));

        let mut too_long = b"abc".to_vec();
        too_long.extend_from_slice(&100u64.to_le_bytes());
        assert!(split_trailer(&mut too_long).unwrap_err().contains("longer than it"));

        let mut huge = u64::MAX.to_le_bytes().to_vec();
        assert!(split_trailer(&mut huge).unwrap_err().contains("longer than it"));

        let mut corrupt = b"tail".to_vec();
        let mut file = meta_file();
        let middle = file.len() / 2;
        file[middle] ^= 0xff;
        append_trailer(&mut corrupt, &file);
        assert!(split_trailer(&mut corrupt).unwrap_err().contains("malformed"));

        let mut junk = b"junk".to_vec();
        assert!(split_trailer(&mut junk).is_err());
    }

    #[test]
    fn offsets_map_to_chunk_numbers() {
        assert_eq!(chunk_number(0, 256), Ok(0));
        assert_eq!(chunk_number(256, 256), Ok(1));
        assert_eq!(chunk_number(256 * 1000, 256), Ok(1000));
        assert_eq!(chunk_number(u64::from(u32::MAX), 1), Ok(u32::MAX));
    }

    #[test]
    fn an_offset_off_the_chunk_grid_or_too_far_is_refused() {
        assert!(chunk_number(100, 256).unwrap_err().contains("not a multiple"));
        assert!(chunk_number(257, 256).unwrap_err().contains("not a multiple"));
        assert!(chunk_number(u64::from(u32::MAX) + 1, 1).unwrap_err().contains("beyond"));
    }

    #[test]
    fn chunk_lengths_follow_the_chunk_size() {
        assert!(check_chunk_len(256, 256, false).is_ok());
        assert!(check_chunk_len(255, 256, false).is_err());
        assert!(check_chunk_len(257, 256, false).is_err());
        assert!(check_chunk_len(0, 256, true).is_ok());
        assert!(check_chunk_len(256, 256, true).is_ok());
        assert!(check_chunk_len(257, 256, true).is_err());
    }

    #[test]
    fn a_last_request_becomes_the_last_chunk_with_its_configuration() {
        let mut data = b"tail".to_vec();
        append_trailer(&mut data, &meta_file());
        let (chunk, data) = decode_request(request(512, true, data), 256).unwrap();
        assert_eq!((chunk.chunk, chunk.len, chunk.last), (2, 4, true));
        assert_eq!((chunk.term, chunk.last_index, chunk.last_term), (4, 30, 3));
        assert_eq!((chunk.conf, chunk.conf_index), (meta().conf, 3));
        assert_eq!(data, b"tail");
    }

    #[test]
    fn a_middle_request_becomes_a_chunk_without_configuration() {
        let (chunk, data) = decode_request(request(256, false, vec![7; 256]), 256).unwrap();
        assert_eq!((chunk.chunk, chunk.len, chunk.last), (1, 256, false));
        assert!(chunk.conf.is_empty());
        assert_eq!(data.len(), 256);
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(decode_request(request(100, false, vec![0; 256]), 256).is_err());
        assert!(decode_request(request(0, false, vec![0; 300]), 256).is_err());
        assert!(decode_request(request(0, true, b"junk".to_vec()), 256).is_err());
        let mut long_tail = vec![0; 300];
        append_trailer(&mut long_tail, &meta_file());
        let err = decode_request(request(0, true, long_tail), 256).unwrap_err();
        assert!(err.contains("larger than the chunk size"), "{err}");
    }
}
