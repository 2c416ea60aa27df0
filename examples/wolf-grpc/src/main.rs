//! A Raft node serving the seed's `wolf.raft.Raft` gRPC service (its peers' transport) and the
//! `wolf.kv.Kv` client service, on top of libraft-rs. See the README's "wolf.raft service"
//! section for the JSON forms and how to run a cluster.

mod args;
mod kv;
mod kv_service;
mod log_cache;
mod node;
mod service;
mod snapshot_transfer;
mod storage;
mod transport;
mod wire_json;

mod proto {
    pub mod raft {
        tonic::include_proto!("wolf.raft");
    }
    pub mod kv {
        tonic::include_proto!("wolf.kv");
    }
}

use std::sync::mpsc;

use node::Node;
use proto::kv::kv_server::KvServer;
use proto::raft::raft_server::RaftServer;

fn main() {
    let (options, data_dir) = match args::parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(why) => {
            eprintln!("{why}\n\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (storage, loaded) = match storage::Storage::open(&data_dir) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("cannot open {}: {e}", data_dir.display());
            std::process::exit(1);
        }
    };
    let (driver, commands) = mpsc::channel();
    let transport = transport::Transport::new(runtime.handle().clone(), driver.clone(), options.id);
    let node = Node::new(options.clone(), storage, loaded, transport);
    std::thread::spawn(move || node.run(commands));
    let raft_service = service::RaftService {
        id: options.id,
        driver: driver.clone(),
        peers: options.peers.clone(),
        chunk_size: options.chunk_size as u64,
    };
    let kv_service = kv_service::KvService { driver };
    let address = options.address().parse().expect("checked by args::parse");
    eprintln!("[{}] serving on {address}", options.id);
    let served = runtime.block_on(
        tonic::transport::Server::builder()
            .add_service(RaftServer::new(raft_service))
            .add_service(KvServer::new(kv_service))
            .serve(address),
    );
    if let Err(e) = served {
        eprintln!("server failed: {e}");
        std::process::exit(1);
    }
}
