//! Errors of the core. Each variant maps to exactly one `RAFT_*` code at the C boundary; the
//! text is what `raft_errmsg()` shows.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    BadId(String),
    #[error("{0}")]
    DuplicateId(String),
    #[error("{0}")]
    DuplicateAddress(String),
    #[error("{0}")]
    Malformed(String),
    #[error("server is not the leader")]
    NotLeader,
    #[error("{0}")]
    Shutdown(String),
    #[error("a configuration change is already in progress")]
    CantChange,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Not enough disk space")]
    NoSpace,
}

impl From<crate::vocab::ConfigurationError> for Error {
    fn from(e: crate::vocab::ConfigurationError) -> Error {
        use crate::vocab::ConfigurationError as E;
        match e {
            E::BadId(text) => Error::BadId(text),
            E::DuplicateId(text) => Error::DuplicateId(text),
            E::DuplicateAddress(text) => Error::DuplicateAddress(text),
        }
    }
}
