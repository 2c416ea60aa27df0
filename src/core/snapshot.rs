//! Snapshots: compacting the log after the host took one, sending one to a follower that
//! needs compacted entries, and installing one received from the leader.

use super::configuration::Configuration;
use super::error::Error;
use super::event::SnapshotMetadata;
use super::message::Outgoing;
use super::progress::Mode;
use super::raft::{Ctx, Follower, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::{Id, Index, Term, MAX_INDEX, MAX_TERM};
use crate::raft_trace;

/// A received InstallSnapshot, as decided during validation.
#[derive(Debug)]
pub(super) enum InstallPlan {
    /// Another install is in progress: drop without reply (the leader retries on its timeout).
    Drop,
    /// We already hold everything the snapshot covers.
    AlreadyHave,
    Install,
}

/// The fields of a received InstallSnapshot.
pub(super) struct InstallSnapshot<'a> {
    pub term: Term,
    pub last_index: Index,
    pub last_term: Term,
    pub conf: &'a Configuration,
    pub conf_index: Index,
}

fn malformed(why: &str) -> Error {
    Error::Malformed(format!("InstallSnapshot: {why}"))
}

/// What is wrong with the position of a snapshot, if anything, wherever it comes from
/// (`Start`, `Snapshot`, a received InstallSnapshot), so that a snapshot accepted once is never
/// refused later: it covers at least the bootstrap entry, so its index, term and configuration
/// index are non-zero; its configuration is one of its entries; and nothing passes the limits.
pub(super) fn snapshot_position_problem(
    index: Index,
    term: Term,
    conf: &Configuration,
    conf_index: Index,
) -> Option<&'static str> {
    if index == 0 || term == 0 {
        return Some("snapshot at index or term 0");
    }
    if index > MAX_INDEX || term > MAX_TERM {
        return Some("snapshot index or term beyond 2^63 - 1");
    }
    if conf_index == 0 || conf_index > index {
        return Some("snapshot configuration index not in [1, snapshot index]");
    }
    if conf.is_empty() {
        return Some("snapshot without configuration");
    }
    None
}

/// What is wrong with the form of an InstallSnapshot, whatever our state: checked before its
/// term.
pub(super) fn check_install_snapshot_form(s: &InstallSnapshot<'_>) -> Result<(), Error> {
    check_snapshot_sender(s.term, s.last_index, s.last_term).map_err(malformed)?;
    if let Some(why) = snapshot_position_problem(s.last_index, s.last_term, s.conf, s.conf_index) {
        return Err(malformed(why));
    }
    Ok(())
}

/// What is wrong with the terms and index a snapshot's sender names (whole, or any chunk of
/// it): none is zero, and the snapshot is not of a term after the sender's.
pub(super) fn check_snapshot_sender(
    term: Term,
    last_index: Index,
    last_term: Term,
) -> Result<(), &'static str> {
    if term == 0 || last_index == 0 || last_term == 0 {
        return Err("term, last index and last term must be non-zero");
    }
    if last_term > term {
        return Err("snapshot term above the sender's term");
    }
    Ok(())
}

/// [`snapshot_position_problem`] of a host's snapshot metadata.
pub(super) fn metadata_problem(m: &SnapshotMetadata) -> Option<&'static str> {
    snapshot_position_problem(m.index, m.term, &m.configuration, m.configuration_index)
}

impl Raft {
    pub(super) fn check_snapshot(&self, metadata: &SnapshotMetadata) -> Result<(), Error> {
        if self.installing.is_some() {
            return Err(Error::Invalid("a received snapshot is being installed".into()));
        }
        let index = metadata.index;
        if index <= self.log.snapshot_index() || index > self.commit {
            return Err(Error::Invalid(format!(
                "snapshot index {index} not in ({}, commit index {}]",
                self.log.snapshot_index(),
                self.commit
            )));
        }
        if index < self.log.first_held() || self.log.term_of(index).is_none() {
            return Err(Error::Invalid(format!("snapshot index {index} is not in the log")));
        }
        match metadata_problem(metadata) {
            Some(why) => Err(Error::Invalid(why.into())),
            None => Ok(()),
        }
    }

    /// RAFT_SNAPSHOT: the host stored a snapshot; keep `trailing` entries before it.
    pub(super) fn on_snapshot(
        &mut self,
        cx: &mut Ctx<'_>,
        metadata: &SnapshotMetadata,
        trailing: u32,
    ) {
        let index = metadata.index;
        raft_trace!(cx.tracer, LEVEL_INFO, "> snapshot at {index}, keep {trailing} trailing");
        let term = self.log.term_of(index).unwrap_or(metadata.term);
        let forget = index.saturating_sub(u64::from(trailing));
        let forget = if self.log.term_of(forget).is_some() { forget } else { 0 };
        self.log.take_snapshot(index, term, forget);
        self.snapshot_conf_index = metadata.configuration_index;
        self.membership.snapshot_taken(&metadata.configuration, metadata.configuration_index);
    }

