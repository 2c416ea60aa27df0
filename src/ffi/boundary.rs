//! The panic boundary and the pointer helpers. Every exported function runs inside [`guard`],
//! and every raw pointer from C becomes a reference or a slice through the helpers here, so
//! the NULL and length checks live in one place.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, CStr};
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use super::types::*;
use crate::core;

/// Runs `body`, turning a panic into `on_panic` so that no unwind ever crosses into C.
pub fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    contain(body).unwrap_or(on_panic)
}

/// Runs `body` and returns the message of a panic instead of unwinding. A panic here is a bug
/// of the library: it is never printed on the host's stderr (the host owns that stream), it is
/// handed to the caller, which reports it through the instance's error message.
pub fn contain<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    // One thread-local access per call: in a shared library each costs a call into the
    // dynamic loader, and this runs on every step.
    let outcome = DEPTH.with(|depth| {
        depth.set(depth.get() + 1);
        let outcome = catch_unwind(AssertUnwindSafe(body));
        depth.set(depth.get() - 1);
        outcome
    });
    outcome.map_err(|_| {
        LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown panic".into())
    })
}

thread_local! {
    /// How many boundary calls are running on this thread (a tracer may re-enter the library).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The last panic caught inside the boundary on this thread, with its location.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records panics raised inside the boundary
/// instead of printing them, and hands every other panic to the hook that was there before
/// (a Rust host's panics keep their usual report).
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(|d| d.get()) == 0 {
                return previous(info);
            }
            let text = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_string(),
                None => info.payload().downcast_ref::<String>().cloned().unwrap_or_default(),
            };
            let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
            let report = format!("{text}{}", place.unwrap_or_default());
            LAST_PANIC.with(|p| {
                if let Ok(mut slot) = p.try_borrow_mut() {
                    *slot = Some(report);
                }
            });
        }));
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_the_boundary_is_handed_back_with_its_location() {
        let outcome = contain(|| -> u32 { panic!("invariant broken: {}", 7) });
        let message = outcome.expect_err("the panic is contained");
        assert!(message.starts_with("invariant broken: 7 at "), "{message}");
        assert!(message.contains("boundary.rs:"), "{message}");
    }

    #[test]
    fn guard_returns_the_fallback_on_panic_and_the_value_otherwise() {
        assert_eq!(guard(-1, || 5), 5);
        assert_eq!(guard(-1, || -> i32 { panic!("boom") }), -1);
    }

    #[test]
    fn nested_boundaries_report_to_the_innermost_caller() {
        let outer = contain(|| {
            let inner = contain(|| -> u8 { panic!("inner") });
            assert!(inner.unwrap_err().starts_with("inner"));
            3
        });
        assert_eq!(outer, Ok(3));
    }
}
