//! Disk work that runs beside appends, holding the log's lock only to read and change its state,
//! never across a write or a sync: the snapshot put that keeps trailing entries (a node takes
//! one every few thousand entries) and the spare segment made ahead of need.
//!
//! A put at index I first closes the open segment, as C-Raft does: its loader numbers the
//! entries of an open segment from the snapshot's index on when no closed segment follows the
//! snapshot, so an open segment holding entries up to I must become `FIRST-LAST` before the
//! snapshot's files appear. Done in line, that close, the snapshot's two files and the deletion
//! of what it makes redundant are ten syncs or so that every append waits behind. Here the open
//! segment is taken out of the log between two appends ([`Log::detach_open_segment`]), the
//! spare segment takes its place without touching the disk, and appends go on into the spare
//! while [`put_snapshot_beside_appends`] closes the detached segment and writes the snapshot.
//! [`prepare_spare_segment`] then makes the next spare, as C-Raft keeps segments prepared.
//!
//! The caller runs nothing else that closes a segment (a full segment, a truncation, another
//! snapshot, a received snapshot) while this work is out: the closed segments stay in order.

use std::sync::{Mutex, MutexGuard};

use super::files::{close_segment, create_segment, write_snapshot_files};
use super::log::{Log, Open, SnapshotHeader, Spare};
use super::{remove_file, sync_dir, Error, ErrorKind, Result};
use crate::codec::disk::batch::batch_len;
use crate::codec::disk::names::open_segment_name;
use crate::codec::disk::snapshot::SnapshotMeta;
use crate::codec::Entry;

/// The bounds of the part of a spare segment written with zeros ahead of the appends (see
/// `create_segment`): twice what the segment it follows used, within these.
const SPARE_ZEROED_MIN: u64 = 256 * 1024;
const SPARE_ZEROED_MAX: u64 = 2 * 1024 * 1024;

/// The open segment taken out of the log for a snapshot put beside appends.
#[derive(Debug)]
pub struct Detached(Open);

impl Log {
    /// Takes the open segment out of the log if it holds entries (an empty one can stay: the
    /// entries it will get come after the snapshot), for [`put_snapshot_beside_appends`] to
    /// close; the spare segment, if there is one, becomes the open one. Call it with no append
    /// in flight.
    pub fn detach_open_segment(&mut self) -> Option<Detached> {
        if !self.open.as_ref().is_some_and(|o| o.count > 0) {
            return None;
        }
        let open = self.open.take()?;
        // The next segment will likely hold about what this one did, until the next put.
        self.spare_zeroed = (2 * open.used).clamp(SPARE_ZEROED_MIN, SPARE_ZEROED_MAX);
        self.open_spare();
        Some(Detached(open))
    }

    /// Makes the spare segment the open one when none is open (nothing is written). Returns
    /// whether it did.
    pub fn open_spare(&mut self) -> bool {
        if self.open.is_some() {
            return false;
        }
        let Some(spare) = self.spare.take() else {
            return false;
        };
        self.open = Some(self.open_of(spare));
        true
    }

    /// Whether appending `entries` closes the open segment first (it has no room left for
    /// them): such an append must not run beside a snapshot put.
    pub fn append_closes_segment(&self, entries: &[Entry]) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.count > 0 && o.used + batch_len(entries) > self.segment_size)
    }

    /// Whether a spare segment is ready.
    pub fn has_spare(&self) -> bool {
        self.spare.is_some()
    }

    /// Deletes the spare segment, if there is one (a clean shutdown leaves no open segment).
    pub fn discard_spare(&mut self) {
        if let Some(spare) = self.spare.take() {
            let counter = spare.counter;
            drop(spare);
            let _ = remove_file(&self.dir, &open_segment_name(counter));
        }
    }
}

fn lock(log: &Mutex<Log>) -> Result<MutexGuard<'_, Log>> {
    log.lock().map_err(|_| Error::new(ErrorKind::Io, "log poisoned"))
}