    /// Leader: sends our snapshot to follower `i`, whose next entries we no longer hold.
    /// Without a snapshot there is nothing to send (an InstallSnapshot of index 0 would be
    /// refused by every follower): the follower is probed again from its match index.
    pub(super) fn send_snapshot(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let (index, term) = (self.log.snapshot_index(), self.log.snapshot_term());
        let (our_term, conf_index, now) = (self.term, self.snapshot_conf_index, cx.now);
        let (streams, commit) = (self.streams_snapshots(), self.commit);
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        if index == 0 {
            raft_trace!(cx.tracer, LEVEL_INFO, "  no snapshot for {}: probe again", p.id);
            p.abort_snapshot();
            return;
        }
        if streams && p.takes_chunks.is_none() {
            // We could stream it, but the follower has not answered this term, so we do not
            // know whether it takes chunks: rather than send the whole snapshot to a server
            // that may be down or take chunks, ask with an empty AppendEntries anchored at the
            // snapshot. Its answer says, and brings us back here.
            raft_trace!(cx.tracer, LEVEL_INFO, "  probe {} before sending a snapshot", p.id);
            p.last_send = Some(now);
            let body = Outgoing::AppendEntries {
                term: our_term,
                prev_log_index: index,
                prev_log_term: term,
                leader_commit: commit,
                n_entries: 0,
            };
            cx.send(p.id, p.address.clone(), body);
            return;
        }
        p.next = index + 1;
        p.last_send = Some(now);
        let stream = self.stream_for(i, index, now);
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        p.mode = Mode::Snapshot { index, sent_at: now, stream };
        if stream.is_some() {
            raft_trace!(cx.tracer, LEVEL_INFO, "  stream snapshot {index}/{term} to {}", p.id);
            self.send_chunks(cx, i);
            return;
        }
        raft_trace!(cx.tracer, LEVEL_INFO, "  send snapshot {index}/{term} to {}", p.id);
        let body = Outgoing::InstallSnapshot {
            term: our_term,
            last_index: index,
            last_term: term,
            conf_index,
        };
        cx.send(p.id, p.address.clone(), body);
    }

    /// What to do with an InstallSnapshot that is not stale (the term check of `receive.rs`
    /// decided that; a newer term is adopted before the plan is carried out).
    pub(super) fn check_install_snapshot(
        &self,
        s: &InstallSnapshot<'_>,
    ) -> Result<InstallPlan, Error> {
        if s.term == self.term && matches!(self.status, Status::Leader(_)) {
            return Err(malformed("another leader in our term"));
        }
        if self.installing.is_some() {
            return Ok(InstallPlan::Drop);
        }
        if self.log.snapshot_index() >= s.last_index {
            return Ok(InstallPlan::AlreadyHave);
        }
        match self.log.term_of(s.last_index) {
            Some(term) if term == s.last_term => Ok(InstallPlan::AlreadyHave),
            Some(_) if s.last_index <= self.commit => Err(Error::Shutdown(format!(
                "snapshot conflicts with committed entry {}",
                s.last_index
            ))),
            _ => Ok(InstallPlan::Install),
        }
    }

    /// [`Raft::check_install_snapshot`] for a whole snapshot, which waits while the host is
    /// still storing chunks of a stream (their completions must not outlive the stream).
    pub(super) fn check_whole_install_snapshot(
        &self,
        s: &InstallSnapshot<'_>,
    ) -> Result<InstallPlan, Error> {
        let plan = self.check_install_snapshot(s)?;
        let storing_chunks = self.staging.as_ref().is_some_and(|s| !s.pending.is_empty());
        Ok(match plan {
            InstallPlan::Install if storing_chunks => InstallPlan::Drop,
            plan => plan,
        })
    }

