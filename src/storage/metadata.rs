//! Term and vote: `metadata1` and `metadata2`, written in turn (disk-format.md §3), each write
//! an in-place overwrite followed by `fdatasync`, so that a torn write leaves the other file.

use std::fs;
use std::path::{Path, PathBuf};

use super::{remove_file, sync_dir, write_synced, Error, Result};
use crate::codec::disk::metadata::{choose_metadata, decode_metadata, encode_metadata, Metadata};
use crate::vocab::{Id, Term};

/// The metadata files of a directory and the current state they hold.
#[derive(Debug)]
pub struct MetadataFiles {
    dir: PathBuf,
    current: Metadata,
}

impl MetadataFiles {
    /// Reads both files and keeps the newer. A file shorter than 32 bytes (a write that never
    /// completed) is deleted, as C-Raft does.
    pub fn load(dir: &Path) -> Result<MetadataFiles> {
        let first = read_one(dir, "metadata1")?;
        let second = read_one(dir, "metadata2")?;
        let current = choose_metadata(first, second).map_err(|e| Error::codec("metadata", e))?;
        Ok(MetadataFiles { dir: dir.to_path_buf(), current })
    }

    pub fn term(&self) -> Term {
        self.current.term
    }

    pub fn voted_for(&self) -> Id {
        self.current.voted_for
    }

    /// True until the first write: a brand-new server.
    pub fn is_pristine(&self) -> bool {
        self.current.version == 0
    }

    /// Records `term` and `voted_for` durably in the file the next version goes to.
    pub fn store(&mut self, term: Term, voted_for: Id) -> Result<()> {
        let next = self.current.successor(term, voted_for);
        let path = self.dir.join(next.file_name());
        let existed = path.exists();
        write_synced(&path, &[&encode_metadata(&next)])
            .map_err(|e| Error::io("write", &path, e))?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        self.current = next;
        Ok(())
    }
}

fn read_one(dir: &Path, name: &str) -> Result<Option<Metadata>> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let decoded = decode_metadata(&bytes).map_err(|e| Error::codec(name, e))?;
    if decoded.is_none() {
        remove_file(dir, name)?;
    }
    Ok(decoded)
}
