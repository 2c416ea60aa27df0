//! How a snapshot travels in InstallSnapshot chunks. The seed's request carries the snapshot's
//! position but not its configuration, so the bytes sent are a small container:
//!
//! ```text
//! u64le length of the .meta file | the snapshot's .meta file | the snapshot data
//! ```
//!
//! where the `.meta` file is C-Raft's (configuration index and configuration, with its CRC),
//! encoded by the library's disk codec. The receiver reassembles chunks in offset order.

use bytes::Bytes;
use raft::codec::disk::snapshot::{decode_snapshot_meta, encode_snapshot_meta, SnapshotMeta};
use raft::core::{Id, Index, SnapshotMetadata, Term};

use crate::storage::Snapshot;

/// Largest snapshot a node accepts, so that a peer cannot make it buffer without bound.
pub const MAX_SNAPSHOT_BYTES: usize = 256 << 20;

/// The bytes to send for `snapshot`.
pub fn pack(snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let m = &snapshot.metadata;
    let meta = SnapshotMeta { conf_index: m.configuration_index, conf: m.configuration.clone() };
    let meta = encode_snapshot_meta(&meta).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(8 + meta.len() + snapshot.data.len());
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&snapshot.data);
    Ok(out)
}

/// The snapshot in `bytes`, at the position the request announced.
pub fn unpack(bytes: Vec<u8>, index: Index, term: Term) -> Result<Snapshot, String> {
    let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or("too short")?;
    let meta_len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let meta_end =
        meta_len.checked_add(8).filter(|&end| end <= bytes.len()).ok_or("short .meta")?;
    let meta = decode_snapshot_meta(&bytes[8..meta_end]).map_err(|e| e.to_string())?;
    let data = Bytes::from(bytes).slice(meta_end..);
    let metadata = SnapshotMetadata {
        index,
        term,
        configuration: meta.conf,
        configuration_index: meta.conf_index,
    };
    Ok(Snapshot { metadata, data })
}

/// Which snapshot a chunk belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub leader_id: Id,
    pub term: Term,
    pub index: Index,
    pub last_term: Term,
}

/// A snapshot being received. A chunk at offset 0 starts over (the leader retried); any other
/// chunk must continue exactly where the previous one of the same snapshot ended.
#[derive(Default)]
pub struct Assembly {
    current: Option<(Key, Vec<u8>)>,
}

impl Assembly {
    /// Adds a chunk; returns the whole snapshot's bytes once `done`.
    pub fn add(
        &mut self,
        key: Key,
        offset: u64,
        data: &[u8],
        done: bool,
    ) -> Result<Option<Vec<u8>>, String> {
        if offset == 0 {
            self.current = Some((key, Vec::new()));
        }
        let Some((current, buf)) = self.current.as_mut() else {
            return Err(format!("chunk at offset {offset} without a chunk at offset 0"));
        };
        if *current != key {
            return Err(format!("chunk of another snapshot ({key:?}) while receiving {current:?}"));
        }
        if offset != buf.len() as u64 {
            return Err(format!("chunk at offset {offset}, expected offset {}", buf.len()));
        }
        if buf.len() + data.len() > MAX_SNAPSHOT_BYTES {
            self.current = None;
            return Err(format!("snapshot larger than {MAX_SNAPSHOT_BYTES} bytes"));
        }
        buf.extend_from_slice(data);
        if !done {
            return Ok(None);
        }
        Ok(self.current.take().map(|(_, buf)| buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::core::{Configuration, Role};

    fn snapshot() -> Snapshot {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:1", Role::Voter).unwrap();
        let metadata =
            SnapshotMetadata { index: 9, term: 2, configuration: conf, configuration_index: 1 };
        Snapshot { metadata, data: Bytes::from_static(b"{\"a\":\"1\"}") }
    }

    #[test]
    fn chunks_reassemble_into_the_snapshot() {
        let bytes = pack(&snapshot()).unwrap();
        let key = Key { leader_id: 1, term: 3, index: 9, last_term: 2 };
        let mut a = Assembly::default();
        let mut result = None;
        for (i, chunk) in bytes.chunks(7).enumerate() {
            let done = (i + 1) * 7 >= bytes.len();
            result = a.add(key, (i * 7) as u64, chunk, done).unwrap();
        }
        let back = unpack(result.unwrap(), 9, 2).unwrap();
        assert_eq!(back.metadata, snapshot().metadata);
        assert_eq!(back.data, snapshot().data);
    }

    #[test]
    fn out_of_order_chunks_are_refused() {
        let key = Key { leader_id: 1, term: 3, index: 9, last_term: 2 };
        let mut a = Assembly::default();
        assert!(a.add(key, 5, b"x", false).is_err());
        a.add(key, 0, b"abc", false).unwrap();
        assert!(a.add(key, 4, b"x", false).unwrap_err().contains("expected offset 3"));
        assert!(unpack(vec![1, 2, 3], 1, 1).is_err());
    }
}
