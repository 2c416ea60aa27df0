//! Durable state in a C-Raft data directory, written with the library's disk codec: term and
//! vote in `metadata1`/`metadata2`, entries in closed segments (one per write, named by their
//! index range), and snapshots as `snapshot-T-I-TS` data plus `.meta`. Every file is written
//! to a `tmp-` name, synced and renamed, so a crash leaves either the old or the new file.
//!
//! C-Raft's segment format carries only payloads whose length is a multiple of 8, while the
//! library and the wolf.raft service carry any length. So command and barrier payloads are
//! stored framed, `u64le length | payload | zeros to a multiple of 8`, and unframed on load to
//! their exact bytes. Configuration changes are stored as they are, so that C-Raft's tools
//! read them: their encoding is always a multiple of 8 (the service refuses any other).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use raft::codec::disk::bootstrap::bootstrap_files;
use raft::codec::disk::metadata::{choose_metadata, decode_metadata, encode_metadata, Metadata};
use raft::codec::disk::names::{closed_segment_name, parse_file_name, FileName, SnapshotName};
use raft::codec::disk::segment::{encode_segment, load_closed_segment};
use raft::codec::disk::snapshot::{decode_snapshot_meta, encode_snapshot_meta, SnapshotMeta};
use raft::codec::Entry;
use raft::core::{Bootstrap, EntryType, Id, Index, SnapshotMetadata, Term};

/// A snapshot as stored: its position, configuration and the state machine's bytes.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub metadata: SnapshotMetadata,
    pub data: Bytes,
}

/// What a restarting node loads.
pub struct Loaded {
    pub term: Term,
    pub voted_for: Id,
    pub snapshot: Option<Snapshot>,
    /// Index of `entries[0]`.
    pub start_index: Index,
    pub entries: Vec<Entry>,
}

pub struct Storage {
    dir: PathBuf,
    metadata: Metadata,
    /// `(first, last)` of every closed segment, in index order, never overlapping.
    segments: Vec<(Index, Index)>,
    snapshot: Option<SnapshotName>,
}

impl Storage {
    /// Opens (creating it if needed) the data directory and loads what it holds.
    pub fn open(dir: &Path) -> io::Result<(Storage, Loaded)> {
        fs::create_dir_all(dir)?;
        let mut storage = Storage {
            dir: dir.into(),
            metadata: Metadata::default(),
            segments: Vec::new(),
            snapshot: None,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            match parse_file_name(&name) {
                FileName::Temporary => fs::remove_file(dir.join(&name))?,
                FileName::ClosedSegment { first, last } => storage.segments.push((first, last)),
                FileName::SnapshotMeta(s) => names.push(s),
                _ => {}
            }
        }
        storage.segments.sort_unstable();
        storage.metadata = storage.read_metadata()?;
        names.sort_unstable();
        storage.snapshot = names.into_iter().rev().find(|s| dir.join(s.data_file_name()).exists());
        let loaded = storage.load()?;
        Ok((storage, loaded))
    }

    /// Nothing was ever stored here: the only state in which Bootstrap is allowed.
    pub fn is_pristine(&self) -> bool {
        self.metadata.version == 0 && self.segments.is_empty() && self.snapshot.is_none()
    }

    /// Writes the bootstrap state of a new cluster.
    pub fn bootstrap(&mut self, bootstrap: &Bootstrap) -> io::Result<()> {
        let files = bootstrap_files(
            bootstrap.term,
            bootstrap.voted_for,
            bootstrap.index,
            &bootstrap.payload,
        )
        .map_err(invalid)?;
        for (name, bytes) in &files {
            self.write_file(name, bytes)?;
        }
        self.metadata =
            Metadata { version: 1, term: bootstrap.term, voted_for: bootstrap.voted_for };
        self.segments.push((bootstrap.index, bootstrap.index));
        Ok(())
    }

    pub fn save_term_and_vote(&mut self, term: Term, voted_for: Id) -> io::Result<()> {
        let next = self.metadata.successor(term, voted_for);
        self.write_file(next.file_name(), &encode_metadata(&next))?;
        self.metadata = next;
        Ok(())
    }

    /// Stores `entries` at `index ..`, first discarding every stored entry from `index` on.
    pub fn append(&mut self, index: Index, entries: &[Entry]) -> io::Result<()> {
        self.truncate(index)?;
        if entries.is_empty() {
            return Ok(());
        }
        let last = index + entries.len() as u64 - 1;
        let stored: Vec<Entry> = entries.iter().map(to_stored).collect();
        let bytes = encode_segment(&[&stored]).map_err(invalid)?;
        self.write_file(&closed_segment_name(index, last), &bytes)?;
        self.segments.push((index, last));
        Ok(())
    }

