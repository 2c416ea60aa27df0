//! The handshake a connecting node sends once before its messages (docs/formats.md#wire):
//!
//! ```text
//! u64le protocol (1) | u64le server id | u64le L | L bytes: address, NUL, padding
//! ```
//!
//! Every message that follows on the connection is attributed to this id and address.

use super::Limits;
use crate::codec::cursor::{pad8, Cursor};
use crate::codec::error::{Error, Result};
use crate::vocab::Id;

/// The only protocol number that exists.
pub const PROTOCOL: u64 = 1;

/// Bytes of the fixed part of the handshake (protocol, server id, address length).
pub const HANDSHAKE_PREFIX_LEN: usize = 24;

const WHAT: &str = "handshake";

/// Who is at the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The connecting node's id (never 0).
    pub server_id: Id,
    /// The connecting node's own listening address (`host:port`).
    pub address: String,
}

/// Encodes a handshake, padding the address field with zeros to a multiple of 8.
///
/// Errors: [`Error::Invalid`] if the server id is 0 or the address contains a NUL byte.
pub fn encode_handshake(handshake: &Handshake) -> Result<Vec<u8>> {
    if handshake.server_id == 0 {
        return Err(Error::invalid(WHAT, "server id 0"));
    }
    if handshake.address.as_bytes().contains(&0) {
        return Err(Error::invalid(WHAT, "address contains a NUL byte"));
    }
    let field_len = pad8(handshake.address.len() as u64 + 1) as usize;
    let mut out = Vec::with_capacity(HANDSHAKE_PREFIX_LEN + field_len);
    out.extend_from_slice(&PROTOCOL.to_le_bytes());
    out.extend_from_slice(&handshake.server_id.to_le_bytes());
    out.extend_from_slice(&(field_len as u64).to_le_bytes());
    out.extend_from_slice(handshake.address.as_bytes());
    out.resize(HANDSHAKE_PREFIX_LEN + field_len, 0);
    Ok(out)
}

/// Reads the fixed 24-byte part of a handshake and returns the length L of the address field
/// that follows it.
///
/// Errors: [`Error::Truncated`] if `prefix` is shorter than 24 bytes; [`Error::Malformed`] if
/// the protocol is not 1 or L is 0; [`Error::TooBig`] if L exceeds `limits.max_address_len`.
pub fn decode_handshake_prefix(prefix: &[u8], limits: &Limits) -> Result<u64> {
    let mut cursor = Cursor::new(prefix, WHAT);
    let protocol = cursor.u64()?;
    if protocol != PROTOCOL {
        return Err(Error::malformed(WHAT, format!("unknown protocol {protocol}")));
    }
    cursor.u64()?;
    let address_len = cursor.u64()?;
    if address_len == 0 {
        return Err(Error::malformed(WHAT, "empty address field"));
    }
    if address_len > limits.max_address_len {
        return Err(Error::too_big("handshake address", address_len, limits.max_address_len));
    }
    Ok(address_len)
}

/// Decodes a whole handshake; `buf` must hold exactly the 24-byte prefix and the L-byte address
/// field. The address is taken up to the first NUL; the padding after it is ignored (C-Raft
/// 0.15 leaves it uninitialised).
///
/// Errors: those of [`decode_handshake_prefix`]; [`Error::Truncated`] or [`Error::Malformed`] if
/// `buf` is not exactly `24 + L` bytes; [`Error::Malformed`] if the address has no NUL, is not
/// UTF-8, or the server id is 0.
pub fn decode_handshake(buf: &[u8], limits: &Limits) -> Result<Handshake> {
    let address_len = decode_handshake_prefix(buf, limits)?;
    let mut cursor = Cursor::new(buf, WHAT);
    cursor.skip(8)?;
    let server_id = cursor.u64()?;
    cursor.skip(8)?;
    // Bounded by max_address_len, so the conversion cannot truncate on 64-bit targets and the
    // Cursor checks the length anyway.
    let field = cursor.take(usize::try_from(address_len).unwrap_or(usize::MAX))?;
    if cursor.remaining() != 0 {
        return Err(Error::malformed(WHAT, format!("{} bytes after it", cursor.remaining())));
    }
    if server_id == 0 {
        return Err(Error::malformed(WHAT, "server id 0"));
    }
    let nul = field
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Error::malformed(WHAT, "address is not NUL-terminated"))?;
    let address = std::str::from_utf8(&field[..nul])
        .map_err(|_| Error::malformed(WHAT, "address is not UTF-8"))?;
    Ok(Handshake { server_id, address: address.to_owned() })
}
