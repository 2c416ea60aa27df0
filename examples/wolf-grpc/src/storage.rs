//! Durable state in a C-Raft data directory, written with the library's disk codec: term and
//! vote in `metadata1`/`metadata2`, entries in closed segments (one per write, named by their
//! index range), and snapshots as `snapshot-T-I-TS` data plus `.meta`. Every file is written
//! to a `tmp-` name, synced and renamed, so a crash leaves either the old or the new file. A
//! snapshot streamed from the leader grows chunk by chunk in a `tmp-` file, renamed into place
//! when its last chunk came; snapshot data is read back in ranges, never whole.
//!
//! C-Raft's segment format carries only payloads whose length is a multiple of 8, while the
//! library and the wolf.raft service carry any length. So command and barrier payloads are
//! stored framed, `u64le length | payload | zeros to a multiple of 8`, and unframed on load to
//! their exact bytes. Configuration changes are stored as they are, so that C-Raft's tools
//! read them: their encoding is always a multiple of 8 (the service refuses any other).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
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

/// Where the chunks of a snapshot streamed from the leader are stored until the last one
/// installs it. A `tmp-` name, so that a restart discards a partly received snapshot (the
/// leader starts over when it hears that we hold nothing of it).
const PARTIAL_SNAPSHOT: &str = "tmp-streamed-snapshot";

/// A snapshot this node takes: its position, configuration and the state machine's bytes.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub metadata: SnapshotMetadata,
    pub data: Bytes,
}

/// What a restarting node loads.
pub struct Loaded {
    pub term: Term,
    pub voted_for: Id,
    /// The snapshot's position and configuration; its data stays on disk until restored
    /// (`Storage::open_snapshot_data`).
    pub snapshot: Option<SnapshotMetadata>,
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
    /// entries below `keep_from`.
    pub fn store_snapshot(&mut self, snapshot: &Snapshot, keep_from: Index) -> io::Result<()> {
        let name = new_snapshot_name(&snapshot.metadata);
        self.write_file(&name.data_file_name(), &snapshot.data)?;
        self.commit_snapshot(name, &snapshot.metadata, keep_from)
    }

