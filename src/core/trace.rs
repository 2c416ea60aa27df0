//! Diagnostics. The core formats nothing unless a tracer is installed: messages are built as
//! `fmt::Arguments`, which cost nothing until a tracer writes them out.

use std::fmt;

/// Severity levels, the most severe first.
pub const LEVEL_ERROR: u8 = 1;
pub const LEVEL_WARN: u8 = 2;
pub const LEVEL_INFO: u8 = 3;
pub const LEVEL_DEBUG: u8 = 4;
pub const LEVEL_TRACE: u8 = 5;

/// Receives the core's diagnostics during a step.
pub trait Tracer {
    /// `file` and `line` locate the rule that speaks (`file!()`, `line!()`).
    fn trace(&mut self, level: u8, file: &'static str, line: u32, message: fmt::Arguments<'_>);
}

/// Emits a diagnostic through an `Option<&mut dyn Tracer>`, formatting nothing when it is None.
#[macro_export]
#[doc(hidden)]
macro_rules! raft_trace {
    ($tracer:expr, $level:expr, $($arg:tt)+) => {
        if let Some(t) = $tracer.as_deref_mut() {
            t.trace($level, file!(), line!(), format_args!($($arg)+));
        }
    };
}
