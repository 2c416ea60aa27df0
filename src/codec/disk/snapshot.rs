//! Snapshot files (docs/formats.md#disk): the `.meta` file holding the snapshot's configuration,
//! and the data file, which C-Raft 0.15 writes as an LZ4 frame by default.
//!
//! `.meta` layout:
//!
//! ```text
//! u64le format (1) | u64le CRC (low 32 bits) | u64le configuration index | u64le C | C bytes
//! ```
//!
//! The CRC covers the configuration index, C and the configuration bytes.

use std::io::Read;

use bytes::Bytes;

use super::FORMAT;
use crate::codec::checksum::checksum_parts;
use crate::codec::configuration;
use crate::codec::cursor::Cursor;
use crate::codec::error::{Error, Result};
use crate::vocab::Configuration;
use crate::vocab::Index;

/// Largest configuration a `.meta` file may hold (C-Raft's limit).
pub const MAX_META_CONFIGURATION_LEN: u64 = 1 << 20;

/// The first 4 bytes of an LZ4 frame (u32le 0x184D2204).
pub const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Default bound on the decompressed size of a snapshot (1 GiB).
pub const DEFAULT_MAX_SNAPSHOT_LEN: u64 = 1 << 30;

const WHAT: &str = "snapshot metadata";

/// The contents of a snapshot `.meta` file. The snapshot's term and index are in the file name
/// ([`super::names::SnapshotName`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Index of the configuration entry the configuration comes from.
    pub conf_index: Index,
    /// The configuration as of the snapshot.
    pub conf: Configuration,
}

/// The bytes of a `.meta` file.
///
/// Errors: [`Error::Invalid`] if the configuration is empty or encodes to more than 1 MiB
/// (C-Raft could not read it back).
pub fn encode_snapshot_meta(meta: &SnapshotMeta) -> Result<Vec<u8>> {
    if meta.conf.is_empty() {
        return Err(Error::invalid(WHAT, "empty configuration"));
    }
    let conf = configuration::encode(&meta.conf);
    if conf.len() as u64 > MAX_META_CONFIGURATION_LEN {
        return Err(Error::invalid(WHAT, format!("{}-byte configuration", conf.len())));
    }
    let index = meta.conf_index.to_le_bytes();
    let len = (conf.len() as u64).to_le_bytes();
    let crc = checksum_parts([&index[..], &len[..], &conf[..]]);
    let mut out = Vec::with_capacity(32 + conf.len());
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&u64::from(crc).to_le_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(&len);
    out.extend_from_slice(&conf);
    Ok(out)
}

/// Decodes a `.meta` file.
///
/// Errors: [`Error::Malformed`] for a format other than 1 or a bad or empty configuration;
/// [`Error::Corrupt`] for C = 0, C above 1 MiB, a file that is not exactly `32 + C` bytes, or a
/// CRC mismatch; [`Error::Truncated`] for a file shorter than 32 bytes.
pub fn decode_snapshot_meta(buf: &[u8]) -> Result<SnapshotMeta> {
    let mut c = Cursor::new(buf, WHAT);
    let format = c.u64()?;
    let stored = c.u64()?;
    let conf_index = c.u64()?;
    let conf_len = c.u64()?;
    if format != FORMAT {
        return Err(Error::malformed(WHAT, format!("unknown format {format}")));
    }
    if conf_len == 0 || conf_len > MAX_META_CONFIGURATION_LEN {
        return Err(Error::corrupt(WHAT, format!("configuration length {conf_len}")));
    }
    if c.remaining() as u64 != conf_len {
        return Err(Error::corrupt(
            WHAT,
            format!("{} bytes follow the header where {conf_len} were announced", c.remaining()),
        ));
    }
    let conf_bytes = c.take(conf_len as usize)?;
    // Only the low 32 bits hold the CRC.
    let computed = checksum_parts([&buf[16..32], conf_bytes]);
    if stored as u32 != computed {
        return Err(Error::corrupt(
            WHAT,
            format!("checksum {:#010x} != computed {computed:#010x}", stored as u32),
        ));
    }
    let conf = configuration::decode(conf_bytes)
        .map_err(|source| Error::Configuration { what: WHAT, source })?;
    if conf.is_empty() {
        return Err(Error::malformed(WHAT, "empty configuration"));
    }
    Ok(SnapshotMeta { conf_index, conf })
}

/// Whether snapshot data is an LZ4 frame (C-Raft's test: at least 4 bytes starting with the
/// frame magic). A raw snapshot that happens to start with the magic is misread, as by C-Raft.
pub fn is_lz4_frame(data: &[u8]) -> bool {
    data.starts_with(&LZ4_FRAME_MAGIC)
}

/// The snapshot as the application wrote it: `data` itself if it is raw, or its decompression
/// if it is an LZ4 frame. New snapshots should be written raw: every C-Raft version reads that.
///
/// Errors: [`Error::TooBig`] if the decompressed snapshot exceeds `max_len` bytes (nothing
/// beyond `max_len + 1` bytes is ever buffered); [`Error::Corrupt`] if the frame is invalid
/// (bad header, block, or content checksum).
pub fn decode_snapshot_data(data: Bytes, max_len: u64) -> Result<Bytes> {
    if !is_lz4_frame(&data) {
        return Ok(data);
    }
    let decoder = lz4_flex::frame::FrameDecoder::new(&data[..]);
    let mut out = Vec::new();
    decoder
        .take(max_len.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::corrupt("LZ4 snapshot", e.to_string()))?;
    if out.len() as u64 > max_len {
        return Err(Error::too_big("decompressed snapshot", out.len() as u64, max_len));
    }
    Ok(Bytes::from(out))
}
