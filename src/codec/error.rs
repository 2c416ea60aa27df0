//! The error type shared by every wire and disk codec.
//!
//! Each variant says what was wrong and where, and [`Error::kind`] tells which `RAFT_*` code it
//! stands for at the C boundary: decoders never panic, over-read or allocate more than their
//! limits allow; they return one of these instead.

use thiserror::Error;

use crate::codec::configuration::DecodeError as ConfigurationError;

/// The class of a codec error, one per `RAFT_*` code it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes do not follow the format (`RAFT_MALFORMED`).
    Malformed,
    /// The bytes follow the format but a checksum or a cross-check fails (`RAFT_CORRUPT`).
    Corrupt,
    /// A length is above a configured limit (`RAFT_TOOBIG`).
    TooBig,
    /// Something the caller asked to encode cannot be represented or must not be sent
    /// (`RAFT_INVALID`).
    Invalid,
}

/// Why some bytes could not be decoded, or some value could not be encoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Error {
    /// The input ends before a structure that it announces.
    #[error("{what} truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes it needs from its start.
        needed: u64,
        /// Bytes there were.
        available: u64,
    },
    /// A length announced by the input (or given to an encoder) is above the limit.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooBig {
        /// What is too big.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The input does not follow the format.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The structure that does not follow the format.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A checksum or consistency check failed.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// The structure that failed the check.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// An embedded configuration failed to decode.
    #[error("bad configuration in {what}: {source}")]
    Configuration {
        /// The structure that embeds the configuration.
        what: &'static str,
        /// Why the configuration was refused.
        source: ConfigurationError,
    },
    /// A value cannot be encoded (or must never be sent, like an entry whose size is not a
    /// multiple of 8).
    #[error("cannot encode {what}: {detail}")]
    Invalid {
        /// What could not be encoded.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    /// The `RAFT_*` class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Truncated { .. } | Error::Malformed { .. } | Error::Configuration { .. } => {
                ErrorKind::Malformed
            }
            Error::TooBig { .. } => ErrorKind::TooBig,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Invalid { .. } => ErrorKind::Invalid,
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Error {
        Error::Malformed { what, detail: detail.into() }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Error {
        Error::Corrupt { what, detail: detail.into() }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Error {
        Error::Invalid { what, detail: detail.into() }
    }

    pub(crate) fn too_big(what: &'static str, len: u64, limit: u64) -> Error {
        Error::TooBig { what, len, limit }
    }
}

/// Result of the codecs.
pub type Result<T> = std::result::Result<T, Error>;
