//! The seed's `wolf.raft.Raft` service. Every failure is answered in the `error_res` branch with
//! the seed's code and a message; gRPC statuses are never used for them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::core::message::RequestVote;
use raft::core::Id;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use crate::node::command::{Answer, Command, Inbound};
use crate::proto::raft::raft_server::Raft;
use crate::proto::raft::*;
use crate::snapshot_transfer::{self, Assembly, Key};
use crate::wire_json;

/// How long a handler waits for the driver (which may be writing to disk).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RaftService {
    pub id: Id,
    pub driver: Sender<Command>,
    pub peers: BTreeMap<Id, String>,
    pub term: Arc<AtomicU64>,
    pub assembly: Mutex<Assembly>,
}

fn error(msg_id: String, code: ErrorCode, msg: impl Into<String>) -> RaftErrorRes {
    RaftErrorRes { msg_id, code: code as i32, msg: msg.into() }
}

impl RaftService {
    /// Sends a command built around a reply channel and waits for the reply.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.driver.send(make(tx)).map_err(|_| "the node is stopping".to_string())?;
        match tokio::time::timeout(DRIVER_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err("the node dropped the request".into()),
            Err(_) => Err("the node did not answer in time".into()),
        }
    }

    /// Steps a message from peer `from` and waits for the core's reply to it.
    async fn exchange(&self, from: Id, message: Inbound) -> Result<Answer, String> {
        if !self.peers.contains_key(&from) || from == self.id {
            return Err(format!("server {from} is not a known peer"));
        }
        self.ask(|answer| Command::Receive { from, message, answer: Some(answer) }).await
    }

    async fn install_snapshot_reply(
        &self,
        req: RaftInstallSnapshotReq,
    ) -> Result<RaftInstallSnapshotOkRes, String> {
        if !self.peers.contains_key(&req.leader_id) || req.leader_id == self.id {
            return Err(format!("server {} is not a known peer", req.leader_id));
        }
        let key = Key {
            leader_id: req.leader_id,
            term: req.term,
            index: req.last_included_index,
            last_term: req.last_included_term,
        };
        let whole = self
            .assembly
            .lock()
            .expect("no panic while held")
            .add(key, req.offset, &req.data, req.done)?;
        let msg_id = req.msg_id;
        let Some(bytes) = whole else {
            let term = self.term.load(Ordering::Relaxed);
            return Ok(RaftInstallSnapshotOkRes { msg_id, term });
        };
        let snapshot = snapshot_transfer::unpack(bytes, key.index, key.last_term)?;
        match self
            .exchange(key.leader_id, Inbound::InstallSnapshot { term: key.term, snapshot })
            .await?
        {
            Answer::Append { result, .. } if result.rejected == 0 || result.term > key.term => {
                Ok(RaftInstallSnapshotOkRes { msg_id, term: result.term })
            }
            other => Err(format!("snapshot not installed: {}", other.explain())),
        }
    }
}

#[tonic::async_trait]
impl Raft for RaftService {
    async fn bootstrap(
        &self,
        request: Request<RaftBootstrapReq>,
    ) -> Result<Response<RaftBootstrapRes>, Status> {
        let req = request.into_inner();
        let voters = req.number_of_nodes;
        let response =
            match self.ask(|done| Command::Bootstrap { voters, done }).await.and_then(|r| r) {
                Ok(()) => {
                    raft_bootstrap_res::Response::OkRes(RaftBootstrapOkRes { msg_id: req.msg_id })
                }
                Err(why) => raft_bootstrap_res::Response::ErrorRes(error(
                    req.msg_id,
                    ErrorCode::RaftBootstrapFailed,
                    why,
                )),
            };
        Ok(Response::new(RaftBootstrapRes { response: Some(response) }))
    }

