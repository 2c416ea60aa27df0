//! Files of a data directory written whole, apart from the log's state: an open segment
//! created (at need or as a spare) or closed, and a snapshot's `.meta` and data files.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::log::{Closed, Open, Spare};
use super::{remove_file, rename_into_place, sync_dir, write_temporaries, Error, Result};
use crate::codec::disk::names::{open_segment_name, SnapshotName};
use crate::codec::disk::segment::{encode_segment_header, SEGMENT_HEADER_LEN};
use crate::codec::disk::snapshot::{encode_snapshot_meta, SnapshotMeta};

/// Writes the `.meta` (`meta`) and data (`data`, its parts one after the other) files of the
/// snapshot `name`: both to `tmp-` files, synced, renamed into place, the directory synced. A
/// failed write leaves neither for a load to take.
pub(super) fn write_snapshot_files(
    dir: &Path,
    name: &SnapshotName,
    meta: &SnapshotMeta,
    data: &[&[u8]],
) -> Result<()> {
    let meta_bytes = encode_snapshot_meta(meta).map_err(|e| Error::codec("snapshot", e))?;
    let (meta_name, data_name) = (name.meta_file_name(), name.data_file_name());
    let files: [(&str, &[&[u8]]); 2] = [(&meta_name, &[&meta_bytes]), (&data_name, data)];
    let written = write_temporaries(dir, &files)?;
    if let Err(e) = rename_into_place(dir, &written) {
        // Best effort (a rename or the sync failed): no half-stored snapshot is loaded later.
        for file in [&meta_name, &data_name] {
            let _ = remove_file(dir, file);
        }
        return Err(e);
    }
    Ok(())
}

/// Cuts `open` to its used size and renames it `FIRST-LAST`, or deletes it when it holds
/// nothing; the directory is not synced. A segment that could not be closed is handed back:
/// it is still open on disk.
pub(super) fn close_segment(
    dir: &Path,
    open: Open,
) -> std::result::Result<Option<Closed>, (Box<Open>, Error)> {
    let name = open_segment_name(open.counter);
    if open.count == 0 {
        return match remove_file(dir, &name) {
            Ok(()) => Ok(None),
            Err(e) => Err((Box::new(open), e)),
        };
    }
    // A closed segment holds its batches and nothing else.
    let path = dir.join(&name);
    let segment = Closed { first: open.first, last: open.first + open.count - 1 };
    let target = dir.join(segment.name());
    let closed = open
        .file
        .set_len(open.used)
        .and_then(|_| open.file.sync_data())
        .map_err(|e| Error::io("cut", &path, e))
        .and_then(|_| fs::rename(&path, &target).map_err(|e| Error::io("rename", &target, e)));
    match closed {
        Ok(()) => Ok(Some(segment)),
        Err(e) => Err((Box::new(open), e)),
    }
}

/// Creates the open segment `open-COUNTER` of `size` bytes: header written, size allocated,
/// its first `zeroed` bytes written (zeros after the header), synced, and the directory synced.
/// Allocated blocks are "unwritten" until written: a durable direct write into one also makes
/// the file system commit its journal (the block becomes written), which writing zeros ahead
/// saves the appends that later overwrite them (about 140 against 100 us per 4 KiB
/// `O_DIRECT | RWF_DSYNC` write on ext4 here).
pub(super) fn create_segment(dir: &Path, counter: u64, size: u64, zeroed: u64) -> Result<Spare> {
    let path = dir.join(open_segment_name(counter));
    let create = || -> std::io::Result<File> {
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all_at(&encode_segment_header(), 0)?;
        preallocate(&file, size);
        let header = SEGMENT_HEADER_LEN as u64;
        let zeroed = zeroed.min(size);
        if zeroed > header {
            file.write_all_at(&vec![0; (zeroed - header) as usize], header)?;
        }
        file.sync_data()?;
        Ok(file)
    };
    let file = create().map_err(|e| {
        let _ = fs::remove_file(&path);
        Error::io("create", &path, e)
    })?;
    sync_dir(dir)?;
    // Direct writes where the file system takes them; buffered ones otherwise (tmpfs).
    let direct = OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(&path).ok();
    Ok(Spare { counter, file, direct })
}

/// Allocates `len` bytes of `file` (zeros), so that appends neither grow it nor allocate
/// blocks. Best effort: where the file system cannot (EOPNOTSUPP), the file grows as written.
fn preallocate(file: &File, len: u64) {
    let _ = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len);
}
