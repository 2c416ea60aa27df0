//! `struct raft_decoder`: the incremental decoder of one direction of a connection, in C.
//! The host feeds it what `read(2)` returned, in chunks of any size, and takes out the peer's
//! handshake and then messages ready for `RAFT_RECEIVE`.

use std::ffi::{c_char, c_int, c_ulonglong, c_void, CString};

use super::boundary::{self, codec_call, guard, Failure};
use super::codec_types::*;
use super::types::*;
use super::wire;
use crate::codec::wire::{Frame, Limits, StreamDecoder};

/// An incremental decoder of C-Raft's byte stream (opaque). Created by `raft_decoder_new`,
/// owned by the caller, released by `raft_decoder_free`. One per connection and direction;
/// not thread-safe.
#[allow(non_camel_case_types)]
pub struct raft_decoder {
    stream: StreamDecoder,
    /// The peer named by the handshake, once decoded; the address stays at a fixed place
    /// until the decoder is freed, so hosts may use it as `server_address`.
    peer: Option<(raft_id, CString)>,
}

/// Creates a decoder in `*decoder`. With `expect_handshake` the stream starts with a handshake
/// (what an accepted connection receives); without it, with a message. The caller owns the
/// decoder and releases it with `raft_decoder_free`.
///
/// Errors: `RAFT_INVALID` (NULL `decoder`), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_decoder_new(
    decoder: *mut *mut raft_decoder,
    expect_handshake: bool,
) -> c_int {
    guard(|| {
        // SAFETY: a non-NULL pointer is the caller's slot.
        let Some(slot) = (unsafe { decoder.as_mut() }) else {
            return RAFT_INVALID;
        };
        let stream = if expect_handshake {
            StreamDecoder::new(Limits::default())
        } else {
            StreamDecoder::without_handshake(Limits::default())
        };
        *slot = Box::into_raw(Box::new(raft_decoder { stream, peer: None }));
        0
    })
}

/// Releases a decoder and the bytes it buffered; the address from `raft_decoder_peer` becomes
/// invalid. Messages already returned by `raft_decoder_next` are not affected. NULL is ignored.
#[no_mangle]
pub extern "C" fn raft_decoder_free(decoder: *mut raft_decoder) {
    guard(|| {
        if !decoder.is_null() {
            // SAFETY: a non-NULL decoder came from Box::into_raw in raft_decoder_new and is
            // freed once (the caller's contract).
            drop(unsafe { Box::from_raw(decoder) });
        }
    })
}

/// Appends `n` received bytes (copied; the caller keeps `bytes`). Nothing is decoded until
/// `raft_decoder_next`. After a decoding error the bytes are ignored.
///
/// Errors: `RAFT_INVALID` (NULL `decoder`, or NULL `bytes` with `n > 0`).
#[no_mangle]
pub extern "C" fn raft_decoder_feed(
    decoder: *mut raft_decoder,
    bytes: *const c_void,
    n: usize,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let decoder = boundary::non_null_mut(decoder, "decoder")?;
            let bytes = boundary::slice(bytes as *const u8, n, "bytes")?;
            decoder.stream.feed(bytes);
            Ok(())
        }
    })
}

