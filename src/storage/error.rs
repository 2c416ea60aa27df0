//! What can go wrong with a data directory, sorted into the kinds the C boundary turns into
//! `RAFT_*` codes.

use std::path::Path;

/// The kind of a storage failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The disk (or quota) is full.
    NoSpace,
    /// Any other failure of a system call.
    Io,
    /// A file fails its checks (checksums, lengths, a gap in the log).
    Corrupt,
    /// A file is well formed but says something impossible (unknown format or entry type).
    Malformed,
    /// Bootstrap of a directory that already holds a state.
    CantBootstrap,
    /// The caller asked for something the directory cannot do (an entry C-Raft could not read
    /// back, a snapshot without configuration).
    Invalid,
}

/// A storage failure: its kind and a message naming the file and the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

/// Result of the storage layer.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// A failed system call on `path`: `ENOSPC` and `EDQUOT` are [`ErrorKind::NoSpace`], the
    /// rest [`ErrorKind::Io`].
    pub fn io(action: &str, path: &Path, e: std::io::Error) -> Error {
        let kind = match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorKind::NoSpace,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{action} {}: {e}", path.display()))
    }

    /// A codec error met while reading `file`.
    pub fn codec(file: &str, e: crate::codec::Error) -> Error {
        let kind = match e.kind() {
            crate::codec::ErrorKind::Malformed => ErrorKind::Malformed,
            crate::codec::ErrorKind::Invalid => ErrorKind::Invalid,
            _ => ErrorKind::Corrupt,
        };
        Error::new(kind, format!("{file}: {e}"))
    }

    pub fn corrupt(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_no_space_and_other_failures_are_io() {
        let path = Path::new("/data/open-1");
        let full = Error::io("append to", path, std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(full.kind, ErrorKind::NoSpace);
        assert!(full.message.contains("/data/open-1"), "{}", full.message);
        let quota = Error::io("append to", path, std::io::Error::from_raw_os_error(libc::EDQUOT));
        assert_eq!(quota.kind, ErrorKind::NoSpace);
        let eio = Error::io("append to", path, std::io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(eio.kind, ErrorKind::Io);
    }
}
