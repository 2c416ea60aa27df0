//! Snapshots streamed in chunks (libraft-rs extension, docs/snapshots.md), in the data
//! directory.
//!
//! Receiving: the chunks of a snapshot are written, in order, to `tmp-stream-TERM-INDEX` as
//! they arrive; the last one makes it a snapshot (the data synced and renamed into place, its
//! `.meta` written), exactly the files `put_snapshot` leaves. An interrupted stream leaves only
//! a `tmp-` file, which the next load deletes, so the directory stays one C-Raft can read.
//! Chunks before the last are not synced one by one: a follower that restarts has forgotten
//! the stream and answers the leader that it holds none, so nothing before the last chunk is
//! ever counted on across a crash; the last chunk syncs the whole file before the snapshot
//! exists.
//!
//! Sending: a leader reads each chunk from its snapshot's data file at the chunk's offset. A
//! data file C-Raft compressed (LZ4) is expanded once into a `tmp-` file to read from, through
//! a streaming decoder, so the snapshot is never held in memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;

use bytes::Bytes;

use super::log::{Log, SnapshotHeader};
use super::{remove_file, write_file_atomically, Error, ErrorKind, Result};
use crate::codec::disk::names::SnapshotName;
use crate::codec::disk::snapshot::{
    decode_snapshot_meta, encode_snapshot_meta, is_lz4_frame, SnapshotMeta,
};
use crate::vocab::{Configuration, Index, Term};

/// The snapshot being received: the chunks written so far, in `tmp-stream-TERM-INDEX`.
#[derive(Debug)]
pub struct Receiving {
    term: Term,
    index: Index,
    file: File,
    name: String,
    len: u64,
}

impl Log {
    /// Writes a chunk of the snapshot at `term`/`index` at `offset`. A chunk at offset 0 starts
    /// the snapshot over (whatever was received of any snapshot is dropped); any other must
    /// follow the previous chunk of the same snapshot.
    pub fn store_snapshot_chunk(
        &mut self,
        term: Term,
        index: Index,
        offset: u64,
        data: &[u8],
    ) -> Result<()> {
        if offset == 0 {
            self.start_receiving(term, index)?;
        }
        let dir = self.dir.clone();
        let receiving = self.receiving_at(term, index, offset)?;
        let write = receiving.file.write_all_at(data, offset);
        write.map_err(|e| Error::io("write", &dir.join(&receiving.name), e))?;
        receiving.len = offset + data.len() as u64;
        Ok(())
    }

    /// Writes the last chunk (at `offset`) and makes the received snapshot a stored one, in
    /// place of the log (as an installed snapshot does: `put_snapshot` with no trailing
    /// entries). Returns the snapshot's data, read back for the state machine's restore.
    pub fn finish_snapshot_stream(
        &mut self,
        snapshot: &SnapshotHeader,
        offset: u64,
        data: &[u8],
        timestamp: u64,
    ) -> Result<Bytes> {
        self.store_snapshot_chunk(snapshot.term, snapshot.index, offset, data)?;
        let Some(receiving) = self.receiving.take() else {
            unreachable!("store_snapshot_chunk leaves the stream it wrote to");
        };
        let from = self.dir.join(&receiving.name);
        receiving.file.sync_data().map_err(|e| Error::io("sync", &from, e))?;
        drop(receiving.file);
        self.finish_open()?;
        let meta = SnapshotMeta { conf_index: snapshot.conf_index, conf: snapshot.conf.clone() };
        let meta_bytes = encode_snapshot_meta(&meta).map_err(|e| Error::codec("snapshot", e))?;
        let name = self.fresh_snapshot_name(snapshot.term, snapshot.index, timestamp);
        write_file_atomically(&self.dir, &name.meta_file_name(), &[&meta_bytes])?;
        let to = self.dir.join(name.data_file_name());
        fs::rename(&from, &to).map_err(|e| Error::io("rename", &to, e))?;
        self.adopt_snapshot(name, 0)?;
        let data = fs::read(&to).map_err(|e| Error::io("read", &to, e))?;
        Ok(Bytes::from(data))
    }

