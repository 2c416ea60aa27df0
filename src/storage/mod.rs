//! A data directory in C-Raft's `raft_uv` format (../shared/spec/disk-format.md), read and
//! written with `std::fs` through the disk codec: metadata, segments, snapshots. Safe code only;
//! `ffi::uv` calls it from libuv's thread pool (the log) and from the loop thread (metadata).
//!
//! - [`MetadataFiles`]: term and vote, alternating between `metadata1` and `metadata2`.
//! - [`Log`]: segments and snapshots: load (with the recovery of torn open segments), append,
//!   truncate, snapshot put/get, bootstrap and recover; snapshots streamed in chunks
//!   (`snapshot_stream.rs`).
//!
//! Every write that must survive a crash is followed by `fdatasync`, and every new or renamed
//! file by an `fsync` of the directory, before the call returns.

#![forbid(unsafe_code)]

mod error;
mod log;
mod metadata;
mod planned_append;
mod snapshot_stream;

pub use error::{Error, ErrorKind, Result};
pub use log::{Loaded, Log, StoredSnapshot};
pub use metadata::MetadataFiles;
pub use planned_append::PlannedAppend;
pub use snapshot_stream::StreamedSnapshot;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Makes the directory entries of `dir` durable (new, renamed and deleted files).
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("sync directory", dir, e))
}

/// Writes `parts` as the whole content of `dir/name`, atomically: a `tmp-` file written and
/// synced, renamed over `name`, then the directory synced. A crash leaves either the old state
/// or the new file, plus at most a `tmp-` file that the next load deletes.
fn write_file_atomically(dir: &Path, name: &str, parts: &[&[u8]]) -> Result<()> {
    let tmp = dir.join(format!("tmp-{name}"));
    let target = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut file =
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_data()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", &target, e));
    }
    fs::rename(&tmp, &target).map_err(|e| Error::io("rename", &target, e))?;
    sync_dir(dir)
}

/// Deletes `dir/name`; a file already gone is not an error.
fn remove_file(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}
