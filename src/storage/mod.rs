//! A data directory in C-Raft's `raft_uv` format (../shared/spec/disk-format.md), read and
//! written with `std::fs` through the disk codec: metadata, segments, snapshots. Safe code only;
//! `ffi::uv` calls it from libuv's thread pool (the log) and from the loop thread (metadata).
//!
//! - [`MetadataFiles`]: term and vote, alternating between `metadata1` and `metadata2`.
//! - [`Log`]: segments and snapshots: load (with the recovery of torn open segments), append,
//!   truncate, snapshot put/get, bootstrap and recover; snapshots streamed in chunks
//!   (`snapshot_stream.rs`); snapshot puts and spare segments made beside appends, off the
//!   log's lock (`beside_appends.rs`); the segment and snapshot files both write
//!   (`files.rs`).
//!
//! Every write that must survive a crash is followed by `fdatasync`, and every new or renamed
//! file by an `fsync` of the directory, before the call returns. (The files a snapshot put
//! beside appends deletes are not synced: what a crash brings back, the load passes over.)

#![forbid(unsafe_code)]

mod beside_appends;
mod error;
mod files;
mod log;
mod metadata;
mod planned_append;
mod snapshot_stream;

pub use beside_appends::{prepare_spare_segment, put_snapshot_beside_appends, Detached};
pub use error::{Error, ErrorKind, Result};
pub use log::{Loaded, Log, SnapshotHeader, StoredSnapshot};
pub use metadata::MetadataFiles;
pub use planned_append::PlannedAppend;

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
    let written = write_temporaries(dir, &[(name, parts)])?;
    rename_into_place(dir, &written)
}

/// The first half of writing files atomically: each `(name, parts)` written to `tmp-NAME` and
/// synced. Returns the names, for [`rename_into_place`]. On failure nothing is left.
fn write_temporaries(dir: &Path, files: &[(&str, &[&[u8]])]) -> Result<Vec<String>> {
    let mut written: Vec<String> = Vec::new();
    for (name, parts) in files {
        let tmp = dir.join(format!("tmp-{name}"));
        if let Err(e) = write_synced(&tmp, parts) {
            for done in written.iter().map(String::as_str).chain([*name]) {
                let _ = fs::remove_file(dir.join(format!("tmp-{done}")));
            }
            return Err(Error::io("write", &dir.join(name), e));
        }
        written.push((*name).to_owned());
    }
    Ok(written)
}

/// Makes `parts` the whole content of the file at `path` (created with mode 0600 if needed)
/// and syncs its data.
fn write_synced(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_data()
}

/// The second half: each `tmp-NAME` renamed over `NAME`, then the directory synced.
fn rename_into_place(dir: &Path, names: &[String]) -> Result<()> {
    for name in names {
        let target = dir.join(name);
        fs::rename(dir.join(format!("tmp-{name}")), &target)
            .map_err(|e| Error::io("rename", &target, e))?;
    }
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