/// Decodes the next frame if the bytes fed so far hold a whole one, and sets `*frame`:
/// - `RAFT_FRAME_NONE`: feed more bytes;
/// - `RAFT_FRAME_HANDSHAKE`: the peer's handshake, now readable with `raft_decoder_peer`;
/// - `RAFT_FRAME_MESSAGE`: `*message` is filled, ready for `RAFT_RECEIVE` except for
///   `server_id`/`server_address`, left 0/NULL for the host to set to the sender. `version` is
///   inferred from the encoding. An AppendEntries has its `entries` in a `raft_malloc` array
///   whose entries share one `raft_malloc` batch; an InstallSnapshot has `conf` decoded and
///   `data` in a `raft_malloc` buffer. The caller owns all of it and releases it with
///   `raft_message_release` (see there for what to release after a successful step).
///
/// `*message` is written only for `RAFT_FRAME_MESSAGE`. Call repeatedly until
/// `RAFT_FRAME_NONE`: one feed may complete several frames.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_MALFORMED` (bytes that are not C-Raft's
/// protocol), `RAFT_TOOBIG` (an announced length above the decoder's limits: 4 KiB addresses,
/// 8 MiB headers, 1 GiB payloads), `RAFT_NOMEM`. A decoding error is final: the decoder keeps
/// returning it, and the connection should be closed, as C-Raft does.
#[no_mangle]
pub extern "C" fn raft_decoder_next(
    decoder: *mut raft_decoder,
    frame: *mut c_int,
    message: *mut raft_message,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let decoder = boundary::non_null_mut(decoder, "decoder")?;
            let frame = boundary::non_null_mut(frame, "frame")?;
            let message = boundary::non_null_mut(message, "message")?;
            *frame = next(decoder, message)?;
            Ok(())
        }
    })
}

fn next(decoder: &mut raft_decoder, message: &mut raft_message) -> Result<c_int, Failure> {
    match decoder.stream.next_frame()? {
        None => Ok(RAFT_FRAME_NONE),
        Some(Frame::Handshake(handshake)) => {
            // The codec stops the address at its first NUL, so it holds none.
            let address = CString::new(handshake.address)
                .map_err(|_| Failure::malformed("handshake address contains a NUL byte"))?;
            decoder.peer = Some((handshake.server_id, address));
            Ok(RAFT_FRAME_HANDSHAKE)
        }
        Some(Frame::Message(decoded)) => {
            *message = wire::to_c(&decoded)?;
            Ok(RAFT_FRAME_MESSAGE)
        }
    }
}

/// The peer named by the handshake: `*id` and `*address`, a string owned by the decoder and
/// valid until `raft_decoder_free` (so it can serve as the `server_address` of received
/// messages). Either output pointer may be NULL.
///
/// Errors: `RAFT_INVALID` (NULL `decoder`), `RAFT_NOTFOUND` (no handshake decoded yet, or the
/// decoder was created without one); the outputs are then untouched.
#[no_mangle]
pub extern "C" fn raft_decoder_peer(
    decoder: *const raft_decoder,
    id: *mut raft_id,
    address: *mut *const c_char,
) -> c_int {
    guard(|| {
        // SAFETY: a non-NULL decoder came from raft_decoder_new.
        let Some(decoder) = (unsafe { decoder.as_ref() }) else {
            return RAFT_INVALID;
        };
        let Some((peer_id, peer_address)) = &decoder.peer else {
            return RAFT_NOTFOUND;
        };
        // SAFETY: non-NULL output pointers are the caller's slots.
        unsafe {
            if let Some(id) = id.as_mut() {
                *id = *peer_id;
            }
            if let Some(address) = address.as_mut() {
                *address = peer_address.as_ptr();
            }
        }
        0
    })
}

/// How many more bytes must be fed before `raft_decoder_next` can return a frame: at least 1
/// while a frame is incomplete, 0 when one is complete or after an error. A hint for sizing
/// reads; reading more is always fine. NULL gives 0.
#[no_mangle]
pub extern "C" fn raft_decoder_needed(decoder: *const raft_decoder) -> c_ulonglong {
    // SAFETY: a non-NULL decoder came from raft_decoder_new.
    guard(|| unsafe { decoder.as_ref() }.map(|d| d.stream.bytes_needed())).unwrap_or(0)
}

/// True when no partial frame is buffered, so the peer may close the connection here without
/// losing anything. NULL gives true.
#[no_mangle]
pub extern "C" fn raft_decoder_at_boundary(decoder: *const raft_decoder) -> bool {
    // SAFETY: a non-NULL decoder came from raft_decoder_new.
    guard(|| unsafe { decoder.as_ref() }.map(|d| d.stream.is_at_frame_boundary())).unwrap_or(true)
}
