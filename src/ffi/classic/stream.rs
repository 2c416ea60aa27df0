//! Streamed snapshots in the classic mode (libraft-rs extension, docs/snapshots.md), over
//! libraft-rs's own `raft_uv` only (`raft_io` has no method for a part of a snapshot). A
//! follower stores each chunk it receives straight into the data directory and, once the last
//! one is in, restores its FSM from the stored snapshot (`raft_fsm.restore` takes the whole
//! buffer: that is the only moment the snapshot is in memory); a leader reads each chunk it
//! sends from its stored snapshot when it sends it. What to send and when is the core's
//! decision; this file only carries out its updates.

use std::ffi::{c_char, c_int};
use std::ptr::null_mut;

use super::driver::{core_of, io_callback, report, step_event, zeroed_event, Driver, SendRequest};
use crate::ffi::boundary::{self, Failure};
use crate::ffi::configuration;
use crate::ffi::heap;
use crate::ffi::instance;
use crate::ffi::types::*;
use crate::ffi::uv::stream::{self as uv_stream, Chunk};
use crate::storage::SnapshotHeader;

/// Tells the core the length of its snapshot at `index`, so that it can stream it (ignored
/// when `index` is no longer its latest snapshot).
///
/// # Safety
/// `r` must be an initialised instance, idle (between steps).
pub unsafe fn note_snapshot_len(r: *mut raft, index: raft_index, len: u64) {
    // SAFETY: per the caller.
    if let Ok(inst) = unsafe { instance::instance_mut(r) } {
        let _ = inst.core.note_snapshot_len(index, len);
    }
}

/// Whether the snapshot of an update is a chunk of a stream rather than a whole snapshot
/// (which the step hands out as one last chunk at offset 0).
pub fn is_streamed(s: &raft_update_snapshot) -> bool {
    s.last == 0 || s.offset > 0
}

