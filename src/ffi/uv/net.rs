//! The network side of `raft_uv`: one [`Client`] per peer we send to (a stream obtained from
//! the transport's `connect`, reconnected after `retry_delay` when it fails or breaks) and one
//! [`Server`] per accepted stream (messages decoded with the codec's stream decoder and handed
//! to the library's `recv` callback).
//!
//! Memory for slow or absent peers is bounded: while a peer is not connected at most
//! [`MAX_PENDING`] messages wait (older ones fail with `RAFT_NOCONNECTION`, as in C-Raft), and
//! a connected peer that does not read has at most [`MAX_IN_FLIGHT_BYTES`] queued in libuv.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::ptr;

use super::super::boundary::{self, guard, Failure};
use super::super::classic_types::*;
use super::super::heap;
use super::super::types::*;
use super::super::wire;
use super::abi::{raft_uv_connect, raft_uv_transport};
use super::io::{instance, maybe_finish_close, schedule_flush, UvIo};
use super::sys::{self, uv_buf_t, uv_handle_t, uv_req_t, uv_stream_t};
use crate::codec::wire::{Frame, Limits, StreamDecoder};

/// Messages kept for a peer that is not connected.
pub const MAX_PENDING: usize = 3;
/// Bytes written to a connected peer and not yet acknowledged by libuv, beyond which new
/// messages to it fail at once.
pub const MAX_IN_FLIGHT_BYTES: usize = 64 << 20;

/// Bytes read from a peer at a time.
const READ_CHUNK: usize = 64 << 10;

/// A message to send: its encoding (raft heap, from `raft_encode_message`) and its request.
struct Outgoing {
    req: *mut raft_io_send,
    cb: raft_io_send_cb,
    bytes: raft_buffer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Connected,
    /// Waiting for the retry timer before the next attempt.
    Delay,
}

/// Our connection to one peer.
pub struct Client {
    uv: *mut UvIo,
    id: raft_id,
    address: CString,
    state: State,
    stream: *mut uv_stream_t,
    timer: *mut uv_handle_t,
    connect: raft_uv_connect,
    pending: VecDeque<Outgoing>,
    in_flight_bytes: usize,
    /// Where reads of our connection land (a peer never writes on it).
    sink: [u8; 64],
    closing: bool,
    /// Handles and requests of this client not finished yet (timer, stream, connect).
    open: usize,
}

/// A write in flight (the messages of one flush to one peer): its request data.
struct Write {
    client: *mut Client,
    outs: Vec<Outgoing>,
}

/// A connection a peer opened to us.
pub struct Server {
    uv: *mut UvIo,
    id: raft_id,
    address: CString,
    stream: *mut uv_stream_t,
    decoder: StreamDecoder,
    buf: Vec<u8>,
    closing: bool,
}

/// `raft_io.send`: encodes the message at once (the library's memory is not kept), then writes
/// it to the peer's connection, opening it if needed. The callback fires when libuv wrote it,
/// or with `RAFT_NOCONNECTION` when it was dropped.
pub unsafe extern "C" fn io_send(
    io: *mut raft_io,
    req: *mut raft_io_send,
    message: *const raft_message,
    cb: raft_io_send_cb,
) -> c_int {
    guard(|| {
        // SAFETY: installed by raft_uv_init on its own raft_io.
        let Some(uv) = (unsafe { instance(io) }) else {
            return RAFT_INVALID;
        };
        // SAFETY: the library's message, valid for the call.
        match unsafe { send(uv, req, message, cb) } {
            Ok(()) => 0,
            Err(f) => uv.fail(f),
        }
    })
}

unsafe fn send(
    uv: &mut UvIo,
    req: *mut raft_io_send,
    message: *const raft_message,
    cb: raft_io_send_cb,
) -> Result<(), Failure> {
    if uv.closing {
        return Err(Failure::new(RAFT_CANCELED, "closing"));
    }
    // SAFETY: per the caller.
    let m = unsafe { boundary::non_null(message, "message") }?;
    // SAFETY: per the caller.
    let address = unsafe { boundary::text(m.server_address, "server address") }?;
    let mut bytes = raft_buffer { base: ptr::null_mut(), len: 0 };
    let mut errmsg = [0 as c_char; RAFT_ERRMSG_BUF_SIZE];
    let rv = wire::raft_encode_message(message, &mut bytes, errmsg.as_mut_ptr());
    if rv != 0 {
        // SAFETY: NUL-terminated by raft_encode_message.
        let text = unsafe { std::ffi::CStr::from_ptr(errmsg.as_ptr()) };
        return Err(Failure::new(rv, format!("encode message: {}", text.to_string_lossy())));
    }
    let client = client_for(uv, m.server_id, address)?;
    // SAFETY: a live client of this instance.
    unsafe { enqueue(client, Outgoing { req, cb, bytes }) };
    Ok(())
}