    pub(super) fn on_install_snapshot(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        from_address: &str,
        s: InstallSnapshot<'_>,
        plan: InstallPlan,
    ) {
        let (index, term) = (s.last_index, s.last_term);
        raft_trace!(cx.tracer, LEVEL_INFO, "> install snapshot {index}/{term} from {from}");
        self.follow(cx, from, from_address);
        match plan {
            InstallPlan::Drop => {
                raft_trace!(
                    cx.tracer,
                    LEVEL_INFO,
                    "  another snapshot is being installed: dropped"
                );
            }
            InstallPlan::AlreadyHave => {
                self.mark_verified(index);
                raft_trace!(cx.tracer, LEVEL_INFO, "  already have it");
                self.reply_append(cx, from, from_address, 0, index);
            }
            InstallPlan::Install => {
                raft_trace!(cx.tracer, LEVEL_INFO, "  replace the log with the snapshot");
                // A whole snapshot replaces any stream received so far (validation dropped it
                // while the host was still storing chunks).
                self.staging = None;
                let metadata = SnapshotMetadata {
                    index,
                    term,
                    configuration: s.conf.clone(),
                    configuration_index: s.conf_index,
                };
                self.begin_install(cx, metadata);
            }
        }
    }

    /// Replaces the log with a received snapshot, whole or the last chunk of a stream, and
    /// hands it to the host to store (`Update::snapshot`).
    pub(super) fn begin_install(&mut self, cx: &mut Ctx<'_>, metadata: SnapshotMetadata) {
        let index = metadata.index;
        self.log.restore(index, metadata.term);
        self.durable = self.durable.min(index);
        self.membership.restore(metadata.configuration.clone(), metadata.configuration_index);
        self.mark_verified(index);
        cx.update.snapshot = Some(metadata.clone());
        self.installing = Some(metadata);
    }

    pub(super) fn check_persisted_snapshot(
        &self,
        metadata: &SnapshotMetadata,
    ) -> Result<(), Error> {
        match &self.installing {
            Some(pending) if pending.index == metadata.index && pending.term == metadata.term => {
                if self.chunks_still_pending(metadata.index) {
                    return Err(Error::Invalid(
                        "last chunk persisted before the chunks ahead of it".into(),
                    ));
                }
                Ok(())
            }
            Some(_) => Err(Error::Invalid("persisted snapshot is not the pending one".into())),
            None => Err(Error::Invalid("no snapshot is being installed".into())),
        }
    }

    /// RAFT_PERSISTED_SNAPSHOT: the snapshot is durable; it is committed by definition.
    pub(super) fn on_persisted_snapshot(&mut self, cx: &mut Ctx<'_>) {
        let Some(metadata) = self.installing.take() else {
            return;
        };
        let index = metadata.index;
        raft_trace!(cx.tracer, LEVEL_INFO, "> snapshot {index} persisted");
        self.finish_stream(index);
        self.durable = index;
        self.snapshot_conf_index = metadata.configuration_index;
        // A snapshot holds committed entries only.
        self.set_commit(cx, index);
        if let Status::Follower(Follower { leader: Some((id, address)), .. }) = &self.status {
            let (id, address) = (*id, address.clone());
            self.reply_append(cx, id, &address, 0, index);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::{Event, SnapshotMetadata};
    use crate::core::message::{EntryView, Incoming, Outgoing};
    use crate::core::testing::*;

    fn metadata(index: u64, term: u64) -> SnapshotMetadata {
        SnapshotMetadata { index, term, configuration: conf(&[1, 2, 3]), configuration_index: 1 }
    }

    fn install(term: u64, index: u64, last_term: u64) -> Incoming<'static> {
        Incoming::InstallSnapshot {
            term,
            last_index: index,
            last_term,
            conf: conf(&[1, 2, 3]),
            conf_index: 1,
        }
    }

    fn committed_follower(n: usize) -> crate::core::raft::Raft {
        let entries: Vec<EntryView> = (0..n).map(|_| entry(2)).collect();
        let mut r = follower(&entries);
        let last = r.last_index();
        let heartbeat = Incoming::AppendEntries {
            term: 2,
            prev_log_index: last,
            prev_log_term: 2,
            leader_commit: last,
            entries: &[],
        };
        receive(&mut r, 20, 1, heartbeat).unwrap();
        r
    }

    #[test]
    fn snapshot_must_be_committed_and_in_the_log() {
        let mut r = follower(&[entry(2), entry(2)]);
        let err = step(&mut r, 20, Event::Snapshot { metadata: metadata(3, 2), trailing: 0 });
        assert!(matches!(err, Err(Error::Invalid(_))), "not committed");
        let mut r = committed_follower(2);
        step(&mut r, 20, Event::Snapshot { metadata: metadata(3, 2), trailing: 1 }).unwrap();
        assert_eq!(r.snapshot_index(), 3);
        assert_eq!(r.term_of(2), None, "entries up to index - trailing are forgotten");
        step(&mut r, 20, Event::Snapshot { metadata: metadata(3, 2), trailing: 1 }).unwrap_err();
        let mut r = committed_follower(4);
        step(&mut r, 20, Event::Snapshot { metadata: metadata(4, 2), trailing: 2 }).unwrap();
        assert_eq!((r.term_of(2), r.term_of(3)), (None, Some(2)));
        let err = step(&mut r, 20, Event::Snapshot { metadata: metadata(4, 2), trailing: 1 });
        assert!(matches!(err, Err(Error::Invalid(_))), "same snapshot twice");
    }

    #[test]
    fn leader_sends_snapshot_when_entries_were_compacted() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let entries = [entry(2), entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        step(&mut r, now, Event::PersistedEntries { index: 4 }).unwrap();
        receive(&mut r, now, 3, append_result(2, 0, 4)).unwrap();
        step(&mut r, now, Event::Snapshot { metadata: metadata(4, 2), trailing: 0 }).unwrap();
        let out = receive(&mut r, now, 2, append_result(2, 1, 0)).unwrap();
        assert!(matches!(
            out.to(2)[0],
            Outgoing::InstallSnapshot { last_index: 4, last_term: 2, conf_index: 1, .. }
        ));
        let out = receive(&mut r, now + 5, 2, append_result(2, 0, 4)).unwrap();
        assert_eq!(r.match_index(2), Ok(4));
        assert!(out.messages.is_empty() || matches!(out.to(2)[0], Outgoing::AppendEntries { .. }));
    }

    #[test]
    fn follower_installs_snapshot_and_acknowledges_once_persisted() {
        let mut r = follower(&[entry(2)]);
        let out = receive(&mut r, 20, 1, install(2, 10, 2)).unwrap();
        assert_eq!(out.snapshot, Some(metadata(10, 2)));
        assert!(out.messages.is_empty());
        assert_eq!(r.last_index(), 10);
        let entries = [entry(2)];
        let busy = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 10,
            prev_log_term: 2,
            leader_commit: 10,
            entries: &entries,
        };
        let out = receive(&mut r, 21, 1, busy).unwrap();
        assert!(out.entries.is_none() && out.messages.is_empty(), "dropped while installing");
        let again = receive(&mut r, 21, 1, install(2, 10, 2)).unwrap();
        assert!(again.snapshot.is_none(), "a second install is dropped (payload freed)");
        let event = Event::PersistedSnapshot { metadata: metadata(10, 2) };
        let out = step(&mut r, 22, event).unwrap();
        assert_eq!(r.commit_index(), 10);
        assert!(matches!(
            out.to(1)[0],
            Outgoing::AppendEntriesResult(res) if res.rejected == 0 && res.last_log_index == 10
        ));
    }

