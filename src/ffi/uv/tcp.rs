//! `raft_uv_tcp_*`: the TCP transport of C-Raft's protocol. A connecting server sends its
//! handshake (protocol 1, id, address) before handing the stream over; a listening server reads
//! exactly the peer's handshake (never a byte more: the rest belongs to whoever takes the
//! stream) and hands the stream over with the peer's id and address.

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

use super::super::boundary::{self, guard, write_errmsg, Failure};
use super::super::heap;
use super::super::types::*;
use super::abi::{
    raft_uv_accept_cb, raft_uv_connect, raft_uv_connect_cb, raft_uv_transport,
    raft_uv_transport_close_cb,
};
use super::sys::{self, uv_buf_t, uv_handle_t, uv_loop_t, uv_req_t, uv_stream_t};
use crate::codec::wire::{encode_handshake, Frame, Handshake, Limits, StreamDecoder};

/// Port of a bind address given without one (C-Raft's default).
const DEFAULT_PORT: u16 = 8080;

struct Tcp {
    t: *mut raft_uv_transport,
    r#loop: *mut uv_loop_t,
    id: raft_id,
    address: String,
    bind_address: Option<String>,
    listener: *mut uv_handle_t,
    accept_cb: raft_uv_accept_cb,
    connects: Vec<*mut Connect>,
    incoming: Vec<*mut Incoming>,
    closing: bool,
    close_cb: raft_uv_transport_close_cb,
    /// Handles not closed yet.
    open: usize,
}

/// An outgoing connection being set up.
struct Connect {
    tcp: *mut Tcp,
    req: *mut raft_uv_connect,
    cb: raft_uv_connect_cb,
    handle: *mut uv_handle_t,
    handshake: Vec<u8>,
    /// The status its callback gets when the handle has closed.
    status: c_int,
}

/// An accepted connection whose handshake is being read.
struct Incoming {
    tcp: *mut Tcp,
    handle: *mut uv_handle_t,
    decoder: StreamDecoder,
    buf: Vec<u8>,
}

/// `raft_uv_tcp_init`.
pub fn init(t: *mut raft_uv_transport, r#loop: *mut uv_loop_t) -> c_int {
    guard(|| {
        if t.is_null() || r#loop.is_null() {
            return RAFT_INVALID;
        }
        let tcp = Box::into_raw(Box::new(Tcp {
            t,
            r#loop,
            id: 0,
            address: String::new(),
            bind_address: None,
            listener: ptr::null_mut(),
            accept_cb: None,
            connects: Vec::new(),
            incoming: Vec::new(),
            closing: false,
            close_cb: None,
            open: 0,
        }));
        // SAFETY: the caller's transport struct.
        unsafe {
            let t = &mut *t;
            t.version = 1;
            t.r#impl = tcp as *mut c_void;
            t.errmsg[0] = 0;
            t.init = Some(tcp_init);
            t.listen = Some(tcp_listen);
            t.connect = Some(tcp_connect);
            t.close = Some(tcp_close);
        }
        0
    })
}

/// `raft_uv_tcp_close`.
pub fn release(t: *mut raft_uv_transport) {
    guard(|| {
        // SAFETY: the caller's transport; `impl` is our Box or NULL.
        unsafe {
            if let Some(t) = t.as_mut() {
                let tcp = t.r#impl as *mut Tcp;
                t.r#impl = ptr::null_mut();
                if !tcp.is_null() {
                    drop(Box::from_raw(tcp));
                }
            }
        }
    })
}

