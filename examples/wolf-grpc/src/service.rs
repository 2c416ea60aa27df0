//! The seed's `wolf.raft.Raft` service. Every failure is answered in the `error_res` branch with
//! the seed's code and a message; gRPC statuses are never used for them.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::time::Duration;

use raft::core::message::RequestVote;
use raft::core::{Id, SnapshotChunk, Term};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use crate::node::command::{Answer, Command, Inbound};
use crate::proto::raft::raft_server::Raft;
use crate::proto::raft::*;
use crate::snapshot_transfer;
use crate::wire_json;

/// How long a handler waits for the driver (which may be writing to disk).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RaftService {
    pub id: Id,
    pub driver: Sender<Command>,
    pub peers: BTreeMap<Id, String>,
    /// The size of every snapshot chunk but the last: how offsets map to chunk numbers.
    pub chunk_size: u64,
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

    /// One chunk of a streamed snapshot: stepped into the core as its chunk message, and
    /// answered OK only once the core acknowledged it (stored, or for the last chunk the
    /// snapshot installed).
    async fn install_snapshot_reply(
        &self,
        req: RaftInstallSnapshotReq,
    ) -> Result<RaftInstallSnapshotOkRes, String> {
        let (from, msg_id) = (req.leader_id, req.msg_id.clone());
        let (chunk, data) = snapshot_transfer::decode_request(req, self.chunk_size)?;
        let sent = chunk.clone();
        let answer = self.exchange(from, Inbound::SnapshotChunk { chunk, data }).await?;
        let term = acknowledged_in(answer, &sent)?;
        Ok(RaftInstallSnapshotOkRes { msg_id, term })
    }
}

/// The follower's term if `answer` acknowledges chunk `sent`, or why it does not. A chunk
/// before the last is acknowledged by a chunk result that holds it; the last one by the
/// AppendEntries result of an installed snapshot. A reply in a later term also goes back as
/// OK, for the leader to learn that term and step down.
fn acknowledged_in(answer: Answer, sent: &SnapshotChunk) -> Result<Term, String> {
    match answer {
        Answer::Append { result, .. } if result.term > sent.term => Ok(result.term),
        Answer::Chunk(r) if r.last_index == sent.last_index && r.next_chunk > sent.chunk => {
            Ok(r.term)
        }
        Answer::Append { result, .. }
            if sent.last && result.rejected == 0 && result.last_log_index >= sent.last_index =>
        {
            Ok(result.term)
        }
        Answer::Chunk(r) => Err(format!(
            "chunk {} not stored: this node holds {} chunks of snapshot {}",
            sent.chunk, r.next_chunk, r.last_index
        )),
        Answer::Append { result, .. } if result.rejected == 0 => Err(format!(
            "chunk {} not needed: this node holds the log up to {}",
            sent.chunk, result.last_log_index
        )),
        other => Err(format!("chunk {} not stored: {}", sent.chunk, other.explain())),
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

#[cfg(test)]
mod tests {
    use raft::core::message::AppendEntriesResult;
    use raft::core::SnapshotChunkResult;

    use super::*;

    fn sent(chunk: u32, last: bool) -> SnapshotChunk {
        SnapshotChunk {
            term: 3,
            last_index: 40,
            last_term: 2,
            conf: Default::default(),
            conf_index: 1,
            chunk,
            len: 10,
            last,
        }
    }

    fn holds(next_chunk: u32) -> Answer {
        Answer::Chunk(SnapshotChunkResult { term: 3, last_index: 40, next_chunk, gap: false })
    }

    fn append(term: Term, rejected: u64, last_log_index: u64) -> Answer {
        let result =
            AppendEntriesResult { term, rejected, last_log_index, features: 0, capacity: 0 };
        Answer::Append { result, hint_term: 0 }
    }

    #[test]
    fn a_chunk_is_acknowledged_once_held() {
        assert_eq!(acknowledged_in(holds(3), &sent(2, false)), Ok(3));
        // A chunk sent again whose first acknowledgement was lost: held already.
        assert_eq!(acknowledged_in(holds(5), &sent(2, false)), Ok(3));
    }

    #[test]
    fn a_chunk_not_held_is_an_error() {
        assert!(acknowledged_in(holds(2), &sent(2, false)).unwrap_err().contains("holds 2"));
        assert!(acknowledged_in(holds(0), &sent(4, false)).is_err());
        let other_snapshot = Answer::Chunk(SnapshotChunkResult {
            term: 3,
            last_index: 41,
            next_chunk: 9,
            gap: false,
        });
        assert!(acknowledged_in(other_snapshot, &sent(2, false)).is_err());
        assert!(acknowledged_in(Answer::Nothing("dropped".into()), &sent(2, false)).is_err());
    }

    #[test]
    fn the_last_chunk_is_acknowledged_by_the_installed_snapshot() {
        assert_eq!(acknowledged_in(append(3, 0, 40), &sent(7, true)), Ok(3));
        assert!(acknowledged_in(append(3, 40, 12), &sent(7, true)).is_err());
        assert!(acknowledged_in(append(3, 0, 40), &sent(6, false)).is_err());
    }

    #[test]
    fn a_later_term_goes_back_for_the_leader_to_step_down() {
        assert_eq!(acknowledged_in(append(5, 40, 12), &sent(2, false)), Ok(5));
    }
}