    /// Stores a snapshot, replacing the previous one, and deletes the segments that hold only
    /// entries below `keep_from` (`Index::MAX` for a snapshot installed from the leader, which
    /// replaces the whole log).
    pub fn store_snapshot(&mut self, snapshot: &Snapshot, keep_from: Index) -> io::Result<()> {
        let m = &snapshot.metadata;
        let meta =
            SnapshotMeta { conf_index: m.configuration_index, conf: m.configuration.clone() };
        let meta = encode_snapshot_meta(&meta).map_err(invalid)?;
        let name = SnapshotName { term: m.term, index: m.index, timestamp: millis_since_epoch() };
        self.write_file(&name.data_file_name(), &snapshot.data)?;
        self.write_file(&name.meta_file_name(), &meta)?;
        if let Some(old) = self.snapshot.replace(name) {
            self.remove(&old.meta_file_name())?;
            self.remove(&old.data_file_name())?;
        }
        self.drop_segments_before(keep_from)
    }

    /// Deletes the segments that hold only entries below `index`.
    fn drop_segments_before(&mut self, index: Index) -> io::Result<()> {
        let (gone, kept): (Vec<_>, Vec<_>) =
            self.segments.iter().partition(|&&(_, last)| last < index);
        for (first, last) in gone {
            self.remove(&closed_segment_name(first, last))?;
        }
        self.segments = kept;
        Ok(())
    }

    fn truncate(&mut self, index: Index) -> io::Result<()> {
        while let Some(&(first, last)) = self.segments.last() {
            if last < index {
                break;
            }
            self.segments.pop();
            let name = closed_segment_name(first, last);
            if first < index {
                let kept = self.read_segment(first, last)?[..(index - first) as usize].to_vec();
                self.remove(&name)?;
                self.append(first, &kept)?;
                break;
            }
            self.remove(&name)?;
        }
        Ok(())
    }

    fn load(&self) -> io::Result<Loaded> {
        let snapshot = match self.snapshot {
            Some(name) => Some(self.read_snapshot(name)?),
            None => None,
        };
        let start_index = snapshot.as_ref().map_or(1, |s| s.metadata.index + 1);
        let mut entries = Vec::new();
        for &(first, last) in &self.segments {
            if last < start_index {
                continue;
            }
            let next = start_index + entries.len() as u64;
            if first > next {
                return Err(invalid(format!("entries {next}..{first} are missing")));
            }
            let segment = self.read_segment(first, last)?;
            entries.extend(segment.into_iter().skip((next - first) as usize));
        }
        Ok(Loaded {
            term: self.metadata.term,
            voted_for: self.metadata.voted_for,
            snapshot,
            start_index,
            entries,
        })
    }