/// The client of peer `id`, created (idle) if there is none; a changed address replaces it.
fn client_for(uv: &mut UvIo, id: raft_id, address: &str) -> Result<*mut Client, Failure> {
    // SAFETY: the clients in the list are alive and not closing.
    if let Some(&c) = uv.clients.iter().find(|&&c| unsafe { (*c).id == id }) {
        // SAFETY: as above.
        if unsafe { (*c).address.as_bytes() } == address.as_bytes() {
            return Ok(c);
        }
        // SAFETY: as above.
        unsafe { close_client(c) };
    }
    let timer = sys::alloc_handle(sys::UV_TIMER);
    if timer.is_null() {
        return Err(Failure::nomem());
    }
    let client = Box::into_raw(Box::new(Client {
        uv: uv as *mut UvIo,
        id,
        address: CString::new(address).map_err(|_| Failure::invalid("address"))?,
        state: State::Idle,
        stream: ptr::null_mut(),
        timer,
        connect: raft_uv_connect { data: ptr::null_mut(), cb: None },
        pending: VecDeque::new(),
        in_flight_bytes: 0,
        sink: [0; 64],
        closing: false,
        open: 1,
    }));
    // SAFETY: a fresh timer on the instance's loop; the client outlives it.
    unsafe {
        (*client).connect.data = client as *mut c_void;
        sys::uv_timer_init(uv.r#loop, timer);
        sys::uv_handle_set_data(timer, client as *mut c_void);
    }
    uv.open_handles += 1;
    uv.clients.push(client);
    Ok(client)
}

/// Queues `out`: to be written with the other messages of this loop iteration when connected
/// (`flush_clients`), else kept (the newest `MAX_PENDING`) while the client connects.
unsafe fn enqueue(client: *mut Client, out: Outgoing) {
    // SAFETY: a live client.
    let c = unsafe { &mut *client };
    c.pending.push_back(out);
    match c.state {
        // SAFETY: the instance outlives its clients.
        State::Connected => schedule_flush(unsafe { &mut *c.uv }),
        state => {
            keep_newest_pending(c);
            if state == State::Idle {
                // SAFETY: `client` is this instance's live client (the loop thread owns it).
                unsafe { start_connect(client) };
            }
        }
    }
}

/// Fails all but the newest `MAX_PENDING` waiting messages of a client that is not connected.
fn keep_newest_pending(c: &mut Client) {
    while c.pending.len() > MAX_PENDING {
        if let Some(old) = c.pending.pop_front() {
            // SAFETY: the instance outlives its clients.
            unsafe { complete_later(c.uv, old, RAFT_NOCONNECTION) };
        }
    }
}

/// Fires a send's callback from the loop, outside the current method, and frees its bytes.
unsafe fn complete_later(uv: *mut UvIo, out: Outgoing, status: c_int) {
    heap::free(out.bytes.base);
    // SAFETY: the live instance.
    unsafe {
        (*uv).later(Box::new(move || {
            if let Some(cb) = out.cb {
                cb(out.req, status);
            }
        }))
    };
}

/// [`complete_later`] for each of `outs`.
unsafe fn complete_all_later(uv: *mut UvIo, outs: Vec<Outgoing>, status: c_int) {
    for out in outs {
        // SAFETY: per the caller.
        unsafe { complete_later(uv, out, status) };
    }
}

/// Writes the waiting messages of every connected peer, one write per peer.
///
/// # Safety
/// `uv` must be the live instance, on the loop thread.
pub unsafe fn flush_clients(uv: &mut UvIo) {
    for client in uv.clients.clone() {
        // SAFETY: the instance's clients are alive and not closing.
        unsafe {
            if (*client).state == State::Connected && !(*client).pending.is_empty() {
                write_pending(client);
            }
        }
    }
}

/// Writes the waiting messages of a connected client as one `uv_write`; those past
/// `MAX_IN_FLIGHT_BYTES` fail with `RAFT_NOCONNECTION` instead.
unsafe fn write_pending(client: *mut Client) {
    // SAFETY: a live, connected client.
    let c = unsafe { &mut *client };
    let mut outs = Vec::with_capacity(c.pending.len());
    let mut bytes = 0;
    while let Some(out) = c.pending.pop_front() {
        if c.in_flight_bytes + bytes + out.bytes.len > MAX_IN_FLIGHT_BYTES {
            // SAFETY: the instance outlives its clients.
            unsafe { complete_later(c.uv, out, RAFT_NOCONNECTION) };
            continue;
        }
        bytes += out.bytes.len;
        outs.push(out);
    }
    if outs.is_empty() {
        return;
    }
    let req = sys::alloc_req(sys::UV_WRITE);
    if req.is_null() {
        // SAFETY: the instance outlives its clients.
        unsafe { complete_all_later(c.uv, outs, RAFT_NOMEM) };
        return;
    }
    let bufs: Vec<uv_buf_t> = outs
        .iter()
        .map(|o| uv_buf_t { base: o.bytes.base as *mut c_char, len: o.bytes.len })
        .collect();
    let w = Box::into_raw(Box::new(Write { client, outs }));
    // SAFETY: the stream is connected; libuv copies `bufs` (the array), whose bytes belong to
    // `w` and stay alive until on_written.
    let rv = unsafe {
        sys::uv_req_set_data(req, w as *mut c_void);
        sys::uv_write(req, c.stream, bufs.as_ptr(), bufs.len() as c_uint, Some(on_written))
    };
    if rv != 0 {
        heap::free(req as *mut c_void);
        // SAFETY: not submitted: still ours.
        let w = unsafe { Box::from_raw(w) };
        // SAFETY: the instance outlives its clients.
        unsafe { complete_all_later(c.uv, w.outs, RAFT_NOCONNECTION) };
        // SAFETY: a live client.
        unsafe { disconnect(client) };
        return;
    }
    c.in_flight_bytes += bytes;
}

unsafe extern "C" fn on_written(req: *mut uv_req_t, status: c_int) {
    guard(|| {
        // SAFETY: the Write of this request; its client stays alive until its stream closed,
        // which happens after every write callback.
        unsafe {
            let w = Box::from_raw(sys::uv_req_get_data(req) as *mut Write);
            heap::free(req as *mut c_void);
            let client = w.client;
            let code = if status == 0 { 0 } else { RAFT_NOCONNECTION };
            (*client).in_flight_bytes -= w.outs.iter().map(|o| o.bytes.len).sum::<usize>();
            for out in w.outs {
                heap::free(out.bytes.base);
                if let Some(cb) = out.cb {
                    cb(out.req, code);
                }
            }
            if status != 0 && status != sys::UV_ECANCELED && !(*client).closing {
                disconnect(client);
            }
        }
    })
}

unsafe fn start_connect(client: *mut Client) {
    // SAFETY: a live client of a live instance; the transport is the host's.
    unsafe {
        let c = &mut *client;
        let t = (*c.uv).transport;
        let Some(connect) = (*t).connect else {
            return;
        };
        c.state = State::Connecting;
        c.open += 1;
        (*c.uv).open_handles += 1;
        let rv = connect(t, &mut c.connect, c.id, c.address.as_ptr(), Some(on_connected));
        if rv != 0 {
            c.open -= 1;
            (*c.uv).open_handles -= 1;
            schedule_retry(client);
        }
    }
}

unsafe fn schedule_retry(client: *mut Client) {
    // SAFETY: a live client.
    unsafe {
        let c = &mut *client;
        c.state = State::Delay;
        let delay = (*c.uv).retry_delay;
        sys::uv_timer_start(c.timer, Some(on_retry), delay, 0);
    }
}

unsafe extern "C" fn on_retry(timer: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the timer's client, alive while its timer is.
        unsafe {
            let client = sys::uv_handle_get_data(timer) as *mut Client;
            if !(*client).closing && (*client).state == State::Delay {
                start_connect(client);
            }
        }
    })
}

