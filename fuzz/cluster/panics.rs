//! Panics the library catches at its boundary (the C ABI turns them into RAFT_SHUTDOWN): a
//! panic hook records them, so that a caught panic still fails the run. Under libFuzzer the
//! fuzz target's own hook aborts first.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the recording hook in front of the current one (once per process).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(true));
            previous(info);
        }));
    });
}

/// Fails if the library panicked since the last call.
pub fn assert_none(id: u64, what: &str) {
    let panicked = PANICKED.with(|p| p.replace(false));
    assert!(!panicked, "server {id}: the library panicked on {what}");
}