    async fn append_entries(
        &self,
        request: Request<RaftAppendEntriesReq>,
    ) -> Result<Response<RaftAppendEntriesRes>, Status> {
        use raft_append_entries_res::Response as R;
        let req = request.into_inner();
        let msg_id = req.msg_id;
        let (json, entries) = match wire_json::parse(&req.req) {
            Ok(parsed) => parsed,
            Err(why) => {
                let code = ErrorCode::RaftAppendEntriesJsonOfReqIsNotValid;
                let e = error(msg_id, code, format!("invalid AppendEntries JSON: {why}"));
                return Ok(Response::new(RaftAppendEntriesRes { response: Some(R::ErrorRes(e)) }));
            }
        };
        let message = Inbound::AppendEntries {
            term: json.term,
            prev_log_index: json.prev_log_index,
            prev_log_term: json.prev_log_term,
            leader_commit: json.leader_commit,
            entries,
        };
        let response = match self.exchange(json.leader_id, message).await {
            Ok(Answer::Append { result, hint_term }) => {
                let success = result.rejected == 0;
                let conflict_opt = (!success)
                    .then_some(ConflictOpt { term: hint_term, index: result.last_log_index });
                R::OkRes(RaftAppendEntriesOkRes {
                    msg_id,
                    term: result.term,
                    success,
                    conflict_opt,
                })
            }
            Ok(other) => {
                R::ErrorRes(error(msg_id, ErrorCode::RaftAppendEntriesFailed, other.explain()))
            }
            Err(why) => R::ErrorRes(error(msg_id, ErrorCode::RaftAppendEntriesFailed, why)),
        };
        Ok(Response::new(RaftAppendEntriesRes { response: Some(response) }))
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftInstallSnapshotReq>,
    ) -> Result<Response<RaftInstallSnapshotRes>, Status> {
        use raft_install_snapshot_res::Response as R;
        let req = request.into_inner();
        let msg_id = req.msg_id.clone();
        let response = match self.install_snapshot_reply(req).await {
            Ok(ok) => R::OkRes(ok),
            Err(why) => R::ErrorRes(error(msg_id, ErrorCode::RaftInstallSnapshotFailed, why)),
        };
        Ok(Response::new(RaftInstallSnapshotRes { response: Some(response) }))
    }

    async fn vote(&self, request: Request<RaftVoteReq>) -> Result<Response<RaftVoteRes>, Status> {
        use raft_vote_res::Response as R;
        let req = request.into_inner();
        let msg_id = req.msg_id;
        let vote = RequestVote {
            term: req.term,
            candidate_id: req.candidate_id,
            last_log_index: req.last_log_index,
            last_log_term: req.last_log_term,
            disrupt_leader: false,
            pre_vote: false,
        };
        let response = if req.term == 0 {
            R::ErrorRes(error(msg_id, ErrorCode::RaftVoteFailed, "term must not be 0"))
        } else {
            match self.exchange(req.candidate_id, Inbound::RequestVote(vote)).await {
                Ok(Answer::Vote(r)) => {
                    R::OkRes(RaftVoteOkRes { msg_id, term: r.term, vote_granted: r.vote_granted })
                }
                Ok(other) => R::ErrorRes(error(msg_id, ErrorCode::RaftVoteFailed, other.explain())),
                Err(why) => R::ErrorRes(error(msg_id, ErrorCode::RaftVoteFailed, why)),
            }
        };
        Ok(Response::new(RaftVoteRes { response: Some(response) }))
    }

    async fn get_metrics(
        &self,
        request: Request<RaftGetMetricsReq>,
    ) -> Result<Response<RaftGetMetricsRes>, Status> {
        use raft_get_metrics_res::Response as R;
        let msg_id = request.into_inner().msg_id;
        let response = match self.ask(|done| Command::Metrics { done }).await {
            Ok(metrics) => R::OkRes(RaftGetMetricsOkRes { msg_id, metrics }),
            Err(why) => R::ErrorRes(error(msg_id, ErrorCode::RaftGetMetricsFailed, why)),
        };
        Ok(Response::new(RaftGetMetricsRes { response: Some(response) }))
    }
}