unsafe extern "C" fn on_connected(
    req: *mut raft_uv_connect,
    stream: *mut uv_stream_t,
    status: c_int,
) {
    guard(|| {
        // SAFETY: `data` is the client that made the request, kept alive until this callback.
        unsafe {
            let client = (*req).data as *mut Client;
            let c = &mut *client;
            c.open -= 1;
            (*c.uv).open_handles -= 1;
            if c.closing {
                if !stream.is_null() {
                    close_foreign_stream(stream);
                }
                maybe_free_client(client);
                return;
            }
            if status != 0 || stream.is_null() {
                schedule_retry(client);
                return;
            }
            c.stream = stream;
            c.open += 1;
            (*c.uv).open_handles += 1;
            c.state = State::Connected;
            sys::uv_handle_set_data(stream as *mut uv_handle_t, client as *mut c_void);
            // A peer never writes on our connection: reading only notices that it went away.
            sys::uv_read_start(stream, Some(alloc_discard), Some(on_client_read));
            write_pending(client);
        }
    })
}

/// Buffer for reads of a client stream: the client's own sink (the bytes are discarded).
unsafe extern "C" fn alloc_discard(
    handle: *mut uv_handle_t,
    _suggested: usize,
    buf: *mut uv_buf_t,
) {
    // SAFETY: the stream's data is its live client; libuv fills the buffer before the read
    // callback, on the loop thread.
    unsafe {
        let client = &mut *(sys::uv_handle_get_data(handle) as *mut Client);
        (*buf).base = client.sink.as_mut_ptr() as *mut c_char;
        (*buf).len = client.sink.len();
    }
}

