//! The process-wide heap through which every byte exchanged with the host is allocated and
//! freed (docs/contract.md#memory). The default forwards to libc.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::boundary::{guard, Failure};
use super::types::raft_heap;

unsafe extern "C" fn default_malloc(_data: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: plain libc allocation.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn default_free(_data: *mut c_void, ptr: *mut c_void) {
    // SAFETY: `ptr` came from this heap (the caller's contract).
    unsafe { libc::free(ptr) }
}

unsafe extern "C" fn default_calloc(_data: *mut c_void, nmemb: usize, size: usize) -> *mut c_void {
    // SAFETY: plain libc allocation.
    unsafe { libc::calloc(nmemb, size) }
}

unsafe extern "C" fn default_realloc(
    _data: *mut c_void,
    ptr: *mut c_void,
    size: usize,
) -> *mut c_void {
    // SAFETY: `ptr` is NULL or came from this heap (the caller's contract).
    unsafe { libc::realloc(ptr, size) }
}

unsafe extern "C" fn default_aligned_alloc(
    _data: *mut c_void,
    alignment: usize,
    size: usize,
) -> *mut c_void {
    // SAFETY: plain libc allocation; libc validates the alignment.
    unsafe { libc::aligned_alloc(alignment, size) }
}

unsafe extern "C" fn default_aligned_free(_data: *mut c_void, _alignment: usize, ptr: *mut c_void) {
    // SAFETY: `ptr` came from `aligned_alloc` of this heap (the caller's contract).
    unsafe { libc::free(ptr) }
}

/// The built-in heap, in a wrapper that may be shared: it holds no data pointer and is never
/// written. `raft_heap_get` exposes it read-only.
struct SharedHeap(raft_heap);

// SAFETY: the default heap is immutable and its data pointer is NULL.
unsafe impl Sync for SharedHeap {}

static DEFAULT: SharedHeap = SharedHeap(raft_heap {
    data: ptr::null_mut(),
    malloc: Some(default_malloc),
    free: Some(default_free),
    calloc: Some(default_calloc),
    realloc: Some(default_realloc),
    aligned_alloc: Some(default_aligned_alloc),
    aligned_free: Some(default_aligned_free),
});

static CURRENT: AtomicPtr<raft_heap> = AtomicPtr::new(ptr::null_mut());

fn current() -> &'static raft_heap {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: a non-NULL pointer was installed by raft_heap_set, whose contract keeps the
    // struct alive while installed.
    unsafe { p.as_ref() }.unwrap_or(&DEFAULT.0)
}

/// Allocates `size` bytes with the current heap (NULL on failure or when the heap has no
/// `malloc`).
pub fn malloc(size: usize) -> *mut c_void {
    let heap = current();
    match heap.malloc {
        // SAFETY: calling the host's allocator as its contract describes.
        Some(f) => unsafe { f(heap.data, size) },
        None => ptr::null_mut(),
    }
}

/// Allocates `nmemb * size` zeroed bytes with the current heap.
pub fn calloc(nmemb: usize, size: usize) -> *mut c_void {
    let heap = current();
    match heap.calloc {
        // SAFETY: calling the host's allocator as its contract describes.
        Some(f) => unsafe { f(heap.data, nmemb, size) },
        None => ptr::null_mut(),
    }
}

/// Resizes an allocation of the current heap.
pub fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let heap = current();
    match heap.realloc {
        // SAFETY: calling the host's allocator as its contract describes.
        Some(f) => unsafe { f(heap.data, p, size) },
        None => ptr::null_mut(),
    }
}

/// Frees memory of the current heap; NULL is ignored.
pub fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let heap = current();
    if let Some(f) = heap.free {
        // SAFETY: `p` came from this heap (the caller's contract).
        unsafe { f(heap.data, p) }
    }
}

/// Copies `bytes` into a new allocation of the current heap, followed by a NUL.
pub fn strdup(bytes: &[u8]) -> *mut std::ffi::c_char {
    let p = malloc(bytes.len() + 1) as *mut u8;
    if !p.is_null() {
        // SAFETY: `p` has room for len + 1 bytes and does not overlap `bytes`.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            *p.add(bytes.len()) = 0;
        }
    }
    p as *mut std::ffi::c_char
}

/// [`strdup`], or `RAFT_NOMEM` when the heap has no memory.
pub fn copy_string(bytes: &[u8]) -> Result<*mut std::ffi::c_char, Failure> {
    let copy = strdup(bytes);
    if copy.is_null() {
        return Err(Failure::nomem());
    }
    Ok(copy)
}

/// Allocates an array of `n` `T`s (uninitialised) with the current heap; NULL on failure or
/// overflow. `n == 0` still returns a distinct allocation so that the host can free it.
pub fn alloc_array<T>(n: usize) -> *mut T {
    match n.max(1).checked_mul(std::mem::size_of::<T>()) {
        Some(size) => malloc(size) as *mut T,
        None => ptr::null_mut(),
    }
}

/// Allocates `size` bytes with the current heap.
#[no_mangle]
pub extern "C" fn raft_malloc(size: usize) -> *mut c_void {
    guard(|| malloc(size))
}

/// Frees memory obtained from the raft heap. NULL is ignored.
#[no_mangle]
pub extern "C" fn raft_free(ptr: *mut c_void) {
    guard(|| free(ptr))
}

/// Allocates `nmemb * size` zeroed bytes with the current heap.
#[no_mangle]
pub extern "C" fn raft_calloc(nmemb: usize, size: usize) -> *mut c_void {
    guard(|| calloc(nmemb, size))
}

/// Resizes memory obtained from the raft heap.
#[no_mangle]
pub extern "C" fn raft_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    guard(|| realloc(ptr, size))
}

/// Allocates `size` bytes aligned to `alignment` with the current heap.
#[no_mangle]
pub extern "C" fn raft_aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    guard(|| {
        let heap = current();
        match heap.aligned_alloc {
            // SAFETY: calling the host's allocator as its contract describes.
            Some(f) => unsafe { f(heap.data, alignment, size) },
            None => ptr::null_mut(),
        }
    })
}

/// Frees memory from `raft_aligned_alloc`. Forwards even NULL, as C-Raft does.
#[no_mangle]
pub extern "C" fn raft_aligned_free(alignment: usize, ptr: *mut c_void) {
    guard(|| {
        let heap = current();
        if let Some(f) = heap.aligned_free {
            // SAFETY: `ptr` came from this heap's aligned_alloc (the caller's contract).
            unsafe { f(heap.data, alignment, ptr) }
        }
    })
}

/// Installs `heap` as the process-wide heap. The library stores the pointer, not a copy: the
/// struct must stay alive while installed. NULL restores the built-in heap. Not synchronised:
/// change the heap only while no memory of the previous one is alive.
#[no_mangle]
pub extern "C" fn raft_heap_set(heap: *mut raft_heap) {
    guard(|| CURRENT.store(heap, Ordering::Release))
}

/// Restores the built-in heap (libc).
#[no_mangle]
pub extern "C" fn raft_heap_set_default() {
    guard(|| CURRENT.store(ptr::null_mut(), Ordering::Release))
}

/// The heap currently installed. The built-in one must not be modified through this pointer.
#[no_mangle]
pub extern "C" fn raft_heap_get() -> *const raft_heap {
    guard(|| current() as *const raft_heap)
}
