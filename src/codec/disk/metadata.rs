//! The metadata files `metadata1` and `metadata2` (docs/formats.md#disk): exactly 32 bytes,
//!
//! ```text
//! u64le format (1) | u64le version (write counter, ≥ 1) | u64le term | u64le voted_for
//! ```
//!
//! Writes alternate between the two files (odd versions in `metadata1`, even in `metadata2`),
//! so a torn write leaves the previous state intact in the other file.

use super::FORMAT;
use crate::codec::cursor::Cursor;
use crate::codec::error::{Error, Result};
use crate::vocab::{Id, Term};

/// Bytes of a metadata file.
pub const METADATA_LEN: usize = 32;

const WHAT: &str = "metadata file";

/// The persistent term and vote, with the write counter that orders the two files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Write counter; 0 only for "never written".
    pub version: u64,
    /// The current term.
    pub term: Term,
    /// The server voted for in `term`; 0 for none.
    pub voted_for: Id,
}

impl Metadata {
    /// The metadata that records `term` and `voted_for` as the write after `self`.
    pub fn successor(&self, term: Term, voted_for: Id) -> Metadata {
        Metadata { version: self.version.wrapping_add(1), term, voted_for }
    }

    /// The file this version is written to: `metadata1` for odd versions, `metadata2` for even.
    pub fn file_name(&self) -> &'static str {
        if self.version % 2 == 1 {
            "metadata1"
        } else {
            "metadata2"
        }
    }
}

/// The 32 bytes of a metadata file.
pub fn encode_metadata(metadata: &Metadata) -> [u8; METADATA_LEN] {
    let mut out = [0u8; METADATA_LEN];
    let words = [FORMAT, metadata.version, metadata.term, metadata.voted_for];
    for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Decodes the contents of a metadata file. A file shorter than 32 bytes is a write that never
/// completed and counts as never written: `Ok(None)` (C-Raft deletes it).
///
/// Errors: [`Error::Corrupt`] for a file longer than 32 bytes or version 0;
/// [`Error::Malformed`] for a format other than 1.
pub fn decode_metadata(buf: &[u8]) -> Result<Option<Metadata>> {
    if buf.len() < METADATA_LEN {
        return Ok(None);
    }
    if buf.len() > METADATA_LEN {
        return Err(Error::corrupt(WHAT, format!("{} bytes instead of 32", buf.len())));
    }
    let mut c = Cursor::new(buf, WHAT);
    let format = c.u64()?;
    if format != FORMAT {
        return Err(Error::malformed(WHAT, format!("unknown format {format}")));
    }
    let metadata = Metadata { version: c.u64()?, term: c.u64()?, voted_for: c.u64()? };
    if metadata.version == 0 {
        return Err(Error::corrupt(WHAT, "version 0"));
    }
    Ok(Some(metadata))
}

/// Picks the current metadata from the decoded `metadata1` and `metadata2` (`None` for a
/// missing or never-written file): the one with the greater version. Neither → a brand-new
/// server (version 0, term 0, no vote).
///
/// Errors: [`Error::Corrupt`] if both have the same version (no write can produce that).
pub fn choose_metadata(first: Option<Metadata>, second: Option<Metadata>) -> Result<Metadata> {
    match (first, second) {
        (None, None) => Ok(Metadata::default()),
        (Some(m), None) | (None, Some(m)) => Ok(m),
        (Some(a), Some(b)) if a.version == b.version => {
            Err(Error::corrupt("metadata files", format!("both have version {}", a.version)))
        }
        (Some(a), Some(b)) => Ok(if a.version > b.version { a } else { b }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_example_file() {
        let bytes = [
            1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
            0, 0, 0,
        ];
        let m = decode_metadata(&bytes).unwrap().unwrap();
        assert_eq!(m, Metadata { version: 3, term: 2, voted_for: 1 });
        assert_eq!(encode_metadata(&m), bytes);
        assert_eq!(m.file_name(), "metadata1");
        assert_eq!(m.successor(3, 0).file_name(), "metadata2");
    }

    #[test]
    fn short_files_count_as_never_written_and_long_ones_are_corrupt() {
        assert_eq!(decode_metadata(&[]).unwrap(), None);
        assert_eq!(decode_metadata(&[1; 31]).unwrap(), None);
        assert!(decode_metadata(&[0; 33]).is_err());
    }

    #[test]
    fn refuses_bad_format_and_version_zero() {
        let mut bytes = encode_metadata(&Metadata { version: 1, term: 1, voted_for: 0 });
        bytes[0] = 2;
        assert_eq!(decode_metadata(&bytes).unwrap_err().kind(), crate::codec::ErrorKind::Malformed);
        let bytes = encode_metadata(&Metadata { version: 0, term: 1, voted_for: 0 });
        assert!(decode_metadata(&bytes).is_err());
    }

    #[test]
    fn the_greater_version_wins_and_equal_versions_are_corrupt() {
        let a = Metadata { version: 3, term: 2, voted_for: 1 };
        let b = Metadata { version: 2, term: 2, voted_for: 0 };
        assert_eq!(choose_metadata(Some(a), Some(b)).unwrap(), a);
        assert_eq!(choose_metadata(Some(b), Some(a)).unwrap(), a);
        assert_eq!(choose_metadata(None, Some(b)).unwrap(), b);
        assert_eq!(choose_metadata(None, None).unwrap(), Metadata::default());
        assert!(choose_metadata(Some(a), Some(a)).is_err());
    }
}
