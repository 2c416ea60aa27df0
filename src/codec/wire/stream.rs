//! An incremental decoder for one direction of a connection: feed it the bytes as they arrive,
//! in chunks of any size, and take out the handshake and then whole messages.
//!
//! The decoder only buffers what it was fed; a peer announcing a huge header or payload cannot
//! make it reserve memory (the announced lengths are checked against [`Limits`] and the buffer
//! grows with the bytes actually received). Payloads of decoded messages are slices of the
//! receive buffer, not copies. After an error the stream is unusable (C-Raft closes the
//! connection) and every later call returns the same error.

use bytes::{Bytes, BytesMut};

use super::decode::{decode_header, decode_preamble, MessageHead, Preamble};
use super::handshake::{
    decode_handshake, decode_handshake_prefix, Handshake, HANDSHAKE_PREFIX_LEN,
};
use super::message::WireMessage;
use super::{Limits, PREAMBLE_LEN};
use crate::codec::error::{Error, Result};

/// What a [`StreamDecoder`] produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The connection's handshake (always first, exactly once, when expected).
    Handshake(Handshake),
    /// A whole message.
    Message(WireMessage),
}

#[derive(Debug)]
enum State {
    /// Waiting for the 24-byte handshake prefix.
    HandshakePrefix,
    /// Waiting for the whole handshake of this many bytes.
    Handshake(usize),
    /// Waiting for a message preamble.
    Preamble,
    /// Waiting for the header announced by the preamble.
    Header(Preamble),
    /// Waiting for the payload announced by the header.
    Payload(MessageHead),
    /// A decoding error happened; the stream is dead.
    Failed(Error),
}

/// Incremental decoder of a byte stream (see the module documentation).
#[derive(Debug)]
pub struct StreamDecoder {
    limits: Limits,
    buf: BytesMut,
    state: State,
}

impl StreamDecoder {
    /// A decoder for a connection's stream from its start: a handshake, then messages.
    pub fn new(limits: Limits) -> StreamDecoder {
        StreamDecoder { limits, buf: BytesMut::new(), state: State::HandshakePrefix }
    }

    /// A decoder for a stream of messages only (the handshake was consumed elsewhere).
    pub fn without_handshake(limits: Limits) -> StreamDecoder {
        StreamDecoder { limits, buf: BytesMut::new(), state: State::Preamble }
    }

    /// Appends received bytes. Nothing is decoded until [`Self::next_frame`] is called.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Bytes fed but not yet consumed by a returned frame.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// How many more bytes must be fed before [`Self::next_frame`] can make progress (at least
    /// 1 while waiting; 0 when a call would make progress or the stream has failed). Useful to
    /// size reads.
    pub fn bytes_needed(&self) -> u64 {
        let wanted = match &self.state {
            State::HandshakePrefix => HANDSHAKE_PREFIX_LEN as u64,
            State::Handshake(len) => *len as u64,
            State::Preamble => PREAMBLE_LEN as u64,
            State::Header(preamble) => preamble.header_len,
            State::Payload(head) => head.payload_len(),
            State::Failed(_) => return 0,
        };
        wanted.saturating_sub(self.buf.len() as u64)
    }

    /// True when no partial frame is buffered: the peer may close the connection here without
    /// losing anything.
    pub fn is_at_frame_boundary(&self) -> bool {
        self.buf.is_empty() && matches!(self.state, State::HandshakePrefix | State::Preamble)
    }

    /// Decodes the next frame if enough bytes were fed; `Ok(None)` means "feed more".
    ///
    /// Errors: any error of [`decode_handshake`], [`decode_preamble`], [`decode_header`] or
    /// [`MessageHead::finish`]. After an error the decoder drops its buffer and keeps returning
    /// that error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            match self.step() {
                Ok(Progress::Frame(frame)) => return Ok(Some(frame)),
                Ok(Progress::Continue) => continue,
                Ok(Progress::NeedMore) => return Ok(None),
                Err(e) => {
                    self.buf = BytesMut::new();
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
    }

    fn step(&mut self) -> Result<Progress> {
        let state = std::mem::replace(&mut self.state, State::Preamble);
        let (next, progress) = match state {
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                return Err(e);
            }
            State::HandshakePrefix => match self.peek(HANDSHAKE_PREFIX_LEN) {
                None => (State::HandshakePrefix, Progress::NeedMore),
                Some(prefix) => {
                    let field_len = decode_handshake_prefix(prefix, &self.limits)?;
                    // Bounded by max_address_len.
                    let total = HANDSHAKE_PREFIX_LEN + field_len as usize;
                    (State::Handshake(total), Progress::Continue)
                }
            },
            State::Handshake(total) => match self.take(total) {
                None => (State::Handshake(total), Progress::NeedMore),
                Some(bytes) => {
                    let handshake = decode_handshake(&bytes, &self.limits)?;
                    (State::Preamble, Progress::Frame(Frame::Handshake(handshake)))
                }
            },
            State::Preamble => match self.take(PREAMBLE_LEN) {
                None => (State::Preamble, Progress::NeedMore),
                Some(bytes) => {
                    (State::Header(decode_preamble(&bytes, &self.limits)?), Progress::Continue)
                }
            },
            State::Header(preamble) => match self.take(preamble.header_len as usize) {
                None => (State::Header(preamble), Progress::NeedMore),
                Some(bytes) => {
                    let head = decode_header(&preamble, &bytes, &self.limits)?;
                    (State::Payload(head), Progress::Continue)
                }
            },
            State::Payload(head) => match self.take(head.payload_len() as usize) {
                None => (State::Payload(head), Progress::NeedMore),
                Some(payload) => {
                    let message = head.finish(payload)?;
                    (State::Preamble, Progress::Frame(Frame::Message(message)))
                }
            },
        };
        self.state = next;
        Ok(progress)
    }

    fn peek(&self, len: usize) -> Option<&[u8]> {
        self.buf.get(..len)
    }

    /// Splits the first `len` bytes off the buffer without copying them.
    fn take(&mut self, len: usize) -> Option<Bytes> {
        if self.buf.len() < len {
            return None;
        }
        let bytes = self.buf.split_to(len).freeze();
        if self.buf.is_empty() {
            // Start the next frame in a fresh allocation instead of keeping a grown one alive.
            self.buf = BytesMut::new();
        }
        Some(bytes)
    }
}

enum Progress {
    Frame(Frame),
    Continue,
    NeedMore,
}
