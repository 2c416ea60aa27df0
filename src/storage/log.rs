//! Segments and snapshots of a data directory (disk-format.md §4-§8).
//!
//! The log on disk is a chain of closed segments `FIRST-LAST` and at most one open segment
//! `open-N` being appended to. As C-Raft does, an open segment is allocated at its full size
//! when created (`posix_fallocate`; where the file system cannot, the file grows instead), and
//! each append writes one batch after the last and `fdatasync`s it: an `fdatasync` that does
//! not change the file's size or allocation has no metadata to journal, which on ext4 makes it
//! about a third cheaper. The zero tail is what C-Raft's loader and ours expect of an open
//! segment; a segment is cut to its used size when it is closed.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::files::{close_segment, create_segment, write_snapshot_files};
use super::planned_append::{tail_after, DIRECT_BLOCK};
use super::snapshot_stream::Receiving;
use super::{remove_file, sync_dir, write_file_atomically, Error, ErrorKind, Result};
use crate::codec::disk::batch::{batch_len, encode_batch};
use crate::codec::disk::names::{
    closed_segment_name, open_segment_name, parse_file_name, FileName, SnapshotName,
};
use crate::codec::disk::segment::{
    encode_segment, encode_segment_header, load_closed_segment, load_open_segment, SegmentEnd,
    SEGMENT_HEADER_LEN,
};
use crate::codec::disk::snapshot::{
    decode_snapshot_data, decode_snapshot_meta, SnapshotMeta, DEFAULT_MAX_SNAPSHOT_LEN,
};
use crate::codec::Entry;
use crate::vocab::{Configuration, EntryType, Index, Term};

/// C-Raft's default size of an open segment: 8 MiB.
const DEFAULT_SEGMENT_SIZE: u64 = 8 * 1024 * 1024;

/// How many snapshots stay on disk after a new one is stored (C-Raft keeps two).
const SNAPSHOTS_KEPT: usize = 2;

/// A snapshot as stored: what the `.meta` file and the file name say, and the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub term: Term,
    pub index: Index,
    pub conf: Configuration,
    pub conf_index: Index,
    pub data: Bytes,
}

/// A snapshot's metadata: what its file name and its `.meta` file say (the last chunk of a
/// stream, a put whose data stays in the caller's buffers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub term: Term,
    pub index: Index,
    pub conf: Configuration,
    pub conf_index: Index,
}