    fn read_metadata(&self) -> io::Result<Metadata> {
        let read = |name: &str| -> io::Result<Option<Metadata>> {
            match fs::read(self.dir.join(name)) {
                Ok(bytes) => decode_metadata(&bytes).map_err(invalid),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        choose_metadata(read("metadata1")?, read("metadata2")?).map_err(invalid)
    }

    fn read_segment(&self, first: Index, last: Index) -> io::Result<Vec<Entry>> {
        let name = closed_segment_name(first, last);
        let bytes = Bytes::from(fs::read(self.dir.join(&name))?);
        let stored = load_closed_segment(&bytes, first, last).map_err(invalid)?;
        (first..)
            .zip(stored)
            .map(|(index, e)| {
                from_stored(e).map_err(|why| invalid(format!("{name}: entry {index}: {why}")))
            })
            .collect()
    }

    fn read_snapshot(&self, name: SnapshotName) -> io::Result<Snapshot> {
        let meta = decode_snapshot_meta(&fs::read(self.dir.join(name.meta_file_name()))?)
            .map_err(invalid)?;
        let data = Bytes::from(fs::read(self.dir.join(name.data_file_name()))?);
        let metadata = SnapshotMetadata {
            index: name.index,
            term: name.term,
            configuration: meta.conf,
            configuration_index: meta.conf_index,
        };
        Ok(Snapshot { metadata, data })
    }

    /// Writes `name` atomically and durably: temporary file, fsync, rename, fsync of the
    /// directory.
    fn write_file(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("tmp-{name}"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, self.dir.join(name))?;
        fs::File::open(&self.dir)?.sync_all()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Bytes of the length that starts a framed payload.
const FRAME_HEADER_LEN: usize = 8;

/// Whether entries of `kind` are stored framed: all but configuration changes.
fn is_framed(kind: EntryType) -> bool {
    kind != EntryType::Change
}

/// The form in which `entry` goes into a segment (see the module's documentation).
fn to_stored(entry: &Entry) -> Entry {
    if !is_framed(entry.kind) {
        return entry.clone();
    }
    let len = entry.payload.len();
    let mut framed = Vec::with_capacity(framed_len(len));
    framed.extend_from_slice(&(len as u64).to_le_bytes());
    framed.extend_from_slice(&entry.payload);
    framed.resize(framed_len(len), 0);
    Entry::new(entry.term, entry.kind, framed)
}

/// Bytes of the framed form of a `len`-byte payload: a multiple of 8.
fn framed_len(len: usize) -> usize {
    (FRAME_HEADER_LEN + len).next_multiple_of(8)
}

/// The entry whose stored form is `stored`, with its exact payload (a slice, not a copy).
fn from_stored(stored: Entry) -> Result<Entry, String> {
    if !is_framed(stored.kind) {
        return Ok(stored);
    }
    let payload = &stored.payload;
    let Some(header) = payload.get(..FRAME_HEADER_LEN) else {
        return Err(format!("{} bytes, too short for a framed payload", payload.len()));
    };
    let len = u64::from_le_bytes(header.try_into().expect("8 bytes"));
    let fits = len <= payload.len() as u64 && framed_len(len as usize) == payload.len();
    if !fits {
        return Err(format!("framed length {len} does not match its {} bytes", payload.len()));
    }
    let exact = payload.slice(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len as usize);
    Ok(Entry { payload: exact, ..stored })
}

fn millis_since_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use raft::core::{Configuration, Role};

    use super::*;

    /// A fresh data directory under the system's temporary directory.
    fn data_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wolf-storage-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn bootstrap() -> Bootstrap {
        let mut conf = Configuration::new();
        conf.add(1, "127.0.0.1:1", Role::Voter).unwrap();
        Bootstrap::new(&conf, &raft::codec::configuration::CRAFT).unwrap()
    }

    /// Payloads of any length survive a restart exactly, while every stored payload obeys
    /// C-Raft's 8-byte rule (docs/formats.md#alignment).
    #[test]
    fn payloads_of_any_length_are_loaded_back_exactly() {
        let dir = data_dir("any-length");
        let (mut storage, _) = Storage::open(&dir).unwrap();
        storage.bootstrap(&bootstrap()).unwrap();
        let mut entries: Vec<Entry> = [0, 1, 7, 9, 13, 4099]
            .iter()
            .enumerate()
            .map(|(k, &len)| Entry::new(2, EntryType::Command, vec![0xA0 + k as u8; len]))
            .collect();
        entries.push(Entry::new(2, EntryType::Barrier, Vec::new()));
        storage.append(2, &entries[..3]).unwrap();
        storage.append(5, &entries[3..]).unwrap();

        let (_, loaded) = Storage::open(&dir).unwrap();
        assert_eq!(loaded.start_index, 1);
        assert_eq!(loaded.entries[0].kind, EntryType::Change);
        assert_eq!(loaded.entries[1..], entries[..]);
        let raw = Bytes::from(fs::read(dir.join(closed_segment_name(5, 8))).unwrap());
        let stored = load_closed_segment(&raw, 5, 8).unwrap();
        assert!(stored.iter().all(|e| e.payload.len() % 8 == 0));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncation_keeps_the_exact_payloads_before_it() {
        let dir = data_dir("truncate");
        let (mut storage, _) = Storage::open(&dir).unwrap();
        storage.bootstrap(&bootstrap()).unwrap();
        let entries: Vec<Entry> =
            (1..=3).map(|len| Entry::new(2, EntryType::Command, vec![len as u8; len])).collect();
        storage.append(2, &entries).unwrap();
        storage.append(4, &[Entry::new(3, EntryType::Command, vec![9u8; 5])]).unwrap();

        let (_, loaded) = Storage::open(&dir).unwrap();
        assert_eq!(loaded.entries[1..3], entries[..2]);
        assert_eq!(loaded.entries[3].payload.len(), 5);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_payload_whose_frame_lies_is_refused_on_load() {
        let bad = Entry::new(2, EntryType::Command, 99u64.to_le_bytes().to_vec());
        assert!(from_stored(bad).unwrap_err().contains("framed length 99"));
        let short = Entry::new(2, EntryType::Command, Vec::new());
        assert!(from_stored(short).unwrap_err().contains("too short"));
    }
}
