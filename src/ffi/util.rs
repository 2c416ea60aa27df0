//! Stateless utilities: error strings, names, the digest, the random generator, the version.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong};

use sha1::{Digest, Sha1};

use super::boundary::guard;
use super::types::*;
use crate::core::{random, Role};

/// A static NUL-terminated string as a C pointer.
macro_rules! cstr {
    ($s:expr) => {
        concat!($s, "\0").as_ptr() as *const c_char
    };
}

/// The text of an error code (C-Raft's exact strings); `"unknown error"` for anything else,
/// including 0. Never NULL; static storage.
#[no_mangle]
pub extern "C" fn raft_strerror(errnum: c_int) -> *const c_char {
    guard(cstr!("unknown error"), || match errnum {
        RAFT_NOMEM => cstr!("out of memory"),
        RAFT_BADID => cstr!("server ID is not valid"),
        RAFT_DUPLICATEID => cstr!("server ID already in use"),
        RAFT_DUPLICATEADDRESS => cstr!("server address already in use"),
        RAFT_BADROLE => cstr!("server role is not valid"),
        RAFT_MALFORMED => cstr!("encoded data is malformed"),
        RAFT_NOTLEADER => cstr!("server is not the leader"),
        RAFT_LEADERSHIPLOST => cstr!("server has lost leadership"),
        RAFT_SHUTDOWN => cstr!("server is shutting down"),
        RAFT_CANTBOOTSTRAP => cstr!("bootstrap only works on new clusters"),
        RAFT_CANTCHANGE => cstr!("a configuration change is already in progress"),
        RAFT_CORRUPT => cstr!("persisted data is corrupted"),
        RAFT_CANCELED => cstr!("operation canceled"),
        RAFT_NAMETOOLONG => cstr!("resource name too long"),
        RAFT_TOOBIG => cstr!("data is too big"),
        RAFT_NOCONNECTION => cstr!("no connection to remote server available"),
        RAFT_BUSY => cstr!("operation can't be performed at this time"),
        RAFT_IOERR => cstr!("I/O error"),
        RAFT_NOTFOUND => cstr!("Resource not found"),
        RAFT_INVALID => cstr!("Invalid parameter"),
        RAFT_UNAUTHORIZED => cstr!("No access to resource"),
        RAFT_NOSPACE => cstr!("Not enough disk space"),
        RAFT_TOOMANY => cstr!("System or raft limit met or exceeded"),
        _ => cstr!("unknown error"),
    })
}

/// `"follower"`, `"candidate"` or `"leader"` for 1..3; NULL for anything else (including 0).
/// Static storage.
#[no_mangle]
pub extern "C" fn raft_state_name(state: c_int) -> *const c_char {
    guard(std::ptr::null(), || match raft_state::try_from(state) {
        Ok(raft_state::RAFT_FOLLOWER) => cstr!("follower"),
        Ok(raft_state::RAFT_CANDIDATE) => cstr!("candidate"),
        Ok(raft_state::RAFT_LEADER) => cstr!("leader"),
        Ok(raft_state::RAFT_UNAVAILABLE) | Err(_) => std::ptr::null(),
    })
}

/// `"stand-by"`, `"voter"` or `"spare"` for 0..2; NULL for anything else. Static storage.
#[no_mangle]
pub extern "C" fn raft_role_name(role: c_int) -> *const c_char {
    guard(std::ptr::null(), || match role_from_code(role) {
        Some(Role::Standby) => cstr!("stand-by"),
        Some(Role::Voter) => cstr!("voter"),
        Some(Role::Spare) => cstr!("spare"),
        None => std::ptr::null(),
    })
}

/// The digest of `text` and `n`, for deriving server IDs: SHA-1 over the bytes of `text`
/// (without its NUL) followed by `n` as 8 little-endian bytes; bytes 12..19 of the digest read
/// as a little-endian integer. `text` is borrowed for the call; NULL returns 0.
#[no_mangle]
pub extern "C" fn raft_digest(text: *const c_char, n: c_ulonglong) -> c_ulonglong {
    guard(0, || {
        if text.is_null() {
            return 0;
        }
        // SAFETY: non-NULL, and the caller passes a NUL-terminated string.
        let bytes = unsafe { std::ffi::CStr::from_ptr(text) }.to_bytes();
        digest(bytes, n)
    })
}

fn digest(text: &[u8], n: u64) -> u64 {
    let mut sha = Sha1::new();
    sha.update(text);
    sha.update(n.to_le_bytes());
    let out = sha.finalize();
    u64::from_le_bytes(out[12..20].try_into().expect("SHA-1 digests are 20 bytes"))
}

/// A uniform number in `[min, max]` from the generator state `*state` (C-Raft's generator, so
/// the same seeds give the same numbers). `min >= max` returns `min` without advancing the
/// state; a NULL `state` returns `min`.
#[no_mangle]
pub extern "C" fn raft_random(state: *mut c_uint, min: c_uint, max: c_uint) -> c_uint {
    guard(min, || {
        // SAFETY: a non-NULL state points to the caller's generator word.
        match unsafe { state.as_mut() } {
            Some(s) => random::random(s, min, max),
            None => min,
        }
    })
}

/// `RAFT_VERSION_NUMBER` of the library actually loaded.
#[no_mangle]
pub extern "C" fn raft_version_number() -> c_int {
    RAFT_VERSION_NUMBER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_craft_vectors() {
        assert_eq!(digest(b"127.0.0.1:65536", 0), 17791327498928598451);
        assert_eq!(digest(b"abc", 1234), 7863176461209272338);
    }
}
