//! The client service `wolf.kv.Kv` (proto/kv.proto): writes go through the Raft log, reads
//! come from this node's applied state.

use std::sync::mpsc::Sender;
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use crate::node::command::{Command, PutOutcome};
use crate::proto::kv::kv_server::Kv;
use crate::proto::kv::{GetReq, GetRes, PutReq, PutRes};

/// A write waits at most this long for its entry to be applied.
const PUT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KvService {
    pub driver: Sender<Command>,
}

impl KvService {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.driver.send(make(tx)).map_err(|_| Status::unavailable("the node is stopping"))?;
        match tokio::time::timeout(PUT_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(Status::internal("the node dropped the request")),
            Err(_) => Err(Status::deadline_exceeded("not applied in time; outcome unknown")),
        }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn put(&self, request: Request<PutReq>) -> Result<Response<PutRes>, Status> {
        let PutReq { key, value } = request.into_inner();
        let outcome = self.ask(|done| Command::Put { key, value, done }).await?;
        let mut res = PutRes::default();
        match outcome {
            PutOutcome::Applied(index) => {
                res.ok = true;
                res.index = index;
            }
            PutOutcome::NotLeader { leader } => {
                res.error = "not the leader".into();
                if let Some((id, address)) = leader {
                    res.leader_id = id;
                    res.leader_address = address;
                }
            }
            PutOutcome::Failed(why) => res.error = why,
        }
        Ok(Response::new(res))
    }

    async fn get(&self, request: Request<GetReq>) -> Result<Response<GetRes>, Status> {
        let key = request.into_inner().key;
        let (value, last_applied) =
            self.ask(|done| Command::Get { key, done }).await?.map_err(Status::unavailable)?;
        let res = GetRes { found: value.is_some(), value: value.unwrap_or_default(), last_applied };
        Ok(Response::new(res))
    }
}
