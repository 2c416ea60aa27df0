//! Outgoing RPCs. The seed's service is request/response while the core is message-based: each
//! request the core sends becomes one call (several for a chunked snapshot), and the call's
//! response becomes the result message the core would have received. A failed call is a lost
//! message: the core retries on its own schedule.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult};
use raft::core::{Id, Index, Term};
use tokio::runtime::Handle;
use tonic::transport::{Channel, Endpoint};

use crate::node::command::{Command, Inbound};
use crate::proto::raft::raft_append_entries_res::Response as AppendResponse;
use crate::proto::raft::raft_client::RaftClient;
use crate::proto::raft::raft_install_snapshot_res::Response as SnapshotResponse;
use crate::proto::raft::raft_vote_res::Response as VoteResponse;
use crate::proto::raft::{RaftAppendEntriesReq, RaftInstallSnapshotReq, RaftVoteReq};
use crate::snapshot_transfer;
use crate::storage::Snapshot;

/// A request the core wants sent, with what the call needs attached.
pub enum Call {
    AppendEntries { prev_log_index: Index, n_entries: u32, json: String },
    Vote(RequestVote),
    InstallSnapshot { term: Term, last_index: Index, last_term: Term, snapshot: Snapshot },
}

/// One client per peer, with the address it was made for.
type Clients = Arc<Mutex<HashMap<Id, (String, RaftClient<Channel>)>>>;

#[derive(Clone)]
pub struct Transport {
    runtime: Handle,
    driver: Sender<Command>,
    id: Id,
    chunk_size: usize,
    clients: Clients,
    counter: Arc<AtomicU64>,
}

/// How long a call may take before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

impl Transport {
    pub fn new(runtime: Handle, driver: Sender<Command>, id: Id, chunk_size: usize) -> Transport {
        let clients = Arc::default();
        let counter = Arc::default();
        Transport { runtime, driver, id, chunk_size: chunk_size.max(1), clients, counter }
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
                Call::InstallSnapshot { term, last_index, last_term, snapshot } => {
                    this.install_snapshot(client, term, last_index, last_term, snapshot).await
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
            features: 0,
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

    /// Sends the snapshot in chunks of at most `chunk_size` bytes, one after the other; the
    /// answer to the last one is the follower's acknowledgement of the whole snapshot.
    async fn install_snapshot(
        &self,
        mut client: RaftClient<Channel>,
        term: Term,
        last_index: Index,
        last_term: Term,
        snapshot: Snapshot,
    ) -> Option<Inbound> {
        let bytes = snapshot_transfer::pack(&snapshot).ok()?;
        let mut offset = 0;
        loop {
            let end = (offset + self.chunk_size).min(bytes.len());
            let done = end == bytes.len();
            let request = RaftInstallSnapshotReq {
                msg_id: self.msg_id(),
                term,
                leader_id: self.id,
                last_included_index: last_index,
                last_included_term: last_term,
                offset: offset as u64,
                done,
                data: bytes[offset..end].to_vec(),
            };
            let response = client.install_snapshot(request).await.ok()?.into_inner().response?;
            let SnapshotResponse::OkRes(ok) = response else {
                return None;
            };
            if done || ok.term > term {
                let result = AppendEntriesResult {
                    term: ok.term,
                    rejected: 0,
                    last_log_index: last_index,
                    features: 0,
                    capacity: 0,
                };
                return Some(Inbound::AppendEntriesResult(result));
            }
            offset = end;
        }
    }
}
