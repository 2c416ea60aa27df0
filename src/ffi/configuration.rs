//! `raft_configuration_*`, and the conversions between C and core configurations.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::ptr;

use super::boundary::{self, guard, status, Failure};
use super::heap;
use super::types::*;
use crate::codec::configuration as codec;
use crate::core::{self, Configuration};

/// Reads a host configuration into a core one, checking every pointer, role and uniqueness.
///
/// # Safety
/// `c.servers` must be NULL or point to `c.n` servers whose addresses are NULL or
/// NUL-terminated strings, all valid for the call.
pub unsafe fn from_c(c: &raft_configuration) -> Result<Configuration, Failure> {
    // SAFETY: forwarded to the caller.
    let servers = unsafe { boundary::slice(c.servers, c.n as usize, "configuration servers") }?;
    let mut conf = Configuration { servers: Vec::with_capacity(servers.len()) };
    for (i, s) in servers.iter().enumerate() {
        // SAFETY: forwarded to the caller.
        let address = unsafe { boundary::text(s.address, &format!("address of server {i}")) }?;
        let role = role_from_code(s.role)
            .ok_or_else(|| Failure::new(RAFT_BADROLE, format!("server {i} has role {}", s.role)))?;
        conf.add(s.id, address, role).map_err(core::Error::from)?;
    }
    Ok(conf)
}

/// Fills `out` with a copy of `conf` allocated with the raft heap (the receiver closes it with
/// `raft_configuration_close`). On failure `out` is left empty.
pub fn to_c(conf: &Configuration, out: &mut raft_configuration) -> Result<(), Failure> {
    *out = raft_configuration { servers: ptr::null_mut(), n: 0 };
    if conf.servers.is_empty() {
        return Ok(());
    }
    let servers = heap::alloc_array::<raft_server>(conf.servers.len());
    if servers.is_null() {
        return Err(Failure::nomem());
    }
    out.servers = servers;
    for (i, s) in conf.servers.iter().enumerate() {
        let address = heap::strdup(s.address.as_bytes());
        if address.is_null() {
            close(out);
            return Err(Failure::nomem());
        }
        // SAFETY: `servers` has room for every server of `conf`; `i` is in range.
        unsafe { servers.add(i).write(raft_server { id: s.id, address, role: role_code(s.role) }) };
        out.n = (i + 1) as c_uint;
    }
    Ok(())
}

/// Frees what `c` holds and leaves it empty (C-Raft leaves dangling pointers).
pub fn close(c: &mut raft_configuration) {
    if !c.servers.is_null() {
        for i in 0..c.n as usize {
            // SAFETY: a configuration filled through the raft heap holds `n` servers.
            let address = unsafe { (*c.servers.add(i)).address };
            heap::free(address as *mut c_void);
        }
        heap::free(c.servers as *mut c_void);
    }
    *c = raft_configuration { servers: ptr::null_mut(), n: 0 };
}

/// Makes `c` an empty configuration. Allocates nothing. NULL is ignored.
#[no_mangle]
pub extern "C" fn raft_configuration_init(c: *mut raft_configuration) {
    guard(|| {
        // SAFETY: a non-NULL `c` points to the caller's struct.
        if let Some(c) = unsafe { c.as_mut() } {
            *c = raft_configuration { servers: ptr::null_mut(), n: 0 };
        }
    })
}

/// Frees every address and the server array of `c` (allocated with the raft heap) and resets
/// it to the empty configuration, so closing twice is harmless. NULL is ignored.
#[no_mangle]
pub extern "C" fn raft_configuration_close(c: *mut raft_configuration) {
    guard(|| {
        // SAFETY: a non-NULL `c` points to a configuration filled by this library.
        if let Some(c) = unsafe { c.as_mut() } {
            close(c);
        }
    })
}

/// Appends a server, copying `address` (the caller keeps its string). Errors, in order:
/// `RAFT_INVALID` (NULL `c` or `address`), `RAFT_BADID` (`id` is 0), `RAFT_BADROLE`,
/// `RAFT_DUPLICATEID` / `RAFT_DUPLICATEADDRESS` (checked server by server), `RAFT_NOMEM`.
/// On error the configuration is unchanged.
#[no_mangle]
pub extern "C" fn raft_configuration_add(
    c: *mut raft_configuration,
    id: raft_id,
    address: *const c_char,
    role: c_int,
) -> c_int {
    // SAFETY: a non-NULL `c` points to a configuration filled by this library.
    status(|| unsafe { add(c, id, address, role) })
}

