//! The files a pristine data directory receives to found a cluster, as C-Raft's `raft_uv`
//! writes them: `metadata1` (version 1, term 1, no vote) and the closed segment holding the
//! bootstrap entry alone at index 1.

use super::metadata::{encode_metadata, Metadata};
use super::names::closed_segment_name;
use super::segment::encode_segment;
use crate::codec::entry::Entry;
use crate::codec::error::Result;
use crate::core::Bootstrap;

/// `(file name, contents)` of every file to write, in the order to write them (the metadata
/// last, so that a crash in between leaves a directory that still reads as pristine).
///
/// Errors: those of [`encode_segment`] (a configuration too large for a batch).
pub fn bootstrap_files(bootstrap: &Bootstrap) -> Result<Vec<(String, Vec<u8>)>> {
    let view = bootstrap.entry();
    let entry = Entry::new(view.term, view.kind, bootstrap.payload.clone());
    let segment = encode_segment(&[&[entry]])?;
    let metadata = Metadata { version: 1, term: bootstrap.term, voted_for: bootstrap.voted_for };
    Ok(vec![
        (closed_segment_name(bootstrap.index, bootstrap.index), segment),
        (metadata.file_name().to_string(), encode_metadata(&metadata).to_vec()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::disk::metadata::decode_metadata;
    use crate::codec::disk::segment::load_closed_segment;
    use crate::core::{Configuration, EntryType, Role};

    #[test]
    fn files_read_back_as_the_bootstrap_state() {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:7001", Role::Voter).unwrap();
        conf.add(2, "127.0.0.1:7002", Role::Voter).unwrap();
        let files = bootstrap_files(&Bootstrap::new(&conf).unwrap()).unwrap();
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
