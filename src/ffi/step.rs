//! `raft_step`: reads the host's event into the core's form, runs the core, and writes the
//! core's update into the host's `raft_update`, moving payload ownership as docs/contract.md#the-update says.
//!
//! Memory the update may need (an entry array, a barrier, a snapshot configuration) is at hand
//! before the core runs, so that running out of memory never leaves a half-applied step.

use std::ffi::{c_int, c_void};
use std::ptr;

use super::boundary::{self, Failure};
use super::configuration;
use super::entries::{self, Origin};
use super::heap;
use super::instance::{self, Instance};
use super::message::{self, MessageView};
use super::published;
use super::tracer::HostTracer;
use super::types::*;
use crate::core::{self, EntrySource, EntryView, Event, Incoming, SnapshotMetadata};

/// Size of the payload of a barrier entry: 8 zero bytes, as C-Raft writes.
const BARRIER_PAYLOAD_LEN: usize = 8;

/// Feeds one event to the instance and fills `update`. Returns 0 or a `RAFT_*` code; after an
/// error nothing observable changed, `raft_errmsg` says why, and `update` must be ignored.
///
/// Ownership: the event and everything it points to belong to the host, except the payloads
/// of a received AppendEntries (its batch) and InstallSnapshot (its data), which pass to the
/// library on success: it frees them or hands them back in `update`. See the README's "API
/// conventions" for every case. Errors: `RAFT_INVALID` (NULL argument, unknown event type,
/// out-of-order event, bad arguments), `RAFT_MALFORMED` (bad received message or
/// configuration), `RAFT_BUSY` (called from inside a step on the same instance),
/// `RAFT_NOTLEADER`, `RAFT_NOSPACE`, `RAFT_CANTCHANGE`, `RAFT_BADID`, `RAFT_NOTFOUND`,
/// `RAFT_NOMEM`, `RAFT_SHUTDOWN` (a committed entry conflicts, or an internal error: close the
/// instance).
#[no_mangle]
pub extern "C" fn raft_step(
    r: *mut raft,
    event: *mut raft_event,
    update: *mut raft_update,
) -> c_int {
    // One panic boundary around the whole call. A panic is a bug of the library: the step may
    // have been half applied, so the instance is poisoned and every later step refuses.
    // SAFETY: `r` is NULL or the host's struct raft; the other pointers are checked in `step`.
    match boundary::contain(|| unsafe { step(r, event, update, Caller::Host) }) {
        Ok(code) => code,
        Err(panic) => {
            let message = format!("internal error in raft_step ({panic}): close the instance");
            // SAFETY: as above; the step's references to the instance ended with the unwind.
            unsafe { instance::poison(r, &message) };
            boundary::PANIC_CODE
        }
    }
}

/// Who asks for a step: the host through `raft_step`, or the classic driver on its behalf.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Host,
    ClassicDriver,
}

pub(super) unsafe fn step(
    r: *mut raft,
    event: *const raft_event,
    update: *mut raft_update,
    caller: Caller,
) -> c_int {
    // SAFETY: `r` is NULL or the host's struct raft.
    let inst = match unsafe { instance::instance_mut(r) } {
        Ok(inst) => inst,
        Err(f) => {
            if f.code == RAFT_BUSY {
                // SAFETY: an initialised struct raft; errmsg is plain host memory.
                unsafe { instance::set_errmsg(r, &f.message) };
            }
            return f.code;
        }
    };
    // A classic-mode instance's events come from its raft_io: a step from outside would leave
    // the driver's view of the log behind.
    // SAFETY: `r` is initialised (instance_mut succeeded); a plain member.
    if caller == Caller::Host
        && !unsafe { ptr::read(ptr::addr_of!((*r).private_classic)) }.is_null()
    {
        let message = "a classic-mode instance (raft_init with io and fsm) is driven by its raft_io, not raft_step";
        // SAFETY: as above.
        unsafe { instance::set_errmsg(r, message) };
        return RAFT_INVALID;
    }
    let outcome = (|| {
        // SAFETY: the host's update struct; it need not be initialised.
        let update = unsafe { boundary::non_null_mut(update, "update") }?;
        update.flags = 0;
        update.messages = raft_update_messages { batch: inst.messages.as_mut_ptr(), n: 0 };
        // SAFETY: the host's event, read-only.
        let event = unsafe { boundary::non_null(event, "event") }?;
        if inst.poisoned {
            return Err(Failure::new(RAFT_SHUTDOWN, "instance failed earlier: close it"));
        }
        // SAFETY: reading the tracer member of the initialised struct.
        let installed_tracer = unsafe { (*r).tracer };
        // SAFETY: `r` is initialised; busy is cleared below, or by `poison` after a panic.
        unsafe { instance::set_busy(r, true) };
        // SAFETY: the event and tracer are the host's, valid for the call.
        let run = unsafe { run(inst, installed_tracer, event, update) };
        // SAFETY: as above.
        unsafe {
            instance::set_busy(r, false);
            published::publish(r, inst);
        }
        run
    })();
    match outcome {
        Ok(()) => 0,
        Err(f) => {
            // SAFETY: an initialised struct raft.
            unsafe { instance::set_errmsg(r, &f.message) };
            f.code
        }
    }
}