unsafe fn add(
    c: *mut raft_configuration,
    id: raft_id,
    address: *const c_char,
    role: c_int,
) -> Result<(), Failure> {
    // SAFETY: forwarded to the caller.
    let c = unsafe { boundary::non_null_mut(c, "configuration") }?;
    // SAFETY: a non-NULL address is a NUL-terminated string of the caller.
    let address = unsafe { boundary::text(address, "address") }?;
    if id == 0 {
        return Err(Failure::new(RAFT_BADID, "server ID must not be 0"));
    }
    if role_from_code(role).is_none() {
        return Err(Failure::new(RAFT_BADROLE, format!("unknown role {role}")));
    }
    // SAFETY: forwarded to the caller.
    let servers = unsafe { boundary::slice(c.servers, c.n as usize, "configuration servers") }?;
    for s in servers {
        if s.id == id {
            return Err(Failure::new(RAFT_DUPLICATEID, "server ID already in use"));
        }
        // SAFETY: addresses of a library-filled configuration are NUL-terminated strings.
        if !s.address.is_null()
            && unsafe { std::ffi::CStr::from_ptr(s.address) }.to_bytes() == address.as_bytes()
        {
            return Err(Failure::new(RAFT_DUPLICATEADDRESS, "server address already in use"));
        }
    }
    let copy = heap::copy_string(address.as_bytes())?;
    let n = c.n as usize + 1;
    let size = n * std::mem::size_of::<raft_server>();
    let grown = heap::realloc(c.servers as *mut c_void, size) as *mut raft_server;
    if grown.is_null() {
        heap::free(copy as *mut c_void);
        return Err(Failure::nomem());
    }
    // SAFETY: `grown` has room for `n` servers.
    unsafe { grown.add(n - 1).write(raft_server { id, address: copy, role }) };
    c.servers = grown;
    c.n = n as c_uint;
    Ok(())
}

/// Encodes `c` into `buf->base`, allocated with `raft_malloc` (the caller frees it with
/// `raft_free`), byte-identical to C-Raft. Errors: `RAFT_INVALID` (NULL argument, empty
/// configuration, NULL or non-UTF-8 address), `RAFT_BADID`, `RAFT_BADROLE`,
/// `RAFT_DUPLICATEID`, `RAFT_DUPLICATEADDRESS`, `RAFT_NOMEM`. On error `buf` is untouched.
#[no_mangle]
pub extern "C" fn raft_configuration_encode(
    c: *const raft_configuration,
    buf: *mut raft_buffer,
) -> c_int {
    // SAFETY: non-NULL pointers are the caller's valid structs.
    status(|| unsafe { encode(c, buf) })
}

unsafe fn encode(c: *const raft_configuration, buf: *mut raft_buffer) -> Result<(), Failure> {
    // SAFETY: forwarded to the caller.
    let c = unsafe { boundary::non_null(c, "configuration") }?;
    // SAFETY: forwarded to the caller.
    let buf = unsafe { boundary::non_null_mut(buf, "buffer") }?;
    // SAFETY: forwarded to the caller.
    let conf = unsafe { from_c(c) }?;
    if conf.is_empty() {
        return Err(Failure::invalid("cannot encode an empty configuration"));
    }
    let bytes = codec::encode(&conf);
    *buf = copy_to_heap(&bytes)?;
    Ok(())
}

/// A copy of `bytes` in a new raft-heap allocation.
pub fn copy_to_heap(bytes: &[u8]) -> Result<raft_buffer, Failure> {
    let base = heap::malloc(bytes.len().max(1));
    if base.is_null() {
        return Err(Failure::nomem());
    }
    // SAFETY: `base` has room for `bytes.len()` bytes.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), base as *mut u8, bytes.len()) };
    Ok(raft_buffer { base, len: bytes.len() })
}

/// Decodes `buf` into `c`, which is initialised first. On success the caller owns `*c` and
/// closes it with `raft_configuration_close`; on error `*c` is left empty. Every read is
/// bounds-checked: truncated or garbage input returns `RAFT_MALFORMED` (also for an empty
/// buffer, a server ID of 0, an unknown role or a duplicate), NULL arguments `RAFT_INVALID`.
#[no_mangle]
pub extern "C" fn raft_configuration_decode(
    buf: *const raft_buffer,
    c: *mut raft_configuration,
) -> c_int {
    // SAFETY: non-NULL pointers are the caller's valid structs.
    status(|| unsafe { decode(buf, c) })
}

unsafe fn decode(buf: *const raft_buffer, c: *mut raft_configuration) -> Result<(), Failure> {
    // SAFETY: forwarded to the caller.
    let c = unsafe { boundary::non_null_mut(c, "configuration") }?;
    *c = raft_configuration { servers: ptr::null_mut(), n: 0 };
    // SAFETY: forwarded to the caller.
    let bytes = unsafe { boundary::input_bytes(buf, "buffer") }?;
    let conf =
        codec::decode(bytes).map_err(|e| Failure::malformed(format!("bad configuration: {e}")))?;
    to_c(&conf, c)
}