    /// Stores one chunk of a snapshot streamed from the leader at `offset` of the partial file.
    /// The core hands chunks out in order from offset 0, and a chunk at 0 starts a new
    /// snapshot; anything else is a broken promise, refused rather than written at a hole.
    pub fn store_snapshot_chunk(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let path = self.dir.join(PARTIAL_SNAPSHOT);
        let file = if offset == 0 {
            fs::File::create(&path)?
        } else {
            fs::OpenOptions::new().write(true).open(&path)?
        };
        let held = file.metadata()?.len();
        if held != offset {
            return Err(invalid(format!("chunk at offset {offset}, but {held} bytes are held")));
        }
        file.write_all_at(data, offset)?;
        file.sync_data()?;
        if offset == 0 {
            // The file is new: its name must be durable too.
            fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Installs the streamed snapshot whose chunks are all stored, exactly as a whole snapshot
    /// from the leader: it replaces the previous one and the whole log. Returns its length.
    pub fn install_streamed_snapshot(&mut self, metadata: &SnapshotMetadata) -> io::Result<u64> {
        let name = new_snapshot_name(metadata);
        let partial = self.dir.join(PARTIAL_SNAPSHOT);
        let len = fs::metadata(&partial)?.len();
        fs::rename(&partial, self.dir.join(name.data_file_name()))?;
        fs::File::open(&self.dir)?.sync_all()?;
        self.commit_snapshot(name, metadata, Index::MAX)?;
        Ok(len)
    }

    /// Makes the snapshot whose data file is in place the current one: its `.meta` goes last,
    /// since a snapshot counts only once both files exist. Then the previous snapshot and the
    /// segments that hold only entries below `keep_from` go.
    fn commit_snapshot(
        &mut self,
        name: SnapshotName,
        m: &SnapshotMetadata,
        keep_from: Index,
    ) -> io::Result<()> {
        let meta =
            SnapshotMeta { conf_index: m.configuration_index, conf: m.configuration.clone() };
        let meta = encode_snapshot_meta(&meta).map_err(invalid)?;
        self.write_file(&name.meta_file_name(), &meta)?;
        if let Some(old) = self.snapshot.replace(name) {
            self.remove(&old.meta_file_name())?;
            self.remove(&old.data_file_name())?;
        }
        self.drop_segments_before(keep_from)
    }

    /// The index and data length of the current snapshot, if any.
    pub fn snapshot_len(&self) -> io::Result<Option<(Index, u64)>> {
        let Some(name) = self.snapshot else {
            return Ok(None);
        };
        let len = fs::metadata(self.dir.join(name.data_file_name()))?.len();
        Ok(Some((name.index, len)))
    }

    /// The current snapshot's data file, to read the state machine from.
    pub fn open_snapshot_data(&self) -> io::Result<fs::File> {
        let name = self.snapshot.ok_or_else(|| invalid("there is no snapshot"))?;
        fs::File::open(self.dir.join(name.data_file_name()))
    }

    /// Bytes `offset .. offset + len` of the data of the snapshot at `index`, which must be the
    /// current one (a chunk of a replaced snapshot is no longer to be had).
    pub fn read_snapshot_data(&self, index: Index, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let name = self.current_snapshot(index)?;
        let file = fs::File::open(self.dir.join(name.data_file_name()))?;
        let mut data = vec![0; usize::try_from(len).map_err(invalid)?];
        file.read_exact_at(&mut data, offset)?;
        Ok(data)
    }

    /// The `.meta` file of the snapshot at `index`, which must be the current one.
    pub fn read_snapshot_meta_file(&self, index: Index) -> io::Result<Vec<u8>> {
        let name = self.current_snapshot(index)?;
        fs::read(self.dir.join(name.meta_file_name()))
    }

    fn current_snapshot(&self, index: Index) -> io::Result<SnapshotName> {
        match self.snapshot {
            Some(name) if name.index == index => Ok(name),
            other => Err(invalid(format!(
                "snapshot {index} is not the current one ({:?})",
                other.map(|n| n.index)
            ))),
        }
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
            Some(name) => Some(self.read_snapshot_metadata(name)?),
            None => None,
        };
        let start_index = snapshot.as_ref().map_or(1, |m| m.index + 1);
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

    fn read_snapshot_metadata(&self, name: SnapshotName) -> io::Result<SnapshotMetadata> {
        let meta = decode_snapshot_meta(&fs::read(self.dir.join(name.meta_file_name()))?)
            .map_err(invalid)?;
        Ok(SnapshotMetadata {
            index: name.index,
            term: name.term,
            configuration: meta.conf,
            configuration_index: meta.conf_index,
        })
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

/// The name of a new snapshot at `m`'s position.
fn new_snapshot_name(m: &SnapshotMetadata) -> SnapshotName {
    SnapshotName { term: m.term, index: m.index, timestamp: millis_since_epoch() }
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

    fn snapshot_metadata(index: Index) -> SnapshotMetadata {
        let b = bootstrap();
        let configuration = raft::codec::configuration::decode(&b.payload).unwrap();
        SnapshotMetadata { index, term: 2, configuration, configuration_index: 1 }
    }

    #[test]
    fn a_streamed_snapshot_installs_like_a_whole_one() {
        let dir = data_dir("streamed");
        let (mut storage, _) = Storage::open(&dir).unwrap();
        storage.bootstrap(&bootstrap()).unwrap();
        storage.append(2, &[Entry::new(2, EntryType::Command, vec![1; 3])]).unwrap();
        storage.store_snapshot_chunk(0, b"{\"a\":").unwrap();
        let gap = storage.store_snapshot_chunk(20, b"x").unwrap_err();
        assert!(gap.to_string().contains("bytes are held"), "{gap}");
        storage.store_snapshot_chunk(5, b"\"1\"}").unwrap();
        let len = storage.install_streamed_snapshot(&snapshot_metadata(9)).unwrap();
        assert_eq!(len, 9);
        assert_eq!(storage.snapshot_len().unwrap(), Some((9, 9)));
        assert_eq!(storage.read_snapshot_data(9, 5, 3).unwrap(), b"\"1\"");
        assert!(storage.read_snapshot_data(8, 0, 1).is_err(), "not the current snapshot");

        let (reopened, loaded) = Storage::open(&dir).unwrap();
        assert_eq!(loaded.snapshot, Some(snapshot_metadata(9)));
        assert_eq!((loaded.start_index, loaded.entries.len()), (10, 0), "the log is replaced");
        let mut store = crate::kv::Store::default();
        store.restore(reopened.open_snapshot_data().unwrap()).unwrap();
        assert_eq!(store.get("a").map(String::as_str), Some("1"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restart_discards_a_partly_streamed_snapshot() {
        let dir = data_dir("partial");
        let (mut storage, _) = Storage::open(&dir).unwrap();
        storage.bootstrap(&bootstrap()).unwrap();
        storage.store_snapshot_chunk(0, b"half").unwrap();
        let (mut storage, loaded) = Storage::open(&dir).unwrap();
        assert!(loaded.snapshot.is_none());
        assert!(!dir.join(PARTIAL_SNAPSHOT).exists());
        assert!(storage.store_snapshot_chunk(4, b"rest").is_err(), "nothing to continue");
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