/// What the host's event carries that an update may hand back: its entries (submitted, or
/// received in an AppendEntries) and the received message. Read once, with the event.
#[derive(Clone, Copy)]
struct Carried<'a> {
    entries: &'a [raft_entry],
    received: Option<MessageView<'a>>,
}

/// Memory for every update the core may produce from this event, allocated before the core
/// runs, so that filling the update never allocates and a step that fails for lack of memory
/// fails before anything changed.
///
/// The core's update names its new entries as either a suffix of the event's entries or one
/// barrier ([`EntrySource`]): an array as long as the event's entries covers the first, the
/// instance's [`BarrierStock`] the second. A snapshot is only handed back for a received
/// InstallSnapshot, whose configuration is copied here. Nothing depends on guessing what the
/// core will decide. Whatever is not handed to the host is freed on drop.
struct Outputs {
    entries: *mut raft_entry,
    configuration: Option<raft_configuration>,
}

impl Outputs {
    fn for_event(carried: &Carried<'_>, received: Option<&Incoming<'_>>) -> Result<Self, Failure> {
        let mut outputs = Outputs { entries: ptr::null_mut(), configuration: None };
        if !carried.entries.is_empty() {
            outputs.entries = heap::alloc_array::<raft_entry>(carried.entries.len());
            if outputs.entries.is_null() {
                return Err(Failure::nomem());
            }
        }
        let conf = match received {
            Some(Incoming::InstallSnapshot { conf, .. }) => Some(conf),
            Some(Incoming::InstallSnapshotChunk(c)) if c.last => Some(&c.conf),
            _ => None,
        };
        if let Some(conf) = conf {
            let mut copy = raft_configuration { servers: ptr::null_mut(), n: 0 };
            configuration::to_c(conf, &mut copy)?;
            outputs.configuration = Some(copy);
        }
        Ok(outputs)
    }

    /// The array as long as the event's entries; the suffix the core hands back always fits.
    fn take_entries(&mut self) -> *mut raft_entry {
        std::mem::replace(&mut self.entries, ptr::null_mut())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        heap::free(self.entries as *mut c_void);
        if let Some(mut c) = self.configuration.take() {
            configuration::close(&mut c);
        }
    }
}

/// One barrier entry kept ready in the instance (a one-element array and its 8-byte payload,
/// from the raft heap), so that a step that wins an election, by votes or by being the only
/// voter, can hand its barrier to the host without allocating after the core ran. Refilled
/// before the next step after one is handed out: about once per election won.
pub struct BarrierStock {
    array: *mut raft_entry,
    payload: *mut c_void,
}

impl BarrierStock {
    pub const fn empty() -> BarrierStock {
        BarrierStock { array: ptr::null_mut(), payload: ptr::null_mut() }
    }