    /// Bytes `offset .. offset + len` of the newest stored snapshot at `index`.
    pub fn read_snapshot_chunk(&mut self, index: Index, offset: u64, len: u64) -> Result<Vec<u8>> {
        let name = self.newest_snapshot_at(index)?;
        let path = self.plain_data_path(&name)?;
        let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let len = usize::try_from(len)
            .map_err(|_| Error::new(ErrorKind::Invalid, format!("chunk of {len} bytes")))?;
        let mut out = vec![0; len];
        file.read_exact_at(&mut out, offset).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::new(
                ErrorKind::Invalid,
                format!("{}: no bytes {offset}..+{len} in the snapshot", path.display()),
            ),
            _ => Error::io("read", &path, e),
        })?;
        Ok(out)
    }

    /// The configuration (and its index) of the newest stored snapshot at `index`.
    pub fn snapshot_configuration(&self, index: Index) -> Result<(Configuration, Index)> {
        let name = self.newest_snapshot_at(index)?;
        let meta_name = name.meta_file_name();
        let path = self.dir.join(&meta_name);
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta = decode_snapshot_meta(&bytes).map_err(|e| Error::codec(&meta_name, e))?;
        Ok((meta.conf, meta.conf_index))
    }

    fn newest_snapshot_at(&self, index: Index) -> Result<SnapshotName> {
        let found = self.snapshots.iter().rev().find(|s| s.index == index).copied();
        found.ok_or_else(|| Error::new(ErrorKind::Invalid, format!("no snapshot at index {index}")))
    }

    /// Forgets the expanded copy of `name`'s data, if there is one: the name of its file,
    /// for the caller to delete.
    pub(super) fn forget_expansion_of(&mut self, name: &SnapshotName) -> Option<String> {
        if !self.expanded.as_ref().is_some_and(|(expanded, _)| expanded == name) {
            return None;
        }
        let (_, path) = self.expanded.take()?;
        path.file_name().and_then(|f| f.to_str()).map(str::to_owned)
    }

    fn start_receiving(&mut self, term: Term, index: Index) -> Result<()> {
        if let Some(old) = self.receiving.take() {
            remove_file(&self.dir, &old.name)?;
        }
        let name = format!("tmp-stream-{term}-{index}");
        let path = self.dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        self.receiving = Some(Receiving { term, index, file, name, len: 0 });
        Ok(())
    }

    /// The stream a chunk at `offset` of `term`/`index` continues.
    fn receiving_at(&mut self, term: Term, index: Index, offset: u64) -> Result<&mut Receiving> {
        let Some(r) = &self.receiving else {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("chunk at offset {offset} of snapshot {term}/{index} without its start"),
            ));
        };
        if (r.term, r.index, r.len) != (term, index, offset) {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!(
                    "chunk at offset {offset} of snapshot {term}/{index} while {} bytes of \
                     snapshot {}/{} are stored",
                    r.len, r.term, r.index
                ),
            ));
        }
        Ok(self.receiving.as_mut().expect("just checked"))
    }

    /// The path of `name`'s data as plain bytes: its data file, or an expanded copy of it
    /// when it is compressed.
    fn plain_data_path(&mut self, name: &SnapshotName) -> Result<PathBuf> {
        let path = self.dir.join(name.data_file_name());
        if !is_compressed(&path)? {
            return Ok(path);
        }
        if let Some((expanded, plain)) = &self.expanded {
            if expanded == name {
                return Ok(plain.clone());
            }
        }
        if let Some((old, _)) = self.expanded.clone() {
            if let Some(file) = self.forget_expansion_of(&old) {
                remove_file(&self.dir, &file)?;
            }
        }
        let plain = self.dir.join(format!("tmp-plain-{}", name.data_file_name()));
        expand(&path, &plain)?;
        self.expanded = Some((*name, plain.clone()));
        Ok(plain)
    }
}