impl Driver {
    /// Stores a received chunk (an update's snapshot for which [`is_streamed`] holds); its data
    /// and, on the last chunk, its configuration were handed to us by the step.
    pub(super) unsafe fn store_snapshot_chunk(
        &mut self,
        r: *mut raft,
        s: &raft_update_snapshot,
    ) -> Result<(), Failure> {
        let mut metadata = s.metadata;
        let last = s.last != 0;
        // SAFETY: the chunk's buffer, raft heap, handed over with the update.
        let data =
            unsafe { boundary::buffer_bytes(&s.chunk, "snapshot chunk") }.map(<[u8]>::to_vec);
        heap::free(s.chunk.base);
        let snapshot = match (data, last) {
            (Ok(data), false) => Ok((data, None)),
            // SAFETY: the last chunk's configuration, ours.
            (Ok(data), true) => {
                unsafe { configuration::from_c(&metadata.configuration) }.map(|conf| {
                    let m = &metadata;
                    let s = SnapshotHeader {
                        term: m.term,
                        index: m.index,
                        conf,
                        conf_index: m.configuration_index,
                    };
                    (data, Some(s))
                })
            }
            (Err(f), _) => Err(f),
        };
        let (data, snapshot) = match snapshot {
            Ok(parts) => parts,
            Err(f) => {
                configuration::close(&mut metadata.configuration);
                return Err(self.fatal(f));
            }
        };
        if last {
            self.log.restore(metadata.index, metadata.term);
            self.set_written(metadata.index);
            self.installing = true;
        }
        let offset = s.offset;
        let done = Box::new(move |outcome: Result<Chunk, Failure>| {
            // SAFETY: the instance lives while its requests are in flight.
            unsafe { io_callback(r, move |d| d.chunk_stored(r, metadata, offset, last, outcome)) }
        });
        let (term, index) = (metadata.term, metadata.index);
        // SAFETY: streaming is accepted only over raft_uv (`raft_set_snapshot_chunks`).
        let queued = unsafe {
            uv_stream::store_chunk(self.io, term, index, offset as u64, data, snapshot, done)
        };
        if let Err(f) = queued {
            configuration::close(&mut metadata.configuration);
            self.installing = false;
            return Err(self.fatal(f));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// A chunk is on disk: tells the core, and after the last one keeps the snapshot's data
    /// for the FSM, restored once the commit index reaches it (as a whole snapshot's is).
    fn chunk_stored(
        &mut self,
        r: *mut raft,
        mut metadata: raft_snapshot_metadata,
        offset: usize,
        last: bool,
        outcome: Result<Chunk, Failure>,
    ) {
        self.in_flight -= 1;
        if last {
            self.installing = false;
        }
        if self.closing {
            if last {
                configuration::close(&mut metadata.configuration);
            }
            return;
        }
        let kept = outcome.and_then(|chunk| match last {
            true => configuration::copy_to_heap(&chunk.data).map(Some),
            false => Ok(None),
        });
        match kept {
            Err(f) => {
                let f =
                    Failure::new(f.code, format!("storing a snapshot chunk failed: {}", f.message));
                // SAFETY: `r` is initialised.
                unsafe { instance::set_errmsg(r, &f.message) };
                self.fatal(f);
            }
            Ok(data) => {
                if let Some(data) = data {
                    if let Some((_, older)) = self.installed.replace((metadata.index, data)) {
                        heap::free(older.base);
                    }
                }
                let mut event = zeroed_event();
                event.r#type = raft_event_type::RAFT_PERSISTED_SNAPSHOT as c_int;
                event.body.persisted_snapshot =
                    raft_event_persisted_snapshot { metadata, offset, last: u8::from(last) };
                // SAFETY: the event points at our metadata, alive for the step.
                unsafe { report(r, step_event(r, self, &mut event)) };
            }
        }
        if last {
            configuration::close(&mut metadata.configuration);
        }
    }

    /// Sends a chunk of our snapshot once its bytes (and, for the last chunk, the snapshot's
    /// configuration) are read from the data directory, as a whole snapshot's are read by
    /// `snapshot_get` before it is sent.
    pub(super) unsafe fn send_snapshot_chunk(
        &mut self,
        r: *mut raft,
        message: raft_message,
        address: Vec<u8>,
    ) {
        // SAFETY: the member selected by the type; a short read of the core.
        let c = unsafe { message.body.install_snapshot_chunk };
        let Ok(core) = (unsafe { core_of(r) }) else { return };
        let offset = u64::from(c.chunk) * core.settings().snapshot_chunk_size;
        let (index, len, last) = (c.last_index, c.data.len as u64, c.last != 0);
        let done = Box::new(move |outcome: Result<Chunk, Failure>| {
            // SAFETY: the instance lives while its requests are in flight.
            unsafe { io_callback(r, move |d| d.chunk_read(r, message, address, outcome)) }
        });
        // SAFETY: streaming is accepted only over raft_uv (`raft_set_snapshot_chunks`).
        if unsafe { uv_stream::read_chunk(self.io, index, offset, len, last, done) }.is_ok() {
            self.in_flight += 1;
        } // Else a lost message: the core resends or gives up on its own schedule.
    }

    /// A chunk to send was read: attaches its bytes and configuration and sends it.
    fn chunk_read(
        &mut self,
        r: *mut raft,
        mut message: raft_message,
        address: Vec<u8>,
        outcome: Result<Chunk, Failure>,
    ) {
        let attached = outcome.and_then(|chunk| attachment(&chunk));
        let (conf, conf_index, data) = match attached {
            Ok(parts) if !self.closing => parts,
            // A chunk that cannot be read is a lost message: the core resends or gives up.
            other => {
                if let Ok((mut conf, _, data)) = other {
                    configuration::close(&mut conf);
                    heap::free(data.base);
                }
                self.in_flight -= 1;
                return;
            }
        };
        // SAFETY: the member selected by the type.
        let c = unsafe { &mut message.body.install_snapshot_chunk };
        c.data = data;
        if c.last != 0 {
            c.conf = conf;
            c.conf_index = conf_index;
        }
        message.server_address = address.as_ptr() as *const c_char;
        let req = SendRequest::new(r, message, address, None, Some((conf, data)));
        // SAFETY: the host's io; the request lives until its callback.
        unsafe { self.dispatch(req) };
    }
}

/// A read chunk in the C form a message carries: its configuration (empty but for the last
/// chunk), the configuration's index and its data, raft heap, ours.
fn attachment(chunk: &Chunk) -> Result<(raft_configuration, raft_index, raft_buffer), Failure> {
    let mut conf = raft_configuration { servers: null_mut(), n: 0 };
    let mut conf_index = 0;
    if let Some((c, index)) = &chunk.conf {
        configuration::to_c(c, &mut conf)?;
        conf_index = *index;
    }
    match configuration::copy_to_heap(&chunk.data) {
        Ok(data) => Ok((conf, conf_index, data)),
        Err(f) => {
            configuration::close(&mut conf);
            Err(f)
        }
    }
}