    /// Makes sure a barrier is in stock. On failure nothing is lost: the step fails before the
    /// core runs.
    fn refill(&mut self) -> Result<(), Failure> {
        if self.array.is_null() {
            self.array = heap::alloc_array::<raft_entry>(1);
        }
        if self.payload.is_null() {
            self.payload = heap::calloc(1, BARRIER_PAYLOAD_LEN);
        }
        if self.array.is_null() || self.payload.is_null() {
            return Err(Failure::nomem());
        }
        Ok(())
    }

    /// Hands out the stocked barrier as a one-entry array of `term`.
    fn take(&mut self, term: core::Term) -> *mut raft_entry {
        let array = std::mem::replace(&mut self.array, ptr::null_mut());
        let payload = std::mem::replace(&mut self.payload, ptr::null_mut());
        let barrier = raft_entry {
            term,
            r#type: entry_type_code(core::EntryType::Barrier),
            buf: raft_buffer { base: payload, len: BARRIER_PAYLOAD_LEN },
            batch: payload,
        };
        // SAFETY: `refill` succeeded before the core ran, so `array` holds one entry.
        unsafe { array.write(barrier) };
        array
    }
}

impl Drop for BarrierStock {
    fn drop(&mut self) {
        heap::free(self.array as *mut c_void);
        heap::free(self.payload);
    }
}

/// Runs the step with the instance's reusable buffer of entry views, which it gets back empty
/// whatever the outcome.
unsafe fn run(
    inst: &mut Instance,
    installed_tracer: *mut raft_tracer,
    ev: &raft_event,
    update: &mut raft_update,
) -> Result<(), Failure> {
    let mut views = std::mem::take(&mut inst.views);
    inst.reads.clear();
    // SAFETY: forwarded from the caller.
    let outcome = unsafe { run_with_views(inst, installed_tracer, ev, update, &mut views) };
    inst.views = recycle(views);
    outcome
}

/// Empties `views` and gives its buffer back with a lifetime independent of the event's. The
/// standard library collects a mapped `vec::IntoIter` in place when the element layouts
/// match, so this keeps the allocation.
fn recycle<'b>(mut views: Vec<EntryView<'_>>) -> Vec<EntryView<'b>> {
    views.clear();
    views.into_iter().map(|_| unreachable!("the vector was emptied")).collect()
}

