//! The command line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::node::options::Options;

pub const USAGE: &str = "usage: wolf-grpc --id ID --data DIR --peers ID=HOST:PORT,...
  [--election-timeout MS (1000)] [--heartbeat MS (100)] [--install-snapshot-timeout MS (5000)]
  [--snapshot-threshold N (1024, 0 = never)] [--snapshot-trailing N (64)]
  [--chunk-size BYTES (65536): snapshots stream in chunks of this size; the same on every node]
The node listens on its own address in --peers.";

pub fn parse(mut args: impl Iterator<Item = String>) -> Result<(Options, PathBuf), String> {
    let mut options = Options {
        id: 0,
        peers: BTreeMap::new(),
        election_timeout: 1000,
        heartbeat_timeout: 100,
        install_snapshot_timeout: 5000,
        snapshot_threshold: 1024,
        snapshot_trailing: 64,
        chunk_size: 64 * 1024,
    };
    let mut data = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--id" => options.id = number(&flag, &value)?,
            "--data" => data = Some(PathBuf::from(value)),
            "--peers" => options.peers = peers(&value)?,
            "--election-timeout" => options.election_timeout = number(&flag, &value)?,
            "--heartbeat" => options.heartbeat_timeout = number(&flag, &value)?,
            "--install-snapshot-timeout" => {
                options.install_snapshot_timeout = number(&flag, &value)?
            }
            "--snapshot-threshold" => options.snapshot_threshold = number(&flag, &value)?,
            "--snapshot-trailing" => options.snapshot_trailing = number(&flag, &value)?,
            "--chunk-size" => options.chunk_size = number(&flag, &value)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let data = data.ok_or("--data is required")?;
    if options.chunk_size == 0 {
        // A chunk size of 0 would turn streamed snapshots off, and wolf nodes send no others.
        return Err("--chunk-size must not be 0".into());
    }
    if options.id == 0 {
        return Err("--id is required and must not be 0".into());
    }
    if options.address().parse::<SocketAddr>().is_err() {
        return Err(format!("--peers must give server {} a HOST:PORT address", options.id));
    }
    Ok((options, data))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: {value} is not a valid number"))
}

fn peers(value: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut peers = BTreeMap::new();
    for item in value.split(',') {
        let (id, address) =
            item.split_once('=').ok_or_else(|| format!("peer {item}: use ID=HOST:PORT"))?;
        let id: u64 = number("--peers", id)?;
        if id == 0 || peers.insert(id, address.to_string()).is_some() {
            return Err(format!("peer ID {id} is 0 or repeated"));
        }
    }
    Ok(peers)
}