/// What a load found: the latest snapshot and the entries on disk from `start_index` on.
#[derive(Debug)]
pub struct Loaded {
    pub snapshot: Option<StoredSnapshot>,
    pub start_index: Index,
    pub entries: Vec<Entry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Closed {
    pub(super) first: Index,
    pub(super) last: Index,
}

impl Closed {
    pub(super) fn name(&self) -> String {
        closed_segment_name(self.first, self.last)
    }
}

#[derive(Debug)]
pub(super) struct Open {
    pub(super) counter: u64,
    pub(super) first: Index,
    pub(super) count: u64,
    pub(super) used: u64,
    pub(super) file: File,
    /// The same file open with `O_DIRECT`, where the file system allows it (not tmpfs).
    pub(super) direct: Option<File>,
    /// The block of direct writes to this segment (the log's when the segment was started).
    pub(super) block: u64,
    /// With `direct`, the file's bytes from the start of the block holding `used` up to
    /// `used`: what a direct write of the next batch writes again in front of it.
    pub(super) tail: Vec<u8>,
}

impl Open {
    /// Records `batch` as written at `used`.
    fn advance(&mut self, batch: &[u8]) {
        if self.direct.is_some() {
            self.tail = tail_after(self.used, &self.tail, batch, self.block);
        }
        self.used += batch.len() as u64;
    }
}

/// The segments and snapshots of a directory, after [`Log::load`].
#[derive(Debug)]
pub struct Log {
    pub(super) dir: PathBuf,
    pub(super) segment_size: u64,
    /// Whether a damaged open segment is cut after its last valid batch at load (the default)
    /// or makes the load fail, leaving the file as it is (`raft_uv_set_auto_recovery`).
    auto_recovery: bool,
    /// The block of direct writes for segments started from now on (planned_append.rs).
    pub(super) block: u64,
    pub(super) closed: Vec<Closed>,
    pub(super) open: Option<Open>,
    pub(super) next_counter: u64,
    /// Index of the last entry (or of the snapshot when no entry follows it); 0 for none.
    pub(super) last_index: Index,
    /// Term of the last entry or snapshot (for `recover`).
    pub(super) last_term: Term,
    pub(super) snapshots: BTreeSet<SnapshotName>,
    /// A snapshot being received in chunks (snapshot_stream.rs).
    pub(super) receiving: Option<Receiving>,
    /// A compressed snapshot expanded into a `tmp-` file to read chunks from (snapshot_stream.rs).
    pub(super) expanded: Option<(SnapshotName, PathBuf)>,
    /// Segments taken out to be closed beside appends whose closing failed, oldest first:
    /// still open on disk, before `open`; the next close of a segment closes them first
    /// (beside_appends.rs).
    pub(super) unclosed: Vec<Open>,
    /// An empty open segment made ahead of need, the next `open` (beside_appends.rs).
    pub(super) spare: Option<Spare>,
    /// How many bytes of the next spare to write with zeros (beside_appends.rs).
    pub(super) spare_zeroed: u64,
}

/// An open segment created ahead of need: its header written, its size allocated, synced.
#[derive(Debug)]
pub(super) struct Spare {
    pub(super) counter: u64,
    pub(super) file: File,
    pub(super) direct: Option<File>,
}

impl Log {
    /// A log of `dir`, not loaded yet (empty until [`Log::load`]).
    pub fn new(dir: &Path) -> Log {
        Log {
            dir: dir.to_path_buf(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            auto_recovery: true,
            block: DIRECT_BLOCK,
            closed: Vec::new(),
            open: None,
            next_counter: 1,
            last_index: 0,
            last_term: 0,
            snapshots: BTreeSet::new(),
            receiving: None,
            expanded: None,
            unclosed: Vec::new(),
            spare: None,
            spare_zeroed: 0,
        }
    }

    /// Sets the size past which an open segment is closed and a new one started.
    /// See the `auto_recovery` field.
    pub fn set_auto_recovery(&mut self, on: bool) {
        self.auto_recovery = on;
    }

    pub fn set_segment_size(&mut self, size: u64) {
        self.segment_size = size.max(SEGMENT_HEADER_LEN as u64 + 1);
    }

    pub fn last_index(&self) -> Index {
        self.last_index
    }

    /// True when the directory holds no segment and no snapshot (bootstrap is allowed).
    pub fn is_empty_on_disk(&self) -> Result<bool> {
        for name in list(&self.dir)? {
            match parse_file_name(&name) {
                FileName::ClosedSegment { .. }
                | FileName::OpenSegment { .. }
                | FileName::SnapshotMeta(_)
                | FileName::SnapshotData(_) => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }

    /// Reads the directory (disk-format.md §6): deletes `tmp-` files and orphan snapshot
    /// files, picks the latest snapshot, loads the closed segments that form a chain up to the
    /// end of the log, and turns open segments into closed ones (a torn tail, as a crash in
    /// the middle of an append leaves, is cut off). Corrupt closed segments are refused
    /// (`Corrupt`): unlike C-Raft's auto-recovery, committed entries are never dropped.
    pub fn load(&mut self) -> Result<Loaded> {
        self.finish_open()?;
        self.discard_spare();
        // Leftovers of a stream or an expansion are `tmp-` files, deleted by the listing.
        self.receiving = None;
        self.expanded = None;
        let listing = Listing::read(&self.dir)?;
        self.snapshots = listing.snapshots.clone();
        let snapshot = match self.snapshots.iter().next_back() {
            Some(name) => Some(self.read_snapshot(name)?),
            None => None,
        };
        let snapshot_index = snapshot.as_ref().map_or(0, |s| s.index);
        let chain = chain_to_load(&listing.closed, snapshot_index, !listing.open.is_empty())?;
        let mut entries = Vec::new();
        let start_index = chain.first().map_or(snapshot_index + 1, |c| c.first);
        let mut closed = Vec::new();
        let mut next = start_index;
        for segment in chain {
            if segment.first != next {
                return Err(Error::corrupt(format!(
                    "{}: the log has a gap before index {}",
                    segment.name(),
                    segment.first
                )));
            }
            entries.extend(self.read_closed(segment)?);
            closed.push(segment);
            next = segment.last + 1;
        }
        for counter in &listing.open {
            if let Some(segment) = self.recover_open(*counter, next, &mut entries)? {
                closed.push(segment);
                next = segment.last + 1;
            }
        }
        sync_dir(&self.dir)?;
        let last_index = next - 1;
        if snapshot_index > last_index {
            // Entries up to the snapshot are all in the snapshot: an empty log after it.
            if !entries.is_empty() {
                return Err(Error::corrupt(format!(
                    "the log ends at {last_index}, before the snapshot at {snapshot_index}"
                )));
            }
        }
        self.closed = closed;
        self.next_counter = listing.open.last().map_or(1, |c| c + 1);
        self.last_index = last_index.max(snapshot_index);
        self.last_term = match (entries.last(), &snapshot) {
            (Some(e), _) => e.term,
            (None, Some(s)) => s.term,
            (None, None) => 0,
        };
        Ok(Loaded { snapshot, start_index, entries })
    }

    /// Founds a cluster in a pristine directory: the closed segment `1-1` holding `conf`.
    /// The caller writes the metadata (term 1) after it.
    pub fn bootstrap(&mut self, conf: &Configuration) -> Result<()> {
        if !self.is_empty_on_disk()? {
            return Err(Error::new(ErrorKind::CantBootstrap, "the data directory is not empty"));
        }
        self.write_configuration_segment(1, 1, conf)?;
        self.closed = vec![Closed { first: 1, last: 1 }];
        self.last_index = 1;
        self.last_term = 1;
        Ok(())
    }

    /// Appends `conf` as a configuration entry after the last one (`raft_recover`), in a new
    /// closed segment. Loads the directory first.
    pub fn recover(&mut self, conf: &Configuration, term: Term) -> Result<()> {
        self.load()?;
        let index = self.last_index + 1;
        let term = term.max(self.last_term).max(1);
        self.write_configuration_segment(index, term, conf)?;
        self.closed.push(Closed { first: index, last: index });
        self.last_index = index;
        self.last_term = term;
        Ok(())
    }

    fn write_configuration_segment(
        &self,
        index: Index,
        term: Term,
        conf: &Configuration,
    ) -> Result<()> {
        let payload = crate::codec::configuration::encode(conf);
        let entry = Entry::new(term, EntryType::Change, payload);
        let bytes = encode_segment(&[&[entry]]).map_err(|e| Error::codec("segment", e))?;
        write_file_atomically(&self.dir, &closed_segment_name(index, index), &[&bytes])
    }

    /// Appends `entries` (indexes `last_index + 1 ...`) as one batch, durably.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch = encode_batch(entries).map_err(|e| Error::codec("append", e))?;
        let fits =
            self.open.as_ref().is_some_and(|o| o.used + batch_len(entries) <= self.segment_size);
        if !fits && self.open.as_ref().is_some_and(|o| o.count > 0) {
            self.finish_open()?;
        }
        if self.open.is_none() {
            self.start_open()?;
        }
        let Some(open) = self.open.as_mut() else {
            return Err(Error::new(ErrorKind::Io, "no open segment"));
        };
        let path = self.dir.join(open_segment_name(open.counter));
        let written = open.file.write_all_at(&batch, open.used);
        if let Err(e) = written.and_then(|_| open.file.sync_data()) {
            // Cut what may have been written, so that the next append starts at a batch
            // boundary; the entries count as not stored.
            let _ = open.file.set_len(open.used);
            return Err(Error::io("append to", &path, e));
        }
        open.advance(&batch);
        open.count += entries.len() as u64;
        self.last_index += entries.len() as u64;
        self.last_term = entries[entries.len() - 1].term;
        Ok(())
    }

    fn start_open(&mut self) -> Result<()> {
        if self.open_spare() {
            return Ok(());
        }
        let counter = self.next_counter;
        let spare = create_segment(&self.dir, counter, self.segment_size, 0)?;
        self.next_counter += 1;
        self.open = Some(self.open_of(spare));
        Ok(())
    }

    /// The open segment that `spare` becomes, its first entry the next one.
    pub(super) fn open_of(&self, spare: Spare) -> Open {
        Open {
            counter: spare.counter,
            first: self.last_index + 1,
            count: 0,
            used: SEGMENT_HEADER_LEN as u64,
            file: spare.file,
            direct: spare.direct,
            block: self.block,
            tail: encode_segment_header().to_vec(),
        }
    }

    /// Turns the open segment into the closed segment `FIRST-LAST` (or deletes it when it holds
    /// nothing), after the segments whose closing beside appends failed. Its content was
    /// synced by each append.
    pub fn finish_open(&mut self) -> Result<()> {
        let closed_unclosed = !self.unclosed.is_empty();
        while !self.unclosed.is_empty() {
            let oldest = self.unclosed.remove(0);
            match close_segment(&self.dir, oldest) {
                Ok(closed) => self.closed.extend(closed),
                Err((oldest, e)) => {
                    self.unclosed.insert(0, *oldest);
                    return Err(e);
                }
            }
        }
        if closed_unclosed && self.open.is_none() {
            return sync_dir(&self.dir);
        }
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        match close_segment(&self.dir, open) {
            Ok(closed) => self.closed.extend(closed),
            Err((open, e)) => {
                // It is still the open segment, on disk and here, and a later call closes it:
                // forgetting it would leave its entries out of the log the next load reads.
                self.open = Some(*open);
                return Err(e);
            }
        }
        sync_dir(&self.dir)
    }

    /// Deletes every entry from `index` on (disk-format.md §8). The closed segment holding
    /// `index` is rewritten without them (a new file, then the old one deleted).
    pub fn truncate(&mut self, index: Index) -> Result<()> {
        if index == 0 || index > self.last_index {
            return Ok(());
        }
        self.finish_open()?;
        while let Some(segment) = self.closed.last().copied() {
            if segment.last < index {
                break;
            }
            if segment.first < index {
                let kept = self.read_closed(segment)?;
                let kept = &kept[..(index - segment.first) as usize];
                let bytes = encode_segment(&[kept]).map_err(|e| Error::codec("truncate", e))?;
                let shorter = Closed { first: segment.first, last: index - 1 };
                write_file_atomically(&self.dir, &shorter.name(), &[&bytes])?;
                self.closed.pop();
                remove_file(&self.dir, &segment.name())?;
                self.closed.push(shorter);
                break;
            }
            remove_file(&self.dir, &segment.name())?;
            self.closed.pop();
        }
        sync_dir(&self.dir)?;
        self.last_index = index - 1;
        self.last_term = match self.closed.last() {
            Some(last) => self.read_closed(*last)?.last().map_or(0, |e| e.term),
            None => 0,
        };
        Ok(())
    }

    /// Stores `snapshot` (`.meta`, then data, each atomically), keeps the two newest snapshots
    /// and deletes the closed segments that end before `index - trailing + 1`; `trailing` 0
    /// (an installed snapshot) deletes the whole log, the next entry being `index + 1`.
    /// `timestamp` orders snapshots of equal term and index (C-Raft: the loop clock in ms).
    pub fn put_snapshot(
        &mut self,
        snapshot: &StoredSnapshot,
        trailing: u64,
        timestamp: u64,
    ) -> Result<()> {
        self.finish_open()?;
        let name = self.fresh_snapshot_name(snapshot.term, snapshot.index, timestamp);
        let meta = SnapshotMeta { conf_index: snapshot.conf_index, conf: snapshot.conf.clone() };
        write_snapshot_files(&self.dir, &name, &meta, &[&snapshot.data])?;
        self.adopt_snapshot(name, trailing)
    }

    /// A name for a new snapshot at `term`/`index` that no stored snapshot has.
    pub(super) fn fresh_snapshot_name(
        &self,
        term: Term,
        index: Index,
        timestamp: u64,
    ) -> SnapshotName {
        let mut name = SnapshotName { term, index, timestamp };
        while self.snapshots.contains(&name) {
            name.timestamp += 1;
        }
        name
    }

    /// Counts the snapshot `name`, whose files are written, as stored: keeps the two newest
    /// snapshots and deletes the segments it makes redundant (see [`Log::put_snapshot`]).
    pub(super) fn adopt_snapshot(&mut self, name: SnapshotName, trailing: u64) -> Result<()> {
        for file in self.count_snapshot(name, trailing) {
            remove_file(&self.dir, &file)?;
        }
        sync_dir(&self.dir)
    }

    /// What [`Log::adopt_snapshot`] does without touching the disk: the log counts the
    /// snapshot `name` and forgets what it makes redundant, whose files the caller deletes.
    pub(super) fn count_snapshot(&mut self, name: SnapshotName, trailing: u64) -> Vec<String> {
        let mut redundant = Vec::new();
        self.snapshots.insert(name);
        while self.snapshots.len() > SNAPSHOTS_KEPT {
            let Some(oldest) = self.snapshots.pop_first() else { break };
            redundant.push(oldest.meta_file_name());
            redundant.push(oldest.data_file_name());
            redundant.extend(self.forget_expansion_of(&oldest));
        }
        if trailing == 0 {
            redundant.extend(std::mem::take(&mut self.closed).iter().map(Closed::name));
            self.last_index = name.index;
            self.last_term = name.term;
        } else if name.index > trailing {
            let keep_from = name.index - trailing + 1;
            while self.closed.first().is_some_and(|s| s.last < keep_from) {
                redundant.push(self.closed.remove(0).name());
            }
        }
        redundant
    }

    /// The newest snapshot, or None.
    pub fn get_snapshot(&self) -> Result<Option<StoredSnapshot>> {
        match self.snapshots.iter().next_back() {
            Some(name) => self.read_snapshot(name).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn read_snapshot(&self, name: &SnapshotName) -> Result<StoredSnapshot> {
        let meta_name = name.meta_file_name();
        let meta_bytes = read(&self.dir, &meta_name)?;
        let meta = decode_snapshot_meta(&meta_bytes).map_err(|e| Error::codec(&meta_name, e))?;
        let data_name = name.data_file_name();
        let data = Bytes::from(read(&self.dir, &data_name)?);
        let data = decode_snapshot_data(data, DEFAULT_MAX_SNAPSHOT_LEN)
            .map_err(|e| Error::codec(&data_name, e))?;
        Ok(StoredSnapshot {
            term: name.term,
            index: name.index,
            conf: meta.conf,
            conf_index: meta.conf_index,
            data,
        })
    }

    fn read_closed(&self, segment: Closed) -> Result<Vec<Entry>> {
        let name = segment.name();
        let data = Bytes::from(read(&self.dir, &name)?);
        load_closed_segment(&data, segment.first, segment.last).map_err(|e| Error::codec(&name, e))
    }

    /// Loads `open-COUNTER` whose first entry is `first`: its valid batches are kept (the file
    /// cut after them and renamed `FIRST-LAST`), a torn tail dropped, an unused file deleted.
    fn recover_open(
        &self,
        counter: u64,
        first: Index,
        entries: &mut Vec<Entry>,
    ) -> Result<Option<Closed>> {
        let name = open_segment_name(counter);
        let path = self.dir.join(&name);
        let data = Bytes::from(read(&self.dir, &name)?);
        let segment = load_open_segment(&data).map_err(|e| Error::codec(&name, e))?;
        if let (false, SegmentEnd::Damaged { offset, discarded, .. }) =
            (self.auto_recovery, &segment.end)
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{name}: {discarded} damaged bytes at offset {offset} (auto-recovery is off: \
                     the file is left as it is)"
                ),
            ));
        }
        if segment.is_unused() {
            remove_file(&self.dir, &name)?;
            return Ok(None);
        }
        let closed = Closed { first, last: first + segment.entries.len() as u64 - 1 };
        let file =
            OpenOptions::new().write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
        file.set_len(segment.used_len as u64)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("truncate", &path, e))?;
        let target = self.dir.join(closed.name());
        fs::rename(&path, &target).map_err(|e| Error::io("rename", &target, e))?;
        entries.extend(segment.entries);
        Ok(Some(closed))
    }
}