/// One pass: the C event becomes the core's event, the core runs, and its update becomes the
/// C update. Everything that can fail (reading the event, memory for the update) happens
/// before the core runs; after it, filling the update cannot fail.
unsafe fn run_with_views<'a>(
    inst: &mut Instance,
    installed_tracer: *mut raft_tracer,
    ev: &'a raft_event,
    update: &mut raft_update,
    views: &mut Vec<EntryView<'a>>,
) -> Result<(), Failure> {
    // SAFETY: the event's pointers are the host's, valid for the call.
    let streams = inst.core.settings().snapshot_chunk_size > 0;
    // SAFETY: as above.
    let (event, carried) = unsafe { read_event(ev, views, streams) }?;
    let received = match &event {
        Event::Receive(m) => Some(&m.body),
        _ => None,
    };
    let mut outputs = Outputs::for_event(&carried, received)?;
    inst.barrier.refill()?;
    inst.addresses.begin_step();
    let silent = inst.silent_default_tracer();
    // SAFETY: the host's tracer (or NULL), valid for the call.
    let mut tracer = unsafe { HostTracer::new(installed_tracer, silent, &mut inst.trace_text) };
    let tracer = tracer.as_mut().map(|t| t as &mut dyn core::Tracer);
    let result = inst.core.step(ev.time, ev.capacity, event, tracer)?;

    let mut flags = 0;
    if result.term_changed {
        flags |= RAFT_UPDATE_CURRENT_TERM;
    }
    if result.vote_changed {
        flags |= RAFT_UPDATE_VOTED_FOR;
    }
    let mut entries_handed_back = false;
    if let Some(new) = result.entries {
        let (batch, n) = match new.source {
            EntrySource::Event { skip } => {
                let handed = &carried.entries[skip.min(carried.entries.len())..];
                let batch = outputs.take_entries();
                // SAFETY: `batch` holds as many entries as the event carries, and `handed` is
                // a suffix of them.
                unsafe { ptr::copy_nonoverlapping(handed.as_ptr(), batch, handed.len()) };
                entries_handed_back = true;
                (batch, handed.len())
            }
            EntrySource::Barrier { term } => (inst.barrier.take(term), 1),
        };
        update.entries = raft_update_entries { index: new.index, batch, n: n as _ };
        flags |= RAFT_UPDATE_ENTRIES;
    }
    let mut snapshot_handed_back = false;
    let mut received_len = None;
    let data = carried.received.and_then(MessageView::snapshot_data);
    if result.snapshot.is_some() || result.snapshot_chunk.is_some() {
        let Some(data) = data else {
            unreachable!("the core hands back a snapshot only for a received one");
        };
        // A whole snapshot is one last chunk at offset 0.
        let (offset, last) = result.snapshot_chunk.map_or((0, true), |c| (c.offset, c.last));
        let metadata = match (&result.snapshot, &result.snapshot_chunk) {
            (Some(meta), chunk) => {
                let Some(configuration) = outputs.configuration.take() else {
                    unreachable!("a snapshot to install comes with its configuration");
                };
                if chunk.is_none() {
                    received_len = Some((meta.index, data.len as u64));
                }
                raft_snapshot_metadata {
                    index: meta.index,
                    term: meta.term,
                    configuration,
                    configuration_index: meta.configuration_index,
                }
            }
            // A chunk before the last: the configuration comes with the last one.
            (None, Some(chunk)) => raft_snapshot_metadata {
                index: chunk.index,
                term: chunk.term,
                configuration: raft_configuration { servers: ptr::null_mut(), n: 0 },
                configuration_index: 0,
            },
            (None, None) => unreachable!("checked above"),
        };
        update.snapshot = raft_update_snapshot {
            metadata,
            offset: offset as usize,
            chunk: data,
            last: u8::from(last),
        };
        snapshot_handed_back = true;
        flags |= RAFT_UPDATE_SNAPSHOT;
    }
    message::emit_all(&result.messages, &mut inst.messages, &mut inst.addresses);
    update.messages =
        raft_update_messages { batch: inst.messages.as_mut_ptr(), n: inst.messages.len() as _ };
    if !inst.messages.is_empty() {
        flags |= RAFT_UPDATE_MESSAGES;
    }
    if result.state_changed {
        flags |= RAFT_UPDATE_STATE;
    }
    if result.commit_index_changed {
        flags |= RAFT_UPDATE_COMMIT_INDEX;
    }
    if result.timeout_changed {
        flags |= RAFT_UPDATE_TIMEOUT;
    }
    // Without memory for all of them, the reads that fit are reported and the others are
    // lost, as a message would be: the host's client times out and asks again.
    if !result.reads.is_empty() {
        let _ = inst.reads.try_reserve(result.reads.len());
        let room = inst.reads.capacity();
        inst.reads.extend(result.reads.iter().take(room).map(read_result));
        flags |= RAFT_UPDATE_READS;
    }
    update.flags = flags;
    if let Some((leader, address)) = inst.core.leader() {
        inst.addresses.record(leader, address);
    }
    if let Some(view) = carried.received {
        release_unclaimed_payloads(view, entries_handed_back, snapshot_handed_back);
    }
    if let (true, Some((index, len))) = (streams, received_len) {
        // A whole snapshot received: its length is known, should we lead and stream it.
        let _ = inst.core.note_snapshot_len(index, len);
    }
    Ok(())
}

/// The C form of a read's outcome.
fn read_result(r: &core::ReadResult) -> raft_read_result {
    match r.outcome {
        core::ReadOutcome::Ready { index } => raft_read_result { id: r.id, index, status: 0 },
        core::ReadOutcome::LeadershipLost => {
            raft_read_result { id: r.id, index: 0, status: RAFT_LEADERSHIPLOST }
        }
    }
}

/// On a successful receive the library owns the message's payloads: those not handed back in
/// the update are freed now.
fn release_unclaimed_payloads(
    view: MessageView<'_>,
    entries_handed_back: bool,
    snapshot_handed_back: bool,
) {
    if !entries_handed_back {
        heap::free(view.entries_batch());
    }
    if !snapshot_handed_back {
        if let Some(data) = view.snapshot_data() {
            heap::free(data.base);
        }
    }
}