fn is_compressed(path: &std::path::Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut magic = [0u8; 4];
    match file.read_exact_at(&mut magic, 0) {
        Ok(()) => Ok(is_lz4_frame(&magic)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Decompresses the LZ4 frame in `from` into `to`, streaming.
fn expand(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    let input = File::open(from).map_err(|e| Error::io("open", from, e))?;
    let mut output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| Error::io("create", to, e))?;
    let mut decoder = lz4_flex::frame::FrameDecoder::new(io::BufReader::new(input));
    io::copy(&mut decoder, &mut output)
        .map_err(|e| Error::corrupt(format!("{}: LZ4 snapshot: {e}", from.display())))?;
    output.flush().map_err(|e| Error::io("write", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::log::tests::{conf, TempDir};
    use crate::storage::StoredSnapshot;

    fn streamed(index: Index) -> SnapshotHeader {
        SnapshotHeader { term: 3, index, conf: conf(), conf_index: 1 }
    }

    fn names(dir: &TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn loaded_log(dir: &TempDir) -> Log {
        let mut log = Log::new(&dir.0);
        log.load().unwrap();
        log
    }

    #[test]
    fn chunks_become_a_snapshot_with_the_last_one() {
        let dir = TempDir::new("stream-whole");
        let mut log = loaded_log(&dir);
        let data: Vec<u8> = (0..100u8).collect();
        for (i, chunk) in data.chunks(30).take(3).enumerate() {
            log.store_snapshot_chunk(3, 50, i as u64 * 30, chunk).unwrap();
        }
        assert!(
            names(&dir).iter().all(|n| !n.ends_with(".meta")),
            "no snapshot before the last chunk"
        );
        let back = log.finish_snapshot_stream(&streamed(50), 90, &data[90..], 7).unwrap();
        assert_eq!(&back[..], &data[..]);
        let loaded = Log::new(&dir.0).load().unwrap();
        let snapshot = loaded.snapshot.expect("the streamed snapshot is stored");
        assert_eq!((snapshot.term, snapshot.index, snapshot.conf_index), (3, 50, 1));
        assert_eq!(&snapshot.data[..], &data[..]);
        assert!(names(&dir).iter().all(|n| !n.starts_with("tmp-")), "{:?}", names(&dir));
    }

    #[test]
    fn an_interrupted_stream_leaves_nothing_after_a_load() {
        let dir = TempDir::new("stream-interrupted");
        let mut log = loaded_log(&dir);
        log.store_snapshot_chunk(3, 50, 0, b"first").unwrap();
        drop(log);
        let loaded = Log::new(&dir.0).load().unwrap();
        assert!(loaded.snapshot.is_none());
        assert!(names(&dir).iter().all(|n| !n.starts_with("tmp-")), "{:?}", names(&dir));
    }

    #[test]
    fn a_chunk_out_of_place_is_refused_and_offset_zero_starts_over() {
        let dir = TempDir::new("stream-order");
        let mut log = loaded_log(&dir);
        let gap = log.store_snapshot_chunk(3, 50, 8, b"x").unwrap_err();
        assert_eq!(gap.kind, ErrorKind::Invalid);
        log.store_snapshot_chunk(3, 50, 0, b"old-data").unwrap();
        let other = log.store_snapshot_chunk(3, 60, 8, b"x").unwrap_err();
        assert_eq!(other.kind, ErrorKind::Invalid);
        assert!(log.store_snapshot_chunk(3, 50, 4, b"x").is_err(), "overlap refused");
        log.store_snapshot_chunk(4, 60, 0, b"new-").unwrap();
        let back = log.finish_snapshot_stream(&streamed_at(4, 60), 4, b"data", 1).unwrap();
        assert_eq!(&back[..], b"new-data");
        assert!(!names(&dir).iter().any(|n| n.contains("stream-3-50")), "{:?}", names(&dir));
    }

    fn streamed_at(term: Term, index: Index) -> SnapshotHeader {
        SnapshotHeader { term, index, conf: conf(), conf_index: 1 }
    }

    #[test]
    fn a_leader_reads_chunks_from_plain_and_compressed_snapshots() {
        let dir = TempDir::new("stream-read");
        let mut log = loaded_log(&dir);
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let snapshot = StoredSnapshot {
            term: 2,
            index: 40,
            conf: conf(),
            conf_index: 1,
            data: Bytes::from(data.clone()),
        };
        log.put_snapshot(&snapshot, 0, 1).unwrap();
        assert_eq!(log.read_snapshot_chunk(40, 1000, 24).unwrap(), &data[1000..1024]);
        assert_eq!(log.snapshot_configuration(40).unwrap(), (conf(), 1));
        assert!(log.snapshot_configuration(41).is_err());
        assert!(log.read_snapshot_chunk(41, 0, 1).is_err(), "no snapshot there");
        assert!(log.read_snapshot_chunk(40, 4990, 20).is_err(), "past the end");

        // The same data as C-Raft compresses it: read through a one-time expansion.
        let name = *log.snapshots.iter().next_back().unwrap();
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(&data).unwrap();
        fs::write(dir.0.join(name.data_file_name()), encoder.finish().unwrap()).unwrap();
        assert_eq!(log.read_snapshot_chunk(40, 4000, 1000).unwrap(), &data[4000..]);
        assert_eq!(log.read_snapshot_chunk(40, 0, 10).unwrap(), &data[..10]);
        assert_eq!(names(&dir).iter().filter(|n| n.starts_with("tmp-plain-")).count(), 1);
        // A newer snapshot at the same index pushes the expanded one out eventually.
        log.put_snapshot(&StoredSnapshot { index: 45, ..snapshot.clone() }, 0, 2).unwrap();
        log.put_snapshot(&StoredSnapshot { index: 46, ..snapshot }, 0, 3).unwrap();
        assert!(names(&dir).iter().all(|n| !n.starts_with("tmp-plain-")), "{:?}", names(&dir));
    }
}
