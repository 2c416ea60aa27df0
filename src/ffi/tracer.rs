//! Bridges the core's diagnostics to the host's `raft_tracer`, formatting a message only when
//! a tracer will receive it.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt::{self, Write as _};

use super::types::*;
use crate::core;

/// The version of `raft_tracer` this library calls.
const TRACER_VERSION: c_int = 2;
/// The version of `raft_tracer_info` it passes.
const INFO_VERSION: c_int = 1;

/// A host tracer for the duration of one call, with the instance's reusable text buffer.
pub struct HostTracer<'a> {
    tracer: *mut raft_tracer,
    emit: unsafe extern "C" fn(*mut raft_tracer, c_int, *const c_void),
    text: &'a mut String,
}

impl<'a> HostTracer<'a> {
    /// The tracer to use, or None when nothing would be delivered (NULL tracer, a version this
    /// library does not call, no `emit`, or the built-in tracer while it is silent).
    ///
    /// # Safety
    /// A non-NULL `tracer` must point to a valid `raft_tracer` for the duration of the call.
    pub unsafe fn new(
        tracer: *mut raft_tracer,
        silent_default: *const raft_tracer,
        text: &'a mut String,
    ) -> Option<HostTracer<'a>> {
        if tracer.is_null() || std::ptr::eq(tracer, silent_default) {
            return None;
        }
        // SAFETY: non-NULL and valid per the caller.
        let t = unsafe { &*tracer };
        if t.version != TRACER_VERSION {
            return None;
        }
        let emit = t.emit?;
        Some(HostTracer { tracer, emit, text })
    }
}

impl HostTracer<'_> {
    /// An event of `kind` without info (raft_uv's write events, as C-Raft emits them).
    pub fn event(&self, kind: c_int) {
        // SAFETY: the host's callback with its own tracer pointer; no info, as documented.
        unsafe { (self.emit)(self.tracer, kind, std::ptr::null()) };
    }
}

impl core::Tracer for HostTracer<'_> {
    fn trace(&mut self, level: u8, file: &'static str, line: u32, message: fmt::Arguments<'_>) {
        // Message and file name share the reused buffer, each NUL-terminated for C (an
        // interior NUL would only shorten the message); pointers are taken once both are in.
        self.text.clear();
        let _ = self.text.write_fmt(message);
        self.text.push('\0');
        let file_at = self.text.len();
        self.text.push_str(file);
        self.text.push('\0');
        let info = raft_tracer_info {
            version: INFO_VERSION,
            body: raft_tracer_info_body {
                diagnostic: raft_tracer_diagnostic {
                    level: level.into(),
                    message: self.text.as_ptr() as *const c_char,
                    file: self.text[file_at..].as_ptr() as *const c_char,
                    line: line as c_int,
                },
            },
        };
        // SAFETY: the host's callback with its own tracer pointer and an info struct that
        // lives for the call, as the header documents.
        unsafe {
            (self.emit)(self.tracer, RAFT_TRACER_DIAGNOSTIC, &info as *const _ as *const c_void)
        };
    }
}

/// The built-in tracer's output: one line per diagnostic on stderr.
pub unsafe extern "C" fn default_emit(_t: *mut raft_tracer, kind: c_int, info: *const c_void) {
    if kind != RAFT_TRACER_DIAGNOSTIC || info.is_null() {
        return;
    }
    // SAFETY: the library passes a valid raft_tracer_info for diagnostics.
    let d = unsafe { (*(info as *const raft_tracer_info)).body.diagnostic };
    if d.message.is_null() || d.file.is_null() {
        return;
    }
    // SAFETY: NUL-terminated strings valid during the call.
    let (message, file) = unsafe { (CStr::from_ptr(d.message), CStr::from_ptr(d.file)) };
    eprintln!("LIBRAFT {}:{} {}", file.to_string_lossy(), d.line, message.to_string_lossy());
}

/// The built-in tracer installed by `raft_init()`.
pub fn default_tracer() -> raft_tracer {
    raft_tracer { r#impl: std::ptr::null_mut(), version: TRACER_VERSION, emit: Some(default_emit) }
}
