//! The panic boundary and the pointer helpers. Every exported function runs inside [`guard`],
//! and every raw pointer from C becomes a reference or a slice through the helpers here, so
//! the NULL and length checks live in one place.

use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::types::*;
use crate::core;

/// Runs `body`, turning a panic into `on_panic` so that no unwind ever crosses into C.
pub fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// A failed call: the code to return and, where an instance is at hand, the message to store.
#[derive(Debug)]
pub struct Failure {
    pub code: c_int,
    pub message: String,
}

impl Failure {
    pub fn new(code: c_int, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(RAFT_INVALID, message)
    }

    pub fn malformed(message: impl Into<String>) -> Failure {
        Failure::new(RAFT_MALFORMED, message)
    }

    pub fn nomem() -> Failure {
        Failure::new(RAFT_NOMEM, "out of memory")
    }
}

impl From<core::Error> for Failure {
    fn from(e: core::Error) -> Failure {
        Failure::new(code_of(&e), e.to_string())
    }
}

/// The `RAFT_*` code of a core error: the one place where the two vocabularies meet.
pub fn code_of(e: &core::Error) -> c_int {
    use core::Error::*;
    match e {
        NoMem => RAFT_NOMEM,
        BadId(_) => RAFT_BADID,
        DuplicateId(_) => RAFT_DUPLICATEID,
        DuplicateAddress(_) => RAFT_DUPLICATEADDRESS,
        BadRole(_) => RAFT_BADROLE,
        Malformed(_) => RAFT_MALFORMED,
        NotLeader => RAFT_NOTLEADER,
        Shutdown(_) => RAFT_SHUTDOWN,
        CantChange => RAFT_CANTCHANGE,
        Corrupt(_) => RAFT_CORRUPT,
        TooBig(_) => RAFT_TOOBIG,
        Busy(_) => RAFT_BUSY,
        NotFound(_) => RAFT_NOTFOUND,
        Invalid(_) => RAFT_INVALID,
        NoSpace => RAFT_NOSPACE,
    }
}

/// A shared reference to `*ptr`, or a failure naming `what` when it is NULL.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid, initialised `T` that outlives `'a` and is not
/// written through another pointer meanwhile.
pub unsafe fn non_null<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller guarantees validity of a non-NULL pointer.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A mutable reference to `*ptr`, or a failure naming `what` when it is NULL.
///
/// # Safety
/// As [`non_null`], and no other reference to `*ptr` may exist during `'a`.
pub unsafe fn non_null_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller guarantees validity and exclusivity of a non-NULL pointer.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The `n` elements at `ptr`. `(NULL, 0)` is the empty slice; `(NULL, n > 0)` is a failure.
///
/// # Safety
/// A non-NULL `ptr` must point to `n` valid, initialised `T`s that outlive `'a`.
pub unsafe fn slice<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL but its count is {n}")));
    }
    // SAFETY: non-NULL and, per the caller, valid for `n` elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// The bytes of a buffer (`(NULL, 0)` is empty).
///
/// # Safety
/// As [`slice`] for `buf.base`/`buf.len`.
pub unsafe fn buffer_bytes<'a>(buf: &raft_buffer, what: &str) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded to the caller.
    unsafe { slice(buf.base as *const u8, buf.len, what) }
}

/// A NUL-terminated string as UTF-8 text.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string that outlives `'a`.
pub unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| Failure::invalid(format!("{what} is not valid UTF-8")))
}

impl From<crate::codec::Error> for Failure {
    fn from(e: crate::codec::Error) -> Failure {
        use crate::codec::ErrorKind;
        let code = match e.kind() {
            ErrorKind::Malformed => RAFT_MALFORMED,
            ErrorKind::Corrupt => RAFT_CORRUPT,
            ErrorKind::TooBig => RAFT_TOOBIG,
            ErrorKind::Invalid => RAFT_INVALID,
        };
        Failure::new(code, e.to_string())
    }
}

/// Copies `message` into the caller's optional error buffer of `RAFT_ERRMSG_BUF_SIZE` bytes,
/// cut at a character boundary and NUL-terminated. Codec functions have no instance to keep
/// the message in, and the library keeps no process-wide "last error".
///
/// # Safety
/// A non-NULL `errmsg` must point to `RAFT_ERRMSG_BUF_SIZE` writable bytes.
pub unsafe fn write_errmsg(errmsg: *mut c_char, message: &str) {
    if errmsg.is_null() {
        return;
    }
    let mut len = message.len().min(RAFT_ERRMSG_BUF_SIZE - 1);
    while !message.is_char_boundary(len) {
        len -= 1;
    }
    // SAFETY: the caller guarantees RAFT_ERRMSG_BUF_SIZE writable bytes; len + 1 fits.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), errmsg as *mut u8, len);
        *errmsg.add(len) = 0;
    }
}

/// Runs the body of a codec function inside the panic boundary and turns its outcome into the
/// return code, copying a failure's message to `errmsg` (NULL, or `RAFT_ERRMSG_BUF_SIZE`
/// writable bytes, as every codec function documents).
pub fn codec_call(errmsg: *mut c_char, body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    guard(RAFT_NOMEM, || {
        let result = body();
        // SAFETY: `errmsg` is NULL or a buffer of RAFT_ERRMSG_BUF_SIZE bytes (the contract of
        // every codec function).
        unsafe { report(result, errmsg) }
    })
}

/// The return code of a codec call, with the failure's message copied to `errmsg`.
///
/// # Safety
/// As [`write_errmsg`].
pub unsafe fn report(result: Result<(), Failure>, errmsg: *mut c_char) -> c_int {
    match result {
        Ok(()) => 0,
        Err(failure) => {
            // SAFETY: forwarded to the caller.
            unsafe { write_errmsg(errmsg, &failure.message) };
            failure.code
        }
    }
}