/// Snapshot metadata from the host, with its configuration read into the core's form.
///
/// # Safety
/// The configuration's pointers must be valid for the call.
unsafe fn metadata(m: &raft_snapshot_metadata) -> Result<SnapshotMetadata, Failure> {
    Ok(SnapshotMetadata {
        index: m.index,
        term: m.term,
        // SAFETY: forwarded to the caller.
        configuration: unsafe { configuration::from_c(&m.configuration) }?,
        configuration_index: m.configuration_index,
    })
}

/// The host's event in the core's form, with what it carries for the update.
///
/// # Safety
/// The member of `ev.body` selected by `ev.type`, and everything it points to, must be valid
/// for `'a` as the header documents.
unsafe fn read_event<'a: 'v, 'v>(
    ev: &'a raft_event,
    views: &'v mut Vec<EntryView<'a>>,
    streams: bool,
) -> Result<(Event<'v>, Carried<'a>), Failure> {
    use raft_event_type as E;
    let mut carried = Carried { entries: &[], received: None };
    // SAFETY: `type` selects the member the host filled; pointers per the caller.
    let event = unsafe {
        match E::try_from(ev.r#type) {
            Ok(E::RAFT_START) => {
                let s = &ev.body.start;
                let snapshot = match s.metadata.as_ref() {
                    Some(m) => Some(metadata(m)?),
                    None => None,
                };
                let entries = boundary::slice(s.entries, s.n_entries as usize, "start.entries")?;
                entries::views(entries, Origin::Host, "start entry", views)?;
                Event::Start {
                    term: s.term,
                    voted_for: s.voted_for,
                    snapshot,
                    start_index: s.start_index,
                    entries: views,
                }
            }
            Ok(E::RAFT_RECEIVE) => {
                let m = boundary::non_null(ev.body.receive.message, "receive.message")?;
                let (received, view) = message::received(m, views)?;
                carried.entries = view.entries();
                carried.received = Some(view);
                Event::Receive(received)
            }
            Ok(E::RAFT_PERSISTED_ENTRIES) => {
                Event::PersistedEntries { index: ev.body.persisted_entries.index }
            }
            Ok(E::RAFT_PERSISTED_SNAPSHOT) => {
                let p = &ev.body.persisted_snapshot;
                // `offset` and `last` matter only to a host that streams snapshots (C-Raft
                // hosts pass back offset 0 and last true, or leave them unset).
                if streams && p.last == 0 {
                    Event::PersistedSnapshotChunk {
                        index: p.metadata.index,
                        term: p.metadata.term,
                        offset: p.offset as u64,
                    }
                } else {
                    Event::PersistedSnapshot { metadata: metadata(&p.metadata)? }
                }
            }
            Ok(E::RAFT_CONFIGURATION) => {
                let c = &ev.body.configuration;
                // The core holds the configuration already; the host's copy is still checked,
                // so that a malformed one is refused as the contract says.
                configuration::from_c(&c.conf)?;
                Event::Configuration { index: c.index }
            }
            Ok(E::RAFT_SNAPSHOT) => {
                let s = &ev.body.snapshot;
                Event::Snapshot { metadata: metadata(&s.metadata)?, trailing: s.trailing }
            }
            Ok(E::RAFT_TIMEOUT) => Event::Timeout,
            Ok(E::RAFT_SUBMIT) => {
                let s = &ev.body.submit;
                let entries = boundary::slice(s.entries, s.n as usize, "submit.entries")?;
                entries::views(entries, Origin::Host, "submitted entry", views)?;
                carried.entries = entries;
                Event::Submit { entries: views }
            }
            Ok(E::RAFT_CATCH_UP) => Event::CatchUp { server_id: ev.body.catch_up.server_id },
            Ok(E::RAFT_TRANSFER) => Event::Transfer { server_id: ev.body.transfer.server_id },
            Ok(E::RAFT_READ) => Event::Read { id: ev.body.read.id },
            Err(other) => return Err(Failure::invalid(format!("unknown event type {other}"))),
        }
    };
    Ok((event, carried))
}
