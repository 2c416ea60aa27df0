//! Appends that a caller writes itself (raft_uv through io_uring): [`Log::plan_append`]
//! prepares the write of a batch that fits in the open segment, the caller makes it durable,
//! and [`Log::complete_append`] counts it. Where the segment is open with `O_DIRECT`, the write
//! covers whole blocks (`raft_uv_set_block_size`): the segment's last partial block again,
//! kept in memory, then the batch, then zeros, as C-Raft writes its segments.

use std::os::fd::{AsRawFd, RawFd};

use super::log::Log;
use super::{Error, ErrorKind, Result};
use crate::codec::disk::batch::{batch_len, encode_batch};
use crate::codec::disk::names::open_segment_name;
use crate::codec::Entry;
use crate::vocab::Term;

/// The default block of direct writes (`O_DIRECT`), to which their offsets and lengths are
/// aligned (`raft_uv_set_block_size` changes it); their buffers are always aligned to it.
pub(super) const DIRECT_BLOCK: u64 = 4096;

/// The block sizes `set_block_size` accepts: those `O_DIRECT` can use.
const BLOCK_SIZES: std::ops::RangeInclusive<u64> = 512..=(1 << 20);

/// A write of the open segment prepared for a caller that does it itself (see
/// [`Log::plan_append`]): `bytes()` at `offset` of the file open on `fd`, which stays open
/// until the append is completed or the log is dropped. With `O_DIRECT` the write covers whole
/// blocks: the segment's last partial block again (its bytes unchanged), the batch, and zeros
/// up to the next block boundary (an open segment's tail is zeros anyway).
#[derive(Debug)]
pub struct PlannedAppend {
    /// The segment's file name, for messages.
    pub segment: String,
    pub fd: RawFd,
    /// Whether `fd` is open with `O_DIRECT` (the write must not be split).
    pub direct: bool,
    counter: u64,
    pub offset: u64,
    buf: Vec<u8>,
    start: usize,
    len: usize,
    /// The segment's used size before and after the batch, and its last partial block after.
    used_before: u64,
    used_after: u64,
    tail_after: Vec<u8>,
    count: u64,
    last_term: Term,
}

impl PlannedAppend {
    /// The bytes to write at `offset` (aligned to the segment's block for a direct write).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// The start of the block of `block` bytes holding `offset`.
fn block_start(offset: u64, block: u64) -> u64 {
    offset - offset % block
}

/// A buffer of `len` zeros whose first byte is aligned to [`DIRECT_BLOCK`]: the vector and
/// where that byte is in it. (Allocated larger and offset, so that an ordinary vector serves;
/// it is never grown, so the address stays.)
fn aligned_zeros(len: usize) -> (Vec<u8>, usize) {
    let buf = vec![0u8; len + DIRECT_BLOCK as usize];
    let start = buf.as_ptr().align_offset(DIRECT_BLOCK as usize);
    (buf, start)
}

/// The last partial block (of `block` bytes) of a segment used up to `used`, whose last
/// partial block is `tail`, once `batch` is written at `used`: at most a block, whatever the
/// batch's size.
pub(super) fn tail_after(used: u64, tail: &[u8], batch: &[u8], block: u64) -> Vec<u8> {
    let new_used = used + batch.len() as u64;
    let kept = (new_used - block_start(new_used, block)) as usize;
    if kept <= batch.len() {
        // The batch reaches (or starts) the block that is now the last.
        return batch[batch.len() - kept..].to_vec();
    }
    // Still the block the tail was in.
    let mut joined = Vec::with_capacity(kept);
    joined.extend_from_slice(tail);
    joined.extend_from_slice(batch);
    joined
}

impl Log {
    /// Sets the block of direct writes (`raft_uv_set_block_size`): a power of two from 512
    /// bytes to 1 MiB, else nothing changes and false is returned. Segments started from now on
    /// use it.
    pub fn set_block_size(&mut self, size: u64) -> bool {
        let valid = size.is_power_of_two() && BLOCK_SIZES.contains(&size);
        if valid {
            self.block = size;
        }
        valid
    }

    /// An append that fits in the open segment, prepared for a caller that writes it itself
    /// (raft_uv through io_uring): the encoded batch and where it goes. None when the batch
    /// needs a new segment (or there are no entries): [`Log::append`] then does it all. The
    /// log changes only with [`Log::complete_append`], once the caller made the batch durable;
    /// a failed write needs nothing (the next batch goes to the same offset, and a loader stops
    /// at the first damaged batch of an open segment).
    pub fn plan_append(&self, entries: &[Entry]) -> Result<Option<PlannedAppend>> {
        let Some(open) = &self.open else {
            return Ok(None);
        };
        if entries.is_empty() || open.used + batch_len(entries) > self.segment_size {
            return Ok(None);
        }
        let batch = encode_batch(entries).map_err(|e| Error::codec("append", e))?;
        let used_after = open.used + batch.len() as u64;
        let (fd, direct, offset, buf, start, len, tail_after) = match &open.direct {
            Some(direct) => {
                let tail_after = tail_after(open.used, &open.tail, &batch, open.block);
                let offset = block_start(open.used, open.block);
                let end = used_after.div_ceil(open.block) * open.block;
                let len = (end - offset) as usize;
                let (mut buf, start) = aligned_zeros(len);
                let tail_len = open.tail.len();
                buf[start..start + tail_len].copy_from_slice(&open.tail);
                buf[start + tail_len..start + tail_len + batch.len()].copy_from_slice(&batch);
                (direct.as_raw_fd(), true, offset, buf, start, len, tail_after)
            }
            None => {
                let len = batch.len();
                (open.file.as_raw_fd(), false, open.used, batch, 0, len, Vec::new())
            }
        };
        Ok(Some(PlannedAppend {
            segment: open_segment_name(open.counter),
            fd,
            direct,
            counter: open.counter,
            offset,
            buf,
            start,
            len,
            used_before: open.used,
            used_after,
            tail_after,
            count: entries.len() as u64,
            last_term: entries[entries.len() - 1].term,
        }))
    }