/// Stores the snapshot `header` whose data is `data` (the parts one after the other, written
/// from where they are) keeping `trailing` entries (not 0: an installed snapshot replaces the
/// log and runs alone), after closing `detached` (see [`Log::detach_open_segment`]): what
/// [`Log::put_snapshot`] does, while appends go on. A segment that cannot be closed stays open
/// on disk and in the log, which closes it later; the snapshot is then not written.
pub fn put_snapshot_beside_appends(
    log: &Mutex<Log>,
    detached: Option<Detached>,
    header: &SnapshotHeader,
    data: &[&[u8]],
    trailing: u64,
    timestamp: u64,
) -> Result<()> {
    if trailing == 0 {
        return Err(Error::new(ErrorKind::Invalid, "an installed snapshot is put alone"));
    }
    let (dir, mut to_close) = {
        let mut log = lock(log)?;
        (log.dir.clone(), std::mem::take(&mut log.unclosed))
    };
    // Segments earlier puts failed to close go first: the closed segments stay in order.
    to_close.extend(detached.map(|Detached(open)| open));
    let closed_any = !to_close.is_empty();
    let mut to_close = to_close.into_iter();
    while let Some(open) = to_close.next() {
        match close_segment(&dir, open) {
            Ok(closed) => lock(log)?.closed.extend(closed),
            Err((open, e)) => {
                // Still open on disk, and the ones after it not closed yet: the log closes
                // them later, in the same order.
                let mut log = lock(log)?;
                log.unclosed = std::iter::once(*open).chain(to_close).collect();
                return Err(e);
            }
        }
    }
    if closed_any {
        // The closed segments' new names are durable before the snapshot's names are.
        sync_dir(&dir)?;
    }
    let name = lock(log)?.fresh_snapshot_name(header.term, header.index, timestamp);
    let meta = SnapshotMeta { conf_index: header.conf_index, conf: header.conf.clone() };
    write_snapshot_files(&dir, &name, &meta, data)?;
    // Deleted without a sync: what a crash brings back is an older snapshot or segment the
    // next load passes over, and the next put's sync makes the deletions durable.
    let redundant = lock(log)?.count_snapshot(name, trailing);
    for file in redundant {
        remove_file(&dir, &file)?;
    }
    Ok(())
}

/// Creates the spare segment, if there is none, under the next segment counter.
pub fn prepare_spare_segment(log: &Mutex<Log>) -> Result<()> {
    let Some((dir, counter, size, zeroed)) = reserve_spare(log)? else {
        return Ok(());
    };
    let spare = create_segment(&dir, counter, size, zeroed)?;
    offer_spare(log, spare)
}

/// The directory, counter, size and zeroed part of a spare to make, the counter taken; None
/// when the log has a spare.
fn reserve_spare(log: &Mutex<Log>) -> Result<Option<(std::path::PathBuf, u64, u64, u64)>> {
    let mut log = lock(log)?;
    if log.spare.is_some() {
        return Ok(None);
    }
    let counter = log.next_counter;
    log.next_counter += 1;
    Ok(Some((log.dir.clone(), counter, log.segment_size, log.spare_zeroed)))
}