    #[test]
    fn persisted_snapshot_without_install_is_invalid() {
        let mut r = follower(&[entry(2)]);
        let event = Event::PersistedSnapshot { metadata: metadata(10, 2) };
        assert!(matches!(step(&mut r, 22, event), Err(Error::Invalid(_))));
    }

    #[test]
    fn snapshot_we_already_cover_is_acknowledged() {
        let mut r = follower(&[entry(2), entry(2)]);
        let out = receive(&mut r, 20, 1, install(2, 2, 2)).unwrap();
        assert!(out.snapshot.is_none());
        assert!(matches!(
            out.to(1)[0],
            Outgoing::AppendEntriesResult(res) if res.rejected == 0 && res.last_log_index == 2
        ));
    }

    #[test]
    fn probe_inside_our_snapshot_is_accepted_so_leader_resumes_past_it() {
        // A follower whose snapshot is ahead of what the leader knows (C-Raft livelocks here).
        let mut r = committed_follower(5);
        step(&mut r, 20, Event::Snapshot { metadata: metadata(6, 2), trailing: 0 }).unwrap();
        let probe = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 3,
            prev_log_term: 2,
            leader_commit: 6,
            entries: &[],
        };
        let out = receive(&mut r, 21, 1, probe).unwrap();
        assert!(matches!(
            out.to(1)[0],
            Outgoing::AppendEntriesResult(res) if res.rejected == 0 && res.last_log_index == 3
        ));
        let beyond = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 9,
            prev_log_term: 2,
            leader_commit: 6,
            entries: &[],
        };
        let out = receive(&mut r, 21, 1, beyond).unwrap();
        assert!(matches!(
            out.to(1)[0],
            Outgoing::AppendEntriesResult(res) if res.rejected == 9 && res.last_log_index == 6
        ));
    }

    #[test]
    fn malformed_install_snapshot_is_refused() {
        let mut r = follower(&[entry(2)]);
        let err = receive(&mut r, 20, 1, install(3, 0, 2)).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        assert_eq!(r.current_term(), 2);
    }
}