unsafe extern "C" fn on_client_read(stream: *mut uv_stream_t, nread: isize, _buf: *const uv_buf_t) {
    guard(|| {
        if nread >= 0 {
            return;
        }
        // SAFETY: the stream's data is its live client.
        unsafe {
            let client = sys::uv_handle_get_data(stream as *mut uv_handle_t) as *mut Client;
            if !(*client).closing {
                disconnect(client);
            }
        }
    })
}

/// Drops a broken connection and tries again after the retry delay.
unsafe fn disconnect(client: *mut Client) {
    // SAFETY: a live client.
    unsafe {
        let c = &mut *client;
        if c.stream.is_null() {
            return;
        }
        let stream = c.stream;
        c.stream = ptr::null_mut();
        sys::uv_close(stream as *mut uv_handle_t, Some(on_client_handle_closed));
        schedule_retry(client);
        keep_newest_pending(c);
    }
}

/// Closes a client: its stream and timer; pending messages fail with `RAFT_CANCELED`. The
/// client is freed once its handles closed and its connect request (if any) called back.
pub unsafe fn close_client(client: *mut Client) {
    // SAFETY: a live client of a live instance.
    unsafe {
        let c = &mut *client;
        if c.closing {
            return;
        }
        c.closing = true;
        let uv = &mut *c.uv;
        uv.clients.retain(|&x| x != client);
        while let Some(out) = c.pending.pop_front() {
            complete_later(c.uv, out, RAFT_CANCELED);
        }
        sys::uv_timer_stop(c.timer);
        sys::uv_close(c.timer, Some(on_client_handle_closed));
        if !c.stream.is_null() {
            sys::uv_close(c.stream as *mut uv_handle_t, Some(on_client_handle_closed));
            c.stream = ptr::null_mut();
        }
    }
}

unsafe extern "C" fn on_client_handle_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the handle's client, alive until its last handle closed.
        unsafe {
            let client = sys::uv_handle_get_data(handle) as *mut Client;
            heap::free(handle as *mut c_void);
            (*client).open -= 1;
            (*(*client).uv).open_handles -= 1;
            maybe_free_client(client);
        }
    })
}

unsafe fn maybe_free_client(client: *mut Client) {
    // SAFETY: a live client.
    unsafe {
        if !(*client).closing || (*client).open > 0 {
            return;
        }
        let uv = (*client).uv;
        drop(Box::from_raw(client));
        maybe_finish_close(uv);
    }
}

