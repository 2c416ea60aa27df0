//! A counting raft heap (`raft_heap_set`): it knows every live allocation, records what was
//! freed during a step, reports frees of memory it never handed out (double or foreign
//! frees), and can make a chosen allocation fail.

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard};

use raft::ffi::types::raft_heap;

extern "C" {
    fn raft_heap_set(heap: *mut raft_heap);
    fn raft_heap_set_default();
}

#[derive(Default)]
struct State {
    live: HashMap<usize, usize>,
    freed: HashSet<usize>,
    bad_frees: Vec<usize>,
    /// Allocations left before one fails.
    fail_in: Option<u32>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
/// One counting heap at a time in the process (tests run in parallel threads).
static IN_USE: Mutex<()> = Mutex::new(());

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(State::default))
}

/// Counts down to an injected failure.
fn should_fail() -> bool {
    with(|s| match s.fail_in {
        Some(0) => {
            s.fail_in = None;
            true
        }
        Some(n) => {
            s.fail_in = Some(n - 1);
            false
        }
        None => false,
    })
}

fn record(ptr: *mut c_void, size: usize) -> *mut c_void {
    if !ptr.is_null() {
        with(|s| s.live.insert(ptr as usize, size));
    }
    ptr
}

/// Forgets `ptr`; false when it was not live (a double or foreign free).
fn forget(ptr: *mut c_void) -> bool {
    with(|s| {
        if s.live.remove(&(ptr as usize)).is_some() {
            s.freed.insert(ptr as usize);
            true
        } else {
            s.bad_frees.push(ptr as usize);
            false
        }
    })
}

unsafe extern "C" fn malloc(_: *mut c_void, size: usize) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    // SAFETY: plain libc allocation.
    record(unsafe { libc::malloc(size.max(1)) }, size)
}

unsafe extern "C" fn calloc(_: *mut c_void, nmemb: usize, size: usize) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    // SAFETY: plain libc allocation.
    record(unsafe { libc::calloc(nmemb.max(1), size.max(1)) }, nmemb.saturating_mul(size))
}

unsafe extern "C" fn free(_: *mut c_void, ptr: *mut c_void) {
    if !ptr.is_null() && forget(ptr) {
        // SAFETY: a live allocation of this heap.
        unsafe { libc::free(ptr) }
    }
}

unsafe extern "C" fn realloc(_: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    if !ptr.is_null() && !with(|s| s.live.contains_key(&(ptr as usize))) {
        with(|s| s.bad_frees.push(ptr as usize));
        return std::ptr::null_mut();
    }
    // SAFETY: NULL or a live allocation of this heap.
    let new = unsafe { libc::realloc(ptr, size.max(1)) };
    if !new.is_null() && !ptr.is_null() {
        with(|s| s.live.remove(&(ptr as usize)));
    }
    record(new, size)
}

unsafe extern "C" fn aligned_alloc(_: *mut c_void, alignment: usize, size: usize) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    let mut out = std::ptr::null_mut();
    // SAFETY: posix_memalign validates the alignment itself.
    if unsafe { libc::posix_memalign(&mut out, alignment.max(8), size.max(1)) } != 0 {
        return std::ptr::null_mut();
    }
    record(out, size)
}

unsafe extern "C" fn aligned_free(_: *mut c_void, _alignment: usize, ptr: *mut c_void) {
    // SAFETY: as free.
    unsafe { free(std::ptr::null_mut(), ptr) }
}

/// The installed counting heap; uninstalled on drop.
pub struct Counting {
    heap: Box<raft_heap>,
    _exclusive: MutexGuard<'static, ()>,
}

impl Counting {
    pub fn install() -> Counting {
        let exclusive = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        with(|s| *s = State::default());
        let mut heap = Box::new(raft_heap {
            data: std::ptr::null_mut(),
            malloc: Some(malloc),
            free: Some(free),
            calloc: Some(calloc),
            realloc: Some(realloc),
            aligned_alloc: Some(aligned_alloc),
            aligned_free: Some(aligned_free),
        });
        // SAFETY: the struct stays alive (boxed) until it is uninstalled in drop.
        unsafe { raft_heap_set(&mut *heap) };
        Counting { heap, _exclusive: exclusive }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        // SAFETY: restores the built-in heap before the struct goes.
        unsafe { raft_heap_set_default() };
        let _ = &self.heap;
    }
}

/// Makes the `nth` allocation from now on fail (`None`: none).
pub fn fail_allocation(nth: Option<u32>) {
    with(|s| s.fail_in = nth);
}

/// Starts recording frees for one step.
pub fn start_step() {
    with(|s| s.freed.clear());
}

/// Whether `ptr` was freed since [`start_step`].
pub fn freed_in_step(ptr: *mut c_void) -> bool {
    with(|s| s.freed.contains(&(ptr as usize)))
}

/// Fails if anything freed memory the heap did not hand out, or freed it twice.
pub fn assert_no_bad_free(what: &str) {
    let bad = with(|s| std::mem::take(&mut s.bad_frees));
    assert!(bad.is_empty(), "{what}: freed memory that was not live ({} times)", bad.len());
}

/// Fails unless every allocation has been freed.
pub fn assert_no_leak() {
    assert_no_bad_free("closing");
    let live = with(|s| s.live.values().copied().collect::<Vec<_>>());
    assert!(live.is_empty(), "{} raft-heap allocations leaked ({live:?} bytes)", live.len());
}

/// Allocates with the raft heap and copies `bytes` in.
pub fn copy_in(bytes: &[u8]) -> *mut c_void {
    // SAFETY: a fresh allocation of at least `bytes.len()` bytes.
    unsafe {
        let p = malloc(std::ptr::null_mut(), bytes.len());
        assert!(!p.is_null(), "host allocation failed");
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len());
        p
    }
}

/// Frees host-owned memory of the raft heap.
pub fn release(ptr: *mut c_void) {
    // SAFETY: the host frees what it owns.
    unsafe { free(std::ptr::null_mut(), ptr) }
}