    /// Records an append prepared by [`Log::plan_append`] as durable. Refused when the open
    /// segment changed since (nothing else may touch the log while the write is out).
    pub fn complete_append(&mut self, planned: &PlannedAppend) -> Result<()> {
        match self.open.as_mut() {
            Some(open) if open.counter == planned.counter && open.used == planned.used_before => {
                open.used = planned.used_after;
                open.tail = planned.tail_after.clone();
                open.count += planned.count;
                self.last_index += planned.count;
                self.last_term = planned.last_term;
                Ok(())
            }
            _ => Err(Error::new(ErrorKind::Io, "the open segment changed during an append")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    use super::*;
    use crate::storage::log::tests::{command, conf, values, TempDir};
    use crate::vocab::EntryType;

    /// Writes a planned append as its caller would (raft_uv through io_uring), through the
    /// same file the plan names.
    fn write_planned(log: &Log, planned: &PlannedAppend) {
        let open = log.open.as_ref().unwrap();
        let file = if planned.direct { open.direct.as_ref().unwrap() } else { &open.file };
        file.write_all_at(planned.bytes(), planned.offset).unwrap();
        file.sync_data().unwrap();
    }

    /// Appends 300 batches of 8 to 1,600 bytes through plans (so that batches start and end
    /// anywhere in a block), with direct writes of `block` bytes, and reads them back.
    fn planned_appends_read_back(name: &str, block: Option<u64>) {
        let dir = TempDir::new(name);
        let mut log = Log::new(&dir.0);
        log.set_segment_size(64 * 1024);
        if let Some(block) = block {
            assert!(log.set_block_size(block));
        }
        let block = block.unwrap_or(DIRECT_BLOCK);
        log.bootstrap(&conf()).unwrap();
        let mut expected = Vec::new();
        let mut planned_count = 0;
        for v in 2..300u64 {
            let len = 8 * (1 + (v * 37 % 200) as usize);
            let mut payload = vec![(v % 251) as u8; len];
            payload[..8].copy_from_slice(&v.to_le_bytes());
            let entry = Entry::new(2, EntryType::Command, payload);
            match log.plan_append(std::slice::from_ref(&entry)).unwrap() {
                Some(planned) => {
                    if planned.direct {
                        assert_eq!(planned.offset % block, 0);
                        assert_eq!(planned.bytes().len() as u64 % block, 0);
                        assert_eq!(planned.bytes().as_ptr().align_offset(4096), 0);
                    }
                    write_planned(&log, &planned);
                    log.complete_append(&planned).unwrap();
                    planned_count += 1;
                }
                None => log.append(&[entry]).unwrap(), // a new segment
            }
            expected.push(v);
        }
        assert!(planned_count > 250, "most appends fit the open segment: {planned_count}");
        drop(log);
        let loaded = Log::new(&dir.0).load().unwrap();
        assert_eq!(values(&loaded.entries), expected);
    }

    #[test]
    fn planned_appends_rewrite_the_last_block_and_read_back() {
        planned_appends_read_back("planned", None);
    }

    #[test]
    fn the_block_of_direct_writes_can_be_set() {
        planned_appends_read_back("planned-8k", Some(8192));
        let mut log = Log::new(Path::new("/nonexistent"));
        for refused in [0, 256, 1000, 3 * 1024, 2 << 20] {
            assert!(!log.set_block_size(refused), "{refused}");
        }
        assert_eq!(log.block, DIRECT_BLOCK, "a refused size changes nothing");
    }

    #[test]
    fn a_planned_append_not_completed_leaves_the_log_as_it_was() {
        let dir = TempDir::new("planned-lost");
        let mut log = Log::new(&dir.0);
        log.bootstrap(&conf()).unwrap();
        log.append(&[command(2)]).unwrap();
        // Planned, never written (the write failed): the next append goes to the same place.
        let lost = log.plan_append(&[command(3)]).unwrap().unwrap();
        let next = log.plan_append(&[command(4)]).unwrap().unwrap();
        assert_eq!(next.offset, lost.offset);
        write_planned(&log, &next);
        log.complete_append(&next).unwrap();
        assert!(log.complete_append(&lost).is_err(), "a stale plan is refused");
        drop(log);
        let loaded = Log::new(&dir.0).load().unwrap();
        assert_eq!(values(&loaded.entries), [2, 4]);
    }

    #[test]
    fn the_kept_tail_is_the_last_partial_block_whatever_the_batch() {
        let header = [7u8; 8];
        // Within the first block: header and batch together.
        let small = tail_after(8, &header, &[1; 100], 4096);
        assert_eq!(small.len(), 108);
        assert_eq!(&small[..8], &header);
        // A batch past several blocks: only its end, in the block now last.
        let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let tail = tail_after(8, &header, &big, 4096);
        assert_eq!(tail.len(), (8 + 10_000) % 4096);
        assert_eq!(tail, &big[big.len() - tail.len()..]);
        // Ending exactly on a block boundary: nothing partial.
        assert!(tail_after(8, &header, &[0; 4088], 4096).is_empty());
    }
}
