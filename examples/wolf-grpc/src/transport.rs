//! Outgoing RPCs. The seed's service is request/response while the core is message-based: each
//! request the core sends becomes one call (a streamed snapshot's chunks one call each), and
//! the call's response becomes the result message the core would have received. A failed call,
//! or an error response, is a lost message: the core retries on its own schedule.
//!
//! The responses carry no features, so the results made of them advertise what every wolf node
//! does: it takes streamed snapshots (`FEATURE_SNAPSHOT_CHUNKS`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::core::message::{
    AppendEntriesResult, RequestVote, RequestVoteResult, SnapshotChunkResult,
    FEATURE_SNAPSHOT_CHUNKS,
};
use raft::core::{Id, Index, Term};
use tokio::runtime::Handle;
use tonic::transport::{Channel, Endpoint};

use crate::node::command::{Command, Inbound};
use crate::proto::raft::raft_append_entries_res::Response as AppendResponse;
use crate::proto::raft::raft_client::RaftClient;
use crate::proto::raft::raft_install_snapshot_res::Response as SnapshotResponse;
use crate::proto::raft::raft_vote_res::Response as VoteResponse;
use crate::proto::raft::{RaftAppendEntriesReq, RaftInstallSnapshotReq, RaftVoteReq};

/// A request the core wants sent, with what the call needs attached.
pub enum Call {
    AppendEntries {
        prev_log_index: Index,
        n_entries: u32,
        json: String,
    },
    Vote(RequestVote),
    /// Chunk `chunk` of a streamed snapshot, at `offset` of its data; `data` holds the trailer
    /// on the `last` one (`snapshot_transfer.rs`).
    SnapshotChunk {
        term: Term,
        last_index: Index,
        last_term: Term,
        chunk: u32,
        offset: u64,
        last: bool,
        data: Vec<u8>,
    },
}

/// One client per peer, with the address it was made for.
type Clients = Arc<Mutex<HashMap<Id, (String, RaftClient<Channel>)>>>;

#[derive(Clone)]
pub struct Transport {
    runtime: Handle,
    driver: Sender<Command>,
    id: Id,
    clients: Clients,
    counter: Arc<AtomicU64>,
}

/// How long a call may take before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

impl Transport {
    pub fn new(runtime: Handle, driver: Sender<Command>, id: Id) -> Transport {
        let clients = Arc::default();
        let counter = Arc::default();
        Transport { runtime, driver, id, clients, counter }
    }

    /// Starts the call in the background; its response comes back to the driver as a command.
    pub fn send(&self, to: Id, address: &str, call: Call) {
        let Some(client) = self.client(to, address) else {
            return;
        };
        let this = self.clone();
        self.runtime.spawn(async move {
            let reply = match call {
                Call::AppendEntries { prev_log_index, n_entries, json } => {
                    this.append_entries(client, prev_log_index, n_entries, json).await
                }
                Call::Vote(request) => this.vote(client, request).await,
                Call::SnapshotChunk { term, last_index, last_term, chunk, offset, last, data } => {
                    let request = RaftInstallSnapshotReq {
                        msg_id: this.msg_id(),
                        term,
                        leader_id: this.id,
                        last_included_index: last_index,
                        last_included_term: last_term,
                        offset,
                        done: last,
                        data,
                    };
                    this.snapshot_chunk(client, request, chunk).await
                }
            };
            if let Some(message) = reply {
                let _ = this.driver.send(Command::Receive { from: to, message, answer: None });
            }
        });
    }

    fn client(&self, id: Id, address: &str) -> Option<RaftClient<Channel>> {
        let mut clients = self.clients.lock().expect("no panic while holding the lock");
        if let Some((known, client)) = clients.get(&id) {
            if known == address {
                return Some(client.clone());
            }
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}")).ok()?;
        let endpoint = endpoint.connect_timeout(Duration::from_millis(500)).timeout(CALL_TIMEOUT);
        let _runtime = self.runtime.enter();
        let client = RaftClient::new(endpoint.connect_lazy());
        clients.insert(id, (address.to_string(), client.clone()));
        Some(client)
    }

    fn msg_id(&self) -> String {
        format!("{}-{}", self.id, self.counter.fetch_add(1, Ordering::Relaxed))
    }

