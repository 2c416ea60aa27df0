//! The files a pristine data directory receives to found a cluster, as C-Raft's `raft_uv`
//! writes them: `metadata1` (version 1, term 1, no vote) and the closed segment holding the
//! bootstrap entry alone at index 1.

use super::metadata::{encode_metadata, Metadata};
use super::names::closed_segment_name;
use super::segment::encode_segment;
use crate::codec::entry::Entry;
use crate::codec::error::Result;
use crate::vocab::{EntryType, Id, Index, Term};

/// `(file name, contents)` of every file to write, in the order to write them (the metadata
/// last, so that a crash in between leaves a directory that still reads as pristine).
///
/// The state is the core's `Bootstrap` (term, vote, index of the `Change` entry and its
/// payload), passed field by field so that the formats need not know the protocol.
///
/// Errors: those of [`encode_segment`] (a configuration too large for a batch).
pub fn bootstrap_files(
    term: Term,
    voted_for: Id,
    index: Index,
    payload: &[u8],
) -> Result<Vec<(String, Vec<u8>)>> {
    let entry = Entry::new(term, EntryType::Change, payload.to_vec());
    let segment = encode_segment(&[&[entry]])?;
    let metadata = Metadata { version: 1, term, voted_for };
    Ok(vec![
        (closed_segment_name(index, index), segment),
        (metadata.file_name().to_string(), encode_metadata(&metadata).to_vec()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::disk::metadata::decode_metadata;
    use crate::codec::disk::segment::load_closed_segment;
    use crate::vocab::{Configuration, Role};

    #[test]
    fn files_read_back_as_the_bootstrap_state() {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:7001", Role::Voter).unwrap();
        conf.add(2, "127.0.0.1:7002", Role::Voter).unwrap();
        let payload = crate::codec::configuration::encode(&conf);
        let files = bootstrap_files(1, 0, 1, &payload).unwrap();
        assert_eq!(files[0].0, "0000000000000001-0000000000000001");
        assert_eq!(files[1].0, "metadata1");
        let entries = load_closed_segment(&files[0].1.clone().into(), 1, 1).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].term, entries[0].kind), (1, EntryType::Change));
        let decoded = crate::codec::configuration::decode(&entries[0].payload).unwrap();
        assert_eq!(decoded, conf);
        let metadata = decode_metadata(&files[1].1).unwrap().unwrap();
        assert_eq!((metadata.version, metadata.term, metadata.voted_for), (1, 1, 0));
    }
}
