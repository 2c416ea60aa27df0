//! The encoded configuration: the payload of every `RAFT_CHANGE` entry, and the configuration
//! carried by InstallSnapshot and snapshot metadata files. Byte-identical to C-Raft's:
//!
//! ```text
//! u8 version (1) | u64le n | n x (u64le id | address bytes | NUL | u8 role) | zero pad to 8
//! ```

use thiserror::Error;

use crate::vocab::Role;
use crate::vocab::{Configuration, ConfigurationFormat};

/// The only configuration format version C-Raft has ever written.
pub const FORMAT_VERSION: u8 = 1;

/// Why an encoded configuration was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty configuration buffer")]
    Empty,
    #[error("unknown configuration format version {0}")]
    Version(u8),
    #[error("configuration truncated at byte {0}")]
    Truncated(usize),
    #[error("configuration claims {0} servers, more than its {1} bytes can hold")]
    TooManyServers(u64, usize),
    #[error("server {index} has ID 0")]
    ZeroId { index: usize },
    #[error("server {index} has an address that is not valid UTF-8")]
    Address { index: usize },
    #[error("server {index} has unknown role {role}")]
    Role { index: usize, role: u8 },
    #[error("server {index} repeats ID {id}")]
    DuplicateId { index: usize, id: u64 },
    #[error("server {index} repeats address {address:?}")]
    DuplicateAddress { index: usize, address: String },
}

/// Size of the encoding of `conf`, padding included.
pub fn encoded_len(conf: &Configuration) -> usize {
    let raw: usize =
        1 + 8 + conf.servers.iter().map(|s| 8 + s.address.len() + 1 + 1).sum::<usize>();
    raw.div_ceil(8) * 8
}

/// Appends the encoding of `conf` to `out`.
pub fn encode_into(conf: &Configuration, out: &mut Vec<u8>) {
    let start = out.len();
    out.reserve(encoded_len(conf));
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&(conf.servers.len() as u64).to_le_bytes());
    for server in &conf.servers {
        out.extend_from_slice(&server.id.to_le_bytes());
        out.extend_from_slice(server.address.as_bytes());
        out.push(0);
        out.push(server.role.code());
    }
    let len = out.len() - start;
    out.resize(start + len.div_ceil(8) * 8, 0);
}

/// The encoding of `conf`.
pub fn encode(conf: &Configuration) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(conf, &mut out);
    out
}

/// Decodes a configuration, checking every bound. Bytes after the last server (the padding) are
/// ignored, as C-Raft does.
pub fn decode(buf: &[u8]) -> Result<Configuration, DecodeError> {
    let mut reader = Reader { buf, pos: 0 };
    let version = reader.u8().map_err(|_| DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    let n = reader.u64()?;
    // Each server takes at least 10 bytes (ID, empty address's NUL, role): refuse counts the
    // buffer cannot hold before reserving anything.
    if n > (buf.len() as u64) / 10 {
        return Err(DecodeError::TooManyServers(n, buf.len()));
    }
    let mut conf = Configuration { servers: Vec::with_capacity(n as usize) };
    for index in 0..n as usize {
        let id = reader.u64()?;
        let address = reader.c_string()?;
        let address = std::str::from_utf8(address).map_err(|_| DecodeError::Address { index })?;
        let role_code = reader.u8()?;
        let role = Role::from_code(role_code.into())
            .ok_or(DecodeError::Role { index, role: role_code })?;
        if id == 0 {
            return Err(DecodeError::ZeroId { index });
        }
        if conf.get(id).is_some() {
            return Err(DecodeError::DuplicateId { index, id });
        }
        if conf.servers.iter().any(|s| &*s.address == address) {
            return Err(DecodeError::DuplicateAddress { index, address: address.to_owned() });
        }
        conf.servers.push(crate::vocab::Server { id, address: address.into(), role });
    }
    Ok(conf)
}

/// C-Raft's configuration encoding as the [`ConfigurationFormat`] the core reads `Change`
/// entries with.
#[derive(Clone, Copy, Debug, Default)]
pub struct CRaftFormat;

/// The one instance of [`CRaftFormat`], to hand to `Raft::new`.
pub static CRAFT: CRaftFormat = CRaftFormat;

impl ConfigurationFormat for CRaftFormat {
    fn decode(&self, payload: &[u8]) -> Result<Configuration, String> {
        decode(payload).map_err(|e| e.to_string())
    }

    fn encode(&self, conf: &Configuration) -> Vec<u8> {
        encode(conf)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated(self.pos))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("took 8 bytes")))
    }

    /// The bytes up to the next NUL, which is consumed.
    fn c_string(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.buf[self.pos..];
        let len =
            rest.iter().position(|&b| b == 0).ok_or(DecodeError::Truncated(self.buf.len()))?;
        let s = &rest[..len];
        self.pos += len + 1;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(servers: &[(u64, &str, Role)]) -> Configuration {
        let mut c = Configuration::new();
        for &(id, address, role) in servers {
            c.add(id, address, role).unwrap();
        }
        c
    }

    #[test]
    fn encodes_the_one_voter_example_byte_for_byte() {
        let bytes = encode(&conf(&[(1, "addr1", Role::Voter)]));
        let mut expected = vec![1u8, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"addr1\0");
        expected.push(1);
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), 24);
    }

    #[test]
    fn pads_to_a_multiple_of_eight() {
        let c = conf(&[(1, "a", Role::Voter), (2, "bb", Role::Spare), (3, "ccc", Role::Standby)]);
        let bytes = encode(&c);
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(bytes.len(), encoded_len(&c));
        assert_eq!(decode(&bytes).unwrap(), c);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&conf(&[(1, "a", Role::Voter), (2, "b", Role::Voter)]));
        let unpadded = 1 + 8 + 2 * (8 + 2 + 1);
        for len in 0..unpadded {
            assert!(decode(&bytes[..len]).is_err(), "length {len} accepted");
        }
        assert!(decode(&bytes[..unpadded]).is_ok());
    }

    #[test]
    fn refuses_bad_version_role_zero_id_and_duplicates() {
        let good = encode(&conf(&[(1, "a", Role::Voter)]));
        let mut bad = good.clone();
        bad[0] = 2;
        assert_eq!(decode(&bad), Err(DecodeError::Version(2)));
        let mut bad = good.clone();
        bad[9..17].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::ZeroId { index: 0 }));
        let mut bad = good.clone();
        bad[19] = 7;
        assert_eq!(decode(&bad), Err(DecodeError::Role { index: 0, role: 7 }));

        let mut dup = vec![1u8];
        dup.extend_from_slice(&2u64.to_le_bytes());
        for (id, address) in [(1u64, "a"), (1, "b")] {
            dup.extend_from_slice(&id.to_le_bytes());
            dup.extend_from_slice(address.as_bytes());
            dup.extend_from_slice(&[0, 1]);
        }
        assert_eq!(decode(&dup), Err(DecodeError::DuplicateId { index: 1, id: 1 }));
    }

    #[test]
    fn huge_server_count_is_refused_before_allocating() {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(decode(&bytes), Err(DecodeError::TooManyServers(..))));
    }
}