/// Makes `spare` the log's spare, unless a segment with a higher counter was started while it
/// was made: segments are loaded in the order of their counters, so a spare must come after
/// every segment; it is deleted then.
fn offer_spare(log: &Mutex<Log>, spare: Spare) -> Result<()> {
    let mut guard = lock(log)?;
    let newer_started = guard.open.as_ref().is_some_and(|o| o.counter > spare.counter);
    if guard.spare.is_none() && !newer_started {
        guard.spare = Some(spare);
        return Ok(());
    }
    let dir = guard.dir.clone();
    drop(guard);
    let counter = spare.counter;
    drop(spare);
    remove_file(&dir, &open_segment_name(counter))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::codec::disk::names::open_segment_name;
    use crate::storage::log::tests::{command, conf, values, TempDir};

    fn header(index: u64) -> SnapshotHeader {
        SnapshotHeader { term: 1, index, conf: conf(), conf_index: 1 }
    }

    /// A log in a fresh directory `name`, bootstrapped and loaded.
    fn bootstrapped(name: &str) -> (TempDir, Mutex<Log>) {
        let dir = TempDir::new(name);
        let log = Mutex::new(Log::new(&dir.0));
        log.lock().unwrap().bootstrap(&conf()).unwrap();
        log.lock().unwrap().load().unwrap();
        (dir, log)
    }

    fn append(log: &Mutex<Log>, from: u64, to: u64) {
        let entries: Vec<Entry> = (from..=to).map(command).collect();
        log.lock().unwrap().append(&entries).unwrap();
    }

    /// A put beside appends: the detached segment is closed, the spare took its place at once
    /// and got the appends made meanwhile, and a reload sees the snapshot and every entry.
    #[test]
    fn appends_go_on_into_the_spare_while_the_snapshot_is_stored() {
        let (dir, log) = bootstrapped("beside-appends");
        append(&log, 2, 20);
        prepare_spare_segment(&log).unwrap();
        let spare_counter = log.lock().unwrap().spare.as_ref().unwrap().counter;

        let detached = log.lock().unwrap().detach_open_segment();
        assert!(detached.is_some());
        // The next spare gets twice what this segment used written with zeros, within bounds.
        assert_eq!(log.lock().unwrap().spare_zeroed, SPARE_ZEROED_MIN);
        // The spare is the open segment now: appends need no new file.
        append(&log, 21, 25);
        assert_eq!(log.lock().unwrap().open.as_ref().unwrap().counter, spare_counter);
        put_snapshot_beside_appends(&log, detached, &header(18), &[b"at-", b"18"], 4, 7).unwrap();
        append(&log, 26, 26);

        let mut reopened = Log::new(&dir.0);
        drop(log);
        let loaded = reopened.load().unwrap();
        let snapshot = loaded.snapshot.unwrap();
        assert_eq!((snapshot.index, &snapshot.data[..]), (18, &b"at-18"[..]));
        assert!(loaded.start_index <= 15, "the trailing entries are kept");
        let last = loaded.start_index + loaded.entries.len() as u64 - 1;
        assert_eq!(last, 26);
        assert_eq!(values(&loaded.entries).last(), Some(&26));
    }

    /// The segment holding entries up to the snapshot is closed before the snapshot's files
    /// are written, so that C-Raft's loader, which numbers an open segment's entries from the
    /// snapshot on, never sees the snapshot beside it.
    #[test]
    fn the_segment_is_closed_before_the_snapshot_appears() {
        let (dir, log) = bootstrapped("beside-appends-order");
        append(&log, 2, 9);
        let detached = log.lock().unwrap().detach_open_segment();
        put_snapshot_beside_appends(&log, detached, &header(9), &[b"at-9"], 2, 1).unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with("open-")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("-0000000000000009")), "{names:?}");
    }

    /// A spare made while a newer segment was started is deleted, not used: segments are
    /// loaded in the order of their counters, so a spare may only come after every segment.
    #[test]
    fn a_spare_older_than_the_open_segment_is_discarded() {
        let (dir, log) = bootstrapped("beside-appends-stale-spare");
        let (_, stale, size, zeroed) = reserve_spare(&log).unwrap().unwrap();
        append(&log, 2, 3); // starts a segment with a newer counter
        let spare = create_segment(&dir.0, stale, size, zeroed).unwrap();
        assert!(dir.0.join(open_segment_name(stale)).exists());
        offer_spare(&log, spare).unwrap();
        assert!(!log.lock().unwrap().has_spare());
        assert!(!dir.0.join(open_segment_name(stale)).exists());

        // Made after it, a spare is kept and becomes the next open segment.
        prepare_spare_segment(&log).unwrap();
        let mut l = log.lock().unwrap();
        let spare_counter = l.spare.as_ref().unwrap().counter;
        assert!(spare_counter > l.open.as_ref().unwrap().counter);
        l.finish_open().unwrap();
        l.append(&[command(4)]).unwrap();
        assert_eq!(l.open.as_ref().unwrap().counter, spare_counter);
    }
}