/// Closes a stream handed over by the transport that we will not use.
unsafe fn close_foreign_stream(stream: *mut uv_stream_t) {
    // SAFETY: the transport gave us the stream (raft heap memory).
    unsafe {
        sys::uv_handle_set_data(stream as *mut uv_handle_t, ptr::null_mut());
        sys::uv_close(stream as *mut uv_handle_t, Some(sys::free_on_close));
    }
}

/// The transport's accept callback: a peer connected and introduced itself.
pub unsafe extern "C" fn on_accept(
    t: *mut raft_uv_transport,
    id: raft_id,
    address: *const c_char,
    stream: *mut uv_stream_t,
) {
    guard(|| {
        // SAFETY: `data` is the instance (raft_uv_init); the arguments are the transport's.
        unsafe {
            let uv = (*t).data as *mut UvIo;
            if uv.is_null() || (*uv).closing || stream.is_null() {
                if !stream.is_null() {
                    close_foreign_stream(stream);
                }
                return;
            }
            let address = match boundary::text(address, "address") {
                Ok(a) => CString::new(a).unwrap_or_default(),
                Err(_) => CString::default(),
            };
            let server = Box::into_raw(Box::new(Server {
                uv,
                id,
                address,
                stream,
                decoder: StreamDecoder::without_handshake(Limits::default()),
                buf: vec![0; READ_CHUNK],
                closing: false,
            }));
            (*uv).servers.push(server);
            (*uv).open_handles += 1;
            sys::uv_handle_set_data(stream as *mut uv_handle_t, server as *mut c_void);
            if sys::uv_read_start(stream, Some(alloc_server), Some(on_server_read)) != 0 {
                close_server(server);
            }
        }
    })
}

unsafe extern "C" fn alloc_server(handle: *mut uv_handle_t, _suggested: usize, buf: *mut uv_buf_t) {
    // SAFETY: the handle's live server; its buffer is only used by this stream.
    unsafe {
        let server = &mut *(sys::uv_handle_get_data(handle) as *mut Server);
        (*buf).base = server.buf.as_mut_ptr() as *mut c_char;
        (*buf).len = server.buf.len();
    }
}

unsafe extern "C" fn on_server_read(stream: *mut uv_stream_t, nread: isize, _buf: *const uv_buf_t) {
    guard(|| {
        // SAFETY: the stream's live server and instance.
        unsafe {
            let server = sys::uv_handle_get_data(stream as *mut uv_handle_t) as *mut Server;
            if nread < 0 {
                close_server(server);
                return;
            }
            let s = &mut *server;
            s.decoder.feed(&s.buf[..nread as usize]);
            while !s.closing {
                match s.decoder.next_frame() {
                    Ok(Some(Frame::Message(m))) => deliver(server, &m),
                    Ok(Some(Frame::Handshake(_))) => {}
                    Ok(None) => break,
                    Err(_) => {
                        close_server(server);
                        break;
                    }
                }
            }
        }
    })
}

/// Hands a decoded message to the library (which takes what it carries).
unsafe fn deliver(server: *mut Server, m: &crate::codec::wire::WireMessage) {
    // SAFETY: a live server of a live instance.
    unsafe {
        let s = &mut *server;
        let uv = &mut *s.uv;
        let Ok(mut msg) = wire::to_c(m) else {
            close_server(server);
            return;
        };
        msg.server_id = s.id;
        msg.server_address = s.address.as_ptr();
        match uv.recv {
            Some(recv) if !uv.closing => recv(uv.io, &mut msg),
            _ => wire::raft_message_release(&mut msg, false),
        }
    }
}

/// Closes an incoming connection; the server is freed in the close callback.
pub unsafe fn close_server(server: *mut Server) {
    // SAFETY: a live server of a live instance.
    unsafe {
        let s = &mut *server;
        if s.closing {
            return;
        }
        s.closing = true;
        (*s.uv).servers.retain(|&x| x != server);
        sys::uv_close(s.stream as *mut uv_handle_t, Some(on_server_closed));
    }
}

unsafe extern "C" fn on_server_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the handle's server, freed here with the stream.
        unsafe {
            let server = Box::from_raw(sys::uv_handle_get_data(handle) as *mut Server);
            heap::free(handle as *mut c_void);
            let uv = server.uv;
            (*uv).open_handles -= 1;
            drop(server);
            maybe_finish_close(uv);
        }
    })
}