    async fn append_entries(
        &self,
        mut client: RaftClient<Channel>,
        prev_log_index: Index,
        n_entries: u32,
        json: String,
    ) -> Option<Inbound> {
        let request = RaftAppendEntriesReq { msg_id: self.msg_id(), req: json };
        let response = client.append_entries(request).await.ok()?.into_inner().response?;
        let AppendResponse::OkRes(ok) = response else {
            return None;
        };
        let (rejected, last_log_index) = if ok.success {
            (0, prev_log_index + u64::from(n_entries))
        } else {
            let hint = ok.conflict_opt.map_or(prev_log_index.saturating_sub(1), |c| c.index);
            (prev_log_index, hint)
        };
        let result = AppendEntriesResult {
            term: ok.term,
            rejected,
            last_log_index,
            features: FEATURE_SNAPSHOT_CHUNKS,
            capacity: 0,
        };
        Some(Inbound::AppendEntriesResult(result))
    }

    async fn vote(&self, mut client: RaftClient<Channel>, r: RequestVote) -> Option<Inbound> {
        let request = RaftVoteReq {
            msg_id: self.msg_id(),
            term: r.term,
            candidate_id: r.candidate_id,
            last_log_index: r.last_log_index,
            last_log_term: r.last_log_term,
        };
        let response = client.vote(request).await.ok()?.into_inner().response?;
        let VoteResponse::OkRes(ok) = response else {
            return None;
        };
        let result = RequestVoteResult {
            term: ok.term,
            vote_granted: ok.vote_granted,
            pre_vote: false,
            features: 0,
            capacity: 0,
        };
        Some(Inbound::RequestVoteResult(result))
    }

    /// Sends one chunk; the follower answers OK only once it stored the chunk (for the last
    /// one: installed the snapshot). An error says the chunk was not taken, without saying
    /// what the follower holds, so it counts as lost: the core sends again from the first
    /// chunk not acknowledged when the stream stalls, or starts over after the install
    /// timeout.
    async fn snapshot_chunk(
        &self,
        mut client: RaftClient<Channel>,
        request: RaftInstallSnapshotReq,
        chunk: u32,
    ) -> Option<Inbound> {
        let (term, last_index, last) = (request.term, request.last_included_index, request.done);
        let response = client.install_snapshot(request).await.ok()?.into_inner().response?;
        let SnapshotResponse::OkRes(ok) = response else {
            return None;
        };
        Some(acknowledgement(term, last_index, chunk, last, ok.term))
    }
}

/// The result the core would have received for chunk `chunk` that a follower in
/// `follower_term` acknowledged: for a chunk before the last, that it holds the chunks up to
/// this one; for the last, that it holds the snapshot, as for a whole InstallSnapshot. A
/// follower in a later term did not take the chunk: an AppendEntries result of that term
/// makes us step down, whatever the chunk.
fn acknowledgement(
    term: Term,
    last_index: Index,
    chunk: u32,
    last: bool,
    follower_term: Term,
) -> Inbound {
    if last || follower_term > term {
        return Inbound::AppendEntriesResult(AppendEntriesResult {
            term: follower_term,
            rejected: 0,
            last_log_index: last_index,
            features: FEATURE_SNAPSHOT_CHUNKS,
            capacity: 0,
        });
    }
    let next_chunk = chunk.saturating_add(1);
    Inbound::SnapshotChunkResult(SnapshotChunkResult {
        term: follower_term,
        last_index,
        next_chunk,
        gap: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_chunk_before_the_last_moves_the_stream_past_it() {
        let Inbound::SnapshotChunkResult(r) = acknowledgement(3, 40, 5, false, 3) else {
            panic!("a chunk result");
        };
        assert_eq!(r, SnapshotChunkResult { term: 3, last_index: 40, next_chunk: 6, gap: false });
    }

    #[test]
    fn an_acknowledged_last_chunk_is_the_snapshot_installed() {
        let Inbound::AppendEntriesResult(r) = acknowledgement(3, 40, 9, true, 3) else {
            panic!("an AppendEntries result");
        };
        assert_eq!((r.term, r.rejected, r.last_log_index), (3, 0, 40));
        assert_ne!(r.features & FEATURE_SNAPSHOT_CHUNKS, 0);
    }

    #[test]
    fn a_follower_in_a_later_term_answers_in_that_term() {
        let Inbound::AppendEntriesResult(r) = acknowledgement(3, 40, 2, false, 5) else {
            panic!("an AppendEntries result");
        };
        assert_eq!(r.term, 5);
    }
}