/// `raft_uv_tcp_set_bind_address`.
pub fn set_bind_address(t: *mut raft_uv_transport, address: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the caller's transport and string.
        unsafe {
            let Some(tcp) = tcp_of(t) else {
                return RAFT_INVALID;
            };
            let result = boundary::text(address, "address").and_then(|a| {
                parse_address(a, Some(DEFAULT_PORT))?;
                Ok(a.to_owned())
            });
            match result {
                Ok(a) => {
                    tcp.bind_address = Some(a);
                    0
                }
                Err(f) => {
                    write_errmsg((*t).errmsg.as_mut_ptr(), &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe fn tcp_of<'a>(t: *mut raft_uv_transport) -> Option<&'a mut Tcp> {
    // SAFETY: per the caller, `t` is NULL or a transport set up by `init`.
    unsafe { t.as_ref().and_then(|t| (t.r#impl as *mut Tcp).as_mut()) }
}

/// `a.b.c.d:port` (or `a.b.c.d` with `default_port`; `localhost` is 127.0.0.1) as a socket
/// address.
fn parse_address(text: &str, default_port: Option<u16>) -> Result<libc::sockaddr_in, Failure> {
    let bad = || Failure::invalid(format!("{text}: not an IPv4 address and port"));
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
        None => (text, default_port.ok_or_else(bad)?),
    };
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    let host = CString::new(host).map_err(|_| bad())?;
    // SAFETY: all-zero is a valid sockaddr_in; uv_ip4_addr fills it from a C string.
    unsafe {
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        if sys::uv_ip4_addr(host.as_ptr(), c_int::from(port), &mut addr) != 0 {
            return Err(bad());
        }
        Ok(addr)
    }
}

unsafe extern "C" fn tcp_init(
    t: *mut raft_uv_transport,
    id: raft_id,
    address: *const c_char,
) -> c_int {
    guard(|| {
        // SAFETY: the transport set up by `init`; the caller's string.
        unsafe {
            let Some(tcp) = tcp_of(t) else {
                return RAFT_INVALID;
            };
            match boundary::text(address, "address") {
                Ok(a) => {
                    tcp.id = id;
                    tcp.address = a.to_owned();
                    0
                }
                Err(f) => {
                    write_errmsg((*t).errmsg.as_mut_ptr(), &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe extern "C" fn tcp_listen(t: *mut raft_uv_transport, cb: raft_uv_accept_cb) -> c_int {
    guard(|| {
        // SAFETY: the transport set up by `init`.
        unsafe {
            let Some(tcp) = tcp_of(t) else {
                return RAFT_INVALID;
            };
            match listen(tcp, cb) {
                Ok(()) => 0,
                Err(f) => {
                    write_errmsg((*t).errmsg.as_mut_ptr(), &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe fn listen(tcp: &mut Tcp, cb: raft_uv_accept_cb) -> Result<(), Failure> {
    let text = tcp.bind_address.clone().unwrap_or_else(|| tcp.address.clone());
    let addr = parse_address(&text, Some(DEFAULT_PORT))?;
    let handle = sys::alloc_handle(sys::UV_TCP);
    if handle.is_null() {
        return Err(Failure::nomem());
    }
    // SAFETY: a fresh handle on the transport's loop; `tcp` outlives it (close waits for it).
    unsafe {
        sys::uv_tcp_init(tcp.r#loop, handle);
        sys::uv_handle_set_data(handle, tcp as *mut Tcp as *mut c_void);
        tcp.open += 1;
        tcp.listener = handle;
        let mut rv = sys::uv_tcp_bind(handle, &addr as *const _ as *const libc::sockaddr, 0);
        if rv == 0 {
            rv = sys::uv_listen(handle as *mut uv_stream_t, 128, Some(on_connection));
        }
        if rv != 0 {
            tcp.listener = ptr::null_mut();
            sys::uv_close(handle, Some(on_tcp_handle_closed));
            return Err(Failure::new(
                RAFT_IOERR,
                format!("listen on {text}: {}", sys::strerror(rv)),
            ));
        }
    }
    tcp.accept_cb = cb;
    Ok(())
}

unsafe extern "C" fn on_connection(listener: *mut uv_stream_t, status: c_int) {
    guard(|| {
        // SAFETY: the listener's live transport.
        unsafe {
            let tcp = &mut *(sys::uv_handle_get_data(listener as *mut uv_handle_t) as *mut Tcp);
            if status != 0 || tcp.closing {
                return;
            }
            let handle = sys::alloc_handle(sys::UV_TCP);
            if handle.is_null() {
                return;
            }
            sys::uv_tcp_init(tcp.r#loop, handle);
            tcp.open += 1;
            let incoming = Box::into_raw(Box::new(Incoming {
                tcp,
                handle,
                decoder: StreamDecoder::new(Limits::default()),
                buf: Vec::new(),
            }));
            sys::uv_handle_set_data(handle, incoming as *mut c_void);
            tcp.incoming.push(incoming);
            let stream = handle as *mut uv_stream_t;
            if sys::uv_accept(listener, stream) != 0
                || sys::uv_read_start(stream, Some(alloc_handshake), Some(on_handshake_read)) != 0
            {
                drop_incoming(incoming);
            }
        }
    })
}

/// A buffer of exactly the bytes the handshake still needs: the peer's first message stays in
/// the socket for the stream's next reader.
unsafe extern "C" fn alloc_handshake(
    handle: *mut uv_handle_t,
    _suggested: usize,
    buf: *mut uv_buf_t,
) {
    // SAFETY: the handle's live Incoming.
    unsafe {
        let incoming = &mut *(sys::uv_handle_get_data(handle) as *mut Incoming);
        let needed = incoming.decoder.bytes_needed().clamp(1, 4096) as usize;
        incoming.buf.resize(needed, 0);
        (*buf).base = incoming.buf.as_mut_ptr() as *mut c_char;
        (*buf).len = needed;
    }
}

unsafe extern "C" fn on_handshake_read(
    stream: *mut uv_stream_t,
    nread: isize,
    _buf: *const uv_buf_t,
) {
    guard(|| {
        // SAFETY: the stream's live Incoming and transport.
        unsafe {
            let incoming = sys::uv_handle_get_data(stream as *mut uv_handle_t) as *mut Incoming;
            if nread < 0 {
                drop_incoming(incoming);
                return;
            }
            let i = &mut *incoming;
            i.decoder.feed(&i.buf[..nread as usize]);
            match i.decoder.next_frame() {
                Ok(None) => {}
                Ok(Some(Frame::Handshake(h))) => hand_over(incoming, h),
                _ => drop_incoming(incoming),
            }
        }
    })
}

/// Gives the accepted stream, its handshake read, to the accept callback.
unsafe fn hand_over(incoming: *mut Incoming, h: Handshake) {
    // SAFETY: a live Incoming of a live transport.
    unsafe {
        let Incoming { tcp, handle, .. } = *Box::from_raw(incoming);
        let tcp = &mut *tcp;
        tcp.incoming.retain(|&x| x != incoming);
        sys::uv_read_stop(handle as *mut uv_stream_t);
        sys::uv_handle_set_data(handle, ptr::null_mut());
        tcp.open -= 1;
        let address = CString::new(h.address).unwrap_or_default();
        match tcp.accept_cb {
            Some(cb) => cb(tcp.t, h.server_id, address.as_ptr(), handle as *mut uv_stream_t),
            None => sys::uv_close(handle, Some(sys::free_on_close)),
        }
    }
}

unsafe fn drop_incoming(incoming: *mut Incoming) {
    // SAFETY: a live Incoming; its handle's close callback frees both.
    unsafe {
        let tcp = &mut *(*incoming).tcp;
        tcp.incoming.retain(|&x| x != incoming);
        let handle = (*incoming).handle;
        if sys::uv_is_closing(handle) == 0 {
            sys::uv_close(handle, Some(on_incoming_closed));
        }
    }
}

unsafe extern "C" fn on_incoming_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the handle's Incoming, freed here with it.
        unsafe {
            let incoming = Box::from_raw(sys::uv_handle_get_data(handle) as *mut Incoming);
            heap::free(handle as *mut c_void);
            let tcp = incoming.tcp;
            drop(incoming);
            (*tcp).open -= 1;
            maybe_closed(tcp);
        }
    })
}

unsafe extern "C" fn tcp_connect(
    t: *mut raft_uv_transport,
    req: *mut raft_uv_connect,
    id: raft_id,
    address: *const c_char,
    cb: raft_uv_connect_cb,
) -> c_int {
    let _ = id;
    guard(|| {
        // SAFETY: the transport set up by `init`; the caller's request and string.
        unsafe {
            let Some(tcp) = tcp_of(t) else {
                return RAFT_INVALID;
            };
            match connect(tcp, req, address, cb) {
                Ok(()) => 0,
                Err(f) => {
                    write_errmsg((*t).errmsg.as_mut_ptr(), &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe fn connect(
    tcp: &mut Tcp,
    req: *mut raft_uv_connect,
    address: *const c_char,
    cb: raft_uv_connect_cb,
) -> Result<(), Failure> {
    if tcp.closing {
        return Err(Failure::new(RAFT_CANCELED, "transport closing"));
    }
    // SAFETY: the caller's string.
    let text = unsafe { boundary::text(address, "address") }?;
    let addr = parse_address(text, None)?;
    let handshake =
        encode_handshake(&Handshake { server_id: tcp.id, address: tcp.address.clone() })
            .map_err(|e| Failure::invalid(e.to_string()))?;
    let handle = sys::alloc_handle(sys::UV_TCP);
    let creq = sys::alloc_req(sys::UV_CONNECT);
    if handle.is_null() || creq.is_null() {
        heap::free(handle as *mut c_void);
        heap::free(creq as *mut c_void);
        return Err(Failure::nomem());
    }
    let connect = Box::into_raw(Box::new(Connect {
        tcp,
        req,
        cb,
        handle,
        handshake,
        status: RAFT_NOCONNECTION,
    }));
    // SAFETY: fresh handle and request; `connect` lives until the handle is closed or handed
    // over.
    unsafe {
        sys::uv_tcp_init(tcp.r#loop, handle);
        sys::uv_tcp_nodelay(handle, 1);
        sys::uv_handle_set_data(handle, connect as *mut c_void);
        sys::uv_req_set_data(creq, connect as *mut c_void);
        tcp.open += 1;
        tcp.connects.push(connect);
        let rv = sys::uv_tcp_connect(
            creq,
            handle,
            &addr as *const _ as *const libc::sockaddr,
            Some(on_tcp_connected),
        );
        if rv != 0 {
            heap::free(creq as *mut c_void);
            // Reported through the callback, once the handle closed.
            fail_connect(connect, RAFT_NOCONNECTION);
        }
    }
    Ok(())
}

unsafe extern "C" fn on_tcp_connected(creq: *mut uv_req_t, status: c_int) {
    guard(|| {
        // SAFETY: the request's Connect, alive until its handle closed or was handed over.
        unsafe {
            let connect = sys::uv_req_get_data(creq) as *mut Connect;
            heap::free(creq as *mut c_void);
            if sys::uv_is_closing((*connect).handle) != 0 {
                return;
            }
            if status != 0 {
                fail_connect(connect, RAFT_NOCONNECTION);
                return;
            }
            let wreq = sys::alloc_req(sys::UV_WRITE);
            if wreq.is_null() {
                fail_connect(connect, RAFT_NOMEM);
                return;
            }
            let c = &mut *connect;
            let buf =
                uv_buf_t { base: c.handshake.as_mut_ptr() as *mut c_char, len: c.handshake.len() };
            sys::uv_req_set_data(wreq, connect as *mut c_void);
            if sys::uv_write(wreq, c.handle as *mut uv_stream_t, &buf, 1, Some(on_handshake_sent))
                != 0
            {
                heap::free(wreq as *mut c_void);
                fail_connect(connect, RAFT_NOCONNECTION);
            }
        }
    })
}

unsafe extern "C" fn on_handshake_sent(wreq: *mut uv_req_t, status: c_int) {
    guard(|| {
        // SAFETY: as in on_tcp_connected.
        unsafe {
            let connect = sys::uv_req_get_data(wreq) as *mut Connect;
            heap::free(wreq as *mut c_void);
            if sys::uv_is_closing((*connect).handle) != 0 {
                return;
            }
            if status != 0 {
                fail_connect(connect, RAFT_NOCONNECTION);
                return;
            }
            let Connect { tcp, req, cb, handle, .. } = *Box::from_raw(connect);
            (*tcp).connects.retain(|&x| x != connect);
            (*tcp).open -= 1;
            sys::uv_handle_set_data(handle, ptr::null_mut());
            match cb {
                Some(cb) => cb(req, handle as *mut uv_stream_t, 0),
                None => sys::uv_close(handle, Some(sys::free_on_close)),
            }
        }
    })
}

/// Closes the connection attempt; its callback fires with `status` once the handle closed.
unsafe fn fail_connect(connect: *mut Connect, status: c_int) {
    // SAFETY: a live Connect.
    unsafe {
        (*connect).status = status;
        if sys::uv_is_closing((*connect).handle) == 0 {
            sys::uv_close((*connect).handle, Some(on_connect_closed));
        }
    }
}

unsafe extern "C" fn on_connect_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the handle's Connect, freed here.
        unsafe {
            let connect = sys::uv_handle_get_data(handle) as *mut Connect;
            let Connect { tcp, req, cb, status, .. } = *Box::from_raw(connect);
            heap::free(handle as *mut c_void);
            (*tcp).connects.retain(|&x| x != connect);
            (*tcp).open -= 1;
            if let Some(cb) = cb {
                cb(req, ptr::null_mut(), status);
            }
            maybe_closed(tcp);
        }
    })
}

unsafe extern "C" fn tcp_close(t: *mut raft_uv_transport, cb: raft_uv_transport_close_cb) {
    guard(|| {
        // SAFETY: the transport set up by `init` and its live handles.
        unsafe {
            let Some(tcp) = tcp_of(t) else {
                return;
            };
            if tcp.closing {
                return;
            }
            tcp.closing = true;
            tcp.close_cb = cb;
            if !tcp.listener.is_null() {
                sys::uv_close(tcp.listener, Some(on_tcp_handle_closed));
                tcp.listener = ptr::null_mut();
            }
            for connect in tcp.connects.clone() {
                fail_connect(connect, RAFT_CANCELED);
            }
            for incoming in tcp.incoming.clone() {
                drop_incoming(incoming);
            }
            if tcp.open == 0 {
                // Nothing to wait for: complete now (the caller tolerates it, as io_close does).
                maybe_closed(tcp);
            }
        }
    })
}

unsafe extern "C" fn on_tcp_handle_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the listener's transport.
        unsafe {
            let tcp = sys::uv_handle_get_data(handle) as *mut Tcp;
            heap::free(handle as *mut c_void);
            (*tcp).open -= 1;
            maybe_closed(tcp);
        }
    })
}

unsafe fn maybe_closed(tcp: *mut Tcp) {
    // SAFETY: a live transport.
    unsafe {
        let tcp = &mut *tcp;
        if tcp.closing && tcp.open == 0 {
            if let Some(cb) = tcp.close_cb.take() {
                cb(tcp.t);
            }
        }
    }
}