impl Drop for Log {
    /// A clean shutdown leaves no open segment (disk-format.md §4.3).
    fn drop(&mut self) {
        let _ = self.finish_open();
        self.discard_spare();
    }
}

/// The files of a directory that the load looks at, after the clean-up of leftovers.
struct Listing {
    pub(super) closed: Vec<Closed>,
    open: Vec<u64>,
    snapshots: BTreeSet<SnapshotName>,
}

impl Listing {
    fn read(dir: &Path) -> Result<Listing> {
        let mut closed = Vec::new();
        let mut open = Vec::new();
        let mut data = BTreeSet::new();
        let mut metas = BTreeSet::new();
        for name in list(dir)? {
            match parse_file_name(&name) {
                FileName::ClosedSegment { first, last } if first >= 1 && first <= last => {
                    closed.push(Closed { first, last })
                }
                FileName::OpenSegment { counter } => open.push(counter),
                FileName::SnapshotData(s) if file_len(dir, &name)? > 0 => {
                    data.insert(s);
                }
                FileName::SnapshotMeta(s) => {
                    metas.insert(s);
                }
                FileName::Temporary => remove_file(dir, &name)?,
                _ => {}
            }
        }
        closed.sort_by_key(|c| (c.first, c.last));
        open.sort_unstable();
        let snapshots: BTreeSet<SnapshotName> = data.intersection(&metas).copied().collect();
        for orphan in data.symmetric_difference(&metas) {
            remove_file(dir, &orphan.meta_file_name())?;
            remove_file(dir, &orphan.data_file_name())?;
        }
        Ok(Listing { closed, open, snapshots })
    }
}

