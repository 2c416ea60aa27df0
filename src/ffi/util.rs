//! Stateless utilities: error strings, names, the digest, the random generator, the version.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, CStr};

use sha1::{Digest, Sha1};

use super::boundary::guard;
use super::types::*;
use crate::core::{random, Role};

/// A static name as a C pointer, NULL for none.
fn static_or_null(name: Option<&'static CStr>) -> *const c_char {
    name.map_or(std::ptr::null(), CStr::as_ptr)
}

/// The text of an error code (C-Raft's exact strings); `"unknown error"` for anything else,
/// including 0. Never NULL; static storage.
#[no_mangle]
pub extern "C" fn raft_strerror(errnum: c_int) -> *const c_char {
    let text: &'static CStr = guard(|| match errnum {
        RAFT_NOMEM => c"out of memory",
        RAFT_BADID => c"server ID is not valid",
        RAFT_DUPLICATEID => c"server ID already in use",
        RAFT_DUPLICATEADDRESS => c"server address already in use",
        RAFT_BADROLE => c"server role is not valid",
        RAFT_MALFORMED => c"encoded data is malformed",
        RAFT_NOTLEADER => c"server is not the leader",
        RAFT_LEADERSHIPLOST => c"server has lost leadership",
        RAFT_SHUTDOWN => c"server is shutting down",
        RAFT_CANTBOOTSTRAP => c"bootstrap only works on new clusters",
        RAFT_CANTCHANGE => c"a configuration change is already in progress",
        RAFT_CORRUPT => c"persisted data is corrupted",
        RAFT_CANCELED => c"operation canceled",
        RAFT_NAMETOOLONG => c"resource name too long",
        RAFT_TOOBIG => c"data is too big",
        RAFT_NOCONNECTION => c"no connection to remote server available",
        RAFT_BUSY => c"operation can't be performed at this time",
        RAFT_IOERR => c"I/O error",
        RAFT_NOTFOUND => c"Resource not found",
        RAFT_INVALID => c"Invalid parameter",
        RAFT_UNAUTHORIZED => c"No access to resource",
        RAFT_NOSPACE => c"Not enough disk space",
        RAFT_TOOMANY => c"System or raft limit met or exceeded",
        _ => c"unknown error",
    });
    text.as_ptr()
}

/// `"follower"`, `"candidate"` or `"leader"` for 1..3; NULL for anything else (including 0).
/// Static storage.
#[no_mangle]
pub extern "C" fn raft_state_name(state: c_int) -> *const c_char {
    let name = guard(|| match raft_state::try_from(state) {
        Ok(raft_state::RAFT_FOLLOWER) => Some(c"follower"),
        Ok(raft_state::RAFT_CANDIDATE) => Some(c"candidate"),
        Ok(raft_state::RAFT_LEADER) => Some(c"leader"),
        Ok(raft_state::RAFT_UNAVAILABLE) | Err(_) => None,
    });
    static_or_null(name)
}

/// `"stand-by"`, `"voter"` or `"spare"` for 0..2; NULL for anything else. Static storage.
#[no_mangle]
pub extern "C" fn raft_role_name(role: c_int) -> *const c_char {
    let name = guard(|| {
        role_from_code(role).map(|role| match role {
            Role::Standby => c"stand-by",
            Role::Voter => c"voter",
            Role::Spare => c"spare",
        })
    });
    static_or_null(name)
}

/// The digest of `text` and `n`, for deriving server IDs: SHA-1 over the bytes of `text`
/// (without its NUL) followed by `n` as 8 little-endian bytes; bytes 12..19 of the digest read
/// as a little-endian integer. `text` is borrowed for the call; NULL returns 0.
#[no_mangle]
pub extern "C" fn raft_digest(text: *const c_char, n: c_ulonglong) -> c_ulonglong {
    guard(|| {
        if text.is_null() {
            return None;
        }
        // SAFETY: non-NULL, and the caller passes a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
        Some(digest(bytes, n))
    })
    .unwrap_or(0)
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
    // SAFETY: a non-NULL state points to the caller's generator word.
    guard(|| unsafe { state.as_mut() }.map(|s| random::random(s, min, max))).unwrap_or(min)
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