/// The closed segments to load (disk-format.md §6): with a snapshot at `snapshot_index`, the
/// newest contiguous run ending the log, which must reach back to `snapshot_index + 1`.
fn chain_to_load(closed: &[Closed], snapshot_index: Index, has_open: bool) -> Result<Vec<Closed>> {
    if snapshot_index == 0 {
        if let Some(first) = closed.first() {
            if first.first != 1 {
                return Err(Error::corrupt(format!(
                    "{}: the log starts at {}, not 1, and there is no snapshot",
                    first.name(),
                    first.first
                )));
            }
        }
        return Ok(closed.to_vec());
    }
    let Some(newest) = closed.last() else {
        return Ok(Vec::new());
    };
    if newest.last < snapshot_index && !has_open {
        return Ok(Vec::new());
    }
    let mut start = closed.len() - 1;
    while start > 0 && closed[start - 1].last + 1 == closed[start].first {
        start -= 1;
    }
    if closed[start].first > snapshot_index + 1 {
        return Err(Error::corrupt(format!(
            "{}: the log starts after the snapshot at {snapshot_index}",
            closed[start].name()
        )));
    }
    Ok(closed[start..].to_vec())
}

fn list(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    fs::read(&path).map_err(|e| Error::io("read", &path, e))
}

fn file_len(dir: &Path, name: &str) -> Result<u64> {
    let path = dir.join(name);
    fs::metadata(&path).map(|m| m.len()).map_err(|e| Error::io("stat", &path, e))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::vocab::Role;

    /// A fresh directory under the system's temporary one, deleted when dropped.
    pub(in crate::storage) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(in crate::storage) fn new(name: &str) -> TempDir {
            let path =
                std::env::temp_dir().join(format!("raft-storage-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub(in crate::storage) fn conf() -> Configuration {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:9001", Role::Voter).unwrap();
        conf
    }

    pub(in crate::storage) fn command(value: u64) -> Entry {
        Entry::new(2, EntryType::Command, value.to_le_bytes().to_vec())
    }

    pub(in crate::storage) fn values(entries: &[Entry]) -> Vec<u64> {
        entries[1..]
            .iter()
            .map(|e| u64::from_le_bytes(e.payload[..8].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn appends_truncations_and_segments_read_back() {
        let dir = TempDir::new("log");
        let mut log = Log::new(&dir.0);
        log.set_segment_size(100);
        log.bootstrap(&conf()).unwrap();
        for v in 2..=20 {
            log.append(&[command(v)]).unwrap();
        }
        log.truncate(15).unwrap();
        log.append(&[command(100), command(101)]).unwrap();
        drop(log);
        let mut log = Log::new(&dir.0);
        let loaded = log.load().unwrap();
        assert_eq!(loaded.start_index, 1);
        let mut expected: Vec<u64> = (2..15).collect();
        expected.extend([100, 101]);
        assert_eq!(values(&loaded.entries), expected);
        assert_eq!(log.last_index(), 16);
    }

    #[test]
    fn bootstrap_refuses_a_directory_with_a_log() {
        let dir = TempDir::new("bootstrap");
        let mut log = Log::new(&dir.0);
        log.bootstrap(&conf()).unwrap();
        let e = Log::new(&dir.0).bootstrap(&conf()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::CantBootstrap);
    }

    #[test]
    fn a_snapshot_keeps_its_trailing_entries_and_an_installed_one_replaces_the_log() {
        let dir = TempDir::new("snapshot");
        let mut log = Log::new(&dir.0);
        log.set_segment_size(64);
        log.bootstrap(&conf()).unwrap();
        for v in 2..=30 {
            log.append(&[command(v)]).unwrap();
        }
        let snapshot = |index| StoredSnapshot {
            term: 2,
            index,
            conf: conf(),
            conf_index: 1,
            data: Bytes::from_static(b"snapshot"),
        };
        log.put_snapshot(&snapshot(25), 5, 1).unwrap();
        let loaded = Log::new(&dir.0).load().unwrap();
        assert_eq!(loaded.snapshot.as_ref().map(|s| s.index), Some(25));
        assert!(loaded.start_index > 1 && loaded.start_index <= 21, "{}", loaded.start_index);
        assert_eq!(loaded.start_index + loaded.entries.len() as u64 - 1, 30);

        log.put_snapshot(&snapshot(50), 0, 2).unwrap();
        log.append(&[command(51)]).unwrap();
        drop(log);
        let loaded = Log::new(&dir.0).load().unwrap();
        assert_eq!(loaded.start_index, 51);
        assert_eq!(loaded.entries.len(), 1);
        let snapshots = fs::read_dir(&dir.0)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".meta"))
            .count();
        assert_eq!(snapshots, 2, "the two newest snapshots are kept");
    }
}
